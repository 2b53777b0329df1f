"""JUnit XML: check id, title, target and severity in every test case; valid against the schema
of the family it declares, also with hostile text; the same cases serial and under xdist."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from tests.report_helpers import write_catalog

SCHEMAS = Path(__file__).parent / "schemas"

HOSTILE_CATALOG = '''
import pytest
from pytest_deploycheck import fail

HOSTILE = ("ctl \\x00\\x07\\x08\\x0b\\x0c\\x1b[31mred\\x1b[0m del\\x7f c1\\x85 bad-utf8 "
           + b"\\xff\\xfe\\xc3(".decode("utf-8", "surrogateescape")
           + " nonchar \\ufffe\\uffff emoji \\U0001F600 markup <b>&amp;</b> \\"quotes\\" ]]> end")


@pytest.mark.check("evil-01", "Hostile <text> & \\"quotes\\"", severity="high")
def test_hostile(host, evidence):
    """Prints everything a broken server could send."""
    evidence.record(raw=HOSTILE, big="x" * 1_000_000, raw_bytes=b"\\xff\\x00\\x1b")
    print(HOSTILE)
    fail(host, HOSTILE + " " + "y" * 1_000_000, "sane text")


@pytest.mark.check("evil-02", "Hostile error", severity="medium")
def test_hostile_error(host):
    """Crashes with hostile text."""
    raise RuntimeError(HOSTILE)


def test_users_own_test():
    """Not a check: pytest's junitxml keeps its own name."""
'''


def schema(family: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / f"junit-{family}.xsd"))


def cases(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def outcome_tag(case: ET.Element) -> str:
    tags = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
    return "/".join(tags) or "passed"


def test_xunit2_names_checks_and_validates(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    pytester.runpytest(*reports.args())
    schema("xunit2").validate(str(reports.xml_path))
    by_name = {c.get("name"): c for c in cases(reports.xml_path)}
    failed = by_name["demo-02 Fails on beta [beta] (critical)"]
    assert failed.get("classname") == "demo.demo-02"
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("message") == "beta (local://): observed <b>bold</b> & co; expected something else"
    assert "evidence seen: <script>alert(1)</script>" in (failure.text or "")
    assert "target: beta (hosts)" in (failure.text or "")
    assert "test: test_catalog.py::test_fail[beta]" in (failure.text or "")
    assert outcome_tag(by_name["demo-01 Always passes [alpha] (high)"]) == "passed"
    assert by_name["web-01 Web answers [web] (medium)"].find("error") is not None
    skipped = {name: c.find("skipped") for name, c in by_name.items() if c.find("skipped") is not None}
    assert {name: s.get("type") for name, s in skipped.items() if s is not None} == {
        "demo-03 Not here [alpha] (low)": "deploycheck.not_applicable", "demo-03 Not here [beta] (low)": "deploycheck.not_applicable",
        "demo-04 A person signs [alpha] (high)": "deploycheck.manual", "demo-04 A person signs [beta] (high)": "deploycheck.manual",
        "demo-06 Waived failure [alpha] (medium)": "deploycheck.waived", "demo-06 Waived failure [beta] (medium)": "deploycheck.waived",
    }
    waived = skipped["demo-06 Waived failure [beta] (medium)"]
    assert waived is not None
    assert (waived.get("message") or "").startswith("waived: beta (local://): too old")
    assert "waiver: W-7 approved by Grace until 2027-01-31" in (waived.text or "")
    # xunit2 has no per-testcase properties: the run's metadata is on the suite.
    assert all(c.find("properties") is None for c in cases(reports.xml_path))
    suite = ET.parse(reports.xml_path).getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["deploycheck.verdict"] == "NO-GO"
    assert props["deploycheck.inventory"] == "demo-env"
    assert props["deploycheck.junit_family"] == "xunit2"
    assert len(props["deploycheck.inventory_sha256"] or "") == 64
    assert suite.get("tests") == "13"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "1"
    assert suite.get("skipped") == "6"


def test_xunit1_adds_properties_per_testcase(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, ini="[pytest]\njunit_family = xunit1\n")
    pytester.runpytest(*reports.args())
    schema("xunit1").validate(str(reports.xml_path))
    assert not schema("xunit2").is_valid(str(reports.xml_path))  # the families really differ
    case = next(c for c in cases(reports.xml_path) if c.get("name") == "demo-05 Rollback rehearsed [alpha] (medium)")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["check_id"] == "demo-05"
    assert props["title"] == "Rollback rehearsed"
    assert props["severity"] == "medium"
    assert props["target"] == "alpha"
    assert props["outcome"] == "passed"
    assert props["section"] == "demo"
    assert props["attested_by"] == "Ada <Lovelace>"
    assert props["attested_on"] == "2026-11-01"
    assert case.get("file") == "test_catalog.py"
    assert list(props).count("check_id") == 1  # the core's user_properties are replaced, not doubled


def test_schema_rejects_per_testcase_properties_under_xunit2(tmp_path: Path) -> None:
    doc = tmp_path / "bad.xml"
    doc.write_text('<testsuites><testsuite name="s" tests="1"><testcase name="t"><properties>'
                   '<property name="a" value="b"/></properties></testcase></testsuite></testsuites>', encoding="utf-8")
    assert not schema("xunit2").is_valid(str(doc))
    assert schema("xunit1").is_valid(str(doc))


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_hostile_text_stays_valid(pytester: pytest.Pytester, family: str) -> None:
    reports = write_catalog(pytester, catalog=HOSTILE_CATALOG, ini=f"[pytest]\njunit_family = {family}\n")
    result = pytester.runpytest(*reports.args())
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    schema(family).validate(str(reports.xml_path))
    text = reports.xml()
    assert "\x1b" not in text
    assert "\x00" not in text
    assert "\ufffe" not in text
    hostile = next(c for c in cases(reports.xml_path) if (c.get("name") or "").startswith("evil-01"))
    assert hostile.get("name") == 'evil-01 Hostile <text> & "quotes" [alpha] (high)'
    failure = hostile.find("failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert len(message) < 3000
    assert "truncated" in message
    assert "ctl \\x00\\x07\\x08" in message
    assert "red del\\x7f" in message
    assert "bad-utf8 \ufffd\ufffd\ufffd(" in message
    assert "<b>&amp;</b>" in message
    assert len(failure.text or "") > 1_000_000  # the element text keeps pytest's whole message
    own = next(c for c in cases(reports.xml_path) if c.get("name") == "test_users_own_test")
    assert own.get("classname") == "test_catalog"
    # The other reports take the same text: strict UTF-8, no control characters, escaped.
    for name, content in reports.all_text().items():
        assert "\x1b" not in content and "\x00" not in content, name
        assert not any("\ud800" <= ch <= "\udfff" for ch in content), name
    raw = reports.json_path.read_bytes().decode("utf-8")  # strict: a lone surrogate would fail here
    assert "bad-utf8 \ufffd\ufffd\ufffd(" in raw
    assert "\n- [ ] **evil-01** Hostile \\<text\\> \\& \"quotes\" *(high)* — met on 0 of 2 targets\n  - [ ] alpha: failed: `" in reports.md()


def test_serial_and_xdist_give_the_same_cases(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    pytester.runpytest(*reports.args())
    serial = [(c.get("classname"), c.get("name"), outcome_tag(c)) for c in cases(reports.xml_path)]
    pytester.runpytest(*reports.args(), "-n", "2")
    schema("xunit2").validate(str(reports.xml_path))
    parallel = [(c.get("classname"), c.get("name"), outcome_tag(c)) for c in cases(reports.xml_path)]
    assert serial == parallel
    assert len(serial) == 13
