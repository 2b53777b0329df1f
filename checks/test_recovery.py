"""Rollback and disaster recovery: the release can be undone, and the data can be brought back.

Documents are verified in the deployed repository named by a ``files`` target (``ROLLBACK.md``,
``DISASTER_RECOVERY.md``, or a section of the runbook); that they work is attested by the people
who tried.  The age of a restore or failover drill is verified from its attestation's date: older
than ``restore_drill_max_age_days`` (default 90) fails, however valid the attestation.
"""

from __future__ import annotations

import re

import pytest

from pytest_deploycheck import require
from pytest_deploycheck.governance.documents import missing_terms, require_document

pytestmark = pytest.mark.section("dr", "Rollback and disaster recovery")

NIST_CP = "NIST SP 800-34 Rev. 1: contingency planning, testing and exercises"
DR_DOCS = ("DISASTER_RECOVERY.md", "DISASTER-RECOVERY.md", "DR.md", "BACKUP.md")


def _drill_is_recent(attestation, inventory, evidence, what):
    """Fail when the attested drill is older than restore_drill_max_age_days; nothing attested
    yet: the item stays pending."""
    __tracebackhide__ = True
    if attestation is None:
        return
    limit = inventory.thresholds["restore_drill_max_age_days"]
    evidence.record(drill_date=attestation.date.isoformat(), drill_age_days=attestation.age_days, max_age_days=limit,
                    attested_by=f"{attestation.by} ({attestation.role})")
    require(attestation.age_days <= limit, inventory.name,
            f"last {what} on {attestation.date.isoformat()}, {attestation.age_days} days ago (attested by {attestation.by}, "
            f"{attestation.source})", f"a {what} within {limit} days (restore_drill_max_age_days)")


@pytest.mark.check("dr-01", "Rollback procedure documented", severity="high",
                   answers=("rollback plan|procedure|runbook|document|step|strategy|process|guide",
                            "rollback|revert plan|procedure|process", "rollback prepar|ready"),
                   answers_kind="document",
                   answers_unless=("migration", "database"))
def test_rollback_documented(files, evidence):
    """A rollback decided under pressure must follow written steps: which version to go back to,
    how to redeploy it, what to do about database migrations, how to verify.  Passes when the
    repository holds ROLLBACK.md or a runbook section on rolling back, with text in it."""
    require_document(files, evidence, ("ROLLBACK.md", "ROLLBACK.txt"), re.compile(r"roll[ -]?back", re.I), "rollback procedure")


@pytest.mark.check("dr-02", "Rollback tested in staging", severity="critical", refs=(NIST_CP,),
                   answers=("rollback test|drill|rehears|practic|verif|exercis staging? procedure?", "rollback staging"),
                   answers_kind="drill",
                   answers_unless=("migration",))
@pytest.mark.manual(instructions="Deploy this release to staging, roll it back with the documented procedure, and "
                                 "verify the previous version serves traffic; attest with the pipeline run or ticket.")
def test_rollback_tested():
    """An untested rollback is a hope, not a plan: the release is only safe to ship if it can be
    undone.  A person attests that this release was rolled back in staging with the documented
    procedure and the previous version came back healthy."""


@pytest.mark.check("dr-03", "Database migration rollback tested", severity="high",
                   answers=("migration|schema rollback|reversible|revers|down|backward test|verif?", "database rollback test"),
                   answers_kind="drill")
@pytest.mark.manual(instructions="Apply this release's migrations to a copy of production data, run the down "
                                 "migrations (or the documented restore path), and check the previous version works on it.")
def test_migration_rollback_tested():
    """Schema changes are the part of a release that rolls back worst: a migration without a
    tested way back turns a bad release into a restore from backup.  A person attests that the
    migrations were reversed on production-like data."""


@pytest.mark.check("dr-04", "Backup restore drill is recent", severity="high",
                   refs=(NIST_CP, "ISO/IEC 27001:2022 A.8.13: information backup"),
                   answers=("backup|backups? restoretest", "recovery|disasterrecovery|pitr test|tested|drill|rehears|exercis", "backup|restore restore|recovery test|drill|verif|rehears|practic procedure?",
                            "backup|backups test|drill|rehears|restorable", "restore test|drill|verif|rehears",
                            "test restore|restores backup?"),
                   answers_kind="drill",
                   answers_unless=("schedul", "planned", "planning", "next"))  # a drill to come; "backup plan: tested restore" is one done
@pytest.mark.manual(instructions="Restore the latest production backup into an isolated environment, check the data "
                                 "(row counts, a known record, the application starts on it) and time it against the RTO; "
                                 "attest with the drill's date and report.")
def test_restore_drill(attestation, inventory, evidence):
    """A backup nobody has restored is not known to be a backup.  Passes when a person attests a
    restore drill done within restore_drill_max_age_days (default 90); fails when the attested
    drill is older, with its date; pending until one is attested."""
    _drill_is_recent(attestation, inventory, evidence, "restore drill")


@pytest.mark.check("dr-05", "RTO and RPO documented and agreed", severity="medium", refs=(NIST_CP,),
                   answers=("rto", "rpo", "recovery time|point objective|target"),
                   answers_kind="document")
@pytest.mark.manual(instructions="Confirm with the business owner that the documented recovery time and recovery point "
                                 "objectives are accepted; attest with the approval.")
def test_rto_rpo(files, evidence):
    """The recovery time objective (how long an outage may last) and the recovery point objective
    (how much data may be lost) drive backup frequency and drill targets.  Passes when a disaster
    recovery document (DISASTER_RECOVERY.md, or a runbook section on recovery) names both and a
    person attests the business agreed to them."""
    doc = require_document(files, evidence, DR_DOCS, re.compile(r"disaster|recovery|backup", re.I), "disaster recovery document")
    missing = missing_terms(doc, {"RTO": re.compile(r"\bRTO\b|recovery time objective", re.I),
                                  "RPO": re.compile(r"\bRPO\b|recovery point objective", re.I)})
    require(not missing, files, f"{doc.describe(files.path)} does not state the {' or the '.join(missing)}",
            "both the recovery time objective (RTO) and the recovery point objective (RPO)")


@pytest.mark.check("dr-06", "Restore procedure documented", severity="high",
                   refs=("ISO/IEC 27001:2022 A.8.13: information backup",),
                   answers=("restore|recovery procedure|process|plan|runbook|step|guide|document|instructions",
                            "disaster_recovery plan|procedure|document|runbook", "backup restore procedure|document|runbook|process|step"),
                   answers_kind="document",
                   answers_unless=("failover",))
def test_restore_documented(files, evidence):
    """Restoring data is done rarely and under stress; the steps (where the backups are, how to
    restore them, how to check the result) must be written down.  Passes when the repository
    holds RESTORE.md, or a disaster recovery document or runbook section on restoring, backups or
    recovery that says how to restore."""
    doc = require_document(files, evidence, ("RESTORE.md", *DR_DOCS), re.compile(r"restor|recover|backup", re.I), "restore procedure")
    require(not missing_terms(doc, {"restore": re.compile(r"restor", re.I)}), files,
            f"{doc.describe(files.path)} never mentions restoring", "the steps to restore the data")


@pytest.mark.check("dr-07", "Failover drill is recent", severity="medium",
                   refs=(NIST_CP, "ISO/IEC 27001:2022 A.5.30: ICT readiness for business continuity"),
                   answers=("failover test|drill|rehears|exercis|verif", "database|postgres|mysql|redis|db failover test|drill|rehears|exercis|verif",
                            "disaster_recovery drill|test|exercis",
                            "standby|replica promotion test|drill"),
                   answers_kind="drill")
@pytest.mark.manual(instructions="Fail over to the standby (database replica, second region, spare host) and back; "
                                 "attest with the drill's date and report. No standby: attest that, with the decision that accepted it.")
def test_failover_drill(attestation, inventory, evidence):
    """A standby that was never promoted may not take over when needed.  Passes when a person
    attests a failover drill done within restore_drill_max_age_days (default 90); fails when the
    attested drill is older; pending until one is attested."""
    _drill_is_recent(attestation, inventory, evidence, "failover drill")
