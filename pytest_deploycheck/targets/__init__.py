"""Target kinds: one module each, and this registry of them.

A kind module (``http.py``, ``postgres.py``, ...) holds the handle a check receives, the kind's
inventory keys and how it is reached; it declares all of that as ``KIND``.  ``KINDS`` below is
the one list the rest of the plugin reads: the inventory schema (``inventory.py``), the
fixtures (``fixtures.py``), the reachability pre-flight (``Target.endpoint``) and the README's
generated tables.  Adding a kind is one module plus one line here (docs/WRITING_CHECKS.md).

Shared by every kind: ``base.py`` (``Target``, ``TargetKind``, ``TargetHandle``) and
``reach.py`` (the dead-target rule and the pool of handles).
"""

from __future__ import annotations

from pytest_deploycheck.targets import (
    alertmanager,
    batches,
    dns,
    files,
    hosts,
    http,
    k8s_cluster,
    mysql,
    pgbouncer,
    postgres,
    prometheus,
    redis,
    release,
    smtp,
    tls,
    workers,
)
from pytest_deploycheck.targets.base import Target, TargetKind

#: Every target kind, in the order the inventory reference lists them.
KINDS: tuple[TargetKind, ...] = (
    hosts.KIND,
    http.KIND,
    tls.KIND,
    dns.KIND,
    smtp.KIND,
    postgres.KIND,
    mysql.KIND,
    redis.KIND,
    pgbouncer.KIND,
    files.KIND,
    batches.KIND,
    prometheus.KIND,
    alertmanager.KIND,
    release.KIND,
    k8s_cluster.KIND,
    workers.KIND,
)

BY_NAME: dict[str, TargetKind] = {kind.name: kind for kind in KINDS}


def kind_of(name: str) -> TargetKind:
    """The kind of an inventory section (``"http"``)."""
    return BY_NAME[name]


def fixture_kinds() -> dict[str, tuple[str, ...]]:
    """Fixture name -> the inventory kinds it is parametrized over (``tls_endpoint``: tls, http)."""
    return {kind.fixture: (kind.name, *kind.also) for kind in KINDS}


def takes(fixture: str, target: Target) -> bool:
    """Whether ``fixture`` is parametrized with ``target``."""
    return any(kind.fixture == fixture and kind.takes(target) for kind in KINDS)


def host_port(target: Target) -> tuple[str, int] | None:
    """The TCP address ``target`` is reached at, for the reachability pre-flight; None when the
    target is not a TCP peer (local://, docker://, a files path, a Unix socket)."""
    return BY_NAME[target.kind].address(target)
