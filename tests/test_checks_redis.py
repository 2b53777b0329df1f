"""The Redis catalog (checks/test_redis.py) against real servers: good and bad, cache and broker.

One catalog run covers every variant.  The good servers are examined twice: as the application's
own user (which may not read CONFIG or ACLs, so those checks end n/a naming the permission) and
as a read-only introspection user, the setup the catalog's docstring recommends.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator

import pytest
import redis as redis_py

from tests.servers.base import LOOPBACK, Instance, env_name
from tests.servers.certs import TestCA
from tests.servers.inventory import CatalogRun, run_catalog
from tests.servers.redis import launch_redis

AUDIT_USER = "audit-reader"
#: Read-only introspection: what the catalog needs beyond PING and INFO, and nothing that writes.
AUDIT_RULES = ("-@all", "+@connection", "+info", "+config|get", "+acl|whoami", "+acl|getuser", "+acl|dryrun")
CHECKS = [f"redis-0{n}" for n in range(1, 10)]


def _admin(instance: Instance) -> redis_py.Redis:
    admin = instance.admin
    return redis_py.Redis(host=LOOPBACK, port=admin["port"], username=admin["user"], password=admin["password"], socket_timeout=5)


def _copy(instance: Instance, name: str, **entry: object) -> Instance:
    """Another inventory name for a running server (server=None: stopping it is not ours)."""
    return Instance(name=name, kind="redis", entry={**instance.entry, **entry}, env=dict(instance.env), server=None)


def _in_a_year() -> str:
    return (dt.date.today() + dt.timedelta(days=365)).isoformat()


@pytest.fixture(scope="module")
def audited(redis_good: Instance, redis_broker_good: Instance) -> Iterator[dict[str, Instance]]:
    """The good cache and broker seen through a read-only ``deploycheck`` ACL user."""
    views: dict[str, Instance] = {}
    for instance in (redis_good, redis_broker_good):
        password = secrets.token_urlsafe(18)
        with _admin(instance) as admin:
            admin.execute_command("ACL", "SETUSER", AUDIT_USER, "reset", "on", f">{password}", *AUDIT_RULES)
        name = f"{instance.name}-audit"
        variable = env_name(name, "password")
        entry = {
            "url": f"redis://{AUDIT_USER}@{LOOPBACK}:{instance.admin['port']}/0",
            "role": instance.entry["role"],
            "password": f"${{{variable}}}",
            "app_user": "app",
            "supported_until": _in_a_year(),
        }
        views[instance.name] = Instance(name=name, kind="redis", entry=entry, env={variable: password}, server=None)
    try:
        yield views
    finally:
        for instance in (redis_good, redis_broker_good):
            with _admin(instance) as admin:
                admin.execute_command("ACL", "DELUSER", AUDIT_USER)


@pytest.fixture(scope="module")
def redis_tls(test_ca: TestCA) -> Iterator[Instance]:
    """A good Redis that speaks only TLS (rediss://)."""
    instance = launch_redis("good", name="redis-tls", tls=True, ca=test_ca)
    try:
        yield instance
    finally:
        instance.stop()


def test_redis_catalog(
    pytester: pytest.Pytester, redis_good: Instance, redis_bad: Instance, audited: dict[str, Instance], redis_tls: Instance
) -> None:
    targets = [
        _copy(redis_good, "redis-good", supported_until=_in_a_year()),
        audited["redis-good"],
        audited["redis-good-broker"],
        # The same well-kept cache, held to a memory threshold it cannot meet and declared
        # supported only until a date long gone.
        Instance(
            "redis-good-tight",
            "redis",
            {**audited["redis-good"].entry, "thresholds": {"redis_memory_max_pct": 0.5}, "supported_until": "2020-01-01"},
            dict(audited["redis-good"].env),
            None,
        ),
        redis_bad,
        # Someone points the job queue at a Redis set up as a throw-away cache.
        _copy(redis_bad, "redis-bad-broker", role="broker"),
        _copy(redis_tls, "redis-tls", supported_until=_in_a_year()),
        # The same TLS Redis without its CA: the system's CAs do not vouch for the test CA.
        Instance("redis-tls-untrusted", "redis", {k: v for k, v in redis_tls.entry.items() if k != "ca_bundle"},
                 dict(redis_tls.env), None),
    ]
    run = run_catalog(pytester, "test_redis.py", targets=targets)

    # The good cache as the application's own user: what it may not read is n/a, and named.
    assert outcomes(run, "redis-good") == {
        "redis-01": "passed",
        "redis-02": "n/a",
        "redis-03": "n/a",
        "redis-04": "passed",
        "redis-05": "n/a",
        "redis-06": "passed",
        "redis-07": "passed",
        "redis-08": "n/a",
        "redis-09": "n/a",
    }
    assert "+acl|getuser" in run.message("redis-02", "redis-good")
    assert "+config|get" in run.message("redis-03", "redis-good")
    assert "user app may run ACL DRYRUN" not in run.message("redis-08", "redis-good")
    assert "user app may not run ACL DRYRUN (ACL permission +acl|dryrun)" in run.message("redis-08", "redis-good")
    assert "role cache" in run.message("redis-05", "redis-good")
    assert "loopback" in run.message("redis-09", "redis-good")
    assert run.evidence("redis-01", "redis-good")["anonymous_reply"].startswith("-NOAUTH")

    # The good cache and broker through the introspection user: everything checked, all pass.
    assert outcomes(run, "redis-good-audit") == {
        "redis-01": "passed",
        "redis-02": "passed",
        "redis-03": "passed",
        "redis-04": "passed",
        "redis-05": "n/a",
        "redis-06": "passed",
        "redis-07": "passed",
        "redis-08": "passed",
        "redis-09": "n/a",
    }
    assert outcomes(run, "redis-good-broker-audit") == {
        "redis-01": "passed",
        "redis-02": "passed",
        "redis-03": "passed",
        "redis-04": "passed",
        "redis-05": "passed",
        "redis-06": "passed",
        "redis-07": "passed",
        "redis-08": "passed",
        "redis-09": "n/a",
    }
    assert run.evidence("redis-08", "redis-good-audit")["app_user"] == "app"
    assert run.evidence("redis-05", "redis-good-broker-audit")["aof_enabled"] is True
    assert run.evidence("redis-04", "redis-good-broker-audit")["maxmemory_policy"] == "noeviction"
    assert "off" in run.evidence("redis-02", "redis-good-audit")["default_user_flags"]

    # The bad cache fails every check aimed at what it gets wrong, with the evidence.
    got = outcomes(run, "redis-bad")
    wrong = ("redis-01", "redis-02", "redis-03", "redis-04", "redis-08")
    assert {c: got[c] for c in wrong} == dict.fromkeys(wrong, "failed")
    assert (got["redis-05"], got["redis-06"], got["redis-09"]) == ("n/a", "passed", "n/a")
    label = f"redis-bad ({redis_bad.entry['url']})"
    assert run.message("redis-01", "redis-bad") == (
        f"{label}: a connection without credentials was served (PING answered PONG); "
        "expected such a connection refused with NOAUTH (requirepass or ACL users with the default user off)"
    )
    assert "default user is on with nopass" in run.message("redis-02", "redis-bad")
    assert "protected-mode is no" in run.message("redis-03", "redis-bad")
    assert "maxmemory is 0 (no limit)" in run.message("redis-04", "redis-bad")
    assert "user default may run FLUSHALL, FLUSHDB, CONFIG SET" in run.message("redis-08", "redis-bad")
    assert "expected these denied" in run.message("redis-08", "redis-bad")
    assert "machine's memory" in run.evidence("redis-06", "redis-bad")["basis"]
    version = run.evidence("redis-07", "redis-bad")["redis_version"]
    if version.startswith("7.0."):  # Debian 12's Redis; the table decides for any other
        assert got["redis-07"] == "failed"
        assert "release line 7.0 reached end of life on 2024-07-29" in run.message("redis-07", "redis-bad")

    # A broker on that server: no persistence, an eviction-free policy but no memory cap.
    assert run.outcome("redis-05", "redis-bad-broker") == "failed"
    assert "appendonly no and no RDB save schedule" in run.message("redis-05", "redis-bad-broker")
    assert run.outcome("redis-04", "redis-bad-broker") == "failed"
    assert "expected maxmemory set and noeviction for role broker" in run.message("redis-04", "redis-bad-broker")

    # Thresholds and a declared support date decide.
    assert run.outcome("redis-06", "redis-good-tight") == "failed"
    assert "expected <= 0.5%" in run.message("redis-06", "redis-good-tight")
    assert run.outcome("redis-07", "redis-good-tight") == "failed"
    assert "vendor support declared until 2020-01-01" in run.message("redis-07", "redis-good-tight")

    # TLS: rediss:// passes, and the unauthenticated probe speaks TLS too (and is refused).
    assert (run.outcome("redis-09", "redis-tls"), run.outcome("redis-01", "redis-tls")) == ("passed", "passed")
    assert run.evidence("redis-09", "redis-tls")["tls"] == "PING answered over TLS, certificate and host name verified"
    assert run.outcome("redis-09", "redis-tls-untrusted") == "error"
    assert "certificate verify failed" in run.message("redis-09", "redis-tls-untrusted")

    # No password reaches a message or evidence.
    passwords = [v for inst in (*audited.values(), redis_good, redis_tls) for v in inst.env.values()]
    for result in run.summary.results:
        assert not any(p in f"{result.message} {result.evidence}" for p in passwords), result.where


def outcomes(run: CatalogRun, target: str) -> dict[str, str]:
    return {check: run.outcome(check, target) for check in CHECKS}


def test_hit_ratio_replication_and_last_save(
    pytester: pytest.Pytester, redis_good: Instance, redis_bad: Instance, redis_broker_good: Instance,
    redis_replica_good: Instance, redis_replica_bad: Instance,
) -> None:
    """redis-10..12 on the real servers: the caches' lookups, a replica with its link up and one
    whose master is gone, a broker with an append-only file, and data-keeping roles on a server
    that saved (BGSAVE) and one that never did."""
    targets = [
        redis_good, redis_bad, redis_broker_good, redis_replica_good, redis_replica_bad,
        _copy(redis_good, "redis-good-session", role="session"),
        _copy(redis_bad, "redis-bad-broker", role="broker"),
    ]
    run = run_catalog(pytester, "test_redis.py", targets=targets, args=["-k", "redis-10 or redis-11 or redis-12"])

    assert run.outcome("redis-10", "redis-good") == "passed", run.message("redis-10", "redis-good")
    assert run.evidence("redis-10", "redis-good")["hit_pct"] > 90
    assert run.outcome("redis-10", "redis-bad") == "failed"
    assert run.message("redis-10", "redis-bad").startswith(f"redis-bad ({redis_bad.entry['url']}): cache hit ratio ")
    assert run.message("redis-10", "redis-bad").endswith("; expected at least 80% (redis_hit_min_pct)")
    assert run.outcome("redis-10", "redis-good-replica") == "n/a"  # no lookups on the replica yet
    assert "hit_ratio_min_lookups" in run.message("redis-10", "redis-good-replica")
    assert run.outcome("redis-10", "redis-good-broker") == "n/a"

    assert run.outcome("redis-11", "redis-good-replica") == "passed", run.message("redis-11", "redis-good-replica")
    assert run.evidence("redis-11", "redis-good-replica")["master"] == f"{LOOPBACK}:{redis_good.admin['port']}"
    assert run.outcome("redis-11", "redis-good") == "passed", run.message("redis-11", "redis-good")
    assert run.evidence("redis-11", "redis-good")["connected_replicas"] >= 1
    assert run.outcome("redis-11", "redis-bad-replica") == "failed"
    message = run.message("redis-11", "redis-bad-replica")
    assert f": link to master {LOOPBACK}:{redis_replica_bad.admin['replica_of']} is down" in message, message
    assert message.endswith("; expected master_link_status up"), message
    assert run.outcome("redis-11", "redis-bad") == "n/a"
    assert "standalone master without replicas, not a Sentinel or Cluster node" in run.message("redis-11", "redis-bad")

    assert run.outcome("redis-12", "redis-good-broker") == "passed", run.message("redis-12", "redis-good-broker")
    assert run.evidence("redis-12", "redis-good-broker")["aof_enabled"] is True
    assert run.outcome("redis-12", "redis-good-session") == "passed", run.message("redis-12", "redis-good-session")
    assert run.evidence("redis-12", "redis-good-session")["rdb_saves"] >= 1
    assert run.outcome("redis-12", "redis-bad-broker") == "failed"
    message = run.message("redis-12", "redis-bad-broker")
    assert ": never saved since it started (" in message, message
    assert message.endswith(" changes not on disk; rdb_saves 0); "
                            "expected a successful snapshot within 24 h (redis_save_max_age_hours) or appendonly yes"), message
    assert run.outcome("redis-12", "redis-good") == "n/a"
