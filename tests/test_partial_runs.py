"""No GO without evidence: partial runs say so everywhere, a run that examined nothing of
critical or high severity is NO-GO, an attestation needs a person and a date, errors are
errors in JUnit and in pytest-html's counts, and a root cause is reported once.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.report_helpers import INVENTORY, Reports, write_catalog
from tests.servers.base import Instance
from tests.servers.inventory import run_catalog

TLS_ONLY = '''
import pytest

pytestmark = pytest.mark.section("tls", "TLS")


@pytest.mark.check("tls-01", "Chain trusted", severity="critical")
def test_chain(tls_endpoint):
    """Needs a TLS target."""


@pytest.mark.check("tls-04", "Margin", severity="high")
def test_margin(tls_endpoint):
    """Needs a TLS target."""


@pytest.mark.section("host", "Host")
@pytest.mark.check("host-01", "Host answers", severity="high")
def test_host(host):
    """Runs on the host."""
'''


def suite_properties(reports: Reports) -> dict[str, str]:
    root = ET.parse(reports.xml_path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    props = suite.find("properties")
    assert props is not None
    return {p.get("name", ""): p.get("value", "") for p in props}


def test_full_run_is_not_partial(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    result = pytester.runpytest(*reports.args())
    doc = reports.json()
    assert (doc["partial"], doc["deselected"], doc["selected"]) == (False, 0, len(doc["results"]))
    assert suite_properties(reports)["deploycheck.partial"] == "false"
    assert "PARTIAL RUN" not in result.stdout.str()


def test_keyword_selection_is_a_partial_run_in_every_report(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    result = pytester.runpytest(*reports.args(), "-k", "demo-01 or demo-02")
    out = result.stdout.str()
    verdict_line = next(line for line in out.splitlines() if line.startswith("VERDICT:"))
    assert "PARTIAL RUN" in verdict_line and "-k 'demo-01 or demo-02'" in verdict_line
    doc = reports.json()
    assert doc["partial"] is True
    assert doc["selected"] == 4 and doc["deselected"] > 0
    assert "demo-03" in doc["scope"]["left_out"] and "web-01" in doc["scope"]["left_out"]
    assert "partial run" in doc["verdict"]["rule"]
    props = suite_properties(reports)
    assert props["deploycheck.partial"] == "true"
    assert props["deploycheck.selected"] == "4" and int(props["deploycheck.deselected"]) == doc["deselected"]
    assert "left out: " in props["deploycheck.scope"]
    html = reports.html()
    assert "(partial run)" in html and "<b>partial run</b>" in html
    assert "**Verdict: NO-GO (PARTIAL RUN" in reports.md()


def test_marker_selection_is_partial(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    pytester.runpytest(*reports.args(), "-m", "not manual")
    doc = reports.json()
    assert doc["partial"] is True and "-m 'not manual'" in doc["scope"]["narrowed_by"]


def test_one_module_of_a_catalog_folder_is_partial(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    pytester.makepyfile(test_other='''
        import pytest

        @pytest.mark.check("oth-01", "Other section", severity="high")
        def test_other(host):
            """Another section of the catalog."""
    ''')
    pytester.runpytest(*reports.args(), str(pytester.path / "test_catalog.py"))
    doc = reports.json()
    assert doc["partial"] is True
    assert any(n.startswith("path test_catalog.py") for n in doc["scope"]["narrowed_by"]), doc["scope"]
    assert doc["scope"]["left_out"] == ["test_other.py"]


def test_nothing_critical_or_high_examined_is_no_go(pytester: pytest.Pytester) -> None:
    """-k tls with no TLS target: every selected check is n/a; that is not GO."""
    reports = write_catalog(pytester, catalog=TLS_ONLY, conftest="")
    result = pytester.runpytest(*reports.args(), "-k", "tls")
    result.stdout.fnmatch_lines(["VERDICT: NO-GO (PARTIAL RUN*", "rule: NO-GO: none of the 2 critical/high checks examined anything "
                                 "(all not applicable: no tls (or https http) targets in inventory demo-env (x2))*"])
    assert result.ret == 1


def test_only_lower_severity_examined_is_no_go(pytester: pytest.Pytester) -> None:
    catalog = '''
        import pytest

        @pytest.mark.check("low-01", "Low", severity="low")
        def test_low(host):
            """Low only."""
    '''
    reports = write_catalog(pytester, catalog=catalog, conftest="")
    result = pytester.runpytest(*reports.args())
    result.stdout.fnmatch_lines(["VERDICT: NO-GO", "rule: NO-GO: no critical or high check was selected (2 of lower severity ran)*"])


@pytest.mark.parametrize("answer", [
    '{"status": "valid", "role": "SRE", "date": "2024-01-01", "evidence": "x"}',                  # no person
    '{"status": "valid", "by": "  ", "role": "SRE", "date": "2024-01-01", "evidence": "x"}',      # blank person
    '{"status": "valid", "by": "Ada", "role": "SRE", "evidence": "x"}',                           # no date
    '{"status": "valid", "by": "Ada", "role": "SRE", "date": "2024-02-30", "evidence": "x"}',     # impossible date
    '{"status": "valid", "by": "Ada", "role": "SRE", "date": "2999-01-01", "evidence": "x"}',     # future
])
def test_attestation_from_a_hook_needs_a_person_and_a_date(pytester: pytest.Pytester, answer: str) -> None:
    conftest = f'''
        def pytest_deploycheck_attestation(config, check, target):
            return {answer}
    '''
    reports = write_catalog(pytester, conftest=conftest)
    pytester.runpytest(*reports.args(), "-k", "demo-04")
    doc = reports.json()
    outcomes = {r["key"]: (r["outcome"], r["message"]) for r in doc["results"]}
    for key in ("demo-04@alpha", "demo-04@beta"):
        outcome, message = outcomes[key]
        assert outcome == "manual" and "invalid attestation from an attestation hook" in message, outcomes[key]


def test_errors_are_errors_in_junit_and_in_pytest_html_counts(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    result = pytester.runpytest(*reports.args())
    doc = reports.json()
    counts = doc["counts"]["by_outcome"]
    assert counts["error"] >= 1
    root = ET.parse(reports.xml_path).getroot()
    cases = {c.get("name", ""): c for c in root.iter("testcase")}
    web = next(c for name, c in cases.items() if name.startswith("web-01"))
    assert web.find("error") is not None and web.find("failure") is None
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None and int(suite.get("errors", "0")) == counts["error"]
    assert int(suite.get("failures", "0")) == counts["failed"]
    html = reports.html()
    shown = dict((label, int(n)) for n, label in re.findall(r'<span class="\w+">(\d+) ([A-Za-z ,/()-]+?),?</span>', html))
    assert shown["Failed"] == counts["failed"] and shown["Errors"] == counts["error"] and shown["Passed"] == counts["passed"], shown
    assert result.ret == 1


ROOT_CAUSE = '''
import pytest

pytestmark = pytest.mark.section("web", "Web")
''' + "\n".join(f'''
@pytest.mark.check("web-{n:02d}", "Check {n}", severity="high")
def test_{n}(http_endpoint):
    """Asks the site something."""
    http_endpoint.get("/")
''' for n in range(1, 8))


def test_a_dead_target_is_one_root_cause(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, catalog=ROOT_CAUSE, conftest="",
                            inventory=INVENTORY.replace('url: "http://127.0.0.1:9/"', 'url: "http://127.0.0.1:9/"\n    timeout: 1'))
    result = pytester.runpytest(*reports.args())
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["root causes (each blocked checks that could not look):",
                                 "  6 checks blocked by web-01: web unusable: cannot connect to 127.0.0.1:9: connection refused (6 critical/high)"])
    blocking = out.split("blocking:", 1)[1].split("root causes", 1)[0]
    assert blocking.count("web-0") == 1  # the first failure itself; the six it blocked are not listed one by one
    doc = reports.json()
    assert len(doc["root_causes"]) == 1 and len(doc["root_causes"][0]["blocked"]) == 6
    assert doc["root_causes"][0]["origin"] == "web-01@web"
    assert "Root causes (1)" in reports.html()


def test_a_bad_certificate_is_one_root_cause(pytester: pytest.Pytester, nginx_sites: dict[str, Instance]) -> None:
    """The certificate expired: the checks that need a login there are grouped under the TLS check
    that found it, once; the header checks still judge (test_checks_http proves that)."""
    site = nginx_sites["expired_cert"]
    run = run_catalog(pytester, "test_tls.py", "test_auth.py", targets=[site])
    causes = run.summary.root_causes()
    assert len(causes) == 1, [c.label for c in causes]
    cause = causes[0]
    assert cause.cause == "certificate" and cause.origin is not None and cause.origin.check_id == "tls-03"
    assert cause.label == (f"{len(cause.blocked)} check{'s' if len(cause.blocked) > 1 else ''} blocked by tls-03: "
                           f"certificate not verified (certificate has expired) on {site.name}")
    assert cause.blocked and all(r.outcome.value == "error" for r in cause.blocked)


def test_partial_run_under_xdist_counts_what_the_workers_left_out(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    pytester.runpytest_subprocess(*reports.args(), "-n", "2", "-k", "demo-01 or demo-02")
    doc = reports.json()
    assert doc["partial"] is True and doc["selected"] == 4
    assert doc["deselected"] == 9 and "web-01" in doc["scope"]["left_out"], doc["scope"]  # demo-03..06 on two hosts, web-01
