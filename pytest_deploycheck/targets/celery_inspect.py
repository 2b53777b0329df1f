"""Celery's own read path: remote-control ``inspect`` through the real ``celery`` library.

``inspect`` publishes a *control message* on the broker's broadcast channel (Redis: a PUBLISH on
``/0.celery.pidbox``; RabbitMQ: the ``celery.pidbox`` fanout exchange) and collects the workers'
replies from a reply queue of its own, which expires.  That is how ``celery inspect`` and Flower
see workers; it sends no task and changes no queue, setting or schedule.

One snapshot per target and run: ``ping`` waits the whole timeout (nobody knows how many
workers will answer), then ``stats``, ``conf`` (with defaults), ``active``, ``active_queues`` and
``scheduled`` go to the workers that answered and return as soon as they all have.

``celery`` is an optional dependency (``pip install 'pytest-deploycheck[celery]'``), imported only
when a Celery check runs.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pytest_deploycheck.outcomes import TargetError

INSTALL = "pip install 'pytest-deploycheck[celery]'"
#: Setting names whose values are secrets whatever they hold (Celery masks only the broker and backend URLs).
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|signature|auth", re.I)
_URL_PASSWORD = re.compile(r"(://[^/@:\s]*):[^/@\s]+@")
#: Pools that enforce task time limits (Celery's workers guide: "Time limits": prefork and gevent).
LIMIT_POOLS = ("prefork", "gevent")


def import_celery(label: str) -> Any:
    """The ``celery`` module, or a TargetError naming the extra to install."""
    try:
        import celery
    except ImportError:
        raise TargetError(f"{label}: the Celery checks need the celery library, which is not installed: {INSTALL}") from None
    return celery


def redact(value: Any, key: str = "") -> Any:
    """A conf reply with secrets masked: URL passwords anywhere, and whole values of secret-named settings."""
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        if key and _SECRET_KEY.search(key) and not key.endswith(("_url", "_backend")) and value:
            return "********"
        return _URL_PASSWORD.sub(r"\1:********@", value)
    return value


@dataclass(frozen=True)
class Worker:
    """One worker's replies."""

    hostname: str
    stats: Mapping[str, Any] = field(default_factory=dict)
    conf: Mapping[str, Any] = field(default_factory=dict)
    active: tuple[Mapping[str, Any], ...] = ()
    active_queues: tuple[str, ...] = ()
    scheduled: tuple[Mapping[str, Any], ...] = ()

    @property
    def pool(self) -> str:
        """``prefork``, ``threads``, ``gevent``, ``eventlet``, ``solo`` (from stats' pool implementation)."""
        implementation = str(self.stats.get("pool", {}).get("implementation", ""))
        module = implementation.rsplit(":", 1)[0].rsplit(".", 1)[-1]
        return {"thread": "threads", "prefork": "prefork", "gevent": "gevent", "eventlet": "eventlet", "solo": "solo"}.get(module, module or "unknown")

    @property
    def concurrency(self) -> int | None:
        value = self.stats.get("pool", {}).get("max-concurrency")
        return int(value) if isinstance(value, int) else None

    @property
    def uptime(self) -> float:
        return float(self.stats.get("uptime") or 0)

    def setting(self, name: str) -> Any:
        return self.conf.get(name)


@dataclass(frozen=True)
class Snapshot:
    """What every worker that answered said, read once per run; ``missing``: commands some worker did not answer."""

    workers: tuple[Worker, ...]
    taken_at: float
    missing: tuple[str, ...] = ()

    @property
    def hostnames(self) -> list[str]:
        return [w.hostname for w in self.workers]

    def consumers(self) -> dict[str, list[str]]:
        """Queue name -> hostnames of the workers consuming it."""
        out: dict[str, list[str]] = {}
        for worker in self.workers:
            for queue in worker.active_queues:
                out.setdefault(queue, []).append(worker.hostname)
        return out


def take_snapshot(broker_url: str, timeout: float, label: str, ssl_options: Mapping[str, Any] | None = None) -> Snapshot:
    """Ping the workers on ``broker_url``, then read the rest from those that answered."""
    celery = import_celery(label)
    app = celery.Celery("deploycheck", broker=broker_url, set_as_current=False)
    app.conf.update(broker_connection_timeout=timeout, broker_connection_retry=False, broker_connection_max_retries=0)
    if ssl_options:
        app.conf.broker_use_ssl = dict(ssl_options)
    try:
        with app.connection_for_write() as connection:
            connection.connect()  # fails here, once, on a dead or refusing broker
            ping = app.control.inspect(timeout=timeout, connection=connection).ping() or {}
            hostnames = sorted(ping)
            if not hostnames:
                return Snapshot(workers=(), taken_at=time.time())
            inspect = app.control.inspect(timeout=timeout, destination=hostnames, connection=connection)
            replies = {name: getattr(inspect, name)() or {} for name in ("stats", "active", "active_queues", "scheduled")}
            replies["conf"] = inspect.conf(with_defaults=True) or {}
    finally:
        close_app(app)
    missing = sorted({f"{name} ({host})" for name, reply in replies.items() for host in hostnames if host not in reply})
    workers = tuple(
        Worker(
            hostname=host,
            stats=replies["stats"].get(host) or {},
            conf=redact(replies["conf"].get(host) or {}),
            active=tuple(replies["active"].get(host) or ()),
            active_queues=tuple(str(q.get("name")) for q in replies["active_queues"].get(host) or () if isinstance(q, Mapping)),
            scheduled=tuple(replies["scheduled"].get(host) or ()),
        )
        for host in hostnames
    )
    return Snapshot(workers=workers, taken_at=time.time(), missing=tuple(missing))


def close_app(app: Any) -> None:
    """Close what a client app opened.  ``Celery.close()`` only forgets its pools, and those are
    kombu's process-wide pools keyed by broker URL: the producer every broadcast borrows would keep
    its connection open for the rest of the run.  Closing and dropping this URL's pools closes it now."""
    from kombu import pools
    from kombu.utils.collections import eqhash

    with contextlib.suppress(Exception), app.connection_for_write() as connection:
        key = eqhash(connection)  # type: ignore[no-untyped-call]  # kombu ships no type hints
        for group in (pools.producers, pools.connections):
            pool = group.pop(key, None)
            if pool is not None:
                pool.force_close_all()
    app.close()


def connection_errors(label: str) -> tuple[type[BaseException], ...]:
    """The errors that mean the broker could not be reached or refused us (for ``reach.guard``)."""
    import_celery(label)
    from kombu.exceptions import OperationalError

    errors: list[type[BaseException]] = [OperationalError, ConnectionError, TimeoutError]
    with contextlib.suppress(ImportError):
        import amqp.exceptions

        errors.append(amqp.exceptions.AMQPError)
    with contextlib.suppress(ImportError):
        import redis

        errors.append(redis.exceptions.ConnectionError)
    return tuple(errors)


_TIMEDELTA = re.compile(r"^(?:(?P<days>-?\d+) days?, )?(?P<h>\d+):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$")


def parse_interval(value: Any) -> float | None:
    """Seconds of an interval schedule as ``inspect conf`` renders it (``"0:00:10"``, ``"1 day, 0:00:00"``,
    ``10.0``, ``"<freq: 10.00 seconds>"``); None for a crontab or anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    text = str(value).strip()
    match = _TIMEDELTA.match(text)
    if match:
        days = int(match.group("days") or 0)
        return timedelta(days=days, hours=int(match.group("h")), minutes=int(match.group("m")), seconds=float(match.group("s"))).total_seconds()
    freq = re.match(r"^<freq: ([\d.]+) (seconds|minutes|hours|days)>$", text)
    if freq:
        return float(freq.group(1)) * {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}[freq.group(2)]
    return None


def beat_intervals(workers: Iterator[Worker] | tuple[Worker, ...]) -> dict[str, tuple[str, float | None]]:
    """Schedule name -> (task, interval seconds or None) from the workers' ``beat_schedule`` setting
    (the same app module configures worker and beat in most deployments)."""
    out: dict[str, tuple[str, float | None]] = {}
    for worker in workers:
        schedule = worker.setting("beat_schedule")
        if isinstance(schedule, Mapping):
            for name, spec in schedule.items():
                if isinstance(spec, Mapping):
                    out.setdefault(str(name), (str(spec.get("task", name)), parse_interval(spec.get("schedule"))))
    return out
