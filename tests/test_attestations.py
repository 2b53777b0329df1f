"""Manual items and the attestations file, through pytester on an inline catalog.

Pending, attested, expired and future-dated attestations; per-target entries; the automated part
of a manual item; the ``attestation`` fixture; the template; where the file is found; the
verdict; and every message of a malformed file.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.governance import TODAY, attestation, day, files_inventory, run, write_yaml

CATALOG = '''
"""An inline governance catalog: manual items, one with an automated part, one automated only."""
import pytest

pytestmark = pytest.mark.section("gov", "Governance")


@pytest.mark.check("gov-01", "Release approved", severity="high")
@pytest.mark.manual(instructions="The release manager approves the release.")
def test_approved():
    """A person approves the release."""


@pytest.mark.check("gov-02", "Runbook reviewed", severity="high")
@pytest.mark.manual(instructions="Read RUNBOOK.md.")
def test_runbook(files):
    """The runbook exists (verified) and a person reviewed it (attested)."""
    assert files.find("RUNBOOK.md"), f"{files.label}: no RUNBOOK.md"


@pytest.mark.check("gov-03", "Support briefed", severity="medium")
@pytest.mark.manual(instructions="Brief the support team.")
def test_support():
    """Support knows what changes."""


@pytest.mark.check("gov-04", "Automated only", severity="low")
def test_automated(files):
    """No person involved."""


@pytest.mark.check("gov-05", "Drill is recent", severity="high")
@pytest.mark.manual(instructions="Run a restore drill.")
def test_drill(attestation, evidence):
    """Verifies the attested drill's age through the attestation fixture."""
    if attestation is not None:
        evidence.record(age_days=attestation.age_days, by=attestation.by)
        assert attestation.age_days <= 90, f"last drill {attestation.date}, {attestation.age_days} days ago"
'''


@pytest.fixture
def gov(pytester: pytest.Pytester) -> pytest.Pytester:
    """The inline catalog and an inventory with one ``files`` target, ``repo``, that has a runbook."""
    pytester.makepyfile(test_gov=CATALOG)
    files_inventory(pytester, "repo")
    (pytester.path / "repos" / "repo" / "RUNBOOK.md").write_text("# Runbook\n")
    return pytester


def attest(pytester: pytest.Pytester, entries: dict[str, object], name: str = "attestations.yml") -> str:
    write_yaml(pytester.path / name, {"version": 1, "attestations": entries})
    return f"--deploycheck-attestations={name}"


BASE = ("--inventory=inventory.yml",)


# --------------------------------------------------------------------------- outcomes


def test_manual_item_without_attestation_is_pending_and_blocks(gov: pytest.Pytester) -> None:
    r = run(gov, *BASE)
    assert r.outcome("gov-01") == "manual"
    assert r.message("gov-01") == "pending attestation (no attestation recorded): The release manager approves the release."
    assert r.outcome("gov-02", "repo") == "manual"
    assert r.outcome("gov-04", "repo") == "passed"
    assert r.verdict == "NO-GO"
    assert "manual item(s) pending attestation" in r.summary.verdict.rule
    r.result.stdout.fnmatch_lines(["*gov-01 [[]high[]] -: manual: pending attestation*", "*1 passed, 4 manual*"])
    assert r.extra("attestations") == []


def test_attested_item_passes_and_reports_who_and_when(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-01": attestation(date=-3, valid_for="30d")})
    r = run(gov, *BASE, option)
    assert r.outcome("gov-01") == "passed"
    att = r.result_for("gov-01").attestation
    assert att["status"] == "valid"
    assert (att["by"], att["role"], att["date"], att["expires"]) == ("Ada Lovelace", "SRE lead", day(-3), day(27))
    assert att["evidence"] == "https://tickets.example.com/OPS-1"
    assert att["source"] == "attestations.yml:3"
    r.result.stdout.fnmatch_lines(["attested:", f"  gov-01 -: by Ada Lovelace (SRE lead) on {day(-3)}, valid until {day(27)}; "
                                                f"evidence: https://tickets.example.com/OPS-1"])
    (row,) = r.extra("attestations")
    assert (row["check"], row["status"], row["matched"], row["days_left"]) == ("gov-01", "valid", ["-"], 27)


def test_expired_attestation_leaves_the_item_pending_with_the_date(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-01": attestation(date=-40, valid_for="30d"),
                          "gov-03": attestation(date=-10, expires=-1)})
    r = run(gov, *BASE, option)
    assert r.outcome("gov-01") == "manual"
    assert f"expired on {day(-10)}" in r.message("gov-01")
    assert r.message("gov-01").startswith(f"pending attestation (expired on {day(-10)}: attested by Ada Lovelace (SRE lead) on {day(-40)})")
    assert r.outcome("gov-03") == "manual"
    assert f"expired on {day(-1)}" in r.message("gov-03")
    rows = {row["check"]: row for row in r.extra("attestations")}
    assert rows["gov-01"]["status"] == rows["gov-03"]["status"] == "expired"
    assert rows["gov-01"]["matched"] == ["-"]


def test_attestation_holds_through_its_expiry_day(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-01": attestation(date=-5, expires=0), "gov-03": attestation(date=-7, valid_for="1w")})
    r = run(gov, *BASE, option)
    assert r.outcome("gov-01") == "passed"
    assert r.outcome("gov-03") == "passed"


def test_a_valid_attestation_wins_over_an_expired_one(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-01": [attestation(by="Old", date=-100, valid_for="30d"), attestation(by="New", date=-1)]})
    r = run(gov, *BASE, option)
    assert r.outcome("gov-01") == "passed"
    assert r.result_for("gov-01").attestation["by"] == "New"
    statuses = {row["by"]: row["status"] for row in r.extra("attestations")}
    assert statuses == {"Old": "expired", "New": "valid"}


def test_attestation_per_target_and_the_automated_part(gov: pytest.Pytester) -> None:
    files_inventory(gov, "shop", "blog", "wiki")
    for name in ("shop", "blog"):
        (gov.path / "repos" / name / "RUNBOOK.md").write_text("# Runbook\n")
    option = attest(gov, {"gov-02": [attestation(target="shop"), attestation(target="wiki")]})
    r = run(gov, *BASE, option)
    assert r.outcome("gov-02", "shop") == "passed"  # runbook there, reviewed
    assert r.outcome("gov-02", "blog") == "manual"  # runbook there, nobody attested
    assert r.outcome("gov-02", "wiki") == "failed"  # attested, but the automated part fails: no attestation helps
    assert "no RUNBOOK.md" in r.message("gov-02", "wiki")
    rows = {row["target"]: row for row in r.extra("attestations")}
    assert (rows["shop"]["status"], rows["shop"]["matched"]) == ("valid", ["shop"])
    assert (rows["wiki"]["status"], rows["wiki"]["matched"]) == ("unused", [])
    assert rows["wiki"]["notes"] == ["the automated part of gov-02 did not pass on wiki, so the attestation was not consulted"]
    assert rows["shop"]["notes"] == ["attested gov-02 on shop"]


def test_glob_and_targetless_entries_cover_every_target(gov: pytest.Pytester) -> None:
    files_inventory(gov, "shop", "blog")
    for name in ("shop", "blog"):
        (gov.path / "repos" / name / "RUNBOOK.md").write_text("# Runbook\n")
    option = attest(gov, {"gov-02": attestation(target="*"), "gov-01": attestation()})
    r = run(gov, *BASE, option)
    assert r.outcome("gov-02", "shop") == r.outcome("gov-02", "blog") == "passed"
    rows = {row["check"]: row for row in r.extra("attestations")}
    assert rows["gov-02"]["matched"] == ["blog", "shop"]


def test_the_attestation_fixture_lets_a_check_verify_the_attested_date(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-05": attestation(date=-120, valid_for="365d")})
    r = run(gov, *BASE, option)
    assert r.outcome("gov-05") == "failed"
    assert "120 days ago" in r.message("gov-05")
    assert r.result_for("gov-05").evidence == {"age_days": 120, "by": "Ada Lovelace"}
    option = attest(gov, {"gov-05": attestation(date=-20, valid_for="365d")})
    assert run(gov, *BASE, option).outcome("gov-05") == "passed"


# --------------------------------------------------------------------------- the verdict


@pytest.mark.parametrize(("attested", "verdict"), [
    ((), "NO-GO"),                                          # high items pending
    (("gov-01", "gov-02", "gov-05"), "GO WITH RISKS"),      # only the medium gov-03 pending: a risk
    (("gov-01", "gov-02", "gov-03", "gov-05"), "GO"),       # everything attested
    (("gov-02", "gov-03", "gov-05"), "NO-GO"),              # one high item pending blocks
])
def test_verdict(gov: pytest.Pytester, attested: tuple[str, ...], verdict: str) -> None:
    option = attest(gov, {check: attestation() for check in attested})
    r = run(gov, *BASE, option)
    assert r.verdict == verdict
    assert r.ret == (1 if verdict == "NO-GO" else 0)


def test_expired_attestation_of_a_high_item_turns_go_into_no_go(gov: pytest.Pytester) -> None:
    entries = {check: attestation() for check in ("gov-02", "gov-03", "gov-05")}
    assert run(gov, *BASE, attest(gov, {**entries, "gov-01": attestation()})).verdict == "GO"
    r = run(gov, *BASE, attest(gov, {**entries, "gov-01": attestation(date=-60, valid_for="30d")}))
    assert r.verdict == "NO-GO"
    r.result.stdout.fnmatch_lines([f"*gov-01 [[]high[]] -: manual: pending attestation (expired on {day(-30)}*"])


# --------------------------------------------------------------------------- where the file comes from


def test_file_from_environment_ini_and_inventory_key(gov: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    (gov.path / "conf").mkdir()
    write_yaml(gov.path / "conf" / "from-ini.yml", {"attestations": {"gov-01": attestation(by="Ini")}})
    write_yaml(gov.path / "from-env.yml", {"attestations": {"gov-01": attestation(by="Env")}})
    write_yaml(gov.path / "from-inventory.yml", {"attestations": {"gov-01": attestation(by="Inventory")}})
    write_yaml(gov.path / "from-cli.yml", {"attestations": {"gov-01": attestation(by="Cli")}})
    files_inventory(gov, "repo", attestations="from-inventory.yml")
    assert run(gov, *BASE).result_for("gov-01").attestation["by"] == "Inventory"
    gov.makeini("[pytest]\ndeploycheck_attestations = conf/from-ini.yml\n")
    assert run(gov, *BASE).result_for("gov-01").attestation["by"] == "Ini"
    monkeypatch.setenv("DEPLOYCHECK_ATTESTATIONS", "from-env.yml")
    assert run(gov, *BASE).result_for("gov-01").attestation["by"] == "Env"
    assert run(gov, *BASE, "--deploycheck-attestations=from-cli.yml").result_for("gov-01").attestation["by"] == "Cli"


def test_attestations_apply_under_xdist(gov: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    option = attest(gov, {"gov-01": attestation(), "gov-03": attestation(date=-50, valid_for="30d")})
    r = run(gov, *BASE, option, "-n", "2")
    assert r.outcome("gov-01") == "passed"
    assert r.result_for("gov-01").attestation["by"] == "Ada Lovelace"
    assert f"expired on {day(-20)}" in r.message("gov-03")
    assert {row["check"]: row["status"] for row in r.extra("attestations")} == {"gov-01": "valid", "gov-03": "expired"}


# --------------------------------------------------------------------------- the template


def test_template_lists_the_selected_manual_items_and_runs_nothing(gov: pytest.Pytester) -> None:
    r = run(gov, *BASE, "--deploycheck-attestation-template=template.yml")
    assert r.ret == 0, r.text
    assert r.summary is None
    assert "go-live summary" not in r.text
    r.result.stdout.fnmatch_lines(["deploycheck: wrote an attestation template for 4 manual item(s) to *template.yml"])
    text = (gov.path / "template.yml").read_text()
    assert "  # gov-01 [high] Release approved (Governance)\n  # how: The release manager approves the release.\n  gov-01:\n" in text
    assert '  gov-02:\n    - target: "repo"\n      by: TODO\n' in text
    assert "gov-03:" in text
    assert "gov-05:" in text
    assert "gov-04" not in text


def test_template_honours_the_selection_and_becomes_a_valid_file(gov: pytest.Pytester) -> None:
    r = run(gov, *BASE, "-k", "gov-01 or gov-02", "--deploycheck-attestation-template=template.yml")
    assert r.ret == 0, r.text
    text = (gov.path / "template.yml").read_text()
    assert "gov-01:" in text
    assert "gov-02:" in text
    assert "gov-03" not in text
    # Left as written, the template is refused: every TODO must be filled in or the entry deleted.
    err = run(gov, *BASE, "--deploycheck-attestations=template.yml").usage_error()
    assert "template.yml:15: attestations.gov-01.by: still holds the template placeholder TODO" in err
    filled = text.replace("by: TODO", "by: Ada").replace("role: TODO", "role: SRE lead")
    filled = filled.replace("date: TODO", f"date: {day(-1)}").replace("evidence: TODO", "evidence: OPS-1")
    (gov.path / "filled.yml").write_text(filled)
    r = run(gov, *BASE, "--deploycheck-attestations=filled.yml", "-k", "gov-01 or gov-02")
    assert r.outcome("gov-01") == r.outcome("gov-02", "repo") == "passed"


def test_template_to_the_terminal_and_never_over_a_file(gov: pytest.Pytester) -> None:
    r = run(gov, *BASE, "--deploycheck-attestation-template=-")
    assert r.ret == 0
    r.result.stdout.fnmatch_lines(["*attestation template*", "version: 1", "attestations:"])
    (gov.path / "taken.yml").write_text("keep me\n")
    err = run(gov, *BASE, "--deploycheck-attestation-template=taken.yml").usage_error()
    assert "taken.yml: exists; --deploycheck-attestation-template never overwrites a file" in err
    assert (gov.path / "taken.yml").read_text() == "keep me\n"


# --------------------------------------------------------------------------- malformed files


def test_future_dated_attestation_is_a_usage_error(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-01": attestation(date=2)})
    err = run(gov, *BASE, option).usage_error()
    assert (f"attestations.yml:6: attestations.gov-01.date: {day(2)} is in the future (today is {TODAY.isoformat()}); "
            "an attestation records work already done: write the day it was done") in err


def test_unknown_check_id_is_a_usage_error(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-01": attestation(), "gvo-01": attestation()})
    err = run(gov, *BASE, option).usage_error()
    assert "attestations.yml:9: attestations.gvo-01: no check 'gvo-01' in the collected catalog; did you mean 'gov-01'?" in err


def test_ids_of_sections_the_run_did_not_collect_are_not_judged(gov: pytest.Pytester) -> None:
    """One module run by path with the project's whole attestations file: the other sections'
    ids are not unknown, only not part of this run."""
    option = attest(gov, {"gov-01": attestation(), "dr-02": attestation()})
    r = run(gov, *BASE, option)
    assert r.ret != pytest.ExitCode.USAGE_ERROR, r.text
    assert r.outcome("gov-01") == "passed"


def test_ids_are_judged_against_the_whole_catalog_not_the_selection(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-01": attestation(), "gov-03": attestation()})
    r = run(gov, *BASE, option, "-k", "gov-01")
    assert r.ret == 0, r.text  # gov-03 is deselected, not unknown: no usage error
    assert r.outcome("gov-01") == "passed"
    assert {row["check"]: row["status"] for row in r.extra("attestations")} == {"gov-01": "valid", "gov-03": "unused"}
    assert r.extra("attestations")[1]["notes"] == ["gov-03 was not part of this run"]
    r = run(gov, *BASE, option, "--deploycheck-severity=high")
    assert r.outcome("gov-01") == "passed"


def test_attestation_for_an_automated_check_is_a_usage_error(gov: pytest.Pytester) -> None:
    option = attest(gov, {"gov-04": attestation()})
    err = run(gov, *BASE, option).usage_error()
    assert ("attestations.yml:3: attestations.gov-04: gov-04 (Automated only) is not a manual item and takes no attestation "
            "(only @pytest.mark.manual checks do); delete the entry") in err


def test_unknown_check_id_under_xdist_is_the_same_usage_error(gov: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    option = attest(gov, {"gov-99": attestation()})
    r = run(gov, *BASE, option, "-n", "2")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "attestations.yml:3: attestations.gov-99: no check 'gov-99' in the collected catalog" in r.text
    assert "INTERNALERROR" not in r.text


MALFORMED = [
    pytest.param("""\
        attestations:
          gov-01:
            by: Ada
            date: {past}
            evidence: OPS-1
            valid_for: 30d
        """, ["attestations.yml:2: attestations.gov-01.role: required key missing: their role (e.g. SRE lead); add it"],
        id="missing-field"),
    pytest.param("""\
        attestations:
          gov-01:
            by: Ada
            role: SRE
            date: {past}
            evidence: OPS-1
        """, ["attestations.yml:2: attestations.gov-01: no expiry; add expires: YYYY-MM-DD or valid_for: 30d"], id="no-expiry"),
    pytest.param("""\
        attestations:
          gov-01:
            by: Ada
            role: SRE
            date: {past}
            evidence: OPS-1
            expires: {future}
            valid_for: 30d
        """, ["attestations.yml:8: attestations.gov-01.valid_for: give expires or valid_for, not both; delete one"], id="both-expiries"),
    pytest.param("""\
        attestations:
          gov-01:
            by: Ada
            role: SRE
            date: {past}
            evidence: OPS-1
            expires: 2001-01-01
        """, ["attestations.yml:7: attestations.gov-01.expires: 2001-01-01 is before the attestation's date"], id="expires-before-date"),
    pytest.param("""\
        attestations:
          gov-01:
            by: Ada
            role: SRE
            date: next week
            evidence: OPS-1
            valid_for: 30d
        """, ["attestations.yml:5: attestations.gov-01.date: expected a date YYYY-MM-DD (the day it was done), got 'next week'"],
        id="bad-date"),
    pytest.param("""\
        attestations:
          gov-01:
            by: Ada
            role: SRE
            date: {past}
            evidence: OPS-1
            valid_for: a while
        """, ["attestations.yml:7: attestations.gov-01.valid_for: expected a validity period such as 30d, 12w or 90 (days), "
              "got 'a while'"], id="bad-period"),
    pytest.param("""\
        attestations:
          gov-01:
            by: [Ada, Grace]
            role: SRE
            date: {past}
            evidence: OPS-1
            valid_for: 30d
        """, ["attestations.yml:3: attestations.gov-01.by: expected text (who attests (a name)), got a list"], id="wrong-type"),
    pytest.param("""\
        attestations:
          gov-01:
            by: Ada
            role: SRE
            date: {past}
            evidense: OPS-1
            valid_for: 30d
        """, ["attestations.yml:6: attestations.gov-01.evidense: unknown key; did you mean 'evidence'?",
              "attestations.yml:2: attestations.gov-01.evidence: required key missing"], id="typo-key"),
    pytest.param("""\
        attestations:
          gov1:
            by: Ada
        """, ["attestations.yml:2: attestations.gov1: expected a check id such as doc-01 (area-NN), got 'gov1'"], id="bad-id"),
    pytest.param("""\
        attestations:
          gov-01: Ada said so
        """, ["attestations.yml:2: attestations.gov-01: expected a mapping with by, role, date, evidence and expires (or valid_for), "
              "got a string"], id="entry-not-mapping"),
    pytest.param("""\
        attestations:
          - gov-01
        """, ["attestations.yml:1: attestations: expected a mapping of check ids to attestations, got a list"], id="list-not-mapping"),
    pytest.param("""\
        - gov-01
        """, ["attestations.yml:1: expected a mapping with 'version: 1' and 'attestations:' at the top level, got a list"],
        id="top-not-mapping"),
    pytest.param("""\
        version: 1
        """, ["attestations.yml:1: attestations: required key missing: a mapping of check ids to attestations"], id="no-attestations"),
    pytest.param("""\
        version: 3
        attestations: {{}}
        """, ["attestations.yml:1: version: unsupported version 3; this plugin reads version 1"], id="version"),
    pytest.param("", ["attestations.yml:1: the file is empty; write 'version: 1' and 'attestations:'"], id="empty"),
    pytest.param("""\
        attestations:
          gov-01: {{by: Ada
        """, ["attestations.yml:3: YAML syntax error"], id="syntax"),
    pytest.param("""\
        attestations:
          gov-01:
            - by: Ada
              role: SRE
              date: {past}
              evidence: OPS-1
              valid_for: 30d
            - by: Ada
              role: SRE
              date: {past}
              evidence: OPS-1
              valid_for: 30d
        """, ["attestations.yml:8: attestations.gov-01: a second attestation for gov-01 dated {past} (the first is at "
              "attestations.yml:3); delete one"], id="duplicate"),
    pytest.param("""\
        attestations:
          gov-01:
            by: TODO
            role: SRE
            date: {past}
            evidence: ""
            valid_for: 0d
        """, ["3 problems in attestations file attestations.yml:",
              "attestations.yml:3: attestations.gov-01.by: still holds the template placeholder TODO; write who attests (a name) "
              "or delete the entry",
              "attestations.yml:6: attestations.gov-01.evidence: is empty; write a URL, ticket or short text an auditor can follow",
              "attestations.yml:7: attestations.gov-01.valid_for: expected a validity period"], id="placeholder-empty-zero"),
]


@pytest.mark.parametrize(("text", "expected"), MALFORMED)
def test_malformed_file_is_one_usage_error_naming_file_line_and_key(gov: pytest.Pytester, text: str, expected: list[str]) -> None:
    dates = {"past": day(-3), "future": day(30)}
    (gov.path / "attestations.yml").write_text(textwrap.dedent(text).format(**dates))
    err = run(gov, *BASE, "--deploycheck-attestations=attestations.yml").usage_error()
    for line in expected:
        assert line.format(**dates) in err, err


def test_missing_file_and_directory(gov: pytest.Pytester) -> None:
    err = run(gov, *BASE, "--deploycheck-attestations=nowhere.yml").usage_error()
    assert "nowhere.yml: attestations file not found; check the path given to --deploycheck-attestations" in err
    (gov.path / "folder").mkdir()
    err = run(gov, *BASE, "--deploycheck-attestations=folder").usage_error()
    assert "folder: is a directory; --deploycheck-attestations takes a YAML file" in err
