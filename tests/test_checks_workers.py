"""The background-workers catalog (checks/test_workers.py) against real workers: Celery on Redis and
on RabbitMQ, BullMQ and Sidekiq on Redis, each good and bad (tests/servers/celery_bed.py, bullmq.py,
sidekiq.py).

One catalog run covers the four Celery setups, one the two BullMQ ones, one the two Sidekiq ones.  The bad setups' defects
are listed in the launchers' docstrings; the expectations below say which check sees which.
"""

from __future__ import annotations

import pickle
import shelve
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.celery_schedule import schedule_file_entries
from tests.servers.base import Instance, wait_until
from tests.servers.celery_bed import CeleryBed
from tests.servers.certs import TestCA
from tests.servers.inventory import CatalogRun, run_catalog

#: The hung task of the bad setups has run a few seconds when the catalog runs, not an hour:
#: the test lowers the threshold that judges it rather than wait.
HUNG_MAX_S = 5
#: Seconds of worker uptime wrk-10 needs before judging the default scheduler by rate (3 intervals of 5 s).
RATE_UPTIME_S = 16

CELERY_EXPECTED: dict[str, dict[str, str]] = {
    # check: {target: outcome}; targets are the fixtures' names
    "wrk-01": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
    "wrk-02": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
    "wrk-03": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
    "wrk-04": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
    "wrk-05": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
    "wrk-06": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
    # Redis does not dead-letter: n/a there, said so.
    "wrk-07": {"redis-good": "n/a", "redis-bad": "n/a", "rabbit-good": "passed", "rabbit-bad": "failed"},
    "wrk-08": {"redis-good": "n/a", "redis-bad": "n/a", "rabbit-good": "passed", "rabbit-bad": "failed"},
    "wrk-09": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
    # RedBeat: the lock; default scheduler: the rate over the workers' uptime (two beats send twice).
    "wrk-10": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
    # The RabbitMQ bad setup's beats both run, so its schedule is fresh: only Redis bad is stale.
    "wrk-11": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "passed"},
    # No result backend on the RabbitMQ setups: nothing to expire.
    "wrk-12": {"redis-good": "passed", "redis-bad": "failed", "rabbit-good": "n/a", "rabbit-bad": "n/a"},
    # An active probe: off without active_probes (test_guest_login_probe turns it on).
    "wrk-13": {"redis-good": "n/a", "redis-bad": "n/a", "rabbit-good": "n/a", "rabbit-bad": "n/a"},
    # The good RabbitMQ setup is read over the node's TLS listener (amqps://); the others are plaintext.
    "wrk-14": {"redis-good": "failed", "redis-bad": "failed", "rabbit-good": "passed", "rabbit-bad": "failed"},
}

BULLMQ_EXPECTED: dict[str, dict[str, str]] = {
    "wrk-01": {"bull-good": "passed", "bull-bad": "failed"},
    "wrk-02": {"bull-good": "passed", "bull-bad": "failed"},
    "wrk-06": {"bull-good": "passed", "bull-bad": "failed"},
    "wrk-07": {"bull-good": "passed", "bull-bad": "failed"},
    "wrk-08": {"bull-good": "n/a", "bull-bad": "n/a"},
    "wrk-09": {"bull-good": "passed", "bull-bad": "failed"},
    **{check: {"bull-good": "n/a", "bull-bad": "n/a"} for check in ("wrk-03", "wrk-04", "wrk-05", "wrk-10", "wrk-11", "wrk-12", "wrk-13")},
    "wrk-14": {"bull-good": "failed", "bull-bad": "failed"},  # redis:// on loopback: plaintext all the same
}

SIDEKIQ_EXPECTED: dict[str, dict[str, str]] = {
    **{check: {"kiq-good": "passed", "kiq-bad": "failed"} for check in ("wrk-01", "wrk-02", "wrk-06", "wrk-07", "wrk-09")},
    **{check: {"kiq-good": "n/a", "kiq-bad": "n/a"} for check in ("wrk-03", "wrk-04", "wrk-05", "wrk-08", "wrk-10", "wrk-11", "wrk-12",
                                                                 "wrk-13")},
    "wrk-14": {"kiq-good": "failed", "kiq-bad": "failed"},
}


def _as(instance: Instance, name: str, **entry: Any) -> Instance:
    """The instance under another inventory name (server=None: stopping it is not ours)."""
    return Instance(name=name, kind="workers", entry={**instance.entry, **entry}, env=dict(instance.env), server=None)


def _uptime(bed: CeleryBed) -> float:
    with bed.inspect(timeout=2.0, destination=bed.admin["workers"]) as inspect:
        replies = inspect.stats() or {}
    return float(next(iter(replies.values()), {}).get("uptime", 0))


def _assert_outcomes(run: CatalogRun, expected: dict[str, dict[str, str]]) -> None:
    wrong = {}
    for check, targets in expected.items():
        for target, outcome in targets.items():
            got = run.outcome(check, target)
            if got != outcome:
                wrong[(check, target)] = (got, outcome, run.message(check, target))
            elif outcome == "failed":
                message = run.message(check, target)
                assert message.startswith(f"{target} (") and "; expected " in message, message
    assert not wrong, wrong


def test_celery_catalog(pytester: pytest.Pytester, celery_redis_good: CeleryBed, celery_redis_bad: CeleryBed,
                        celery_rabbitmq_good: CeleryBed, celery_rabbitmq_bad: CeleryBed, rabbitmq_workers: Instance) -> None:
    beds = {"redis-good": celery_redis_good, "redis-bad": celery_redis_bad, "rabbit-good": celery_rabbitmq_good, "rabbit-bad": celery_rabbitmq_bad}
    # wrk-10 judges the default scheduler by rate: it needs three intervals of worker uptime.
    for bed in (celery_rabbitmq_good, celery_rabbitmq_bad):
        wait_until(lambda bed=bed: _uptime(bed) >= RATE_UPTIME_S, 60, f"{bed.name} to be up {RATE_UPTIME_S}s")
    targets = [_as(bed, name, timeout=3, thresholds={"task_hung_max_s": HUNG_MAX_S}) for name, bed in beds.items() if name != "rabbit-good"]
    targets.append(_amqps(celery_rabbitmq_good, rabbitmq_workers, "rabbit-good", timeout=3, thresholds={"task_hung_max_s": HUNG_MAX_S}))
    run = run_catalog(pytester, "test_workers.py", targets=targets)
    _assert_outcomes(run, CELERY_EXPECTED)

    # Each failure names its defect.
    assert "1 worker(s) answered ping" in run.message("wrk-01", "redis-bad")
    assert "no consumer for queue(s) emails" in run.message("wrk-02", "rabbit-bad")
    assert "task_time_limit=None" in run.message("wrk-03", "redis-bad") and "threads pool" in run.message("wrk-03", "redis-bad")
    assert "emails: 150 messages ready" in run.message("wrk-06", "rabbit-bad")
    assert "dead_letters: 3 messages" in run.message("wrk-07", "rabbit-bad")
    assert "queue(s) emails" in run.message("wrk-08", "rabbit-bad")
    assert "sleep" in run.message("wrk-09", "redis-bad") and "task_hung_max_s" in run.message("wrk-09", "redis-bad")
    assert "RedBeat lock redbeat::lock" in run.message("wrk-10", "redis-bad")
    assert "a second beat is running" in run.message("wrk-10", "rabbit-bad")
    assert "cleanup (every 5s)" in run.message("wrk-11", "redis-bad") and "overdue by" in run.message("wrk-11", "redis-bad")
    assert "result_expires=None" in run.message("wrk-12", "redis-bad")
    assert "does not dead-letter" in run.message("wrk-07", "redis-good")

    # The evidence holds what was judged, and no password anywhere.
    rates = run.evidence("wrk-10", "rabbit-bad")["rates"]["cleanup"]
    assert rates["runs"] > rates["allowed"] and rates["every_s"] == 5
    assert run.evidence("wrk-02", "redis-good")["consumers"]["emails"] == celery_redis_good.admin["workers"]
    entries = run.evidence("wrk-11", "rabbit-good")["entries"]
    assert entries["cleanup"]["schedule"] == "every 5s" and entries["cleanup"]["last_run_at"]
    passwords = [value for bed in beds.values() for value in bed.env.values()]
    for result in run.summary.results:
        assert not any(p in str(result.message) or p in str(result.evidence) for p in passwords), result.check_id


def test_bullmq_checks(pytester: pytest.Pytester, bullmq_good: Instance, bullmq_bad: Instance) -> None:
    run = run_catalog(pytester, "test_workers.py", targets=[_as(bullmq_good, "bull-good"), _as(bullmq_bad, "bull-bad")])
    _assert_outcomes(run, BULLMQ_EXPECTED)
    assert "queue(s) emails, reminders, reports" in run.message("wrk-02", "bull-bad")
    backlog = run.message("wrk-06", "bull-bad")
    assert "oldest waiting job is 3600s old" in backlog or "oldest waiting job is 360" in backlog
    assert "queue reminders: 2 delayed job(s) overdue" in backlog
    assert "queue thumbnails: 4 failed jobs" in run.message("wrk-07", "bull-bad") and "unsupported input" in run.message("wrk-07", "bull-bad")
    assert "queue reports: 1 active job(s) without a lock" in run.message("wrk-09", "bull-bad")


def test_sidekiq_checks(pytester: pytest.Pytester, sidekiq_good: Instance, sidekiq_bad: Instance) -> None:
    run = run_catalog(pytester, "test_workers.py", targets=[_as(sidekiq_good, "kiq-good"), _as(sidekiq_bad, "kiq-bad")])
    _assert_outcomes(run, SIDEKIQ_EXPECTED)
    assert "1 Sidekiq process(es) with a heartbeat in the last 60s taking jobs" in run.message("wrk-01", "kiq-bad")
    assert "; quiet: " in run.message("wrk-01", "kiq-bad")  # heartbeats, but told to stop
    quiet = [p for p, v in run.evidence("wrk-01", "kiq-bad")["processes"].items() if v["quiet"]]
    assert len(quiet) == 1 and run.evidence("wrk-01", "kiq-bad")["processes"][quiet[0]]["queues"] == ["mailers"]
    assert run.message("wrk-01", "kiq-bad").endswith("; expected >= 2 (workers)")
    assert "no consumer for queue(s) mailers" in run.message("wrk-02", "kiq-bad")
    assert run.evidence("wrk-02", "kiq-good")["consumers"] == {q: [p] for q in ("default", "mailers")
                                                               for p in run.evidence("wrk-01", "kiq-good")["processes"]}
    backlog = run.message("wrk-06", "kiq-bad")
    assert "mailers: oldest job waiting 36" in backlog and "jobs waiting" not in backlog  # 30 jobs, under 100, but an hour old
    assert run.evidence("wrk-06", "kiq-bad")["queues"]["mailers"]["size"] == 30
    assert run.evidence("wrk-06", "kiq-good")["scheduled"] == 1  # tomorrow's digest is no backlog
    dead = run.message("wrk-07", "kiq-bad")
    assert "4 job(s) in the dead set (latest: ThumbnailJob ArgumentError: cannot decode image" in dead
    assert "ReportJob" in run.message("wrk-09", "kiq-bad") and "on reports running for" in run.message("wrk-09", "kiq-bad")
    assert "Sidekiq has no job time limit" in run.message("wrk-03", "kiq-good")
    assert "dead set (wrk-07)" in run.message("wrk-08", "kiq-good")
    assert "names no periodic_tasks" in run.message("wrk-11", "kiq-good")
    # Periodic jobs it cannot read are an error, never a pass or n/a.
    cron = run_catalog(pytester, "test_workers.py", targets=[_as(sidekiq_good, "kiq-cron", periodic_tasks=["nightly_report"])],
                       args=["-k", "one_beat or periodic_tasks"])
    assert cron.outcome("wrk-10", "kiq-cron") == cron.outcome("wrk-11", "kiq-cron") == "error"
    assert "Sidekiq's periodic jobs (nightly_report) are kept by sidekiq-cron" in cron.message("wrk-11", "kiq-cron")
    for result in run.summary.results:
        assert not any(p in str(result.message) or p in str(result.evidence) for p in (*sidekiq_good.env.values(), *sidekiq_bad.env.values()))


def test_guest_login_probe(pytester: pytest.Pytester, celery_rabbitmq_good: CeleryBed, celery_redis_good: CeleryBed,
                           rabbitmq_workers: Instance) -> None:
    """wrk-13 logs in once as guest/guest: refused on the test bed's node (no guest user), accepted
    once a guest user with RabbitMQ's default password and rights exists."""
    targets = [_as(celery_rabbitmq_good, "rabbit"), _as(celery_redis_good, "redis")]
    run = run_catalog(pytester, "test_workers.py", targets=targets, args=["-k", "guest"], active_probes=True)
    assert (run.outcome("wrk-13", "rabbit"), run.outcome("wrk-13", "redis")) == ("passed", "n/a")
    assert run.evidence("wrk-13", "rabbit") == {"login": "guest/guest", "vhost": "/", "answer": "refused"}
    assert "a Redis broker has no guest account" in run.message("wrk-13", "redis")

    admin = (rabbitmq_workers.admin["user"], rabbitmq_workers.admin["password"])
    api = rabbitmq_workers.admin["management_url"]
    label = f"rabbit ({celery_rabbitmq_good.entry['broker']})"
    # The test bed's node has no vhost "/": a guest user authenticates, then is refused the vhost.
    requests.put(f"{api}/api/users/guest", json={"password": "guest", "tags": "administrator"}, auth=admin, timeout=10).raise_for_status()
    try:
        no_vhost = run_catalog(pytester, "test_workers.py", targets=targets[:1], args=["-k", "guest"], active_probes=True)
        requests.put(f"{api}/api/vhosts/%2F", auth=admin, timeout=10).raise_for_status()
        requests.put(f"{api}/api/permissions/%2F/guest", json={"configure": ".*", "write": ".*", "read": ".*"}, auth=admin,
                     timeout=10).raise_for_status()
        run = run_catalog(pytester, "test_workers.py", targets=targets[:1], args=["-k", "guest"], active_probes=True)
    finally:
        requests.delete(f"{api}/api/users/guest", auth=admin, timeout=10)
        requests.delete(f"{api}/api/vhosts/%2F", auth=admin, timeout=10)
    assert no_vhost.message("wrk-13", "rabbit") == (
        f"{label}: the login guest/guest was accepted; vhost refused; expected guest/guest refused (delete the guest user)")
    assert run.outcome("wrk-13", "rabbit") == "failed"
    assert run.message("wrk-13", "rabbit") == f"{label}: the login guest/guest was accepted; expected guest/guest refused (delete the guest user)"
    # Without the probe switched on nothing is sent: n/a, saying so.
    off = run_catalog(pytester, "test_workers.py", targets=targets[:1], args=["-k", "guest"])
    assert off.outcome("wrk-13", "rabbit") == "n/a" and "active probe" in off.message("wrk-13", "rabbit")


def _amqps(bed: CeleryBed, node: Instance, name: str, **entry: Any) -> Instance:
    """``bed`` reached over the node's TLS listener: amqps://, its vhost, trusting the node's CA."""
    parts = urllib.parse.urlsplit(bed.entry["broker"])
    url = urllib.parse.urlunsplit(parts._replace(scheme="amqps", netloc=f"{parts.username}@{parts.hostname}:{node.admin['tls_port']}"))
    return _as(bed, name, broker=url, **{"ca_bundle": node.admin["ca_file"], **entry})


def test_broker_tls(pytester: pytest.Pytester, celery_rabbitmq_good: CeleryBed, celery_redis_good: CeleryBed,
                    rabbitmq_workers: Instance, tmp_path: Path) -> None:
    """wrk-14: amqps:// with the node's certificate verified passes; the same broker over amqp://,
    or over amqps:// without trusting its CA, or amqps:// to the plain port, fails; so does redis://."""
    other_ca = TestCA.create(tmp_path / "other-ca")  # a CA the node's certificate does not chain to
    targets = [
        _amqps(celery_rabbitmq_good, rabbitmq_workers, "rabbit-tls", timeout=3),
        _as(celery_rabbitmq_good, "rabbit-plain"),
        _amqps(celery_rabbitmq_good, rabbitmq_workers, "rabbit-untrusted", ca_bundle=str(other_ca.ca_file)),
        _as(celery_rabbitmq_good, "rabbit-wrong-port", broker=celery_rabbitmq_good.entry["broker"].replace("amqp://", "amqps://"),
            ca_bundle=rabbitmq_workers.admin["ca_file"]),
        _as(celery_redis_good, "redis-plain"),
    ]
    run = run_catalog(pytester, "test_workers.py", targets=targets, args=["-k", "broker_tls"])
    assert run.outcome("wrk-14", "rabbit-tls") == "passed", run.message("wrk-14", "rabbit-tls")
    seen = run.evidence("wrk-14", "rabbit-tls")
    assert seen["scheme"] == "amqps" and seen["version"] in ("TLSv1.2", "TLSv1.3") and "deploycheck test CA" in seen["issuer"]
    assert run.outcome("wrk-14", "rabbit-plain") == "failed"
    assert "the workers reach the broker over plaintext amqp://; expected amqps:// or rediss://" in run.message("wrk-14", "rabbit-plain")
    assert run.outcome("wrk-14", "rabbit-untrusted") == "failed"
    assert "the broker's certificate does not verify: " in run.message("wrk-14", "rabbit-untrusted")
    assert run.outcome("wrk-14", "rabbit-wrong-port") == "failed"
    assert "no TLS 1.2+ handshake with the broker" in run.message("wrk-14", "rabbit-wrong-port")
    assert run.outcome("wrk-14", "redis-plain") == "failed"
    assert "plaintext redis://" in run.message("wrk-14", "redis-plain")


def test_a_dead_broker_is_one_error(pytester: pytest.Pytester) -> None:
    dead = Instance(name="dead", kind="workers", entry={"broker": "redis://app@127.0.0.1:1/0", "framework": "celery", "queues": ["default"],
                                                         "timeout": 1}, env={}, server=None)
    run = run_catalog(pytester, "test_workers.py", targets=[dead], args=["-k", "wrk_01 or workers_answer or queues_consumed"])
    assert run.outcome("wrk-01", "dead") == "error"
    assert "connection refused" in run.message("wrk-01", "dead")


def test_without_celery_the_error_names_the_extra(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, celery_redis_good: CeleryBed) -> None:
    monkeypatch.setitem(sys.modules, "celery", None)  # import celery now raises ImportError
    run = run_catalog(pytester, "test_workers.py", targets=[_as(celery_redis_good, "no-celery", timeout=1)], args=["-k", "workers_answer"])
    assert run.outcome("wrk-01", "no-celery") == "error"
    assert "pip install 'pytest-deploycheck[celery]'" in run.message("wrk-01", "no-celery")


def test_a_schedule_file_is_never_code(tmp_path: Path) -> None:
    """The schedule file is unpickled with an allow-list: a file that would run a command does not."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            import os

            return os.system, (f"touch {marker}",)

    path = tmp_path / "celerybeat-schedule"
    with shelve.open(str(path), protocol=pickle.HIGHEST_PROTOCOL) as shelf:
        shelf["entries"] = {"cleanup": Evil()}
    with pytest.raises(pickle.UnpicklingError, match="does not load"):
        schedule_file_entries(path)
    assert not marker.exists()
    assert issubclass(pickle.UnpicklingError, Exception) and not issubclass(pickle.UnpicklingError, TargetError)


@pytest.mark.parametrize(("entry", "problem"), [
    ({"broker": "amqp://app@rabbit:5672/shop", "framework": "bullmq"}, "BullMQ runs on Redis"),
    ({"broker": "amqp://app@rabbit:5672/shop", "framework": "sidekiq"}, "Sidekiq runs on Redis"),
    ({"broker": "redis://app@cache/0", "framework": "sidekiq", "worker_cpus": 4}, "read for Celery workers only"),
    ({"broker": "http://rabbit:15672"}, "not a broker deploycheck reads"),
    ({"broker": "amqp://app@rabbit/shop", "periodic_tasks": ["cleanup"]}, "add schedule_file"),
    ({"broker": "amqp://app@rabbit/shop", "scheduler": "redbeat", "schedule_file": "x"}, "RedBeat keeps its schedule in Redis"),
    ({"broker": "redis://app:hunter2@cache/0"}, "holds a password written in the file"),
    ({"broker": "redis://app@cache/0", "management_url": "http://cache:15672"}, "a Redis broker is read directly"),
])
def test_inventory_rules(tmp_path: Path, entry: dict[str, Any], problem: str) -> None:
    from pytest_deploycheck.inventory import load_inventory
    from tests.servers.inventory import write_inventory

    path = write_inventory(tmp_path / "inventory.yml", [Instance(name="jobs", kind="workers", entry=entry, env={}, server=None)])
    with pytest.raises(pytest.UsageError, match=problem):
        load_inventory(path, environ={})


def test_sidekiq_timestamps_in_seconds_or_milliseconds() -> None:
    """Sidekiq up to 7 writes epoch seconds (floats), Sidekiq 8 integer milliseconds."""
    from pytest_deploycheck.targets import sidekiq_keys

    assert sidekiq_keys._seconds("1796044984.5") == 1796044984.5
    assert sidekiq_keys._seconds(1796044984123) == 1796044984.123
    assert sidekiq_keys._seconds(None) is None and sidekiq_keys._seconds("soon") is None
