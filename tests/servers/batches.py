"""Batch-file exchange for the test bed: real folders of JSONL exports, as two networks that cannot
talk directly hand each other files (an SFTP drop, a shared mount, a data diode).

Every folder follows one convention, the one the ``batches`` checks judge:

- data files named ``export_YYYYMMDD_HHMMSS.jsonl`` (UTC; ``.jsonl.gpg`` / ``.jsonl.age`` when the
  exchange must be encrypted), matched in full by the entry's ``pattern`` (a Python regex);
- beside each, ``<file>.meta.json`` (``file``, ``records``, ``created_at``, ``schema_version``) and
  ``<file>.sha256`` in ``sha256sum`` format (``<hex>  <file>``), over the bytes as transferred;
- one JSON object per line, valid against ``batch_record.schema.json`` (shipped next to this module);
- mode 0640 (never world-readable), in a 0750 folder; a transfer in flight is ``<file>.part`` or
  ``<file>.tmp`` and is renamed when complete.

``good`` is that convention kept, the newest file an hour old.  ``bad`` breaks it once per file,
so a check reports each defect on its own (``BatchFolder.admin["defects"]`` says where).  With
``encrypted=True`` the files are really encrypted: ``gpg --symmetric`` (AES256, passphrase from
the environment, never the command line) or ``age`` (to an X25519 recipient).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from tests.servers.base import Instance, LauncherError, env_name, make_tempdir, run

Variant = Literal["good", "bad"]
Tool = Literal["gpg", "age"]

SCHEMA_PATH = Path(__file__).resolve().with_name("batch_record.schema.json")
SCHEMA_VERSION = "1.0"
PATTERN = r"export_[0-9]{8}_[0-9]{6}\.jsonl"
SUFFIX: dict[Tool, str] = {"gpg": ".gpg", "age": ".age"}
MAX_AGE_HOURS = 24
#: A ``.part``/``.tmp`` older than this is a transfer that died, not one in flight.
PARTIAL_GRACE_HOURS = 1
FILE_MODE = 0o640
DIR_MODE = 0o750

#: Line (1-based) of the corrupt line and of the schema-invalid record in the bad folder.
CORRUPT_LINE = 4
INVALID_LINE = 2


@dataclass
class BatchFolder(Instance):
    """A batch folder of the test bed; ``stop`` removes it and the keys beside it (there is no server process)."""

    cleanup_paths: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for path in [Path(self.entry["path"]), *self.cleanup_paths]:
            shutil.rmtree(path, ignore_errors=True)


def build_batches(variant: Variant, name: str | None = None, *, encrypted: bool = False, tool: Tool = "gpg") -> BatchFolder:
    """Build a batch folder of ``variant`` in a fresh temporary directory.

    ``entry`` (kind ``batches``): ``path``, ``pattern`` (regex a data file's name must match in
    full), ``schema`` (path of the JSON Schema of one record), ``max_age_hours`` (24: the newest
    data file must be younger) and ``encrypted``.
    ``env``: for ``encrypted`` with ``gpg``, the passphrase as ``DC_<NAME>_PASSPHRASE``.
    ``admin``: ``files`` (data file names), ``records`` (name -> record count), ``defects``
    (``bad`` only: defect -> where), ``passphrase`` / ``age_identity`` to decrypt, ``tool``.
    """
    name = name or f"batches-{variant}" + ("-encrypted" if encrypted else "")
    folder = make_tempdir(name)
    folder.chmod(DIR_MODE)
    now = datetime.now(UTC).replace(microsecond=0)
    env: dict[str, str] = {}
    sealer: _Sealer | None = None
    admin: dict[str, Any] = {"files": [], "records": {}, "defects": {}, "tool": tool if encrypted else None}
    try:
        sealer = _Sealer(tool, folder) if encrypted else None
        if sealer is not None:
            admin |= sealer.secrets()
            if sealer.passphrase is not None:
                env[env_name(name, "passphrase")] = sealer.passphrase
        writer = _Writer(folder, now, admin, sealer)
        if variant == "good":
            writer.batch(hours_ago=1, count=12)
            writer.batch(hours_ago=25, count=8)
            writer.batch(hours_ago=49, count=15)
        elif encrypted:
            _bad_encrypted(writer)
        else:
            _bad_plain(writer)
        if sealer is not None:
            sealer.close()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if sealer is not None:
            shutil.rmtree(sealer.home, ignore_errors=True)
        raise
    entry = {
        "path": str(folder),
        "pattern": PATTERN + (SUFFIX[tool] if encrypted else "").replace(".", r"\."),
        "schema": str(SCHEMA_PATH),
        "max_age_hours": MAX_AGE_HOURS,
        "encrypted": encrypted,
    }
    keys = [sealer.home] if sealer is not None and sealer.home.exists() else []
    return BatchFolder(name=name, kind="batches", entry=entry, env=env, server=None, admin=admin, cleanup_paths=keys)


def _bad_plain(w: _Writer) -> None:
    # Every data file is older than MAX_AGE_HOURS: the exchange stopped 30 hours ago.
    corrupt = w.batch(hours_ago=30, count=10, corrupt_line=CORRUPT_LINE)
    invalid = w.batch(hours_ago=31, count=6, invalid_line=INVALID_LINE)
    miscounted = w.batch(hours_ago=32, count=9, meta_records=10)
    tampered = w.batch(hours_ago=33, count=7, tamper_after_checksum=True)
    exposed = w.batch(hours_ago=34, count=5, mode=0o644)
    unsummed = w.batch(hours_ago=35, count=5, sidecars=("meta",))
    misnamed = w.batch(hours_ago=36, count=5, filename=f"export_{_stamp(w.now - timedelta(hours=36))[:8]}.jsonl")
    stale_part = w.partial(hours_ago=3, suffix=".part")
    stale_tmp = w.partial(hours_ago=5, suffix=".tmp")
    fresh_part = w.partial(hours_ago=5 / 60, suffix=".part")
    w.admin["defects"] = {
        "stale_newest": {"file": corrupt, "age_hours": 30},
        "stale_partials": [stale_part, stale_tmp],
        "fresh_partial": fresh_part,  # in flight: not a defect, the check must leave it alone
        "corrupt_line": {"file": corrupt, "line": CORRUPT_LINE},
        "schema_invalid": {"file": invalid, "line": INVALID_LINE, "field": "currency"},
        "meta_count": {"file": miscounted, "meta": 10, "actual": 9},
        "checksum": {"file": tampered},
        "world_readable": {"file": exposed, "mode": 0o644},
        "missing_sidecar": {"file": unsummed, "sidecar": unsummed + ".sha256"},
        "bad_name": {"file": misnamed},
    }


def _bad_encrypted(w: _Writer) -> None:
    w.batch(hours_ago=1, count=12)
    # Named and summed like an encrypted export, but the bytes were never encrypted.
    assert w.sealer is not None
    plain = w.batch(hours_ago=2, count=6, seal=False)
    w.admin["defects"] = {"plaintext": {"file": plain}}


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%d_%H%M%S")


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Writer:
    """Writes data files with their sidecars, modes and modification times."""

    def __init__(self, folder: Path, now: datetime, admin: dict[str, Any], sealer: _Sealer | None) -> None:
        self.folder, self.now, self.admin, self.sealer = folder, now, admin, sealer
        self.seq = 0

    def records(self, count: int, when: datetime) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(count):
            self.seq += 1
            out.append({"id": f"ord-{self.seq:06d}", "customer_id": 1000 + self.seq % 37, "amount_cents": 199 * self.seq,
                        "currency": ("EUR", "USD", "GBP")[self.seq % 3], "created_at": _iso(when - timedelta(minutes=count - len(out)))})
        return out

    def batch(self, *, hours_ago: float, count: int, corrupt_line: int | None = None, invalid_line: int | None = None,
              meta_records: int | None = None, tamper_after_checksum: bool = False, mode: int = FILE_MODE,
              sidecars: tuple[str, ...] = ("meta", "sha256"), filename: str | None = None, seal: bool = True) -> str:
        when = self.now - timedelta(hours=hours_ago)
        records = self.records(count, when)
        lines = [json.dumps(r, separators=(",", ":")) for r in records]
        if invalid_line is not None:
            lines[invalid_line - 1] = json.dumps({**records[invalid_line - 1], "currency": "XXX"}, separators=(",", ":"))
        if corrupt_line is not None:
            # A writer that died mid-line, then went on: the line is cut short.
            lines[corrupt_line - 1] = lines[corrupt_line - 1][: len(lines[corrupt_line - 1]) // 2]
        payload = "".join(line + "\n" for line in lines).encode()
        suffix = SUFFIX[self.sealer.tool] if self.sealer is not None else ""
        name = filename or f"export_{_stamp(when)}.jsonl{suffix}"
        data = self.sealer.seal(payload) if self.sealer is not None and seal else payload
        path = self.folder / name
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if tamper_after_checksum:
            # Someone fixed an amount by hand after the checksum was taken; still valid JSON and schema.
            record = {**records[2], "amount_cents": records[2]["amount_cents"] + 100}
            lines[2] = json.dumps(record, separators=(",", ":"))
            path.write_bytes("".join(line + "\n" for line in lines).encode())
        written = [path]
        if "meta" in sidecars:
            meta = {"file": name, "records": count if meta_records is None else meta_records, "created_at": _iso(when),
                    "schema_version": SCHEMA_VERSION}
            written.append(self.folder / f"{name}.meta.json")
            written[-1].write_text(json.dumps(meta, indent=2) + "\n")
        if "sha256" in sidecars:
            written.append(self.folder / f"{name}.sha256")
            written[-1].write_text(f"{digest}  {name}\n")
        for item in written:
            item.chmod(mode if item == path else FILE_MODE)
            os.utime(item, (when.timestamp(), when.timestamp()))
        self.admin["files"].append(name)
        self.admin["records"][name] = count
        return name

    def partial(self, *, hours_ago: float, suffix: str) -> str:
        when = self.now - timedelta(hours=hours_ago)
        name = f"export_{_stamp(when)}.jsonl{suffix}"
        path = self.folder / name
        lines = [json.dumps(r, separators=(",", ":")) for r in self.records(3, when)]
        # A transfer cut off mid-record.
        path.write_bytes(("\n".join(lines)[:-7]).encode())
        path.chmod(FILE_MODE)
        os.utime(path, (when.timestamp(), when.timestamp()))
        return name


class _Sealer:
    """Encrypts with the real tools: gpg (symmetric, passphrase on stdin) or age (X25519 recipient)."""

    def __init__(self, tool: Tool, folder: Path) -> None:
        self.tool = tool
        self.home = make_tempdir(f"{folder.name}-{tool}")
        self.passphrase: str | None = None
        self.identity: Path | None = None
        if tool == "gpg":
            self.binary = _binary("gpg", "gnupg")
            self.passphrase = secrets.token_urlsafe(24)
        else:
            self.binary = _binary("age", "age")
            # The identity stays outside the exchanged folder, as the receiving side's key would.
            self.identity = self.home / "identity.txt"
            run([_binary("age-keygen", "age"), "-o", str(self.identity)])
            self.recipient = next(line.split(": ", 1)[1] for line in self.identity.read_text().splitlines() if "public key:" in line)

    def secrets(self) -> dict[str, Any]:
        return {"passphrase": self.passphrase, "age_identity": str(self.identity) if self.identity else None}

    def seal(self, payload: bytes) -> bytes:
        plain = self.home / "plain"
        plain.write_bytes(payload)
        try:
            if self.tool == "gpg":
                assert self.passphrase is not None
                argv = [self.binary, "--homedir", str(self.home), "--batch", "--quiet", "--yes", "--pinentry-mode", "loopback",
                        "--passphrase-fd", "0", "--symmetric", "--cipher-algo", "AES256", "--output", "-", str(plain)]
                return run(argv, input=(self.passphrase + "\n").encode()).stdout
            return run([self.binary, "-r", self.recipient, str(plain)]).stdout
        finally:
            plain.unlink()

    def open(self, data: bytes) -> bytes:
        """Decrypt, to prove in tests that the ciphertext is real."""
        sealed = self.home / "sealed"
        sealed.write_bytes(data)
        try:
            if self.tool == "gpg":
                assert self.passphrase is not None
                argv = [self.binary, "--homedir", str(self.home), "--batch", "--quiet", "--pinentry-mode", "loopback",
                        "--passphrase-fd", "0", "--decrypt", str(sealed)]
                return run(argv, input=(self.passphrase + "\n").encode()).stdout
            return run([self.binary, "-d", "-i", str(self.identity), str(sealed)]).stdout
        finally:
            sealed.unlink()

    def close(self) -> None:
        """Stop the gpg-agent gpg started for this home (by its home's socket, no other agent) and
        remove the home, keeping the age identity for the tests."""
        if self.tool == "gpg":
            gpgconf = shutil.which("gpgconf")
            if gpgconf is not None:
                run([gpgconf, "--homedir", str(self.home), "--kill", "gpg-agent"])
            shutil.rmtree(self.home, ignore_errors=True)


def decrypt(folder: BatchFolder, data: bytes) -> bytes:
    """The plaintext of an encrypted file of ``folder``, with the secrets it was built with."""
    tool = folder.admin["tool"]
    if tool == "gpg":
        sealer = _Sealer("gpg", Path(folder.entry["path"]))
        sealer.passphrase = folder.admin["passphrase"]
        try:
            return sealer.open(data)
        finally:
            sealer.close()
    if tool == "age":
        identity = folder.admin["age_identity"]
        return run([_binary("age", "age"), "-d", "-i", identity], input=data).stdout
    raise LauncherError(f"{folder.name} is not encrypted")


def _binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise LauncherError(f"{name} not found on PATH: install it with 'apt-get install -y {package}'")
    return found
