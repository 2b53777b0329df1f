"""The governance catalog (checks/test_documentation.py, test_recovery.py, test_compliance.py,
test_readiness.py, test_signoff.py), run for real through pytester against ``files`` targets
written in a temporary folder: a well-documented repository and an empty one."""

from __future__ import annotations

import re

import pytest

from tests.governance import attestation, day, files_inventory, run, write_yaml
from tests.servers.inventory import CHECKS, REPO

MODULES = ("test_documentation.py", "test_recovery.py", "test_compliance.py", "test_readiness.py", "test_signoff.py")
CHECKLISTS = REPO.parent / "shared" / "checklists"

# id: (severity, manual, verified in the repository). Severities are deliberate: changing one is a
# decision, so it changes this table too.
EXPECTED = {
    "doc-01": ("high", True, True), "doc-02": ("high", True, True), "doc-03": ("medium", True, True),
    "doc-04": ("medium", True, False), "doc-05": ("low", True, False),
    "dr-01": ("high", False, True), "dr-02": ("critical", True, False), "dr-03": ("high", True, False),
    "dr-04": ("high", True, False), "dr-05": ("medium", True, True), "dr-06": ("high", False, True),
    "dr-07": ("medium", True, False),
    "legal-01": ("high", True, False), "legal-02": ("medium", True, False), "legal-03": ("medium", True, False),
    "legal-04": ("medium", True, False), "legal-05": ("medium", True, False), "legal-06": ("low", False, True),
    "team-01": ("high", True, False), "team-02": ("high", True, True), "team-03": ("medium", True, False),
    "team-04": ("medium", True, False), "team-05": ("medium", True, False), "team-06": ("low", True, False),
    "signoff-01": ("high", True, False), "signoff-02": ("high", True, False), "signoff-03": ("high", True, False),
    "signoff-04": ("high", True, False), "signoff-05": ("high", True, False),
}
IN_REPOSITORY = sorted(cid for cid, (_, _, verified) in EXPECTED.items() if verified)

GOOD_RUNBOOK = """\
# Runbook

Start with `systemctl start shop`, stop with `systemctl stop shop`.
Logs: `journalctl -u shop`. Dashboard: https://grafana.example.com/d/shop.
Deploy: tag a release; the pipeline deploys it.

## Incident response

The on-call engineer declares the incident in #incidents and leads it.
Status page updates every 30 minutes.
Post-mortem within five working days.

## Troubleshooting

Database unreachable: check the pgbouncer pool.
Queue backlog: scale the workers.
Disk full: rotate the logs.

## Escalation and contacts

1. On-call engineer (pager).
2. Database admin.
3. Security team.

## Disaster recovery

RTO: 4 hours. RPO: 1 hour.
Backups are taken hourly to the off-site bucket.
Restore with pg_restore, then run the smoke tests.
"""

STEPS = "1. Stop the rollout.\n2. Redeploy the previous tag.\n3. Verify the health checks.\n"


@pytest.fixture
def repos(pytester: pytest.Pytester) -> pytest.Pytester:
    """Two ``files`` targets: ``good`` documents everything, ``empty`` nothing."""
    files_inventory(pytester, "good", "empty")
    good = pytester.path / "repos" / "good"
    (good / "docs").mkdir()
    (good / "docs" / "RUNBOOK.md").write_text(GOOD_RUNBOOK)
    (good / "ROLLBACK.md").write_text("# Rollback\n\n" + STEPS)
    (good / "NOTICE").write_text("This product includes:\nrequests (Apache-2.0)\npyyaml (MIT)\n")
    return pytester


def catalog(*more: str) -> tuple[str, ...]:
    return (*(str(CHECKS / m) for m in MODULES), f"--rootdir={REPO}", "--inventory=inventory.yml", *more)


def test_catalog_ids_severities_and_metadata(repos: pytest.Pytester) -> None:
    r = run(repos, *catalog())
    checks = {res.check.id: res.check for res in r.summary.results}
    assert {cid: (m.severity.value, m.manual) for cid, m in checks.items()} == {cid: e[:2] for cid, e in EXPECTED.items()}
    for meta in checks.values():
        assert re.fullmatch(r"(doc|dr|legal|team|signoff)-\d\d", meta.id)
        assert meta.title, meta.id
        assert meta.rationale, meta.id
        assert not meta.manual or len(meta.instructions) > 40, f"{meta.id}: a manual item says how to attest it"
    sections = {m.section_title for m in checks.values()}
    assert sections == {"Documentation and runbooks", "Rollback and disaster recovery", "Compliance and legal",
                        "Team readiness and communication", "Final sign-offs"}


def test_repository_documents_are_verified(repos: pytest.Pytester) -> None:
    r = run(repos, *catalog())
    for cid in IN_REPOSITORY:
        assert r.outcome(cid, "good") == ("manual" if EXPECTED[cid][1] else "passed"), (cid, r.message(cid, "good"))
        assert r.outcome(cid, "empty") == "failed", cid
    assert r.result_for("doc-02", "good").evidence == {"document": "docs/RUNBOOK.md § Incident response", "text_lines": 3}
    assert r.result_for("dr-01", "good").evidence == {"document": "ROLLBACK.md", "text_lines": 3}
    assert r.message("dr-01", "empty").endswith(
        "no rollback procedure: no ROLLBACK.md / ROLLBACK.txt (top level, docs/ or doc/) and no runbook section (RUNBOOK.md, "
        "OPERATIONS.md) whose heading matches 'roll[ -]?back'; expected a rollback procedure in the deployed repository")
    assert "/repos/empty): no runbook: no RUNBOOK.md" in r.message("doc-01", "empty")
    # Items with no target run once, and stay pending until attested.
    assert r.outcome("signoff-01") == r.outcome("dr-02") == "manual"
    assert r.verdict == "NO-GO"


def test_a_title_alone_or_a_missing_objective_fails(repos: pytest.Pytester) -> None:
    empty = repos.path / "repos" / "empty"
    (empty / "RUNBOOK.md").write_text("# Runbook\n\nTODO\n")
    (empty / "DISASTER_RECOVERY.md").write_text("# Disaster recovery\n\nRTO: 4 hours.\nBackups hourly.\nRestore with pg_restore.\n")
    r = run(repos, *catalog())
    assert r.message("doc-01", "empty").endswith("RUNBOOK.md holds 1 line(s) of text; expected a runbook of at least 3 lines")
    assert r.message("dr-05", "empty").endswith("DISASTER_RECOVERY.md does not state the RPO; expected both the recovery time "
                                                "objective (RTO) and the recovery point objective (RPO)")
    assert r.outcome("dr-06", "empty") == "passed"  # the DR document says how to restore


def test_without_a_files_target_the_repository_items_are_not_applicable(pytester: pytest.Pytester) -> None:
    files_inventory(pytester)
    r = run(pytester, *catalog())
    for cid in IN_REPOSITORY:
        (result,) = [res for res in r.summary.results if res.check_id == cid]
        assert result.outcome.value == "n/a", cid
        assert "no files targets in inventory gov-test" in result.message
    assert r.outcome("signoff-05") == "manual"


def test_restore_and_failover_drills_must_be_recent(repos: pytest.Pytester) -> None:
    entries = {"dr-04": attestation(date=-120, valid_for="365d"), "dr-07": attestation(date=-30, valid_for="365d")}
    write_yaml(repos.path / "attestations.yml", {"attestations": entries})
    r = run(repos, *catalog("--deploycheck-attestations=attestations.yml"))
    assert r.outcome("dr-04") == "failed"
    assert r.message("dr-04") == (f"gov-test: last restore drill on {day(-120)}, 120 days ago (attested by Ada Lovelace, "
                                  "attestations.yml:2); expected a restore drill within 90 days (restore_drill_max_age_days)")
    assert r.result_for("dr-04").evidence["drill_age_days"] == 120
    assert r.outcome("dr-07") == "passed"
    files_inventory(repos, "good", "empty", thresholds={"restore_drill_max_age_days": 180})
    assert run(repos, *catalog("--deploycheck-attestations=attestations.yml")).outcome("dr-04") == "passed"


def test_everything_documented_and_attested_is_go(repos: pytest.Pytester) -> None:
    args = catalog("-k", "not empty")
    r = run(repos, *args, "--deploycheck-attestation-template=template.yml")
    assert r.ret == 0, r.text
    template = (repos.path / "template.yml").read_text()
    manual = sorted(cid for cid, (_, is_manual, _) in EXPECTED.items() if is_manual)
    assert sorted(re.findall(r"^  ([a-z]+-\d\d):$", template, re.M)) == manual
    filled = (template.replace("by: TODO", "by: Grace Hopper").replace("role: TODO", "role: release manager")
              .replace("date: TODO", f"date: {day(-2)}").replace("evidence: TODO", "evidence: https://tickets.example.com/REL-7"))
    (repos.path / "attestations.yml").write_text(filled)
    r = run(repos, *args, "--deploycheck-attestations=attestations.yml")
    assert r.verdict == "GO", r.text
    assert {res.outcome.value for res in r.summary.results} == {"passed"}
    assert all(res.attestation["by"] == "Grace Hopper" for res in r.summary.results if res.check.manual)
    r.result.stdout.fnmatch_lines(["attested:", f"  dr-02 -: by Grace Hopper (release manager) on {day(-2)}, *"])


def test_an_overdue_drill_can_be_waived(repos: pytest.Pytester) -> None:
    """dr-04 (high) fails on a drill older than 90 days; an accepted risk makes the run GO WITH RISKS."""
    write_yaml(repos.path / "attestations.yml", {"attestations": {"dr-04": attestation(date=-200, valid_for="365d")}})
    write_yaml(repos.path / "waivers.yml", {"waivers": [
        {"id": "RISK-9", "check": "dr-04", "target": "*", "justification": "drill booked for next week", "approver": "CTO",
         "ticket": "RISK-9", "expires": day(10)}]})
    r = run(repos, *catalog("-k", "dr-04", "--deploycheck-attestations=attestations.yml", "--deploycheck-waivers=waivers.yml"))
    assert r.outcome("dr-04") == "waived"
    assert r.verdict == "GO WITH RISKS"
    assert r.waiver("RISK-9")["status"] == "expiring"


@pytest.mark.skipif(not CHECKLISTS.is_dir(), reason="the sample checklists are not on this machine")
def test_the_catalog_covers_what_the_sample_checklists_ask_people_to_vouch_for() -> None:
    """Every governance check answers items of the users' checklists (found by keywords, so the
    project copies none of their text)."""
    items = [line for path in sorted(CHECKLISTS.glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"\s*- ", line)]
    keywords = {
        "doc-01": r"runbook", "doc-02": r"incident response", "doc-03": r"troubleshooting", "doc-04": r"architecture diagram",
        "doc-05": r"SLA|SLO", "dr-01": r"rollback plan", "dr-02": r"rollback procedures? test", "dr-03": r"migration rollback",
        "dr-04": r"restor\w* (tested|procedure tested|verification)|backup restore", "dr-05": r"\bRTO\b|\bRPO\b",
        "dr-06": r"restore procedure documented|recovery procedures documented", "dr-07": r"disaster recovery drill",
        "legal-01": r"GDPR", "legal-02": r"retention polic", "legal-03": r"data (export|deletion)", "legal-04": r"privacy policy",
        "legal-05": r"licen[cs]es reviewed", "legal-06": r"attribution", "team-01": r"on-call", "team-02": r"escalation",
        "team-03": r"support team", "team-04": r"(trained|training)", "team-05": r"communicat", "team-06": r"incident response|status",
        "signoff-01": r"(development|technical) (team )?lead", "signoff-02": r"devops|sre|operations", "signoff-03": r"security team",
        "signoff-04": r"product (owner|manager)", "signoff-05": r"go/no-go|business stakeholders",
    }
    assert sorted(keywords) == sorted(EXPECTED)
    uncovered = [cid for cid, pattern in keywords.items() if not any(re.search(pattern, item, re.I) for item in items)]
    assert not uncovered, f"no sample checklist item for {uncovered}"

