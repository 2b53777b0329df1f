"""The team's own checklist (``--deploycheck-checklist``): read, mapped, run, judged, reported.

Through pytester on an inline catalog whose checks judge a ``files`` target (a folder), so an item's
checks pass or fail on demand: ``repo`` has a README and a runbook, ``bare`` has neither.
"""

from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.governance import attestation, files_inventory, run, write_yaml

CATALOG = '''
"""An inline catalog: two automated checks on files targets, with the wording they answer."""
import pytest

pytestmark = pytest.mark.section("docs", "Documentation")


@pytest.mark.check("doc-01", "README present", severity="medium", answers=("readme", "project documentation"), answers_kind="document")
def test_readme(files):
    """A README tells a newcomer what this is."""
    assert files.find("README.md"), f"{files.label}: no README.md; expected one at the top"


@pytest.mark.check("doc-02", "Runbook present", severity="high", answers=("runbook", "operations manual"), answers_kind="document")
def test_runbook(files):
    """The on-call engineer needs a runbook."""
    assert files.find("RUNBOOK.md"), f"{files.label}: no RUNBOOK.md; expected one at the top"
'''

CHECKLIST = """\
# Go-live checklist

Some prose that is not an item.

## Documentation
- [x] README written
- [ ] Runbook published for on-call
  - [ ] Escalation contacts listed

```
- [ ] not an item: inside a code fence
```

## Sign-off
- [ ] Rollback plan tested
Engineering Lead: ________
"""


@pytest.fixture
def team(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_docs=CATALOG)
    files_inventory(pytester, "repo")
    (pytester.path / "repos" / "repo" / "README.md").write_text("# Repo\n")
    (pytester.path / "repos" / "repo" / "RUNBOOK.md").write_text("# Runbook\n")
    (pytester.path / "go-live.md").write_text(CHECKLIST)
    return pytester


ARGS = ("--inventory=inventory.yml", "--deploycheck-checklist=go-live.md")


def items_of(r: object) -> dict[str, dict[str, object]]:
    summary = r.summary  # type: ignore[attr-defined]
    assert summary is not None and summary.checklist is not None, r.text  # type: ignore[attr-defined]
    return {i.key: i.as_dict() for i in summary.checklist.items}


def mapping(pytester: pytest.Pytester, items: dict[str, object], **top: object) -> None:
    write_yaml(pytester.path / "go-live.deploycheck.yml", {"version": 1, **top, "items": items})


# --------------------------------------------------------------------------- reading and collecting


def test_every_item_is_a_test_item_named_like_the_list(team: pytest.Pytester) -> None:
    result = team.runpytest("-p", "no:cacheprovider", *ARGS, "--collect-only", "-q")
    lines = [line for line in result.stdout.lines if line.startswith("go-live.md")]
    assert lines == [
        "go-live.md::Go-live checklist::Documentation::README written",
        "go-live.md::Go-live checklist::Documentation::Runbook published for on-call",
        "go-live.md::Go-live checklist::Documentation::Escalation contacts listed",
        "go-live.md::Go-live checklist::Sign-off::Rollback plan tested",
        "go-live.md::Go-live checklist::Sign-off::Engineering Lead: ____",
    ]
    assert "not an item" not in result.stdout.str()


def test_a_ticked_box_means_nothing_the_run_decides(team: pytest.Pytester) -> None:
    mapping(team, {"documentation--readme-written": {"checks": ["doc-01"]}})
    (team.path / "repos" / "repo" / "README.md").unlink()
    r = run(team, *ARGS)
    assert items_of(r)["documentation--readme-written"]["status"] == "failed"


def test_keyword_selection_works_on_item_text(team: pytest.Pytester) -> None:
    result = team.runpytest("-p", "no:cacheprovider", *ARGS, "--collect-only", "-q", "-k", "Rollback")
    assert [line for line in result.stdout.lines if line.startswith("go-live.md")] == [
        "go-live.md::Go-live checklist::Sign-off::Rollback plan tested"]


# --------------------------------------------------------------------------- mapping and status


def test_mapped_items_take_the_status_of_their_checks_and_the_rest_is_manual(team: pytest.Pytester) -> None:
    mapping(team, {"documentation--readme-written": ["doc-01"],
                   "documentation--runbook-published-for-on-call": {"checks": ["doc-02"], "id": "OPS-7"}})
    r = run(team, *ARGS)
    items = items_of(r)
    assert items["documentation--readme-written"]["status"] == "passed"
    assert items["documentation--readme-written"]["matched_by"] == "mapping"
    assert items["documentation--runbook-published-for-on-call"]["id"] == "OPS-7"
    assert items["documentation--runbook-published-for-on-call"]["status"] == "passed"
    rollback = items["sign-off--rollback-plan-tested"]
    assert (rollback["status"], rollback["manual"], rollback["severity"]) == ("manual", True, "high")
    assert r.verdict == "NO-GO"  # an unattested manual item the team wrote down blocks
    assert "checklist: 5 items (2 automated, 3 manual)" in r.text


def test_a_failing_check_fails_its_item_naming_check_and_target(team: pytest.Pytester) -> None:
    files_inventory(team, "repo", "bare")
    (team.path / "repos" / "repo" / "README.md").write_text("# Repo\n")
    mapping(team, {"documentation--readme-written": ["doc-01"]})
    r = run(team, *ARGS)
    item = items_of(r)["documentation--readme-written"]
    assert item["status"] == "failed"
    assert "doc-01 on bare" in str(item["reason"])
    assert [(x["check"], x["target"], x["outcome"]) for x in item["results"]] == [  # type: ignore[index, union-attr]
        ("doc-01", "bare", "failed"), ("doc-01", "repo", "passed")]


def test_attesting_a_manual_item_by_its_key_passes_it(team: pytest.Pytester) -> None:
    mapping(team, {"documentation--readme-written": ["doc-01"], "documentation--runbook-published-for-on-call": ["doc-02"]})
    write_yaml(team.path / "att.yml", {"version": 1, "attestations": {
        "sign-off--rollback-plan-tested": attestation(by="Grace Hopper", role="Release manager"),
        "sign-off--engineering-lead": attestation(),
        "documentation--escalation-contacts-listed": attestation(),
    }})
    r = run(team, *ARGS, "--deploycheck-attestations=att.yml")
    item = items_of(r)["sign-off--rollback-plan-tested"]
    assert item["status"] == "passed", item
    assert r.verdict == "GO", r.text


def test_a_mapping_severity_raises_the_checks_severity(team: pytest.Pytester) -> None:
    files_inventory(team, "bare")
    mapping(team, {"documentation--readme-written": {"checks": ["doc-01"], "severity": "critical"}},
              sections={"Sign-off": {"severity": "low"}})
    r = run(team, *ARGS)
    assert r.result_for("doc-01", "bare").severity.value == "critical"  # medium on its own
    assert items_of(r)["sign-off--rollback-plan-tested"]["severity"] == "low"


def test_checks_no_item_maps_to_still_run_and_count(team: pytest.Pytester) -> None:
    files_inventory(team, "bare")
    mapping(team, {"documentation--readme-written": ["doc-01"]})
    r = run(team, *ARGS)
    assert r.outcome("doc-02", "bare") == "failed"  # beyond the checklist, high: still blocks
    assert [x.check_id for x in r.summary.checklist.beyond] == ["doc-02"]
    only = run(team, *ARGS, "--deploycheck-checklist-only")
    assert only.summary.partial and "--deploycheck-checklist-only (the checks your checklist maps to)" in only.summary.scope.narrowed_by
    assert {x.check_id for x in only.summary.results} == {"doc-01", *(x.check_id for x in only.summary.results
                                                                       if x.check and x.check.section == "checklist")}


# --------------------------------------------------------------------------- the matcher


def test_unmapped_items_are_matched_by_the_checks_phrases_and_say_why(team: pytest.Pytester) -> None:
    r = run(team, *ARGS)
    items = items_of(r)
    readme = items["documentation--readme-written"]
    assert readme["checks"] == ["doc-01"]
    assert str(readme["matched_by"]).startswith("suggested: ") and "readme" in str(readme["matched_by"]).lower()
    assert items["sign-off--rollback-plan-tested"]["manual"] is True


def test_the_map_option_writes_suggestions_and_keeps_a_persons_entries(team: pytest.Pytester) -> None:
    mapping(team, {"sign-off--rollback-plan-tested": {"checks": ["doc-02"], "severity": "low"}})
    result = team.runpytest("-p", "no:cacheprovider", *ARGS, "--deploycheck-checklist-map")
    assert result.ret == 0, result.stdout.str()
    written = (team.path / "go-live.deploycheck.yml").read_text()
    doc = __import__("yaml").safe_load(written)
    assert doc["items"]["sign-off--rollback-plan-tested"] == {"text": "Rollback plan tested", "checks": ["doc-02"], "severity": "low"}
    assert doc["items"]["documentation--readme-written"]["checks"] == ["doc-01"]
    assert "suggested" in doc["items"]["documentation--readme-written"]
    assert doc["items"]["sign-off--engineering-lead"]["manual"] is True
    assert "go-live summary" not in result.stdout.str()  # nothing ran


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("items", "expected"), [
    ({"documentation--readme-written": ["doc-1"]}, "go-live.deploycheck.yml:3: items.documentation--readme-written.checks: "
                                                   "no check 'doc-1' in the collected catalog; did you mean 'doc-01'?"),
    ({"documentation--readme-written": {"severity": "urgent", "checks": ["doc-01"]}}, "unknown severity 'urgent'"),
    ({"documentation--readme-written": {"chekcs": ["doc-01"]}}, "unknown key; did you mean 'checks'?"),
    ({"documentation--readme-written": {"checks": ["doc-01"], "id": "A"},
      "sign-off--rollback-plan-tested": {"manual": True, "id": "A"}}, "id 'A' is already used"),
    ({"sign-off--rollback-plan-tested": {"manual": True, "attest": "tested"}},
     "items.sign-off--rollback-plan-tested.attest: names the part a person attests beside the item's checks, and this entry has none"),
])
def test_mapping_problems_are_one_line_usage_errors(team: pytest.Pytester, items: dict[str, object], expected: str) -> None:
    mapping(team, items)
    r = run(team, *ARGS)
    assert expected in r.usage_error()
    assert "Traceback" not in r.text


def test_a_stale_mapping_entry_is_a_warning_in_every_report(team: pytest.Pytester) -> None:
    mapping(team, {"documentation--readme-writen": ["doc-01"]})
    r = run(team, *ARGS, "--deploycheck-json=report.json", "--deploycheck-checklist-md=checklist.md")
    warning = r.summary.checklist.warnings[0]
    assert "items.documentation--readme-writen: no such item in go-live.md" in warning
    assert "'documentation--readme-written'" in warning
    assert warning in r.text
    assert json.loads((team.path / "report.json").read_text())["checklist"]["warnings"] == [warning]
    assert "readme-writen" in (team.path / "checklist.md").read_text()


@pytest.mark.parametrize(("text", "expected"), [
    ("# Notes\n\nNo boxes here at all.\n", "no checklist item"),
    ("", "no checklist item"),
])
def test_a_file_without_items_is_a_usage_error(team: pytest.Pytester, text: str, expected: str) -> None:
    (team.path / "go-live.md").write_text(text)
    r = run(team, *ARGS)
    assert expected in r.usage_error().lower()


def test_a_missing_checklist_is_a_usage_error(team: pytest.Pytester) -> None:
    r = run(team, "--inventory=inventory.yml", "--deploycheck-checklist=nope.md")
    assert "nope.md: checklist not found" in r.usage_error()


# --------------------------------------------------------------------------- reports


def test_reports_reproduce_the_team_checklist(team: pytest.Pytester) -> None:
    files_inventory(team, "repo", "bare")
    (team.path / "repos" / "repo" / "README.md").write_text("# Repo\n")
    mapping(team, {"documentation--readme-written": ["doc-01"]})
    run(team, *ARGS, "--deploycheck-json=report.json", "--deploycheck-checklist-md=checklist.md", "--junitxml=junit.xml")
    doc = json.loads((team.path / "report.json").read_text())
    checklist = doc["checklist"]
    assert checklist["source"].endswith("go-live.md")
    assert [i["text"] for i in checklist["items"]] == ["README written", "Runbook published for on-call", "Escalation contacts listed",
                                                       "Rollback plan tested", "Engineering Lead: ____"]
    first = checklist["items"][0]
    assert {k: first[k] for k in ("key", "section", "checks", "manual", "severity", "status", "matched_by")} == {
        "key": "documentation--readme-written", "section": ["Go-live checklist", "Documentation"], "checks": ["doc-01"],
        "manual": False, "severity": "medium", "status": "failed", "matched_by": "mapping"}
    markdown = (team.path / "checklist.md").read_text()
    assert "### Documentation" in markdown or "#### Documentation" in markdown
    assert "- [ ] README written *(medium; checks doc-01)* — failed" in markdown
    assert "doc-01 on bare" in markdown
    assert "Beyond your checklist" in markdown
    root = ET.parse(team.path / "junit.xml").getroot()
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    readme = cases[("Go-live checklist.Documentation", "README written")]
    failure = readme.find("failure")
    assert failure is not None and "doc-01 on bare" in (failure.text or "")
    rollback = cases[("Go-live checklist.Sign-off", "Rollback plan tested")]
    assert rollback.find("skipped") is not None


GROUPED = """\
# Launch
- [ ] **Docs**
  - [ ] README written
  - [ ] Runbook published for on-call
  - [ ] Escalation contacts listed
- [ ] Rollback plan tested
"""


def test_a_heading_over_sub_items_is_judged_by_them(team: pytest.Pytester) -> None:
    """"- [ ] **Docs**" over its own items is their heading: no check answers it and nobody attests
    it; it takes the worst of its sub-items' statuses."""
    (team.path / "go-live.md").write_text(GROUPED)
    mapping(team, {"launch--runbook-published-for-on-call": ["doc-02"]})
    r = run(team, *ARGS)
    items = items_of(r)
    docs = items["launch--docs"]
    assert (docs["group"], docs["manual"], docs["checks"], docs["status"]) == (True, False, [], "manual")
    assert docs["reason"] == "its 3 sub-item(s): 1 manual, 2 passed"
    assert docs["matched_by"].startswith("group: judged by its 3 sub-items")
    assert items["launch--readme-written"]["parent"] == "launch--docs"
    assert "checklist: 5 items (2 automated, 2 manual, 1 judged by their sub-items)" in r.text

    write_yaml(team.path / "att.yml", {"version": 1, "attestations": {
        "launch--escalation-contacts-listed": attestation(), "launch--rollback-plan-tested": attestation()}})
    attested = run(team, *ARGS, "--deploycheck-attestations=att.yml", "--deploycheck-checklist-md=checklist.md",
                   "--deploycheck-html=report.html")
    assert items_of(attested)["launch--docs"]["status"] == "passed"
    assert attested.verdict == "GO", attested.text  # the heading itself needs no attestation
    # The reports show the heading as a group with its sub-items under it.
    markdown = (team.path / "checklist.md").read_text()
    assert "- [x] Docs *(high; judged by its sub-items)* — passed\n  - its 3 sub-item(s): 3 passed\n  - [x] README written" in markdown
    html = (team.path / "report.html").read_text()
    assert '<td class="dc-id">its sub-items' in html and '<td style="padding-left:1.2em">README written' in html

    (team.path / "repos" / "repo" / "RUNBOOK.md").unlink()
    failed = run(team, *ARGS, "--deploycheck-attestations=att.yml")
    assert items_of(failed)["launch--docs"]["status"] == "failed"
    assert items_of(failed)["launch--docs"]["reason"] == "its 3 sub-item(s): 1 failed, 2 passed"

    # The mapping file written by --deploycheck-checklist-map says so, and reads back as a group.
    assert team.runpytest("-p", "no:cacheprovider", *ARGS, "--deploycheck-checklist-map").ret == 0
    written = __import__("yaml").safe_load((team.path / "go-live.deploycheck.yml").read_text())["items"]["launch--docs"]
    assert written["suggested"].startswith("group: judged by its 3 sub-items; delete this line")
    assert items_of(run(team, *ARGS))["launch--docs"]["group"] is True

    # A person's mapping entry wins: the heading made manual is attested like any manual item.
    mapping(team, {"launch--runbook-published-for-on-call": ["doc-02"], "launch--docs": {"manual": True}})
    assert items_of(run(team, *ARGS))["launch--docs"]["manual"] is True


IN_PART = """\
# Launch
- [ ] README written, license chosen
"""


def test_an_item_answered_in_part_needs_the_rest_attested(team: pytest.Pytester) -> None:
    """"README written, license chosen": doc-01 answers the README, no check the licence.  The item
    is not passed on doc-01 alone: the rest is pending until a person attests it, and a failed check
    fails the item whatever the attestation says."""
    (team.path / "go-live.md").write_text(IN_PART)
    key = "launch--readme-written-license-chosen"
    r = run(team, *ARGS)
    item = items_of(r)[key]
    assert (item["checks"], item["attest"], item["manual"], item["status"]) == (["doc-01"], "license chosen", False, "manual")
    assert "no check answers 'license chosen': a person attests that part" in str(item["matched_by"])
    assert [(x["check"], x["outcome"]) for x in item["results"]] == [("doc-01", "passed"), (key, "manual")]  # type: ignore[index]
    assert r.verdict != "GO", r.text
    assert "checklist: 1 items (1 automated (1 in part, the rest attested), 0 manual)" in r.text

    template = team.runpytest("-p", "no:cacheprovider", *ARGS, "--deploycheck-attestation-template=-").stdout.str()
    assert "launch--readme-written-license-chosen [medium] README written, license chosen (Launch)" in template
    assert "attest the part of 'README written, license chosen' (go-live.md:2) its checks (doc-01) leave:" in template

    write_yaml(team.path / "att.yml", {"version": 1, "attestations": {key: attestation(by="Grace Hopper")}})
    attested = run(team, *ARGS, "--deploycheck-attestations=att.yml", "--deploycheck-checklist-md=checklist.md",
                   "--deploycheck-html=report.html", "--junitxml=junit.xml")
    assert items_of(attested)[key]["status"] == "passed"
    assert attested.verdict == "GO", attested.text
    markdown = (team.path / "checklist.md").read_text()
    assert ("- [x] README written, license chosen *(medium; checks doc-01, the rest attested: license chosen)* — passed\n"
            "  - the rest (license chosen): attested by Grace Hopper (SRE lead)") in markdown
    html = (team.path / "report.html").read_text()
    assert "doc-01; the rest attested: license chosen" in html and "attested by Grace Hopper (SRE lead)" in html

    (team.path / "repos" / "repo" / "README.md").unlink()
    failed = run(team, *ARGS, "--deploycheck-attestations=att.yml", "--junitxml=junit.xml")
    assert items_of(failed)[key]["status"] == "failed"
    junit = (team.path / "junit.xml").read_text()
    assert "answered by: doc-01; the rest attested: license chosen" in junit

    # The mapping file says which part is left; a person's entry decides: kept, or dropped.
    assert team.runpytest("-p", "no:cacheprovider", *ARGS, "--deploycheck-checklist-map").ret == 0
    written = __import__("yaml").safe_load((team.path / "go-live.deploycheck.yml").read_text())["items"][key]
    assert (written["checks"], written["attest"]) == (["doc-01"], "license chosen")
    (team.path / "repos" / "repo" / "README.md").write_text("# Repo\n")
    mapping(team, {key: {"checks": ["doc-01"], "attest": "an OSI licence chosen"}})
    kept = items_of(run(team, *ARGS))[key]
    assert (kept["attest"], kept["status"], kept["matched_by"]) == ("an OSI licence chosen", "manual", "mapping")
    mapping(team, {key: {"checks": ["doc-01"]}})
    assert items_of(run(team, *ARGS))[key]["status"] == "passed"  # the team says doc-01 is enough


WEB_CHECK = '''
import pytest

pytestmark = pytest.mark.section("web", "Web")


@pytest.mark.check("web-01", "Site answers over HTTPS", severity="high", answers=("site https",))
def test_site(http_endpoint):
    """A site that does not answer is not live."""
'''

NOTHING_TO_LOOK_AT = """\
# Launch
- [ ] Site served over HTTPS
- [ ] README written and site served over HTTPS
"""


def test_an_item_whose_checks_found_no_target_is_an_error_not_na(team: pytest.Pytester) -> None:
    """"Site served over HTTPS" maps to web-01, and the inventory has no http target: web-01 is n/a,
    but the team's item has no evidence at all, so it cannot pass (fail closed).  With one of its
    checks examining something, the item is judged by its checks as before; written manual, a person
    attests it."""
    team.makepyfile(test_web=WEB_CHECK)
    (team.path / "go-live.md").write_text(NOTHING_TO_LOOK_AT)
    site, both = "launch--site-served-over-https", "launch--readme-written-and-site-served-over-https"
    mapping(team, {site: ["web-01"], both: ["doc-01", "web-01"]})
    r = run(team, *ARGS)
    items = items_of(r)
    assert items[site]["status"] == "error"
    assert str(items[site]["reason"]).startswith("nothing examined: no http targets in inventory gov-test; give what is missing")
    assert "write 'manual: true' for the item in go-live.deploycheck.yml" in str(items[site]["reason"])
    assert [(x["check"], x["outcome"]) for x in items[site]["results"]] == [("web-01", "n/a")]  # type: ignore[index]
    assert items[both]["status"] == "passed"
    assert r.verdict == "NO-GO" and "critical/high items not met: 1 could not be checked" in r.text, r.text
    assert "checklist: 2 items (2 automated, 0 manual): 1 passed, 1 could not be checked" in r.text

    mapping(team, {site: {"manual": True}, both: ["doc-01", "web-01"]})
    assert items_of(run(team, *ARGS))[site]["status"] == "manual"
    write_yaml(team.path / "att.yml", {"version": 1, "attestations": {site: attestation()}})
    assert run(team, *ARGS, "--deploycheck-attestations=att.yml").verdict == "GO"


def test_xdist_gives_the_same_checklist(team: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    files_inventory(team, "repo", "bare")
    mapping(team, {"documentation--readme-written": ["doc-01"]})
    serial = run(team, *ARGS)
    parallel = run(team, *ARGS, "-n", "2")
    assert items_of(parallel) == items_of(serial)


def test_the_sample_checklists_are_read_whole(pytester: pytest.Pytester) -> None:
    samples = Path(__file__).resolve().parents[2] / "shared" / "checklists"
    files = sorted(samples.glob("*.txt"))
    if not files:
        pytest.skip("no sample checklists beside the checkout (../shared/checklists)")
    from pytest_deploycheck.checklist.parse import parse_file

    for path in files:
        checklist = parse_file(path)
        boxes = sum(1 for line in path.read_text(errors="replace").splitlines() if line.lstrip().startswith(("- [", "* [")))
        assert len(checklist.items) >= boxes * 0.9, f"{path.name}: {len(checklist.items)} items for {boxes} box lines"
        assert len({i.key for i in checklist.items}) == len(checklist.items)


def test_the_attestation_template_lists_manual_items_in_the_teams_words(team: pytest.Pytester) -> None:
    mapping(team, {"documentation--readme-written": ["doc-01"], "documentation--runbook-published-for-on-call": ["doc-02"]})
    result = team.runpytest("-p", "no:cacheprovider", *ARGS, "--deploycheck-attestation-template=-")
    text = result.stdout.str()
    assert "sign-off--rollback-plan-tested [high] Rollback plan tested (Go-live checklist > Sign-off)" in text
    assert "'Rollback plan tested' (go-live.md:15)" in text
    assert "documentation--readme-written:" not in text  # answered by doc-01: nothing to attest


PROBE_CHECK = '''
import pytest

pytestmark = pytest.mark.section("probe", "Probes")


@pytest.mark.check("probe-01", "Login rate limited", severity="high", answers=("login rate limited",))
@pytest.mark.active_probe
def test_burst(files):
    """Sends a burst (here: nothing)."""
'''


def test_an_item_only_active_probes_answer_needs_them_allowed(team: pytest.Pytester) -> None:
    """"Login rate limited" maps to an active probe: with active probes off for every target it
    looks at nothing, so the team's item is an error naming the setting, not n/a."""
    team.makepyfile(test_probe=PROBE_CHECK)
    (team.path / "go-live.md").write_text("# Launch\n- [ ] Login rate limited\n")
    key = "launch--login-rate-limited"
    item = items_of(run(team, *ARGS))[key]
    assert (item["status"], item["checks"]) == ("error", ["probe-01"])
    assert str(item["reason"]).startswith("nothing examined: repo: active probe not enabled; set active_probes: true on the target")
    files_inventory(team, "repo", active_probes=True)
    assert items_of(run(team, *ARGS))[key]["status"] == "passed"


UNEXAMINED_CHECKS = '''
import pytest
from pytest_deploycheck import not_applicable

pytestmark = pytest.mark.section("cfg", "Config")


@pytest.mark.check("cfg-91", "Health path answers", severity="high", answers=("health path answers",))
def test_health_path(files):
    """Needs a path the inventory does not give."""
    not_applicable(f"{files.name}: no 'health' path in the inventory (files.{files.name}.health)", unexamined=True)


@pytest.mark.check("cfg-92", "Cache persistence", severity="high", answers=("cache persistence",))
def test_cache_persistence(files):
    """Looked, and it does not apply."""
    not_applicable(f"{files.name}: a cache keeps nothing worth persisting")
'''


def test_an_item_whose_checks_looked_at_nothing_is_an_error(team: pytest.Pytester) -> None:
    """A check that ends n/a for want of a path, a privilege or a target has not looked: the team's
    item it alone answers is an error at the item's severity, in the verdict too.  An n/a that is a
    finding ("a cache keeps nothing worth persisting") keeps the item n/a."""
    team.makepyfile(test_cfg=UNEXAMINED_CHECKS)
    (team.path / "go-live.md").write_text("# Launch\n- [ ] Health path answers\n- [ ] Cache persistence\n")
    health, cache = "launch--health-path-answers", "launch--cache-persistence"
    mapping(team, {health: ["cfg-91"], cache: ["cfg-92"]})
    r = run(team, *ARGS, "--deploycheck-json=go-live.json")
    items = items_of(r)
    assert items[health]["status"] == "error"
    assert str(items[health]["reason"]).startswith("nothing examined: repo: no 'health' path in the inventory (files.repo.health); give what")
    assert "write 'manual: true' for the item in go-live.deploycheck.yml and attest it" in str(items[health]["reason"])
    assert items[cache]["status"] == "n/a"
    assert r.verdict == "NO-GO" and "critical/high items not met: 1 could not be checked" in r.text, r.text
    doc = json.loads((team.path / "go-live.json").read_text())
    assert [row["unexamined"] for row in doc["results"] if row["id"] in ("cfg-91", "cfg-92")] == [True, False]
    assert doc["verdict"]["blocking"] == ["go-live.md::Launch::Health path answers"]
    if importlib.util.find_spec("xdist") is not None:  # the flag crosses from the workers to the controller
        parallel = run(team, *ARGS, "-n", "2")
        assert items_of(parallel)[health]["status"] == "error" and parallel.verdict == "NO-GO"
