"""Batch-file exchange: every ``batches`` target, a folder two systems hand files through.

An SFTP drop, a mounted share, a CI artifact folder: the sending side writes JSONL data files
named by an agreed ``pattern``, each with a ``<file>.meta.json`` sidecar (record count, creation
time, schema version) and a sha256 (``<file>.sha256`` or one ``SHA256SUMS`` manifest); an
unfinished transfer is a ``.part``/``.tmp`` file renamed when complete.  The checks judge the
folder as the receiving side will find it: the newest batch on schedule, no transfer left half
done, every record parseable and valid against the agreed JSON Schema, sidecars and checksums
matching, encryption where required, and nothing open to other accounts.

The folder is read once per target and run, newest file first, within ``batch_byte_budget``
bytes; files beyond the budget are named as unread in every check's evidence (``scan``), never
passed silently.  Only reads: nothing is moved, renamed or decrypted.
"""

from __future__ import annotations

import pytest

from pytest_deploycheck import TargetError, not_applicable, require
from pytest_deploycheck.targets.batch_files import Finding, FolderReport

pytestmark = pytest.mark.section("batch", "Batch-file exchange")

TRANSFER = "ISO/IEC 27001:2022 A.5.14: Information transfer"
INTEGRITY = "NIST SP 800-53 SI-7: Software, Firmware, and Information Integrity"
LISTED = 8  # findings named in a failure message; the evidence holds them all


def _listing(found: list[Finding]) -> str:
    shown = "; ".join(str(f) for f in found[:LISTED])
    head = "1 problem" if len(found) == 1 else f"{len(found)} problems"
    return f"{head}: {shown}" + (f"; and {len(found) - LISTED} more" if len(found) > LISTED else "")


def _report(batches, evidence, *, contents: bool = False) -> FolderReport:
    """The run's report of the folder, its scan stated in the evidence.  ``contents``: the check
    reads file contents, so an unreadable file or a newest file beyond the budget is an error."""
    report = batches.report()
    evidence.record(scan=report.scan())
    if contents:
        if not report.data_files:
            not_applicable(f"{batches.label}: no data file matches {batches.pattern} (see batch-01)")
        unreadable = report.of("unreadable")
        if unreadable:
            raise TargetError(f"{batches.label}: could not read {'; '.join(str(f) for f in unreadable[:LISTED])}; "
                              "give the account deploycheck runs as read access")
        if report.newest in report.unread:
            raise TargetError(f"{batches.label}: the newest file {report.newest} is larger than what is left of the byte budget "
                              f"({report.byte_budget} bytes); raise the batch_byte_budget threshold")
    return report


def _judge(batches, evidence, report: FolderReport, codes: tuple[str, ...], expected: str) -> None:
    found = report.of(*codes)
    evidence.record(findings=[str(f) for f in found[:50]])
    require(not found, batches, _listing(found), expected)


@pytest.mark.check("batch-01", "Newest batch file is recent", severity="high", refs=(TRANSFER,),
                   answers=("transfer|batch|feed schedule", "batch|export|feed|transfer fresh|recent|late|on_time",
                            "batch|export|feed|interface file? arrive|deliver|delivery|land",
                            "no? miss|missed|missing batch|export|transfer|feed", "latest|newest|last batch|export|transfer",
                            "file|files|batch|batches|export|exports|import|imports|feed fresh|freshness|recent|age|latest|arriv|stale|late|sla|on_time",
                            "data freshness|staleness|latency", "export|import|transfer|feed schedule|running|on_time|complet|work"))
def test_newest_batch_recent(batches, evidence):
    """A feed that silently stopped is found by the business, days later, as missing orders or
    payments.  Passes when the newest data file (matching ``pattern``) was written within
    ``max_age_hours`` (the transfer schedule plus slack; default the ``batch_max_age_hours``
    threshold).  Fails when it is older, or when no file matches at all."""
    report = _report(batches, evidence)
    evidence.record(newest=report.newest, newest_age_hours=report.newest_age_hours, data_files=len(report.data_files),
                    max_age_hours=batches.max_age_hours)
    _judge(batches, evidence, report, ("no_data", "stale_newest"),
           f"a data file younger than {batches.max_age_hours:g} h (max_age_hours)")


@pytest.mark.check("batch-02", "No transfer left half done", severity="medium",
                   refs=("CWE-459: Incomplete Cleanup", TRANSFER),
                   answers=("partial|incomplete|half file|transfer|upload|download",
                            "leftover|stale|orphan|abandoned temporary|tmp|part file",
                            "interrupt|abort|fail transfer|upload clean|cleanup|left",
                            "partial|incomplete|truncat|corrupt file|files|batch|batches|upload|transfer handl|detect|reject?",
                            "atomic write|rename|move|operation|operations|transfer|commit", "all or nothing"))
def test_no_stale_partials(batches, evidence):
    """A ``.part``/``.tmp`` file (or an rsync temporary) that stays is a transfer that died: the
    batch it carried never arrived, and a careless consumer may pick up the fragment.  Passes
    when every such file is younger than ``batch_partial_grace_hours`` (a transfer in flight).
    Fails naming each older one and its age."""
    report = _report(batches, evidence)
    grace = batches.threshold("batch_partial_grace_hours")
    evidence.record(partials=report.partials, grace_hours=grace)
    _judge(batches, evidence, report, ("stale_partial",),
           f"no partial or temporary file older than {grace:g} h (batch_partial_grace_hours)")


@pytest.mark.check("batch-03", "Every record parses and matches the schema", severity="high",
                   refs=("JSON Lines (jsonlines.org)", "JSON Schema 2020-12 (json-schema.org)"),
                   answers=("batch|export|feed|jsonl|interface|record file? validate|valid|conform schema|contract",
                            "incoming|inbound|received|partner|csv|json|jsonl|xml|parquet|record|records file|files? match|matches|conform|"
                            "follow|valid agreed|expected|defined? schema|format|contract|spec",
                            "jsonl|json_line valid|parse|well_formed", "corrupt|malformed|invalid|broken record|line|row|batch|export",
                            "schema|format validation|validat file|batch|record|jsonl|csv|json?",
                            "jsonl|csv|json|parquet|file format validat|valid|check",
                            "file|batch|record valid|validation|validat schema|format"),
                   answers_accepts=("document",),  # "the agreed schema" names the contract, it asks for no document
                   # where bad records go ("sent to a dead-letter location") is the pipeline's design, not this batch's records
                   answers_unless=("deadletter|quarantin",))
def test_records_valid(batches, evidence):
    """One cut-off line or a field outside the contract makes the receiving import fail
    half-way or, worse, load a wrong value.  Passes when every line of every data file read is
    a JSON document valid against ``schema`` (only parsed when no schema is named).  Fails
    naming the first lines at fault as file:line.  Encrypted exchanges are not applicable:
    the records cannot be read without the receiving side's key."""
    if batches.encrypted:
        not_applicable(f"{batches.label}: the files are encrypted (encrypted: true); validate the records after decryption on the receiving side")
    report = _report(batches, evidence, contents=True)
    evidence.record(schema=batches.schema, records=dict(list(report.records.items())[:20]))
    what = "a JSON object valid against the schema" if batches.schema else "a JSON document (no schema named)"
    _judge(batches, evidence, report, ("corrupt_line", "schema_invalid", "unexpected_encryption"), f"every line {what}")


@pytest.mark.check("batch-04", "Metadata sidecars valid and counts match", severity="medium", refs=(INTEGRITY, TRANSFER),
                   answers=("record|row count reconcile|match|correct", "control total", "batch|export|feed metadata|meta|sidecar|manifest file?",
                            "record|row count batch|export|feed|file"),
                   answers_unless=("db|database|migrat",)
)
def test_metadata_sidecars(batches, evidence):
    """The sidecar's record count is how the receiving side notices a file that lost its tail in
    transit.  Passes when every data file has a ``<file>.meta.json`` with ``records``,
    ``created_at`` and ``schema_version`` and, for a plain file read in full, ``records`` equals
    its lines.  Fails on a missing, malformed or orphaned sidecar or a count that differs.
    Not applicable with ``meta: false``."""
    if not batches.meta_required:
        not_applicable(f"{batches.label}: the exchange keeps no metadata sidecars (meta: false)")
    report = _report(batches, evidence, contents=True)
    evidence.record(records_counted=len(report.records))
    if batches.encrypted:
        evidence.record(counts_unverified="the files are encrypted: record counts cannot be compared without the key")
    _judge(batches, evidence, report, ("missing_meta", "meta_invalid", "meta_count", "orphan_meta"),
           "a valid <file>.meta.json beside every data file, its records equal to the file's lines")


@pytest.mark.check("batch-05", "Checksums match", severity="high", refs=(INTEGRITY, "GNU coreutils sha256sum"),
                   answers=("checksum|sha256|sha256sum|digest validate|validation|verification|verify|match|compare?",
                            "integrity transfer|transferred|exchange|batch|export|feed",
                            "batch|export|feed|transfer file? tamper|alter|modify", "checksum|sha256|md5 validat|verif|check|match|valid?",
                            "file integrity|hash check|verif|valid",
                            "file|transfer|transferred|exchange|delivery|upload|download checksum|hash verif|valid|match|check"))
def test_checksums(batches, evidence):
    """A checksum taken by the sender and verified where the file lands is the only proof that
    the bytes imported are the bytes exported: no truncation, no hand edit.  Passes when every
    data file read has a sha256 (``<file>.sha256`` or the manifest) equal to its contents.
    Fails on a mismatch, a missing or malformed checksum.  Not applicable with ``checksums: none``."""
    if batches.checksums == "none":
        not_applicable(f"{batches.label}: the exchange carries no checksums (checksums: none)")
    report = _report(batches, evidence, contents=True)
    evidence.record(checksums=batches.checksums, verified=len(report.read) - len(report.of("checksum")))
    _judge(batches, evidence, report, ("missing_checksum", "checksum_format", "checksum", "orphan_checksum"),
           f"a matching sha256 for every data file ({batches.checksums})")


@pytest.mark.check("batch-06", "File names follow the agreed pattern", severity="low", refs=(TRANSFER,),
                   answers=("^batch|export|feed|transfer|exchange|interface|sftp file? name|naming convention|pattern",
                            "unexpected|stray|unknown file ^exchange|drop|sftp|transfer|batch|export folder|directory?",
                            "misnamed batch|export|feed|transfer|file",
                            "file|files name|names|naming follow|match|matches|use|pattern|convention"))
def test_names_follow_pattern(batches, evidence):
    """A receiver picks files up by name: a file named otherwise is silently never imported, and
    a stray file in the drop folder is often one that should not be there.  Passes when every
    file is a data file matching ``pattern``, its sidecar, the manifest or a transfer in
    flight.  Fails naming each other file."""
    report = _report(batches, evidence)
    evidence.record(pattern=batches.pattern)
    _judge(batches, evidence, report, ("bad_name",), f"every file named by the pattern {batches.pattern} (or its sidecar)")


@pytest.mark.check("batch-07", "Batch files are encrypted", severity="high",
                   refs=("NIST SP 800-53 SC-8: Transmission Confidentiality and Integrity", "RFC 9580: OpenPGP", "age-encryption.org/v1"),
                   answers=("batch|export|feed|transfer|exchange|interface|sftp file? encrypt|pgp|gpg", "pgp|gpg encrypt",
                            "plaintext|unencrypted batch|export|feed|transfer|file"))
def test_files_encrypted(batches, evidence):
    """A drop folder is read by more systems and people than either end's database: where the
    exchange must be encrypted, one plaintext file is a copy of the data outside every control.
    Passes when every data file opens with a gpg (OpenPGP session-key packet or armour) or age
    header.  Fails naming each file that does not.  Not applicable when the inventory does not
    require encryption (``encrypted: false``)."""
    if not batches.encrypted:
        not_applicable(f"{batches.label}: the inventory does not require encryption (batches.{batches.name}.encrypted: false)")
    report = _report(batches, evidence)
    if not report.data_files:
        not_applicable(f"{batches.label}: no data file matches {batches.pattern} (see batch-01)")
    unreadable = [f for f in report.of("unreadable") if f.where in report.data_files]
    if unreadable or report.headers_unread:
        raise TargetError(f"{batches.label}: could not read the first bytes of "
                          f"{', '.join([f.where for f in unreadable] + report.headers_unread[:LISTED])}")
    evidence.record(encryption=dict(list(report.encryption.items())[:20]))
    _judge(batches, evidence, report, ("plaintext",), "gpg or age ciphertext in every data file")


@pytest.mark.check("batch-08", "Batch files not accessible to others", severity="high",
                   refs=("CWE-732: Incorrect Permission Assignment for Critical Resource",),
                   answers=("^batch|export|feed|transfer|exchange|sftp|drop|interface file_permissions|world_readable|world_writable",
                            "batch|export|feed|transfer|exchange|drop file|folder? readable|writable|accessible other|everyone",
                            "sftp|drop|inbox|landing|exchange folder|directory|dir permission|permissions|access|writable only? partner|account|write?",
                            "inbox|outbox|drop|landing|incoming|outgoing|exchange|sftp directory|folder|dir|files not? world_readable|world_writable"))
def test_files_private(batches, evidence):
    """Batch files carry production records; readable by every account on the machine they are a
    copy outside the data's access control, and a world-writable folder lets anyone plant or
    replace a batch.  Passes when no file grants any permission to others (mode & 0007 == 0)
    and the folder is not writable by others.  Fails naming each file and its mode."""
    report = _report(batches, evidence)
    _judge(batches, evidence, report, ("world_readable", "world_writable"), "no access for others (chmod o-rwx; folder not o+w)")
