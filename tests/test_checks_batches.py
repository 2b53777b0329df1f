"""The batch-exchange checks (checks/test_batches.py) against the real folders of the test bed:
plain and encrypted (gpg, age), good and bad, plus a checksum manifest, the byte budget, a
missing folder and the inventory's usage errors (bad regex, bad JSON Schema, no jsonschema)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_deploycheck.targets.batch_files import Rules, encryption_of, judge_folder
from tests.servers.batches import BatchFolder
from tests.servers.inventory import CatalogRun, run_catalog

CHECKS = tuple(f"batch-0{n}" for n in range(1, 9))


def outcomes(run: CatalogRun, target: str) -> dict[str, str]:
    return {c: run.outcome(c, target) for c in CHECKS}


def expect(passed: str = "passed", **others: str) -> dict[str, str]:
    """Every check ``passed`` except those named (batch_03="n/a")."""
    return {c: others.get(c.replace("-", "_"), passed) for c in CHECKS}


def test_batch_catalog(pytester: pytest.Pytester, batches_good: BatchFolder, batches_bad: BatchFolder, batches_good_gpg: BatchFolder,
                       batches_good_age: BatchFolder, batches_bad_encrypted: BatchFolder) -> None:
    run = run_catalog(pytester, "test_batches.py", targets=[batches_good, batches_bad, batches_good_gpg, batches_good_age, batches_bad_encrypted])

    assert outcomes(run, "batches-good") == expect(batch_07="n/a")
    assert outcomes(run, "batches-bad") == expect("failed", batch_07="n/a")
    assert outcomes(run, "batches-good-gpg") == expect(batch_03="n/a")
    assert outcomes(run, "batches-good-age") == expect(batch_03="n/a")
    assert outcomes(run, "batches-bad-encrypted") == expect(batch_03="n/a", batch_07="failed")

    # Every failure names the target, what was observed and what was expected.
    d = batches_bad.admin["defects"]
    label = f"batches-bad ({batches_bad.entry['path']})"
    messages = {c: run.message(c, "batches-bad") for c in CHECKS if c != "batch-07"}
    assert all(m.startswith(f"{label}: ") and "; expected " in m for m in messages.values()), messages
    assert f"{d['stale_newest']['file']}: newest file was last written 30 h ago" in messages["batch-01"]
    assert messages["batch-01"].endswith("expected a data file younger than 24 h (max_age_hours)")
    assert messages["batch-02"].startswith(f"{label}: 2 problems: {min(d['stale_partials'])}: unfinished transfer last written")
    assert d["fresh_partial"] not in messages["batch-02"]  # a transfer in flight is left alone
    assert f"{d['corrupt_line']['file']}:{d['corrupt_line']['line']}: not JSON" in messages["batch-03"]
    assert f"{d['schema_invalid']['file']}:{d['schema_invalid']['line']}: currency: 'XXX' is not one of" in messages["batch-03"]
    assert messages["batch-03"].endswith("expected every line a JSON object valid against the schema")
    assert f"{d['meta_count']['file']}: its .meta.json says 10 records, the file has 9" in messages["batch-04"]
    assert f"{d['checksum']['file']}: sha256 is " in messages["batch-05"]
    assert f"{d['missing_sidecar']['file']}: no {d['missing_sidecar']['sidecar']}" in messages["batch-05"]
    assert f"1 problem: {d['bad_name']['file']}: does not match the pattern" in messages["batch-06"]
    assert f"{d['world_readable']['file']}: mode 0644" in messages["batch-08"]
    plain = batches_bad_encrypted.admin["defects"]["plaintext"]["file"]
    assert run.message("batch-07", "batches-bad-encrypted") == (
        f"batches-bad-encrypted ({batches_bad_encrypted.entry['path']}): 1 problem: {plain}: no gpg or age header: "
        "the file is not encrypted; expected gpg or age ciphertext in every data file")
    assert "encrypted: true" in run.message("batch-03", "batches-good-gpg")

    # The evidence states how much was read, within which budget.
    scan = run.evidence("batch-05", "batches-good")["scan"]
    sizes = sum((Path(batches_good.entry["path"]) / name).stat().st_size for name in batches_good.admin["files"])
    assert scan["byte_budget"] == 64 * 1024 * 1024 and scan["unread"] == []
    assert scan["bytes_read"] == sizes + 64 * len(batches_good.admin["files"])  # headers first, then whole files
    assert run.evidence("batch-03", "batches-good")["records"] == batches_good.admin["records"]
    assert run.evidence("batch-07", "batches-good-age")["encryption"] == dict.fromkeys(batches_good_age.admin["files"], "age")


def test_byte_budget_reads_newest_first_and_names_the_rest(pytester: pytest.Pytester, batches_good: BatchFolder) -> None:
    root = Path(batches_good.entry["path"])
    newest, *older = sorted(batches_good.admin["files"], reverse=True)
    budget = 64 * 3 + (root / newest).stat().st_size
    run = run_catalog(pytester, "test_batches.py", targets=[batches_good], thresholds={"batch_byte_budget": budget})
    assert outcomes(run, "batches-good") == expect(batch_07="n/a")
    scan = run.evidence("batch-03", "batches-good")["scan"]
    assert scan == {"folder": str(root), "data_files": 3, "read_in_full": 1, "bytes_read": budget, "byte_budget": budget,
                    "unread": sorted(older, reverse=True)}

    short = run_catalog(pytester, "test_batches.py", targets=[batches_good], thresholds={"batch_byte_budget": budget - 1}, args=["-k", "batch-03"])
    assert short.outcome("batch-03", "batches-good") == "error"
    assert f"the newest file {newest} is larger than what is left of the byte budget ({budget - 1} bytes)" in short.message("batch-03")


def _manifest_copy(source: BatchFolder, folder: Path, *, tamper: bool = False) -> BatchFolder:
    shutil.copytree(source.entry["path"], folder)
    lines = []
    for sidecar in sorted(folder.glob("*.sha256")):
        lines.append(sidecar.read_text())
        sidecar.unlink()
    if tamper:  # a manifest written before the last file was regenerated
        lines[-1] = hashlib.sha256(b"earlier").hexdigest() + lines[-1][64:]
    (folder / "SHA256SUMS").write_text("".join(lines))
    (folder / "SHA256SUMS").chmod(0o640)
    entry = {**source.entry, "path": str(folder), "checksums": "manifest"}
    return BatchFolder(name=folder.name, kind="batches", entry=entry, env={}, server=None)


def test_checksum_manifest(pytester: pytest.Pytester, tmp_path: Path, batches_good: BatchFolder) -> None:
    good = _manifest_copy(batches_good, tmp_path / "manifest-good")
    bad = _manifest_copy(batches_good, tmp_path / "manifest-bad", tamper=True)
    run = run_catalog(pytester, "test_batches.py", targets=[good, bad])
    assert outcomes(run, "manifest-good") == expect(batch_07="n/a")
    assert run.outcome("batch-05", "manifest-bad") == "failed"
    assert f"{max(batches_good.admin['files'])}: sha256 is " in run.message("batch-05", "manifest-bad")
    assert run.message("batch-05", "manifest-bad").endswith("expected a matching sha256 for every data file (manifest)")
    assert run.outcome("batch-06", "manifest-good") == "passed"  # the manifest is part of the exchange


def test_missing_folder_is_an_error_for_every_check(pytester: pytest.Pytester, tmp_path: Path) -> None:
    gone = BatchFolder(name="gone", kind="batches", entry={"path": str(tmp_path / "unmounted")}, env={}, server=None)
    run = run_catalog(pytester, "test_batches.py", targets=[gone])
    assert outcomes(run, "gone") == expect("error", batch_07="n/a")
    assert f"folder {tmp_path / 'unmounted'} does not exist (batches.gone.path); is the share mounted?" in run.message("batch-01", "gone")


CHECK = '''
import pytest
pytestmark = pytest.mark.section("demo", "Demo")

@pytest.mark.check("demo-01", "Folder judged", severity="low")
def test_folder(batches):
    """A batch folder is judged."""
'''


def _usage(pytester: pytest.Pytester, inventory: str) -> list[str]:
    pytester.makepyfile(test_demo=CHECK)
    path = pytester.path / "inv.yml"
    path.write_text(textwrap.dedent(inventory))
    result = pytester.runpytest(f"--inventory={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    return [line for line in result.stderr.str().splitlines() if "inv.yml" in line]


def test_bad_pattern_and_schema_are_usage_errors(pytester: pytest.Pytester) -> None:
    (pytester.path / "broken.json").write_text('{\n  "type": "object",\n  "properties": {"id": {"type": "string"},}\n}\n')
    (pytester.path / "wrong.json").write_text('{"type": "object", "properties": {"id": {"type": "strin"}}}')
    (pytester.path / "future.json").write_text('{"$schema": "https://example.com/draft/2099", "type": "object"}')
    lines = _usage(pytester, """
        batches:
          a:
            path: drop
            pattern: "export_[0-9{8}\\\\.jsonl"
          b:
            path: drop
            schema: broken.json
          c:
            path: drop
            schema: wrong.json
            manifest: SUMS
          d:
            path: drop
            schema: future.json
    """)
    text = "\n".join(lines)
    assert "inv.yml:5: batches.a.pattern: not a valid regular expression (unterminated character set at position 7); write a Python regex" in text
    assert "inv.yml:8: batches.b.schema: broken.json:3: not JSON (Expecting property name enclosed in double quotes, column 43); fix the schema file" in text
    assert "inv.yml:11: batches.c.schema: wrong.json: not a valid JSON Schema (Draft202012): at /properties/id/type: 'strin' is not valid" in text
    assert "inv.yml:12: batches.c.manifest: is read only with checksums: manifest" in text
    assert "inv.yml:15: batches.d.schema: future.json: unknown $schema 'https://example.com/draft/2099'" in text


def test_missing_jsonschema_is_a_usage_error_naming_the_package(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    (pytester.path / "record.json").write_text('{"type": "object"}')
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema now raises ImportError
    lines = _usage(pytester, """
        batches:
          a: {path: drop, schema: record.json}
    """)
    assert lines == ["ERROR: inv.yml:3: batches.a.schema: the Python package jsonschema is not installed; "
                     "install it (pip install 'jsonschema>=4.21') to validate batch files"]


# The judging pass itself (pytest_deploycheck/targets/batch_files.py), on small folders made here.

PATTERN = r"export_[0-9]{8}_[0-9]{6}\.jsonl"


@pytest.mark.parametrize(("head", "tool"), [
    (b"\x8c\x0d\x04\x09\x03\x02", "gpg"), (b"\xc3\x0d\x04", "gpg"), (b"\x85\x01\x0c", "gpg"), (b"\xc1\x5e\x03", "gpg"),
    (b"-----BEGIN PGP MESSAGE-----\n", "gpg"), (b"age-encryption.org/v1\n-> X25519", "age"), (b"-----BEGIN AGE ENCRYPTED FILE-----\n", "age"),
    (b'{"id":1}', None), (b"\x89PNG\r\n", None), (b"\xcb\x0d", None), (b"\xa3\x01", None), (b"", None),
])
def test_encryption_headers(head: bytes, tool: str | None) -> None:
    # 0x8c/0xc3: symmetric session key (old/new format); 0x85/0xc1: public-key session key;
    # 0xcb: literal data (a signed-only or plain OpenPGP message); 0xa3: compressed data.
    assert encryption_of(head) == tool


def _write(root: Path, name: str, lines: list[str], *, records: int | None = None, sha: str | None = None) -> None:
    body = "".join(line + "\n" for line in lines).encode()
    (root / name).write_bytes(body)
    (root / f"{name}.meta.json").write_text(json.dumps({"file": name, "records": len(lines) if records is None else records,
                                                         "created_at": "2026-01-01T00:00:00Z", "schema_version": "1.0"}))
    (root / f"{name}.sha256").write_text(sha if sha is not None else f"{hashlib.sha256(body).hexdigest()}  {name}\n")
    _private(root)


def _private(root: Path) -> None:
    for path in root.iterdir():
        path.chmod(0o640)


def test_small_defects_each_named(tmp_path: Path) -> None:
    tmp_path.chmod(0o757)
    name = "export_20260101_000000.jsonl"
    _write(tmp_path, name, ["{}", "", "nope", "nope", "nope"], sha=f"abc  {name}\n")
    (tmp_path / "export_20250101_000000.jsonl.meta.json").write_text("{}")
    (tmp_path / ".export_20260101_010000.jsonl.Ab3dE9").write_text("{")  # rsync's temporary copy, in flight
    _private(tmp_path)
    report = judge_folder(tmp_path, Rules(PATTERN, max_age_hours=1e9, max_errors_per_file=2))
    assert report.codes() == {
        "world_writable": [str(tmp_path)],
        "orphan_meta": ["export_20250101_000000.jsonl.meta.json"],
        "checksum_format": [f"{name}.sha256"],
        "corrupt_line": [f"{name}:2", f"{name}:3", name],  # two listed, then how many more
        "meta_count": [name],  # 5 lines, 4 of them records: the blank one is not
    }
    assert report.partials == {".export_20260101_010000.jsonl.Ab3dE9": 0.0}


def test_bsd_manifest_and_ciphertext_where_plain_is_expected(tmp_path: Path) -> None:
    name = "export_20260101_000000.jsonl"
    body = b"age-encryption.org/v1\n-> X25519 abc\n"
    (tmp_path / name).write_bytes(body)
    (tmp_path / "SHA256SUMS").write_text(f"# made by the exporter\nSHA256 ({name}) = {hashlib.sha256(body).hexdigest()}\n")
    _private(tmp_path)
    report = judge_folder(tmp_path, Rules(PATTERN, max_age_hours=1e9, meta=False, checksums="manifest"))
    assert report.codes() == {"unexpected_encryption": [name]}
    assert report.records == {} and report.read == [name]


def test_empty_folder_and_missing_manifest(tmp_path: Path) -> None:
    assert judge_folder(tmp_path, Rules("x")).codes() == {"no_data": [str(tmp_path)]}
    (tmp_path / "export_20260101_000000.jsonl").write_text("{}\n")
    _private(tmp_path)
    codes = judge_folder(tmp_path, Rules(PATTERN, max_age_hours=1e9, meta=False, checksums="manifest")).codes()
    assert codes == {"missing_checksum": ["SHA256SUMS"]}
    with pytest.raises(FileNotFoundError):
        judge_folder(tmp_path / "nowhere", Rules(PATTERN))
