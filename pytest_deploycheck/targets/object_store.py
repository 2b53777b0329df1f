"""Backup copies kept in S3 or an S3-compatible store (MinIO, Cloudflare R2, Backblaze B2, Wasabi,
Ceph RGW), listed through boto3 (the ``[s3]`` extra).

A host's ``backup_copies`` names them as ``s3://bucket/prefix/*.dump.gpg``: the part after the
last slash is a glob on the object's name, the rest a prefix the listing is narrowed to.  Only
object names, sizes and times are read (``ListObjectsV2``, GET): nothing is downloaded, written or
deleted.  Credentials come from the host's ``s3`` settings, else boto3's own chain (the
environment, ``~/.aws``, an instance role).  Every request has the target's timeout and is not
retried; a listing stops after ``MAX_OBJECTS`` objects (newest of those judged, said in the evidence).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import posixpath
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.outcomes import TargetError

#: Most objects one copy location's listing reads (10 pages of 1000).
MAX_OBJECTS = 10_000


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: dt.datetime

    @property
    def age_hours(self) -> float:
        return (dt.datetime.now(dt.timezone.utc) - self.modified).total_seconds() / 3600

    @property
    def when(self) -> str:
        return self.modified.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class CopyLocation:
    bucket: str
    prefix: str  # listed with this prefix
    pattern: str  # glob on the object's name (the part after the last slash)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}{self.pattern}"


def parse_copy_url(url: str) -> CopyLocation:
    """``s3://bucket/pg/*.dump.gpg`` -> bucket ``bucket``, prefix ``pg/``, pattern ``*.dump.gpg``;
    ``s3://bucket/pg/`` lists every object under ``pg/``.  ValueError says what is wrong."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError(f"{url!r}: only s3:// locations are read (S3 or an S3-compatible store; s3.endpoint for the latter)")
    if not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{url!r}: write s3://bucket/prefix/pattern (no login, query or fragment in the URL)")
    key = parts.path.lstrip("/")
    head, _, tail = key.rpartition("/")
    prefix = f"{head}/" if head else ""
    if any(ch in prefix for ch in "*?["):
        raise ValueError(f"{url!r}: a glob only in the object's name, not in the folders before it")
    return CopyLocation(parts.netloc, prefix, tail or "*")


def _client(settings: Mapping[str, Any], timeout: float) -> Any:
    try:
        # The [s3] extra, imported only when a host names backup copies.
        import boto3
        from botocore.config import Config
    except ImportError:
        raise TargetError("backup_copies in S3 need boto3: pip install 'pytest-deploycheck[s3]'") from None
    session = boto3.session.Session(aws_access_key_id=settings.get("access_key_id"),
                                    aws_secret_access_key=settings.get("secret_access_key"),
                                    region_name=settings.get("region"))
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"},
                    s3={"addressing_style": "path"} if settings.get("endpoint") else None)
    return session.client("s3", endpoint_url=settings.get("endpoint"), config=config)


def list_copies(location: CopyLocation, settings: Mapping[str, Any], timeout: float, label: str) -> tuple[list[StoredObject], bool]:
    """The objects of ``location`` whose name matches its pattern, newest first, and whether the
    listing stopped at ``MAX_OBJECTS``.  A bucket that cannot be listed is a ``TargetError`` saying why."""
    client = _client(settings, timeout)  # first: without boto3 it says which extra to install
    from botocore.exceptions import BotoCoreError, ClientError

    found: list[StoredObject] = []
    seen = 0
    token: str | None = None
    try:
        while True:
            page = client.list_objects_v2(Bucket=location.bucket, Prefix=location.prefix, MaxKeys=1000,
                                          **({"ContinuationToken": token} if token else {}))
            for item in page.get("Contents") or ():
                seen += 1
                key = str(item["Key"])
                if fnmatch.fnmatchcase(posixpath.basename(key), location.pattern) and key[len(location.prefix):].count("/") == 0:
                    found.append(StoredObject(key, int(item.get("Size") or 0), item["LastModified"]))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token or seen >= MAX_OBJECTS:
                break
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        code, message = str(error.get("Code") or "error"), " ".join(str(error.get("Message") or "").split())[:200]
        raise TargetError(f"{label}: cannot list {location.url}: {code}{': ' + message if message else ''}") from None
    except BotoCoreError as exc:
        raise TargetError(f"{label}: cannot list {location.url}: {' '.join(str(exc).split())[:300]}") from None
    found.sort(key=lambda o: (o.modified, o.key), reverse=True)  # ties (one upload second): the later name first
    return found, bool(token) and seen >= MAX_OBJECTS
