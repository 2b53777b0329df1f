"""Backups: the files a host's backup job writes, named in its inventory entry (``backups``).

Each entry of ``backups`` is a shell glob of the backup files one job writes (``/var/backups/pg/
*.dump.gpg``).  The newest match must be recent, not suspiciously small, encrypted and readable
by its owner only.  The checks only list files and read each newest file's first bytes; whether
a backup can be *restored* is the restore drill (dr-04), which a person attests.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from dataclasses import dataclass

import pytest

from pytest_deploycheck import TargetError, not_applicable, require
from pytest_deploycheck.targets import host_facts as hostfacts
from pytest_deploycheck.targets.object_store import list_copies, parse_copy_url

pytestmark = pytest.mark.section("backup", "Backups")

NIST_CP9 = "NIST SP 800-53 CP-9: System Backup"

#: One line per file: mtime, size, octal mode, owner, path; then the newest file's first bytes.
_LIST = r"""
dir=$(dirname "$1"); pattern=$(basename "$1")
[ -d "$dir" ] || { echo "__nodir__"; exit 0; }
find "$dir" -maxdepth 1 -type f -name "$pattern" -printf '%T@\t%s\t%m\t%u\t%p\n' 2>/dev/null | sort -rn | head -n 50
"""
_HEAD = r"""head -c 16 "$1" | od -An -tx1 | tr -d ' \n'"""

#: Magic bytes of backup formats that are not encrypted (hex of the first bytes).
PLAINTEXT_FORMATS = {
    "5047444d50": "PostgreSQL custom-format dump (PGDMP)",
    "1f8b": "gzip (readable by anyone who opens it)",
    "fd377a585a00": "xz",
    "28b52ffd": "zstd",
    "425a68": "bzip2",
    "504b0304": "zip",
    "2d2d20": "SQL text ('-- ')",
    "2f2a": "SQL text ('/*')",
    "534554": "SQL text (SET ...)",
    "435245415445": "SQL text (CREATE ...)",
    "52454449": "Redis RDB snapshot",
}
ENCRYPTED_SUFFIXES = (".gpg", ".pgp", ".asc", ".age", ".enc", ".aes", ".crypt")


@dataclass(frozen=True)
class BackupFile:
    mtime: float
    size: int
    mode: int
    owner: str
    path: str

    @property
    def age_hours(self) -> float:
        return (dt.datetime.now(dt.timezone.utc).timestamp() - self.mtime) / 3600

    @property
    def when(self) -> str:
        return dt.datetime.fromtimestamp(self.mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _globs(host) -> list[str]:
    globs = [str(g) for g in (host.setting("backups") or ())]
    if not globs:
        not_applicable(f"{host.name}: no backups in the inventory (hosts.{host.name}.backups: globs of the backup files)", unexamined=True)
    return globs


def _files(host, glob: str) -> list[BackupFile]:
    """Matches of ``glob``, newest first (at most 50); an error when the folder does not exist."""

    def compute() -> list[BackupFile]:
        if not posixpath.isabs(glob):
            raise TargetError(f"{host.label}: hosts.{host.name}.backups: {glob!r} is not an absolute path")
        lines = [line for line in hostfacts.sh(host, _LIST, glob).stdout.splitlines() if line]
        if lines == ["__nodir__"]:
            raise TargetError(f"{host.label}: backup folder {posixpath.dirname(glob)} does not exist (hosts.{host.name}.backups)")
        out = []
        for line in lines:
            mtime, size, mode, owner, path = line.split("\t", 4)
            out.append(BackupFile(float(mtime), int(size), int(mode, 8), owner, path))
        return out

    return host.memo(f"backups:{glob}", compute)


def _found(host) -> list[tuple[str, list[BackupFile]]]:
    """(glob, matches newest first) for every glob of ``backups`` that matches something."""
    return [(glob, files) for glob in _globs(host) if (files := _files(host, glob))]


@pytest.mark.check("bk-01", "Latest backup is recent", severity="high", refs=(NIST_CP9, "CIS Controls v8 11.2: Perform automated backups"),
                   answers=("backup recent|fresh|age|latest|last|daily|hourly|nightly|run|complet|succeed|success|exist|schedul|automat|configur|creat|regular|working|taken|cron database? postgres? mysql?",
                            "backup|backups ran|run|overnight|tonight|last_night",
                            "database|postgres|mysql|redis backup configur|creat|exist|enabl|automat|regular|daily|schedul|taken|running?",
                            "^backup daily|hourly|nightly|frequency|frequent|cadence daily? hourly?", "automatic backup",
                            "backup"),
                   answers_unless=("retention|retain", "encrypt", "restor|restoretest", "recovery", "offsite|off_site|remote|location|storage", "cross",
                                   "failure", "fail", "strategy", "test", "drill"))
def test_latest_backup_recent(host, evidence):
    """A backup job that silently stopped is found at the worst moment: when a restore is needed.
    Passes when, for every glob in ``backups``, the newest matching file is younger than
    ``backup_max_age_hours`` (26 h: a daily job with slack).  Fails when a glob matches nothing."""
    limit = host.threshold("backup_max_age_hours")
    problems, seen = [], {}
    for glob in _globs(host):
        files = _files(host, glob)
        if not files:
            problems.append(f"no file matches {glob}")
            continue
        newest = files[0]
        seen[glob] = {"newest": newest.path, "written": newest.when, "age_hours": round(newest.age_hours, 1), "count": len(files)}
        if newest.age_hours > limit:
            problems.append(f"newest backup {newest.path} was written {newest.when} ({newest.age_hours:.0f} h ago)")
    evidence.record(backups=seen)
    require(not problems, host, "; ".join(problems), f"a backup younger than {limit:g} h (backup_max_age_hours) for every job")


@pytest.mark.check("bk-02", "Latest backup is not truncated", severity="medium", refs=(NIST_CP9,),
                   answers=("backup size|truncat|empty|integrity|corrupt|complete|valid|non_empty|zero", "backup file not? empty|truncat"))
def test_latest_backup_size(host, evidence):
    """A dump that failed halfway, or a database that lost its data, still writes a file; only
    its size gives it away.  Passes when every newest backup is at least ``backup_min_bytes`` and
    not smaller than ``backup_min_size_ratio`` of the one before it."""
    min_bytes = host.threshold("backup_min_bytes")
    ratio = host.threshold("backup_min_size_ratio")
    problems, seen = [], {}
    for glob, files in _found(host):
        newest = files[0]
        previous = files[1] if len(files) > 1 else None
        seen[glob] = {"newest": newest.path, "bytes": newest.size, "previous_bytes": previous.size if previous else None}
        if newest.size < min_bytes:
            problems.append(f"{newest.path} is {newest.size} bytes")
        elif previous is not None and previous.size > 0 and newest.size < ratio * previous.size:
            problems.append(f"{newest.path} is {newest.size} bytes, {100 * newest.size / previous.size:.0f}% of the one before ({previous.size})")
    if not seen:
        not_applicable(f"{host.name}: no backup file found to measure (see bk-01)")
    evidence.record(backups=seen)
    require(not problems, host, "; ".join(problems),
            f"at least {min_bytes} bytes and {ratio:.0%} of the previous backup (backup_min_bytes, backup_min_size_ratio)")


@pytest.mark.check("bk-03", "Backups are encrypted", severity="medium",
                   refs=(NIST_CP9 + "(8): Cryptographic Protection", "ISO/IEC 27001:2022 A.8.13: information backup"),
                   answers=("backup encrypt|encryption|gpg|age|kms", "encrypted backup"))
def test_backups_encrypted(host, evidence):
    """Backups leave the database's access control behind: copied off-site, kept for months, read
    by whoever gets the bucket.  Passes when every newest backup is not in a plaintext format,
    judged by its first bytes (a PostgreSQL custom dump, gzip, SQL text, an RDB snapshot... are
    plaintext) or carries an encryption suffix (.gpg, .age, .enc, ...)."""
    problems, seen = [], {}
    for glob, files in _found(host):
        newest = files[0]
        magic = hostfacts.sh(host, _HEAD, newest.path).stdout.strip()
        plain = next((name for prefix, name in PLAINTEXT_FORMATS.items() if magic.startswith(prefix)), None)
        seen[glob] = {"newest": newest.path, "first_bytes": magic[:16], "format": plain or "not a known plaintext format"}
        if plain and not newest.path.endswith(ENCRYPTED_SUFFIXES):
            problems.append(f"{newest.path} is a {plain}")
    if not seen:
        not_applicable(f"{host.name}: no backup file found to inspect (see bk-01)")
    evidence.record(backups=seen)
    require(not problems, host, "; ".join(problems), "encrypted backups (gpg, age, or the tool's own encryption)")


@pytest.mark.check("bk-04", "Backups readable by their owner only", severity="high",
                   refs=("CWE-530: Exposure of Backup File to an Unauthorized Control Sphere",),
                   answers=("backup permission|private|readable|access|mode|owner|restrict|protect",
                            "backup file not? world_readable|readable"))
def test_backups_private(host, evidence):
    """A backup holds every row of the database: readable by other accounts on the host, it is a
    copy of the data outside the database's access control.  Passes when no matching backup
    file grants any permission to others (mode & 0007 == 0)."""
    exposed, seen = [], {}
    for _glob, files in _found(host):
        for f in files:
            seen[f.path] = f"{f.mode:04o} {f.owner}"
            if f.mode & 0o007:
                exposed.append(f"{f.path} ({f.mode:04o})")
    if not seen:
        not_applicable(f"{host.name}: no backup file found (see bk-01)")
    evidence.record(files=dict(list(seen.items())[:20]), count=len(seen))
    require(not exposed, host, f"{len(exposed)} backup file(s) readable by others: {', '.join(exposed[:10])}",
            "mode 0600 or 0640 (chmod o-rwx)")


@pytest.mark.check("bk-05", "A recent copy of the backups kept off the host", severity="high",
                   refs=(NIST_CP9 + "(8) and CP-6: alternate storage site", "CIS Controls v8 11.4: isolated instance of recovery data",
                         "The 3-2-1 backup rule"),
                   answers=("uploaded|copied|synced|shipped|replicated to? s3|bucket|offsite|off_site|cloud|remote", "copied|copy|replicated|synced|uploaded|shipped off|offsite server|host|machine|site|premises", "offsite|off_site|remote|cloud|s3|bucket|object_storage backup|backups|copy|copies", "offsite|off_site storage|location|locations|site|stored",
                            "backup|backups offsite|off_site|remote|s3|bucket|cloud|another|second|different|separate region|location|site|storage|server|account",
                            "backup|backups copied|replicated|synced|sync|upload|uploaded|shipped|transferred off|offsite|off_site|remote|s3|bucket|cloud",
                            "3_2_1 backup|rule", "geo redundant|redundancy backup|backups"),
                   answers_unless=("restor", "drill", "encrypt", "retention|retain|kept|keep", "log|logs|audit|media|asset|assets|static|artifact|artifacts|image|images|report|reports", "user|file|media upload|uploads", "upload|uploads store|stored|storage|live|saved"))
def test_backup_copies(host, evidence):
    """A backup on the machine it protects goes with it: a lost disk, a deleted VM, ransomware
    or a compromised account takes the data and its backups at once.  Lists each location of
    ``backup_copies`` (``s3://bucket/prefix/*.dump.gpg``: S3 or an S3-compatible store, names,
    sizes and times only) and passes when each holds a matching copy younger than
    ``backup_copy_max_age_hours`` (30 h: a daily upload with slack).  Whether the newest local
    backup (``backups``) is among the copies is recorded, not judged: copies may be renamed."""
    urls = [str(u) for u in host.setting("backup_copies") or ()]
    if not urls:
        not_applicable(f"{host.name}: no backup_copies in the inventory (hosts.{host.name}.backup_copies: s3://bucket/prefix/*.dump.gpg)",
                       unexamined=True)
    limit = host.threshold("backup_copy_max_age_hours")
    settings = dict(host.setting("s3") or {})
    local = {posixpath.basename(files[0].path) for _glob, files in _found(host)} if host.setting("backups") else set()
    problems, seen = [], {}
    for url in urls:
        location = parse_copy_url(url)
        copies, capped = list_copies(location, settings, host.timeout, host.label)
        if not copies:
            problems.append(f"no object in {location.url}")
            seen[url] = {"count": 0}
            continue
        newest = copies[0]
        seen[url] = {"newest": newest.key, "written": newest.when, "age_hours": round(newest.age_hours, 1), "bytes": newest.size,
                     "count": len(copies), "listing_capped": capped,
                     "newest_local_backup_copied": sorted(local & {posixpath.basename(c.key) for c in copies}) if local else None}
        if newest.age_hours > limit:
            problems.append(f"the newest copy in {location.url}, {newest.key}, was written {newest.when} ({newest.age_hours:.0f} h ago)")
    evidence.record(copies=seen)
    require(not problems, host, "; ".join(problems),
            f"a copy younger than {limit:g} h (backup_copy_max_age_hours) in every backup_copies location")
