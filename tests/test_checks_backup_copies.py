"""bk-05, backup copies off the host, against the stand-in S3 endpoint (``tests/servers/s3.py``).

A bucket holds this morning's dump of the local backup folder; the check passes for it, fails
when the copy is older than the limit or no object matches, and is an error when the bucket
cannot be listed.  The store's secret key never appears in a result.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.base import Instance
from tests.servers.s3 import S3StandIn, launch_s3
from tests.test_checks_ssh import run_hosts

NAME = "shop-2026-12-01.dump.gpg"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3StandIn]:
    bed = launch_s3()
    try:
        client = bed.client()
        client.create_bucket(Bucket="shop-backups")
        for key in ("pg/shop-2026-11-30.dump.gpg", f"pg/{NAME}", "pg/2025/shop-2025-01-01.dump.gpg", "mysql/README"):
            client.put_object(Bucket="shop-backups", Key=key, Body=b"\x85\x02" + b"x" * 2048)
        yield bed
    finally:
        bed.stop()


def _host(name: str, s3: S3StandIn, *copies: str, **settings: Any) -> Instance:
    entry: dict[str, Any] = {"backend": "local://", **settings}
    if copies:
        entry["backup_copies"] = list(copies)
        entry["s3"] = {"endpoint": s3.endpoint, "region": "us-east-1", "access_key_id": s3.access_key_id,
                       "secret_access_key": "${S3_SECRET}"}
    return Instance(name=name, kind="hosts", entry=entry, env={"S3_SECRET": s3.secret_access_key}, server=None)


def test_backup_copies(pytester: pytest.Pytester, s3: S3StandIn, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / NAME).write_bytes(b"\x85\x02" + b"x" * 2048)
    targets = [
        _host("copied", s3, "s3://shop-backups/pg/*.dump.gpg", backups=[f"{folder}/*.dump.gpg"]),
        _host("stale", s3, "s3://shop-backups/pg/*.dump.gpg", thresholds={"backup_copy_max_age_hours": 0.00001}),
        _host("nothing-copied", s3, "s3://shop-backups/mysql/*.sql.gpg"),
        _host("no-bucket", s3, "s3://gone-bucket/pg/*.dump.gpg"),
        _host("unset", s3),
    ]
    run = run_hosts(pytester, "test_backups.py", targets=targets, args=["-k", "copies"])[0]
    outcomes = {t.name: run.outcome("bk-05", t.name) for t in targets}
    assert outcomes == {"copied": "passed", "stale": "failed", "nothing-copied": "failed", "no-bucket": "error", "unset": "n/a"}
    copied = run.evidence("bk-05", "copied")["copies"]["s3://shop-backups/pg/*.dump.gpg"]
    assert copied["count"] == 2 and copied["newest"] == f"pg/{NAME}"  # not the one in pg/2025/: the pattern is one folder
    assert copied["newest_local_backup_copied"] == [NAME] and copied["listing_capped"] is False
    assert f"the newest copy in s3://shop-backups/pg/*.dump.gpg, pg/{NAME}, was written " in run.message("bk-05", "stale")
    assert run.message("bk-05", "stale").endswith("; expected a copy younger than 1e-05 h (backup_copy_max_age_hours) in every backup_copies location")
    assert "no object in s3://shop-backups/mysql/*.sql.gpg" in run.message("bk-05", "nothing-copied")
    assert "cannot list s3://gone-bucket/pg/*.dump.gpg: NoSuchBucket" in run.message("bk-05", "no-bucket")
    assert run.result_for("bk-05", "unset").unexamined
    assert not any(s3.secret_access_key in f"{r.message} {r.evidence}" for r in run.summary.results)


@pytest.mark.parametrize(("url", "problem"), [
    ("s3://bucket/pg/*.dump.gpg", None),
    ("s3://bucket", None),
    ("https://bucket.s3.amazonaws.com/pg/x", "only s3:// locations are read"),
    ("s3://key:secret@bucket/pg/x", "no login, query or fragment"),
    ("s3://bucket/*/x.gpg", "a glob only in the object's name"),
])
def test_copy_locations(url: str, problem: str | None) -> None:
    from pytest_deploycheck.targets.object_store import parse_copy_url

    if problem is None:
        assert parse_copy_url(url).bucket == "bucket"
    else:
        with pytest.raises(ValueError, match=problem):
            parse_copy_url(url)
