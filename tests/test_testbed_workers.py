"""The background-work test bed: RabbitMQ and Celery setups start, answer Celery's own read paths
(``control.inspect``), Redis and the RabbitMQ management API, and their ``bad`` variants show
each defect there, so a check that passes on ``good`` and fails on ``bad`` is tested against
what it claims to detect."""

from __future__ import annotations

import os
import string
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.servers.base import Instance
from tests.servers.celery_app import SLEEP
from tests.servers.celery_bed import REDBEAT_LOCK, STALE_AGE, CeleryBed, inspector, redbeat_entry
from tests.servers.rabbitmq import management_get, queue_depths

GOOD_AND_BAD = ["celery_redis_good", "celery_redis_bad", "celery_rabbitmq_good", "celery_rabbitmq_bad"]


def _bed(request: pytest.FixtureRequest, name: str) -> CeleryBed:
    bed = request.getfixturevalue(name)
    assert isinstance(bed, CeleryBed)
    return bed


def _password(instance: Instance) -> str:
    """The entry's password with its ``${VAR}`` resolved from the instance's env, as a runner would."""
    return string.Template(instance.entry["password"]).substitute(instance.env)


def _url_from_entry(bed: CeleryBed) -> str:
    """The broker URL a check builds from the inventory entry: ``broker`` plus the password."""
    scheme, rest = bed.entry["broker"].split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{_password(bed)}@{host}"


def _one_reply(replies: dict[str, Any] | None, bed: CeleryBed) -> Any:
    (hostname,) = bed.admin["workers"]
    assert replies is not None and hostname in replies, f"{bed.name}: no reply from {hostname}: {replies}"
    return replies[hostname]


@pytest.mark.parametrize("name", GOOD_AND_BAD)
def test_entry_and_ping(request: pytest.FixtureRequest, name: str) -> None:
    bed = _bed(request, name)
    assert bed.kind == "workers"
    assert bed.entry["framework"] == "celery"
    assert bed.entry["queues"] == ["default", "emails"]
    assert bed.entry["periodic_tasks"] == ["cleanup"]
    assert bed.entry["password"].startswith("${DC_") and _password(bed) not in bed.entry["broker"]
    assert ("management_url" in bed.entry) == bed.entry["broker"].startswith("amqp://")
    # A check builds its client from the entry alone.
    started = time.monotonic()
    with inspector(_url_from_entry(bed), timeout=1.0) as inspect:
        replies = inspect.ping()
    # Reported, not asserted: a ping without ``destination`` always waits the whole timeout.
    request.node.user_properties += [("ping_round_seconds", round(time.monotonic() - started, 2)), ("startup_seconds", bed.admin["startup_seconds"])]
    assert _one_reply(replies, bed) == {"ok": "pong"}


@pytest.mark.parametrize("name", GOOD_AND_BAD)
def test_no_password_on_a_command_line(request: pytest.FixtureRequest, name: str) -> None:
    bed = _bed(request, name)
    password = _password(bed)
    pids = bed.admin["worker_pids"] + bed.admin["beat_pids"]
    assert pids
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "celery" in cmdline and password not in cmdline, cmdline


def test_inspect_conf_good_vs_bad(celery_redis_good: CeleryBed, celery_redis_bad: CeleryBed,
                                  celery_rabbitmq_good: CeleryBed, celery_rabbitmq_bad: CeleryBed) -> None:
    for bed in (celery_redis_good, celery_rabbitmq_good):
        with bed.inspect() as inspect:
            conf = _one_reply(inspect.conf(), bed)
        assert conf["task_soft_time_limit"] == 60 and conf["task_time_limit"] == 90
        assert conf["task_acks_late"] is True and conf["worker_prefetch_multiplier"] == 1
        assert conf["result_expires"] == 3600
        # Celery masks the broker password in what it reports.
        assert _password(bed) not in str(conf) and "********" in conf["broker_url"]
    for bed in (celery_redis_bad, celery_rabbitmq_bad):
        with bed.inspect() as inspect:
            changed = _one_reply(inspect.conf(), bed)
            everything = _one_reply(inspect.conf(with_defaults=True), bed)
        # Without with_defaults only changed settings come back: a missing limit means the default.
        assert "task_time_limit" not in changed and "task_soft_time_limit" not in changed
        assert everything["task_time_limit"] is None and everything["task_soft_time_limit"] is None
        assert everything["task_acks_late"] is False and everything["worker_prefetch_multiplier"] == 4
        assert changed["result_expires"] is None
        assert _password(bed) not in str(everything)


def test_stats_pool_and_prefetch(celery_redis_good: CeleryBed, celery_redis_bad: CeleryBed) -> None:
    with celery_redis_good.inspect() as inspect:
        good = _one_reply(inspect.stats(), celery_redis_good)
    with celery_redis_bad.inspect() as inspect:
        bad = _one_reply(inspect.stats(), celery_redis_bad)
    # Only the prefork pool enforces time limits: its stats carry them as "timeouts".
    assert good["pool"]["implementation"].endswith("prefork:TaskPool") and good["pool"]["timeouts"] == [60, 90]
    assert good["prefetch_count"] == 1
    assert bad["pool"]["implementation"].endswith("thread:TaskPool") and "timeouts" not in bad["pool"]
    assert bad["prefetch_count"] == 8  # default multiplier 4 x concurrency 2


@pytest.mark.parametrize(("good", "bad"), [("celery_redis_good", "celery_redis_bad"), ("celery_rabbitmq_good", "celery_rabbitmq_bad")])
def test_active_queues(request: pytest.FixtureRequest, good: str, bad: str) -> None:
    consumed = {}
    for name in (good, bad):
        bed = _bed(request, name)
        with bed.inspect() as inspect:
            consumed[name] = {queue["name"] for queue in _one_reply(inspect.active_queues(), bed)}
    assert consumed[good] == {"default", "emails"}
    assert consumed[bad] == {"default"}  # "emails" is required and nobody consumes it


def test_backlog_on_redis(celery_redis_good: CeleryBed, celery_redis_bad: CeleryBed) -> None:
    # A Celery queue on Redis is a list named after it; LLEN counts what waits (taken but
    # unacknowledged messages sit in the "unacked" hash instead).
    for bed, expected in ((celery_redis_good, 0), (celery_redis_bad, celery_redis_bad.admin["backlog"])):
        with redis.Redis.from_url(_url_from_entry(bed)) as client:
            assert client.llen("emails") == expected, bed.name
            assert client.llen("default") == 0, bed.name


def test_backlog_and_consumers_on_rabbitmq(
    rabbitmq_workers: Instance, celery_rabbitmq_good: CeleryBed, celery_rabbitmq_bad: CeleryBed,
) -> None:
    good = queue_depths(rabbitmq_workers, celery_rabbitmq_good.admin["vhost"])
    assert good["emails"] == {"messages": 0, "consumers": 1} and good["default"]["consumers"] == 1
    bad = queue_depths(rabbitmq_workers, celery_rabbitmq_bad.admin["vhost"])
    assert bad["emails"] == {"messages": celery_rabbitmq_bad.admin["backlog"], "consumers": 0}
    assert bad["default"]["consumers"] == 1


def test_rabbitmq_node_is_private(request: pytest.FixtureRequest, rabbitmq_workers: Instance) -> None:
    admin = rabbitmq_workers.admin
    request.node.user_properties.append(("startup_seconds", admin["startup_seconds"]))
    url = rabbitmq_workers.entry["management_url"]
    assert url == f"http://127.0.0.1:{admin['management_port']}"
    # The application user reads queue depth with its own password; guest does not exist.
    assert requests.get(f"{url}/api/queues/app", auth=("app", _password(rabbitmq_workers)), timeout=10).status_code == 200
    assert requests.get(f"{url}/api/overview", auth=("guest", "guest"), timeout=10).status_code == 401
    users = {user["name"] for user in management_get(rabbitmq_workers, "/api/users", admin=True)}
    assert users == {"admin", "app"}
    overview = management_get(rabbitmq_workers, "/api/overview", admin=True)
    assert overview["node"] == admin["nodename"] and overview["node"].startswith("dc-")
    listeners = {(item["protocol"], item["port"]) for item in overview["listeners"]}
    assert {("amqp", admin["amqp_port"]), ("http", admin["management_port"]), ("clustering", admin["dist_port"])} <= listeners
    assert admin["epmd"].alive()


@pytest.mark.parametrize(("name", "expected"), [("celery_redis_good", None), ("celery_redis_bad", SLEEP), ("celery_rabbitmq_bad", SLEEP)])
def test_inspect_active_shows_the_hung_task(request: pytest.FixtureRequest, name: str, expected: str | None) -> None:
    bed = _bed(request, name)
    with bed.inspect() as inspect:
        active = _one_reply(inspect.active(), bed)
        scheduled = _one_reply(inspect.scheduled(), bed)
    assert scheduled == []  # no ETA/countdown tasks waiting in the worker
    if expected is None:
        assert active == []
        return
    (task,) = active
    assert task["name"] == expected and task["id"] == bed.admin["hung_task_id"] and task["args"] == [3600]
    # time_start is a Unix timestamp: how long the task has run, what a "hung task" check compares.
    assert task["time_start"] <= time.time()


def test_redbeat_good_holds_the_lock_and_ran_recently(celery_redis_good: CeleryBed) -> None:
    url = _url_from_entry(celery_redis_good)
    with redis.Redis.from_url(url) as client:
        assert client.exists(REDBEAT_LOCK) == 1
        assert 0 < client.pttl(REDBEAT_LOCK) <= 25_000  # 5 x beat_max_loop_interval, renewed every tick
    entry = redbeat_entry(url, "cleanup")
    assert entry["enabled"] is True and entry["schedule"].run_every == timedelta(seconds=celery_redis_good.admin["periodic"][0].every)
    assert entry["total_run_count"] >= 1
    # The lock TTL is renewed every tick: a beat that holds it ran within the last tick.
    assert datetime.now(UTC) - entry["last_run_at"] < timedelta(minutes=5)


def test_redbeat_bad_is_stale_and_unlocked(celery_redis_bad: CeleryBed) -> None:
    url = _url_from_entry(celery_redis_bad)
    with redis.Redis.from_url(url) as client:
        assert client.exists(REDBEAT_LOCK) == 0  # no beat runs
    entry = redbeat_entry(url, "cleanup")
    age = datetime.now(UTC) - entry["last_run_at"]
    assert age >= STALE_AGE and age > entry["schedule"].run_every
    assert celery_redis_bad.admin["beat_pids"] == []


def test_a_second_redbeat_beat_waits_and_leaves_no_trace(celery_redis_good: CeleryBed) -> None:
    """With RedBeat a second beat is a standby: it starts, waits for the lock, sends nothing,
    and nothing in Redis names it.  "Exactly one beat" holds by construction there."""
    url = _url_from_entry(celery_redis_good)
    with redis.Redis.from_url(url) as client:
        holder = client.get(REDBEAT_LOCK)
        keys_before = set(client.keys("redbeat*"))
    standby = celery_redis_good.add_beat()
    try:
        assert standby.alive() and "beat: Acquired lock" not in standby.log.read_text()
        with redis.Redis.from_url(url) as client:
            assert client.get(REDBEAT_LOCK) == holder
            assert set(client.keys("redbeat*")) == keys_before
    finally:
        standby.stop()


def test_two_default_beats_send_each_periodic_task_twice(celery_rabbitmq_good: CeleryBed, celery_rabbitmq_bad: CeleryBed) -> None:
    """Two beats with the default scheduler show nowhere on the broker; what shows is the
    effect: each periodic task runs twice per interval (``stats.total``).  Counts are taken at
    two mid-interval moments one interval apart, where neither beat is sending."""
    beat_pids = celery_rabbitmq_bad.admin["beat_pids"]
    assert len(beat_pids) == 2 and all(os.path.exists(f"/proc/{pid}") for pid in beat_pids)
    every = celery_rabbitmq_bad.admin["periodic"][0].every

    def runs(bed: CeleryBed) -> int:
        # With destination the reply comes at once: the sampling moments stay where they are meant to be.
        with bed.inspect(destination=bed.admin["workers"]) as inspect:
            return int(_one_reply(inspect.stats(), bed)["total"].get("cleanup", 0))

    def runs_in_one_interval(bed: CeleryBed) -> int:
        first = runs(bed)
        deadline = time.monotonic() + 3 * every
        while runs(bed) == first and time.monotonic() < deadline:  # wait for a send
            time.sleep(0.2)
        time.sleep(every / 2)
        before = runs(bed)
        time.sleep(every)
        return runs(bed) - before

    with ThreadPoolExecutor(max_workers=2) as pool:
        good, bad = pool.map(runs_in_one_interval, (celery_rabbitmq_good, celery_rabbitmq_bad))
    assert (good, bad) == (1, 2)
