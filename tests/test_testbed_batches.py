"""The batch-exchange test bed: the folders are real, the good ones keep the convention and the bad
one breaks it exactly where ``admin["defects"]`` says, each defect once.

Judged here with plain Python (``json``, ``hashlib``, ``jsonschema``, ``os.stat``), the way a check
will judge them; encrypted files are proven real by decrypting them with gpg and age.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_deploycheck.targets.batch_files import encryption_of
from tests.servers.batches import (
    MAX_AGE_HOURS,
    PARTIAL_GRACE_HOURS,
    SCHEMA_VERSION,
    BatchFolder,
    build_batches,
    decrypt,
)

PARTIAL_SUFFIXES = (".part", ".tmp")
SIDECARS = (".meta.json", ".sha256")


@pytest.fixture(params=["gpg", "age"])
def batches_encrypted(request: pytest.FixtureRequest) -> BatchFolder:
    """The good encrypted folders (session fixtures of tests/servers/fixtures_batches.py), one per tool."""
    folder: BatchFolder = request.getfixturevalue(f"batches_good_{request.param}")
    return folder


def _judge(folder: BatchFolder) -> dict[str, Any]:
    """Every defect found in ``folder``, keyed like ``admin["defects"]`` of the bad variant."""
    entry = folder.entry
    root = Path(entry["path"])
    pattern = re.compile(entry["pattern"])
    validator = jsonschema.Draft202012Validator(json.loads(Path(entry["schema"]).read_text()))
    now = time.time()
    found: dict[str, Any] = {}
    names = sorted(p.name for p in root.iterdir())
    data = [n for n in names if not n.endswith(SIDECARS + PARTIAL_SUFFIXES)]
    good_names = [n for n in data if pattern.fullmatch(n)]
    for name in names:
        mode = (root / name).stat().st_mode
        if mode & stat.S_IROTH:
            found.setdefault("world_readable", []).append(name)
        if name.endswith(PARTIAL_SUFFIXES) and now - (root / name).stat().st_mtime > PARTIAL_GRACE_HOURS * 3600:
            found.setdefault("stale_partials", []).append(name)
    found |= {"bad_name": [n for n in data if n not in good_names]} if len(good_names) < len(data) else {}
    if good_names:
        newest = max(good_names, key=lambda n: (root / n).stat().st_mtime)
        if now - (root / newest).stat().st_mtime > entry["max_age_hours"] * 3600:
            found["stale_newest"] = newest
    for name in good_names:
        raw = (root / name).read_bytes()
        sidecars = [s for s in SIDECARS if not (root / (name + s)).exists()]
        if sidecars:
            found.setdefault("missing_sidecar", []).append(name + sidecars[0])
        else:
            expected_digest, listed = (root / f"{name}.sha256").read_text().split()
            if (expected_digest, listed) != (hashlib.sha256(raw).hexdigest(), name):
                found.setdefault("checksum", []).append(name)
        if entry["encrypted"]:
            if encryption_of(raw[:64]) is None:
                found.setdefault("plaintext", []).append(name)
            continue
        lines = raw.decode().splitlines()
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                found.setdefault("corrupt_line", []).append(f"{name}:{number}")
                continue
            if next(iter(validator.iter_errors(record)), None) is not None:
                found.setdefault("schema_invalid", []).append(f"{name}:{number}")
        meta_path = root / f"{name}.meta.json"
        if meta_path.exists() and json.loads(meta_path.read_text())["records"] != len(lines):
            found.setdefault("meta_count", []).append(name)
    return found


def test_good_folder_keeps_the_convention(batches_good: BatchFolder) -> None:
    assert _judge(batches_good) == {}
    root = Path(batches_good.entry["path"])
    assert stat.S_IMODE(root.stat().st_mode) == 0o750
    assert len(batches_good.admin["files"]) == 3
    for name in batches_good.admin["files"]:
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o640
        meta = json.loads((root / f"{name}.meta.json").read_text())
        assert meta["file"] == name and meta["schema_version"] == SCHEMA_VERSION
        assert meta["records"] == batches_good.admin["records"][name]
    # The sidecar is what `sha256sum -c` reads.
    assert re.fullmatch(r"[0-9a-f]{64}  export_[0-9_]+\.jsonl\n", (root / f"{batches_good.admin['files'][0]}.sha256").read_text())


def test_bad_folder_has_each_defect_once(batches_bad: BatchFolder) -> None:
    defects = batches_bad.admin["defects"]
    expected = {
        "stale_newest": defects["stale_newest"]["file"],
        "stale_partials": sorted(defects["stale_partials"]),
        "corrupt_line": [f"{defects['corrupt_line']['file']}:{defects['corrupt_line']['line']}"],
        "schema_invalid": [f"{defects['schema_invalid']['file']}:{defects['schema_invalid']['line']}"],
        "meta_count": [defects["meta_count"]["file"]],
        "checksum": [defects["checksum"]["file"]],
        "world_readable": [defects["world_readable"]["file"]],
        "missing_sidecar": [defects["missing_sidecar"]["sidecar"]],
        "bad_name": [defects["bad_name"]["file"]],
    }
    assert _judge(batches_bad) == expected
    # The fresh .part is a transfer in flight and judged as such.
    assert defects["fresh_partial"] not in expected["stale_partials"]


def test_bad_defects_are_what_they_say(batches_bad: BatchFolder) -> None:
    root = Path(batches_bad.entry["path"])
    defects = batches_bad.admin["defects"]
    corrupt = (root / defects["corrupt_line"]["file"]).read_text().splitlines()
    with pytest.raises(json.JSONDecodeError):
        json.loads(corrupt[defects["corrupt_line"]["line"] - 1])
    invalid = (root / defects["schema_invalid"]["file"]).read_text().splitlines()[defects["schema_invalid"]["line"] - 1]
    validator = jsonschema.Draft202012Validator(json.loads(Path(batches_bad.entry["schema"]).read_text()))
    assert [list(e.absolute_path) for e in validator.iter_errors(json.loads(invalid))] == [["currency"]]
    newest_age = time.time() - max((root / n).stat().st_mtime for n in batches_bad.admin["files"])
    assert newest_age > MAX_AGE_HOURS * 3600
    assert defects["stale_newest"]["age_hours"] > MAX_AGE_HOURS


def test_encrypted_files_are_real_ciphertext(batches_encrypted: BatchFolder) -> None:
    assert _judge(batches_encrypted) == {}
    root = Path(batches_encrypted.entry["path"])
    validator = jsonschema.Draft202012Validator(json.loads(Path(batches_encrypted.entry["schema"]).read_text()))
    for name in batches_encrypted.admin["files"]:
        raw = (root / name).read_bytes()
        assert encryption_of(raw[:64]) == batches_encrypted.admin["tool"]
        assert b"ord-" not in raw
        lines = decrypt(batches_encrypted, raw).decode().splitlines()
        assert len(lines) == json.loads((root / f"{name}.meta.json").read_text())["records"]
        assert all(validator.is_valid(json.loads(line)) for line in lines)


def test_encrypted_secrets_stay_out_of_the_entry(batches_encrypted: BatchFolder) -> None:
    flat = json.dumps(batches_encrypted.entry)
    if batches_encrypted.admin["tool"] == "gpg":
        [(var, passphrase)] = batches_encrypted.env.items()
        assert var.startswith("DC_") and passphrase not in flat
    else:
        identity = Path(batches_encrypted.admin["age_identity"])
        assert identity.exists() and not identity.is_relative_to(Path(batches_encrypted.entry["path"]))


def test_bad_encrypted_folder_has_a_plaintext_file(batches_bad_encrypted: BatchFolder) -> None:
    plain = batches_bad_encrypted.admin["defects"]["plaintext"]["file"]
    assert _judge(batches_bad_encrypted) == {"plaintext": [plain]}
    assert (Path(batches_bad_encrypted.entry["path"]) / plain).read_bytes().startswith(b'{"id":')


def test_stop_removes_the_folder_and_its_keys() -> None:
    folder = build_batches("good", name="batches-lifecycle", encrypted=True, tool="age")
    paths = [Path(folder.entry["path"]), *folder.cleanup_paths]
    assert all(p.exists() for p in paths) and folder.cleanup_paths
    folder.stop()
    assert not any(p.exists() for p in paths)
