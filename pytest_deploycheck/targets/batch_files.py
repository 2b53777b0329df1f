"""Judging a batch-exchange folder: one read-only pass that every ``batches`` check shares.

The convention judged (the README's batch-exchange section states it for users):

- data files whose name matches the target's ``pattern`` in full;
- ``<file>.meta.json`` beside each (``records``, ``created_at``, ``schema_version``, optionally
  ``file``) and the checksum as ``<file>.sha256`` or in one manifest (``SHA256SUMS``), in
  ``sha256sum`` or BSD format, over the bytes as transferred;
- a transfer in flight is ``<file>.part`` / ``.tmp`` / ``.partial`` / ``.filepart`` or an rsync
  temporary ``.<file>.XXXXXX``, renamed when complete;
- one JSON object per line (JSONL), valid against the target's JSON Schema; nothing grants
  any access to others.

The pass lists the folder, reads the first bytes of every data file (encryption headers), then
streams whole files newest first, checksum and validation in the same read, until the byte
budget is spent: a file that would exceed what is left is not read and the report lists it
(``unread``) rather than passing it silently.  Pure standard library: the JSON Schema validator
is handed in (any object with ``iter_errors``), so this module imports no third-party code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

SIDECAR_META = ".meta.json"
SIDECAR_SHA = ".sha256"
PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".filepart")
#: rsync writes into ``.<name>.<6 random characters>`` and renames when done.
RSYNC_TEMP = re.compile(r"\..+\.[A-Za-z0-9]{6}")
DEFAULT_BYTE_BUDGET = 64 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
MAX_SIDECAR_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
HEADER_BYTES = 64
CHUNK = 1 << 16
GNU_SUM = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
BSD_SUM = re.compile(r"SHA256 \((.+)\) = ([0-9a-fA-F]{64})")
META_REQUIRED = ("records", "created_at", "schema_version")

Checksums = Literal["sidecar", "manifest", "none"]
Role = Literal["data", "meta", "sha256", "manifest", "partial", "unexpected"]


class Validator(Protocol):
    """What the pass needs of a JSON Schema validator (``jsonschema.Draft202012Validator(schema)``)."""

    def iter_errors(self, instance: Any) -> Iterable[Any]: ...


class Progress:
    """Bumped at every file operation, so the caller can tell a slow folder from a hung mount."""

    def __init__(self) -> None:
        self.ticks = 0
        self.listed = False

    def tick(self) -> None:
        self.ticks += 1


@dataclass(frozen=True)
class Rules:
    """What the target's inventory entry and thresholds ask of the folder."""

    pattern: str
    validator: Validator | None = None
    max_age_hours: float = 24
    encrypted: bool = False
    meta: bool = True
    checksums: Checksums = "sidecar"
    manifest: str = "SHA256SUMS"
    partial_grace_hours: float = 1
    byte_budget: int = DEFAULT_BYTE_BUDGET
    max_errors_per_file: int = 5


@dataclass(frozen=True)
class Finding:
    code: str
    where: str  # "file", "file:line" or the folder
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


@dataclass
class FolderReport:
    """Everything the pass saw: findings by code, and what was (not) read, for the evidence."""

    path: str
    byte_budget: int
    findings: list[Finding] = field(default_factory=list)
    data_files: list[str] = field(default_factory=list)  # newest first
    newest: str | None = None
    newest_age_hours: float | None = None
    partials: dict[str, float] = field(default_factory=dict)  # name -> age in hours
    records: dict[str, int] = field(default_factory=dict)  # plain files read in full
    encryption: dict[str, str | None] = field(default_factory=dict)  # name -> "gpg" / "age" / None
    read: list[str] = field(default_factory=list)  # data files read in full
    unread: list[str] = field(default_factory=list)  # data files the budget left unread
    headers_unread: list[str] = field(default_factory=list)
    bytes_read: int = 0

    def add(self, code: str, where: str, detail: str) -> None:
        self.findings.append(Finding(code, where, detail))

    def of(self, *codes: str) -> list[Finding]:
        return [f for f in self.findings if f.code in codes]

    def codes(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for f in self.findings:
            out.setdefault(f.code, []).append(f.where)
        return out

    def scan(self) -> dict[str, Any]:
        """How far the pass got, stated in every check's evidence."""
        return {"folder": self.path, "data_files": len(self.data_files), "read_in_full": len(self.read),
                "bytes_read": self.bytes_read, "byte_budget": self.byte_budget, "unread": self.unread[:10]}


def encryption_of(head: bytes) -> str | None:
    """``"gpg"``, ``"age"`` or None, from a file's first bytes (magic line / first OpenPGP packet)."""
    if head.startswith((b"age-encryption.org/v1\n", b"-----BEGIN AGE ENCRYPTED FILE-----")):
        return "age"
    if head.startswith(b"-----BEGIN PGP MESSAGE-----"):
        return "gpg"
    if head and head[0] & 0x80:
        # OpenPGP packet header (RFC 9580 4.2): the new format keeps the tag in bits 0-5, the old in
        # bits 2-5.  An encrypted message opens with a session-key packet: 1 (public-key) or 3 (symmetric).
        tag = head[0] & 0x3F if head[0] & 0x40 else (head[0] >> 2) & 0x0F
        if tag in (1, 3):
            return "gpg"
    return None


def parse_sum(line: str) -> tuple[str, str] | None:
    """``(file name, lowercase hex)`` of one ``sha256sum`` or BSD ``SHA256 (f) = hex`` line."""
    if m := GNU_SUM.fullmatch(line):
        return m.group(2), m.group(1).lower()
    if m := BSD_SUM.fullmatch(line):
        return m.group(1), m.group(2).lower()
    return None


def role_of(name: str, rules: Rules, pattern: re.Pattern[str]) -> Role:
    if rules.checksums == "manifest" and name == rules.manifest:
        return "manifest"
    if name.endswith(SIDECAR_META):
        return "meta"
    if name.endswith(SIDECAR_SHA):
        return "sha256"
    if name.endswith(PARTIAL_SUFFIXES) or RSYNC_TEMP.fullmatch(name):
        return "partial"
    return "data" if pattern.fullmatch(name) else "unexpected"


def list_folder(root: Path, progress: Progress) -> tuple[os.stat_result, dict[str, os.stat_result]]:
    """The folder's own stat and its regular files (name -> lstat); raises OSError when it cannot be listed."""
    folder = root.stat()
    if not stat.S_ISDIR(folder.st_mode):
        raise NotADirectoryError(f"{root} is not a folder")
    files: dict[str, os.stat_result] = {}
    with os.scandir(root) as entries:
        for entry in entries:
            progress.tick()
            # Subfolders (an archive/), symlinks and sockets are not part of the exchange.
            if entry.is_file(follow_symlinks=False):
                files[entry.name] = entry.stat(follow_symlinks=False)
    progress.listed = True
    return folder, files


def judge_folder(path: str | Path, rules: Rules, *, now: float | None = None, progress: Progress | None = None) -> FolderReport:
    """Judge one folder; every finding says where (file or file:line) and what was seen.
    Raises OSError when the folder itself cannot be listed: that is "could not look", not a finding."""
    root = Path(path)
    progress = progress or Progress()
    now = time.time() if now is None else now
    report = FolderReport(path=str(root), byte_budget=rules.byte_budget)
    folder, names = list_folder(root, progress)
    if folder.st_mode & stat.S_IWOTH:
        report.add("world_writable", str(root), f"folder mode {stat.S_IMODE(folder.st_mode):04o} lets anyone add or replace files")
    for name, st in sorted(names.items()):
        if st.st_mode & 0o007:
            report.add("world_readable", name, f"mode {stat.S_IMODE(st.st_mode):04o}")

    pattern = re.compile(rules.pattern)
    roles = {name: role_of(name, rules, pattern) for name in sorted(names)}
    for name, role in roles.items():
        if role == "unexpected":
            report.add("bad_name", name, f"does not match the pattern {rules.pattern}")
        elif role == "partial":
            age = (now - names[name].st_mtime) / 3600
            report.partials[name] = round(age, 2)
            if age > rules.partial_grace_hours:
                report.add("stale_partial", name, f"unfinished transfer last written {age:.1f} h ago")
        elif role in ("meta", "sha256"):
            owner = name[: -len(SIDECAR_META if role == "meta" else SIDECAR_SHA)]
            if owner not in names:
                report.add("orphan_meta" if role == "meta" else "orphan_checksum", name, f"no {owner} beside it")

    data = sorted((n for n, r in roles.items() if r == "data"), key=lambda n: (names[n].st_mtime, n), reverse=True)
    report.data_files = data
    if not data:
        report.add("no_data", str(root), f"no file matches {rules.pattern}")
        return report
    report.newest = data[0]
    report.newest_age_hours = round((now - names[data[0]].st_mtime) / 3600, 2)
    if report.newest_age_hours > rules.max_age_hours:
        report.add("stale_newest", report.newest, f"newest file was last written {report.newest_age_hours:g} h ago")

    sums = _checksums(root, names, roles, data, rules, report, progress)
    for name in data:
        if rules.meta and name + SIDECAR_META not in names:
            report.add("missing_meta", name, f"no {name}{SIDECAR_META}")
    _headers(root, data, rules, report, progress)
    for name in data:
        if report.bytes_read + names[name].st_size > rules.byte_budget:
            report.unread.append(name)
            continue
        _read_file(root, name, rules, report, progress, sums.get(name))
    # After the data: a record count can be compared only for a file read in full.
    for name in data:
        if name + SIDECAR_META in names:
            _judge_meta(root, name, report, progress)
    return report


def _read_small(path: Path, limit: int, progress: Progress) -> str:
    progress.tick()
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return raw.decode("utf-8", errors="replace")


def _checksums(root: Path, names: dict[str, os.stat_result], roles: dict[str, Role], data: list[str], rules: Rules,
               report: FolderReport, progress: Progress) -> dict[str, str]:
    """Expected sha256 per data file, from the sidecars or the manifest; findings for what is missing or unreadable."""
    expected: dict[str, str] = {}
    if rules.checksums == "none":
        return expected
    if rules.checksums == "manifest":
        if rules.manifest not in names:
            report.add("missing_checksum", rules.manifest, f"no checksum manifest {rules.manifest} in the folder")
            return expected
        try:
            text = _read_small(root / rules.manifest, MAX_MANIFEST_BYTES, progress)
        except (OSError, ValueError) as exc:
            report.add("unreadable", rules.manifest, f"cannot read: {getattr(exc, 'strerror', None) or exc}")
            return expected
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.startswith("#"):
                parsed = parse_sum(line.strip())
                if parsed is None:
                    report.add("checksum_format", f"{rules.manifest}:{number}", f"not a sha256sum line: {line[:80]!r}")
                else:
                    expected[parsed[0].removeprefix("./")] = parsed[1]
        for name in data:
            if name not in expected:
                report.add("missing_checksum", name, f"not listed in {rules.manifest}")
        return expected
    for name in data:
        sidecar = name + SIDECAR_SHA
        if sidecar not in names:
            report.add("missing_checksum", name, f"no {sidecar}")
            continue
        try:
            text = _read_small(root / sidecar, MAX_SIDECAR_BYTES, progress).strip()
        except (OSError, ValueError) as exc:
            report.add("unreadable", sidecar, f"cannot read: {getattr(exc, 'strerror', None) or exc}")
            continue
        parsed = parse_sum(text.splitlines()[0].strip()) if text else None
        if parsed is None or parsed[0].removeprefix("./") != name:
            report.add("checksum_format", sidecar, f"expected '<sha256>  {name}', got {text[:100]!r}")
        else:
            expected[name] = parsed[1]
    return expected


def _headers(root: Path, data: list[str], rules: Rules, report: FolderReport, progress: Progress) -> None:
    """The first bytes of every data file, within the budget: whether it is gpg or age ciphertext."""
    for name in data:
        if report.bytes_read + HEADER_BYTES > rules.byte_budget:
            report.headers_unread.append(name)
            continue
        progress.tick()
        try:
            with open(root / name, "rb") as handle:
                head = handle.read(HEADER_BYTES)
        except OSError as exc:
            report.add("unreadable", name, f"cannot read: {exc.strerror or exc}")
            continue
        report.bytes_read += len(head)
        tool = encryption_of(head)
        report.encryption[name] = tool
        if rules.encrypted and tool is None:
            report.add("plaintext", name, "no gpg or age header: the file is not encrypted")


def _read_file(root: Path, name: str, rules: Rules, report: FolderReport, progress: Progress, expected_sum: str | None) -> None:
    """Stream one data file: its sha256 and, for plain JSONL, every line parsed and validated."""
    digest = hashlib.sha256()
    counts: dict[str, int] = {}

    def line_error(code: str, number: int, detail: str) -> None:
        counts[code] = counts.get(code, 0) + 1
        if counts[code] <= rules.max_errors_per_file:
            report.add(code, f"{name}:{number}", detail)

    # Ciphertext is only checksummed: its records cannot be read without the receiving side's key.
    plain = not rules.encrypted and report.encryption.get(name) is None
    if not rules.encrypted and report.encryption.get(name) is not None:
        report.add("unexpected_encryption", name, f"{report.encryption[name]} ciphertext where plain JSONL is expected")
    records = number = 0
    try:
        with open(root / name, "rb") as handle:
            while raw := (handle.readline(MAX_LINE_BYTES + 1) if plain else handle.read(CHUNK)):
                progress.tick()
                report.bytes_read += len(raw)
                digest.update(raw)
                if not plain:
                    continue
                number += 1
                if len(raw) > MAX_LINE_BYTES:
                    line_error("corrupt_line", number, f"line longer than {MAX_LINE_BYTES} bytes")
                    while raw and not raw.endswith(b"\n"):  # hash the rest of the over-long line, unparsed
                        raw = handle.readline(CHUNK)
                        report.bytes_read += len(raw)
                        digest.update(raw)
                    continue
                if not raw.strip():
                    line_error("corrupt_line", number, "blank line")
                    continue
                records += 1
                try:
                    record = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    line_error("corrupt_line", number, f"not JSON ({exc})")
                    continue
                if rules.validator is not None:
                    first = next(iter(rules.validator.iter_errors(record)), None)
                    if first is not None:
                        where = "/".join(str(p) for p in getattr(first, "absolute_path", ())) or "(record)"
                        line_error("schema_invalid", number, f"{where}: {getattr(first, 'message', first)}")
    except OSError as exc:
        report.add("unreadable", name, f"cannot read: {exc.strerror or exc}")
        return
    report.read.append(name)
    if plain:
        report.records[name] = records
    for code, count in counts.items():
        if count > rules.max_errors_per_file:
            report.add(code, name, f"{count - rules.max_errors_per_file} more such line(s) not listed")
    if expected_sum is not None and expected_sum != digest.hexdigest():
        report.add("checksum", name, f"sha256 is {digest.hexdigest()}, the checksum file says {expected_sum}")


def _judge_meta(root: Path, name: str, report: FolderReport, progress: Progress) -> None:
    sidecar = name + SIDECAR_META
    try:
        meta = json.loads(_read_small(root / sidecar, MAX_SIDECAR_BYTES, progress))
    except OSError as exc:
        report.add("unreadable", sidecar, f"cannot read: {exc.strerror or exc}")
        return
    except ValueError as exc:  # json.JSONDecodeError, or larger than the cap
        report.add("meta_invalid", sidecar, f"not a JSON document ({exc})")
        return
    if not isinstance(meta, dict):
        report.add("meta_invalid", sidecar, "not a JSON object")
        return
    missing = [k for k in META_REQUIRED if k not in meta]
    count = meta.get("records")
    if missing:
        report.add("meta_invalid", sidecar, f"missing {', '.join(missing)}")
    elif isinstance(count, bool) or not isinstance(count, int) or count < 0:
        report.add("meta_invalid", sidecar, f"records is {count!r}, not a whole number")
    elif meta.get("file", name) != name:
        report.add("meta_invalid", sidecar, f"describes {meta['file']!r}, not {name}")
    elif name in report.records and count != report.records[name]:
        report.add("meta_count", name, f"its {SIDECAR_META} says {count} records, the file has {report.records[name]}")
