"""The backup checks (checks/test_backups.py) on the local host, against backup folders made here:
a healthy job (recent, encrypted, private, a steady size) and a broken one (stale, a plaintext
PostgreSQL dump readable by everyone, and half the size of the backup before it)."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest

from tests.servers.base import Instance
from tests.servers.inventory import run_catalog

CHECKS = ("bk-01", "bk-02", "bk-03", "bk-04")


def _backup(path: Path, content: bytes, age_hours: float, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)
    stamp = time.time() - age_hours * 3600
    os.utime(path, (stamp, stamp))


def _host(name: str, *globs: str) -> Instance:
    return Instance(name=name, kind="hosts", entry={"backend": "local://", "backups": list(globs)}, env={}, server=None)


def test_backup_checks(pytester: pytest.Pytester, tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    for age in (50, 26, 2):  # daily, the newest two hours old; gpg output is random-looking bytes
        _backup(good / f"app-{age}.dump.gpg", b"\x85\x02\x0c" + secrets.token_bytes(4000), age, 0o600)
    _backup(bad / "app-1.dump", b"PGDMP" + secrets.token_bytes(8000), 80, 0o644)
    _backup(bad / "app-2.dump", b"PGDMP" + secrets.token_bytes(3000), 56, 0o644)
    targets = [_host("good-backups", f"{good}/*.dump.gpg"), _host("bad-backups", f"{bad}/*.dump"),
               _host("no-backups", f"{tmp_path}/empty/*.dump"), _host("unnamed")]
    (tmp_path / "empty").mkdir()
    run = run_catalog(pytester, "test_backups.py", targets=targets)

    assert {c: run.outcome(c, "good-backups") for c in CHECKS} == dict.fromkeys(CHECKS, "passed")
    assert {c: run.outcome(c, "bad-backups") for c in CHECKS} == dict.fromkeys(CHECKS, "failed")
    assert "app-2.dump was written" in run.message("bk-01", "bad-backups")
    assert run.message("bk-01", "bad-backups").endswith("expected a backup younger than 26 h (backup_max_age_hours) for every job")
    assert "is 3005 bytes, 38% of the one before (8005)" in run.message("bk-02", "bad-backups")
    assert "app-2.dump is a PostgreSQL custom-format dump (PGDMP)" in run.message("bk-03", "bad-backups")
    assert "2 backup file(s) readable by others" in run.message("bk-04", "bad-backups")
    assert run.evidence("bk-01", "good-backups")["backups"][f"{good}/*.dump.gpg"]["count"] == 3

    assert run.outcome("bk-01", "no-backups") == "failed"
    assert f"no file matches {tmp_path}/empty/*.dump" in run.message("bk-01", "no-backups")
    assert run.outcome("bk-02", "no-backups") == "n/a"
    assert {run.outcome(c, "unnamed") for c in CHECKS} == {"n/a"}
    assert "hosts.unnamed.backups" in run.message("bk-01", "unnamed")


def test_missing_backup_folder_is_an_error_naming_it(pytester: pytest.Pytester, tmp_path: Path) -> None:
    run = run_catalog(pytester, "test_backups.py", targets=[_host("gone", f"{tmp_path}/nowhere/*.dump")], args=["-k", "bk-01"])
    assert run.outcome("bk-01", "gone") == "error"
    assert f"backup folder {tmp_path}/nowhere does not exist" in run.message("bk-01", "gone")
