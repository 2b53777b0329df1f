"""Waivers, through pytester on an inline catalog: waivers that apply, that expired, that are
stale, that expire soon, that try to cover a critical failure or one above their max_severity;
the verdict for each combination; where the file is found; every message of a malformed file."""

from __future__ import annotations

import textwrap

import pytest

from tests.governance import attestation, day, files_inventory, run, waiver, write_yaml

CATALOG = '''
"""An inline catalog: one check per severity, each failing where the target holds FAIL-<id>."""
import pytest

from pytest_deploycheck import require

pytestmark = pytest.mark.section("sec", "Security")


def _control(files, check):
    require(not (files.path / f"FAIL-{check}").exists(), files, f"{check} control missing", f"{check} in place")


@pytest.mark.check("sec-01", "Critical control", severity="critical")
def test_critical(files):
    """A critical control."""
    _control(files, "sec-01")


@pytest.mark.check("sec-02", "High control", severity="high")
def test_high(files):
    """A high control."""
    _control(files, "sec-02")


@pytest.mark.check("sec-03", "Medium control", severity="medium")
def test_medium(files):
    """A medium control."""
    _control(files, "sec-03")


@pytest.mark.check("sec-04", "Release approved", severity="high")
@pytest.mark.manual(instructions="Approve.")
def test_approved():
    """A person approves."""
'''

TARGETS = ("api-1", "api-2", "web")
BASE = ("--inventory=inventory.yml",)


@pytest.fixture
def sec(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_sec=CATALOG)
    files_inventory(pytester, *TARGETS)
    return pytester


def breaks(pytester: pytest.Pytester, check: str, *targets: str) -> None:
    for target in targets:
        (pytester.path / "repos" / target / f"FAIL-{check}").write_text("")


def files(pytester: pytest.Pytester, *waivers: dict[str, object], approved: bool = True) -> tuple[str, ...]:
    """Options for a waivers file holding ``waivers`` and an attestations file approving sec-04."""
    write_yaml(pytester.path / "waivers.yml", {"version": 1, "waivers": list(waivers)})
    write_yaml(pytester.path / "attestations.yml", {"attestations": {"sec-04": attestation()} if approved else {}})
    return (*BASE, "--deploycheck-waivers=waivers.yml", "--deploycheck-attestations=attestations.yml")


# --------------------------------------------------------------------------- applied


def test_waiver_turns_a_matching_failure_into_waived_and_go_with_risks(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-02", "api-1")
    r = run(sec, *files(sec, waiver("W-1", "sec-02", "api-*")))
    assert r.outcome("sec-02", "api-1") == "waived"
    assert r.message("sec-02", "api-1").endswith("/repos/api-1): sec-02 control missing; expected sec-02 in place")
    used = r.result_for("sec-02", "api-1").waiver
    assert (used["id"], used["approver"], used["ticket"], used["expires"]) == ("W-1", "Jane Doe (CISO)", "RISK-14", day(60))
    assert r.verdict == "GO WITH RISKS"
    assert r.summary.verdict.rule == "GO WITH RISKS: every critical/high item met; 1 waived"
    assert r.ret == 0
    row = r.waiver("W-1")
    assert (row["status"], row["matched"], row["target"], row["days_left"]) == ("applied", ["api-1"], "api-*", 60)
    assert row["justification"] == "accepted until the Q3 migration"
    assert row["max_severity"] is None
    r.result.stdout.fnmatch_lines([
        "risks:", "  sec-02 [[]high[]] api-1: waived: api-1 (*): sec-02 control missing; expected sec-02 in place",
        "waivers:", f"  W-1 (sec-02 on api-*, RISK-14, approved by Jane Doe (CISO) until {day(60)}): applied: applied to api-1",
        "VERDICT: GO WITH RISKS", "*9 passed, 1 waived*",
    ])


def test_waiver_scope_is_a_name_or_glob(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-02", "api-1", "api-2", "web")
    r = run(sec, *files(sec, waiver("W-1", "sec-02", "api-*"), waiver("W-2", "sec-02", "web", expires=90)))
    assert [r.outcome("sec-02", t) for t in TARGETS] == ["waived", "waived", "waived"]
    assert r.waiver("W-1")["matched"] == ["api-1", "api-2"]
    assert r.waiver("W-2")["matched"] == ["web"]
    r = run(sec, *files(sec, waiver("W-1", "sec-02", "api-1")))
    assert [r.outcome("sec-02", t) for t in TARGETS] == ["waived", "failed", "failed"]
    assert r.verdict == "NO-GO"


def test_the_most_specific_waiver_is_used_and_the_other_reported_stale(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-03", "web")
    r = run(sec, *files(sec, waiver("W-ALL", "sec-03", "*"), waiver("W-WEB", "sec-03", "web")))
    assert r.result_for("sec-03", "web").waiver["id"] == "W-WEB"
    assert r.waiver("W-WEB")["status"] == "applied"
    stale = r.waiver("W-ALL")
    assert stale["status"] == "stale"
    assert "more specific waivers covered them (W-WEB)" in stale["notes"][0]


def test_a_waived_medium_failure_does_not_trip_the_medium_gate(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-03", "web")
    assert run(sec, *files(sec), "--deploycheck-fail-on=medium").ret == 1
    r = run(sec, *files(sec, waiver("W-1", "sec-03", "web")), "--deploycheck-fail-on=medium")
    assert r.verdict == "GO WITH RISKS"
    assert r.ret == 0


# --------------------------------------------------------------------------- expired, stale, expiring


def test_expired_waiver_no_longer_applies_and_the_report_says_so(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-02", "api-1")
    r = run(sec, *files(sec, waiver("W-OLD", "sec-02", "api-*", expires=-1)))
    assert r.outcome("sec-02", "api-1") == "failed"
    assert r.verdict == "NO-GO"
    row = r.waiver("W-OLD")
    assert (row["status"], row["matched"], row["left_failing"]) == ("expired", [], ["api-1"])
    assert row["notes"] == [f"expired on {day(-1)}; it no longer applies: sec-02 still fails on api-1"]
    r.result.stdout.fnmatch_lines([f"  W-OLD (sec-02 on api-*, *): expired: expired on {day(-1)}; it no longer applies: "
                                   "sec-02 still fails on api-1"])


def test_waiver_holds_through_its_expiry_day(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-02", "api-1")
    r = run(sec, *files(sec, waiver("W-1", "sec-02", "api-1", expires=0)))
    assert r.outcome("sec-02", "api-1") == "waived"
    assert r.waiver("W-1")["status"] == "expiring"


def test_stale_waiver_is_reported(sec: pytest.Pytester) -> None:
    r = run(sec, *files(sec, waiver("W-FIXED", "sec-03", "web")))
    assert r.verdict == "GO"
    row = r.waiver("W-FIXED")
    assert (row["status"], row["matched"]) == ("stale", [])
    assert row["notes"] == ["matched no failure: sec-03 did not fail on any target in scope 'web'; delete the waiver if the risk is gone"]
    r.result.stdout.fnmatch_lines(["waivers:", "  W-FIXED (sec-03 on web, *): stale: matched no failure*", "VERDICT: GO"])


def test_waiver_of_a_check_outside_the_selection_is_not_selected(sec: pytest.Pytester) -> None:
    r = run(sec, *files(sec, waiver("W-1", "sec-02", "*")), "-k", "sec-03 or sec-04")
    assert r.waiver("W-1")["status"] == "not selected"
    assert r.waiver("W-1")["notes"] == ["sec-02 was not part of this run"]


def test_waiver_expiring_soon_is_flagged(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-02", "api-1")
    options = files(sec, waiver("W-SOON", "sec-02", "api-1", expires=5), waiver("W-LATER", "sec-03", "web", expires=20))
    r = run(sec, *options)
    soon = r.waiver("W-SOON")
    assert (soon["status"], soon["matched"], soon["days_left"]) == ("expiring", ["api-1"], 5)
    assert f"expires in 5 day(s), on {day(5)} (flagged under 14 days)" in soon["notes"]
    assert r.waiver("W-LATER")["status"] == "stale"  # 20 days left: not flagged under the default 14
    r.result.stdout.fnmatch_lines(["  W-SOON (sec-02 on api-1, *): expiring: applied to api-1; expires in 5 day(s)*"])
    # The warning window: the option (or env, ini) first, then the inventory's threshold.
    assert run(sec, *options, "--deploycheck-waiver-warn-days=3").waiver("W-SOON")["status"] == "applied"
    assert run(sec, *options, "--deploycheck-waiver-warn-days=30").waiver("W-LATER")["status"] == "expiring"
    files_inventory(sec, *TARGETS, thresholds={"waiver_expiry_warn_days": 3})
    assert run(sec, *options).waiver("W-SOON")["status"] == "applied"


# --------------------------------------------------------------------------- critical and max_severity


def test_critical_failure_cannot_be_waived_by_default(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-01", "web")
    r = run(sec, *files(sec, waiver("W-CRIT", "sec-01", "web")))
    assert r.outcome("sec-01", "web") == "failed"
    assert r.verdict == "NO-GO"
    row = r.waiver("W-CRIT")
    assert row["status"] == "refused"
    assert row["notes"] == ["does not cover sec-01 on web: critical failures cannot be waived under the default policy; allow it with "
                            "--deploycheck-critical-waivers=allow (or DEPLOYCHECK_CRITICAL_WAIVERS / ini deploycheck_critical_waivers)"]
    r.result.stdout.fnmatch_lines(["  W-CRIT (sec-01 on web, *): refused: does not cover sec-01 on web: critical failures cannot*"])


def test_critical_failure_can_be_waived_when_the_policy_allows(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-01", "web")
    options = files(sec, waiver("W-CRIT", "sec-01", "web"))
    r = run(sec, *options, "--deploycheck-critical-waivers=allow")
    assert r.outcome("sec-01", "web") == "waived"
    assert r.verdict == "GO WITH RISKS"
    assert r.waiver("W-CRIT")["status"] == "applied"
    sec.makeini("[pytest]\ndeploycheck_critical_waivers = allow\n")
    assert run(sec, *options).outcome("sec-01", "web") == "waived"
    err = run(sec, *options, "--deploycheck-critical-waivers=maybe").result.stderr.str()
    assert "critical-waiver policy must be one of deny, allow, got 'maybe'" in err


def test_waiver_covers_nothing_above_its_max_severity(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-02", "web")
    breaks(sec, "sec-03", "web")
    r = run(sec, *files(sec, waiver("W-HIGH", "sec-02", "web", max_severity="medium"),
                        waiver("W-MED", "sec-03", "web", max_severity="medium")))
    assert r.outcome("sec-02", "web") == "failed"
    assert r.outcome("sec-03", "web") == "waived"
    assert r.waiver("W-HIGH")["status"] == "refused"
    assert r.waiver("W-HIGH")["notes"] == ["does not cover sec-02 on web: sec-02 is high, above the waiver's max_severity medium"]
    assert r.waiver("W-MED")["max_severity"] == "medium"


# --------------------------------------------------------------------------- the verdict


@pytest.mark.parametrize(("broken", "waivers", "approved", "extra", "verdict"), [
    ((), (), True, (), "GO"),
    ((("sec-02", "web"),), (), True, (), "NO-GO"),                                          # high failure
    ((("sec-02", "web"),), (("sec-02", "web", 30),), True, (), "GO WITH RISKS"),              # ... waived
    ((("sec-02", "web"),), (("sec-02", "web", 30),), False, (), "NO-GO"),                     # ... but a high manual item pending
    ((("sec-02", "web"),), (("sec-02", "web", -3),), True, (), "NO-GO"),                      # ... waiver expired
    ((("sec-03", "web"),), (), True, (), "GO WITH RISKS"),                                   # medium failure: a risk
    ((("sec-03", "web"),), (("sec-03", "web", 30),), True, (), "GO WITH RISKS"),              # ... waived: still a risk
    ((("sec-01", "web"),), (("sec-01", "web", 30),), True, (), "NO-GO"),                      # critical: policy denies
    ((("sec-01", "web"),), (("sec-01", "web", 30),), True, ("--deploycheck-critical-waivers=allow",), "GO WITH RISKS"),
    ((), (("sec-02", "*", 30),), True, (), "GO"),                                            # stale waiver: no risk taken
])
def test_verdict(sec: pytest.Pytester, broken: tuple[tuple[str, str], ...], waivers: tuple[tuple[str, str, int], ...],
                 approved: bool, extra: tuple[str, ...], verdict: str) -> None:
    for check, target in broken:
        breaks(sec, check, target)
    options = files(sec, *(waiver(f"W-{i}", c, t, expires=e) for i, (c, t, e) in enumerate(waivers)), approved=approved)
    r = run(sec, *options, *extra)
    assert r.verdict == verdict
    assert r.ret == (1 if verdict == "NO-GO" else 0)


def test_waivers_under_xdist_are_reported_by_the_controller(sec: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    breaks(sec, "sec-02", "api-1", "api-2")
    r = run(sec, *files(sec, waiver("W-1", "sec-02", "api-*"), waiver("W-STALE", "sec-03", "*"), waiver("W-OLD", "sec-02", "web", -5)),
            "-n", "2")
    assert r.outcome("sec-02", "api-1") == r.outcome("sec-02", "api-2") == "waived"
    assert {w["id"]: (w["status"], w["matched"]) for w in r.extra("waivers")} == {
        "W-1": ("applied", ["api-1", "api-2"]), "W-STALE": ("stale", []), "W-OLD": ("expired", [])}
    assert r.verdict == "GO WITH RISKS"


# --------------------------------------------------------------------------- where the file comes from


def test_file_from_the_inventory_key_and_the_environment(sec: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    breaks(sec, "sec-03", "web")
    (sec.path / "gov").mkdir()
    write_yaml(sec.path / "gov" / "waivers.yml", {"waivers": [waiver("W-INV", "sec-03", "web")]})
    write_yaml(sec.path / "env.yml", {"waivers": [waiver("W-ENV", "sec-03", "web")]})
    files_inventory(sec, *TARGETS, waivers="gov/waivers.yml")
    assert run(sec, *BASE).result_for("sec-03", "web").waiver["id"] == "W-INV"
    monkeypatch.setenv("DEPLOYCHECK_WAIVERS", "env.yml")
    assert run(sec, *BASE).result_for("sec-03", "web").waiver["id"] == "W-ENV"


def test_without_a_waivers_file_the_report_lists_none(sec: pytest.Pytester) -> None:
    breaks(sec, "sec-03", "web")
    r = run(sec, *BASE)
    assert r.outcome("sec-03", "web") == "failed"
    assert r.extra("waivers") == []
    assert "waivers:" not in r.result.stdout.str()


# --------------------------------------------------------------------------- malformed files


def test_unknown_check_id_is_a_usage_error(sec: pytest.Pytester) -> None:
    err = run(sec, *files(sec, waiver("W-1", "sec-02"), waiver("W-2", "sce-03"))).usage_error()
    assert "waivers.yml:11: waivers[1].check: no check 'sce-03' in the collected catalog; did you mean 'sec-03'?" in err


def test_check_ids_are_judged_before_deselection(sec: pytest.Pytester) -> None:
    r = run(sec, *files(sec, waiver("W-1", "sec-02")), "--deploycheck-severity=critical")
    assert r.ret == 0, r.text  # only sec-01 runs, and passes; sec-02 is deselected, not unknown: no usage error
    assert r.waiver("W-1")["status"] == "not selected"


MALFORMED = [
    pytest.param("""\
        waivers:
          - id: W-1
            check: sec-02
            target: web
            justification: legacy
            approver: Jane
            ticket: RISK-1
        """, ["waivers.yml:2: waivers[0].expires: required key missing: the last day the waiver holds; add it as YYYY-MM-DD"],
        id="no-expiry"),
    pytest.param("""\
        waivers:
          - id: W-1
            check: sec-02
            justification: legacy
            expires: {future}
        """, ["3 problems in waivers file waivers.yml:",
              "waivers.yml:2: waivers[0].approver: required key missing: who accepted the risk; add it",
              "waivers.yml:2: waivers[0].target: required key missing: the targets it covers: a name or glob ('*': every target); add it",
              "waivers.yml:2: waivers[0].ticket: required key missing: the ticket that records the decision; add it"],
        id="missing-fields"),
    pytest.param("""\
        waivers:
          - id: W-1
            check: sec-02
            target: web
            justification: legacy
            approver: Jane
            ticket: RISK-1
            expires: soon
        """, ["waivers.yml:8: waivers[0].expires: expected a date YYYY-MM-DD (the last day the waiver holds), got 'soon'"],
        id="bad-date"),
    pytest.param("""\
        waivers:
          - id: W-1
            check: sec-02
            target: web
            justification: legacy
            approver: Jane
            ticket: RISK-1
            expires: {future}
            max_severity: severe
        """, ["waivers.yml:9: waivers[0].max_severity: unknown severity 'severe'; use one of critical, high, medium, low, info; "
              "or delete the key to cover every severity"], id="bad-severity"),
    pytest.param("""\
        waivers:
          - id: W-1
            check: sec-02
            target: web
            justification: legacy
            approver: Jane
            ticket: RISK-1
            expires: {future}
            aproved_by: Joe
        """, ["waivers.yml:9: waivers[0].aproved_by: unknown key (known keys: id, check, target, justification, approver, ticket, "
              "expires, max_severity, note, advisories); fix or delete it"], id="unknown-key"),
    pytest.param("""\
        waivers:
          - id: W-1
            check: sec-02
            target: web
            justification: legacy
            approver: Jane
            ticket: RISK-1
            expires: {future}
          - id: W-1
            check: sec-03
            target: web
            justification: legacy
            approver: Jane
            ticket: RISK-2
            expires: {future}
        """, ["waivers.yml:9: waivers[1].id: waiver id W-1 is already used at waivers.yml:2; ids are unique: rename one"],
        id="duplicate-id"),
    pytest.param("""\
        waivers:
          - id: W-1
            check: sec 2
            target: web
            justification: TODO
            approver: Jane
            ticket: RISK-1
            expires: {future}
        """, ["waivers.yml:3: waivers[0].check: expected a check id such as doc-01 (area-NN), got 'sec 2'",
              "waivers.yml:5: waivers[0].justification: still holds the template placeholder TODO"], id="bad-id-and-placeholder"),
    pytest.param("""\
        waivers:
          W-1: {{check: sec-02}}
        """, ["waivers.yml:1: waivers: expected a list of waivers ('- id: ...' entries), got a mapping"], id="not-a-list"),
    pytest.param("""\
        waivers:
          - sec-02
        """, ["waivers.yml:2: waivers[0]: expected a mapping with id, check, target, justification, approver, ticket and expires, "
              "got a string"], id="entry-not-mapping"),
    pytest.param("""\
        risks: []
        """, ["waivers.yml:1: risks: unknown key (known keys: version, waivers); fix or delete it",
              "waivers.yml:1: waivers: required key missing: a list of waivers"], id="wrong-top-key"),
    pytest.param("", ["waivers.yml:1: the file is empty; write 'version: 1' and 'waivers:'"], id="empty"),
    pytest.param("""\
        waivers:
          - id: W-1
           check: sec-02
        """, ["waivers.yml:3: YAML syntax error"], id="syntax"),
]


@pytest.mark.parametrize(("text", "expected"), MALFORMED)
def test_malformed_file_is_one_usage_error_naming_file_line_and_key(sec: pytest.Pytester, text: str, expected: list[str]) -> None:
    (sec.path / "waivers.yml").write_text(textwrap.dedent(text).format(future=day(30)))
    err = run(sec, *BASE, "--deploycheck-waivers=waivers.yml").usage_error()
    for line in expected:
        assert line in err, err


def test_missing_waivers_file(sec: pytest.Pytester) -> None:
    err = run(sec, *BASE, "--deploycheck-waivers=nowhere.yml").usage_error()
    assert "nowhere.yml: waivers file not found; check the path given to --deploycheck-waivers" in err
