"""The BullMQ test bed: real Node workers on a real Redis broker, and the queues are what they claim.

Everything a future check needs is read here the way the check will read it: as the read-only
``monitor`` user of the inventory entry, with CLIENT LIST for workers and LLEN / ZCARD / ZCOUNT /
EXISTS / HGET for queue state.  Nothing here writes to the broker.
"""

from __future__ import annotations

import base64
import os
import string
from pathlib import Path

import pytest
import redis

from tests.servers.base import Instance
from tests.servers.bullmq import (
    BACKLOG_AGE_MS,
    MONITOR,
    OVERDUE_BY_MS,
    PASSWORD_ENV,
    BullmqInstance,
    launch_bullmq,
    worker_client_name,
)

#: The job states a check reports per queue; "overdue" and "stalled" are derived, see _stats.
STATES = ("workers", "waiting", "active", "delayed", "overdue", "failed", "completed", "stalled")


def _monitor(instance: Instance) -> redis.Redis:
    password = string.Template(instance.entry["password"]).substitute(instance.env)
    return redis.Redis.from_url(instance.entry["broker"], password=password, socket_timeout=5, decode_responses=True)


def _now_ms(client: redis.Redis) -> int:
    # The broker's clock, not ours: BullMQ's due times come from the producers' clocks, which a
    # check can only compare against a clock it can read remotely.
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _workers(client: redis.Redis, prefix: str) -> dict[str, int]:
    """Workers per queue from CLIENT LIST names '<prefix>:<base64 queue>[:w:<worker>]'."""
    counts: dict[str, int] = {}
    for conn in client.client_list():
        name = conn.get("name", "")
        if not name.startswith(prefix + ":"):
            continue
        encoded = name[len(prefix) + 1:].partition(":w:")[0]
        if ":" in encoded:  # QueueEvents (':qe') and other non-worker connections
            continue
        queue = base64.b64decode(encoded, validate=True).decode()
        counts[queue] = counts.get(queue, 0) + 1
    return counts


def _stats(client: redis.Redis, prefix: str, queue: str, workers: dict[str, int]) -> dict[str, int]:
    key = f"{prefix}:{queue}"
    now = _now_ms(client)
    active = [str(job_id) for job_id in client.lrange(f"{key}:active", 0, -1)]
    return {
        "workers": workers.get(queue, 0),
        "waiting": client.llen(f"{key}:wait") + client.llen(f"{key}:paused") + client.zcard(f"{key}:prioritized"),
        "active": len(active),
        "delayed": client.zcard(f"{key}:delayed"),
        # Due at score >> 12 (ms); due now or earlier means score < (now + 1) * 4096.
        "overdue": client.zcount(f"{key}:delayed", "-inf", f"({(now + 1) * 4096}"),
        "failed": client.zcard(f"{key}:failed"),
        "completed": client.zcard(f"{key}:completed"),
        # An active job whose lock is gone has no live worker holding it.
        "stalled": len([job_id for job_id in active if client.exists(f"{key}:{job_id}:lock") == 0]),
    }


@pytest.mark.parametrize("fixture", ["bullmq_good", "bullmq_bad"])
def test_queues_hold_what_the_bed_claims(fixture: str, request: pytest.FixtureRequest) -> None:
    instance: Instance = request.getfixturevalue(fixture)
    prefix = instance.entry["prefix"]
    with _monitor(instance) as client:
        workers = _workers(client, prefix)
        observed = {queue: _stats(client, prefix, queue, workers) for queue in instance.entry["queues"]}
    assert observed == instance.admin["expected"]
    assert set(STATES) == {state for stats in observed.values() for state in stats}


def test_good_is_healthy(bullmq_good: Instance) -> None:
    [stats] = bullmq_good.admin["expected"].values()
    assert stats["workers"] >= 1 and stats["completed"] > 0
    assert stats["waiting"] == stats["failed"] == stats["stalled"] == stats["overdue"] == 0


def test_bad_has_each_defect(bullmq_bad: Instance) -> None:
    expected = bullmq_bad.admin["expected"]
    assert expected["emails"]["workers"] == 0 and expected["emails"]["waiting"] > 0
    assert expected["thumbnails"]["workers"] == 1 and expected["thumbnails"]["failed"] > 0
    assert expected["reports"]["stalled"] == 1
    assert 0 < expected["reminders"]["overdue"] < expected["reminders"]["delayed"]


@pytest.mark.parametrize("fixture", ["bullmq_good", "bullmq_bad"])
def test_worker_connection_names_decode_to_their_queue(fixture: str, request: pytest.FixtureRequest) -> None:
    instance: Instance = request.getfixturevalue(fixture)
    with _monitor(instance) as client:
        names = sorted(c["name"] for c in client.client_list() if c["name"].startswith("bull:"))
    assert names == sorted(n for ns in instance.admin["worker_names"].values() for n in ns)
    assert worker_client_name("emails", "emails-1") == "bull:ZW1haWxz:w:emails-1"
    assert worker_client_name("thumbnails") == "bull:dGh1bWJuYWlscw=="


def test_failed_jobs_keep_their_reason(bullmq_bad: Instance) -> None:
    with _monitor(bullmq_bad) as client:
        ids = client.zrange("bull:thumbnails:failed", 0, -1)
        reasons = {client.hget(f"bull:thumbnails:{job_id}", "failedReason") for job_id in ids}
    assert len(ids) == bullmq_bad.admin["expected"]["thumbnails"]["failed"]
    assert all(reason and "unsupported input" in reason for reason in reasons)


def test_stalled_job_is_active_with_its_lock_gone_and_no_worker(bullmq_bad: Instance) -> None:
    with _monitor(bullmq_bad) as client:
        [job_id] = client.lrange("bull:reports:active", 0, -1)
        assert client.exists(f"bull:reports:{job_id}:lock") == 0
        processed_on = int(client.hget(f"bull:reports:{job_id}", "processedOn") or 0)
        assert 0 < processed_on <= _now_ms(client)
        assert "reports" not in _workers(client, "bull")


def test_backlog_and_overdue_jobs_are_an_hour_old(bullmq_bad: Instance) -> None:
    with _monitor(bullmq_bad) as client:
        now = _now_ms(client)
        # Producers LPUSH: the oldest waiting job is at the right end.
        oldest = client.lindex("bull:emails:wait", -1)
        created = int(client.hget(f"bull:emails:{oldest}", "timestamp") or 0)
        due = sorted(int(score) >> 12 for _, score in client.zrange("bull:reminders:delayed", 0, -1, withscores=True))
    assert now - created >= BACKLOG_AGE_MS
    overdue = [d for d in due if d <= now]
    assert len(overdue) == bullmq_bad.admin["expected"]["reminders"]["overdue"]
    assert all(now - d >= OVERDUE_BY_MS - 60_000 for d in overdue)
    assert all(d > now for d in due if d not in overdue)


LAYOUT_TYPES = {
    "bull:emails:wait": "list", "bull:emails:meta": "hash", "bull:emails:events": "stream", "bull:emails:id": "string",
    "bull:emails:1": "hash", "bull:thumbnails:failed": "zset", "bull:reports:active": "list", "bull:reminders:delayed": "zset",
}


def test_key_layout_has_the_documented_types(bullmq_bad: Instance, bullmq_good: Instance) -> None:
    with _monitor(bullmq_bad) as client:
        observed = {key: client.type(key) for key in LAYOUT_TYPES}
        version = client.hget("bull:emails:meta", "version")
    with _monitor(bullmq_good) as client:
        completed = client.type("bull:emails:completed")
    assert observed == LAYOUT_TYPES
    assert completed == "zset"
    assert version and version.startswith("bullmq:")


@pytest.mark.parametrize("command", [("SET", "bull:emails:id", "0"), ("DEL", "bull:emails:wait"), ("CLIENT", "KILL", "ID", "1"),
                                     ("FLUSHALL",), ("CONFIG", "GET", "*")])
def test_monitor_user_can_only_read(bullmq_bad: Instance, command: tuple[str, ...]) -> None:
    with _monitor(bullmq_bad) as client:
        # The connection running CLIENT LIST shows itself with that command.
        [me] = [c for c in client.client_list() if c["cmd"] == "client|list"]
        assert me["user"] == MONITOR
        assert client.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.execute_command(*command)


def test_password_is_in_the_environment_never_on_the_command_line(bullmq_bad: Instance) -> None:
    assert isinstance(bullmq_bad, BullmqInstance)
    live = [w for w in bullmq_bad.workers if w.alive()]
    assert live, "the bad bed keeps its thumbnails worker running"
    app_password = string.Template(bullmq_bad.admin["redis"].entry["password"]).substitute(bullmq_bad.admin["redis"].env)
    for worker in live:
        cmdline = Path(f"/proc/{worker.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{worker.pid}/environ").read_bytes().split(b"\0")
        assert app_password.encode() not in cmdline
        assert f"{PASSWORD_ENV}={app_password}".encode() in environ


def test_launcher_stops_workers_and_broker() -> None:
    instance = launch_bullmq("good", name="bullmq-lifecycle")
    assert isinstance(instance, BullmqInstance) and instance.server is not None
    pids = [w.pid for w in instance.workers] + [instance.server.pid]
    dirs = [w.workdir for w in instance.workers] + [instance.server.workdir, *instance.server.cleanup_paths]
    instance.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert not any(os.path.exists(d) for d in dirs)
