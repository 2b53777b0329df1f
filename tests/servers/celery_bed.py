"""Celery for the test bed: workers and beats on a real broker (Redis or RabbitMQ), good or bad.

Each setup runs ``tests.servers.celery_app`` as plain processes (``python -m celery -A ...``),
configured only through the environment: the broker URL with its password is in
``DC_CELERY_BROKER_URL``, never on a command line that ``ps`` shows.

``good``
    soft and hard task time limits, ``task_acks_late`` with ``worker_prefetch_multiplier=1``,
    ``result_expires`` of one hour (on Redis the results go to the broker's Redis), every
    required queue (``default``, ``emails``) consumed by a prefork worker of one process (the pool
    that enforces time limits), and exactly one beat whose periodic task ``cleanup`` (every 5 s)
    has run.  On RabbitMQ a policy dead-letters both queues to the fanout exchange ``dlx``, bound
    to the empty queue ``dead_letters``.  On Redis the beat uses RedBeat, which keeps each
    entry (``redbeat:<name>``: definition and ``last_run_at``) and its lock (``redbeat::lock``)
    in Redis, so "one beat holds the lock" and "last run not older than its interval" are
    readable there; on RabbitMQ it is Celery's default PersistentScheduler (a local file).
``bad``
    no time limits, acks on receipt with the default prefetch, a pool of two threads (over the
    one CPU the entry declares), results that never expire (``result_expires: null``), ``emails``
    with no consumer and a backlog of ``BACKLOG`` messages in it, an entry that expects two
    workers where one runs, a task running far past any sane limit (visible in ``inspect
    active``); on RabbitMQ ``emails`` has no dead-letter route and ``dead_letters`` holds
    ``DEAD_LETTERS`` messages the worker rejected from ``default``; and broken periodic
    scheduling: on Redis the RedBeat entries are stale (``last_run_at`` an hour ago) and no beat
    holds the lock (the beat died); on RabbitMQ two beats with the default scheduler run side by
    side, so each periodic task is sent twice per interval.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import string
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from celery import Celery
from celery.app.control import Inspect

from pytest_deploycheck.targets.celery_inspect import close_app
from tests.servers.base import Instance, LauncherError, ServerProcess, env_name, make_tempdir, wait_until
from tests.servers.celery_app import CLEANUP, REJECT, SEND_EMAIL, SLEEP
from tests.servers.inventory import REPO

Variant = Literal["good", "bad"]
Scheduler = Literal["redbeat", "persistent"]

REQUIRED_QUEUES = ("default", "emails")

#: What a good deployment sets.  The hard limit is above the soft one so a task can clean up
#: after SoftTimeLimitExceeded; beat_max_loop_interval keeps RedBeat's lock TTL short (5 x 5 s),
#: so a dead beat's lock expires quickly and a standby can take over.
GOOD_SETTINGS: dict[str, Any] = {
    "task_soft_time_limit": 60,
    "task_time_limit": 90,
    "task_acks_late": True,
    "worker_prefetch_multiplier": 1,
    "result_expires": 3600,
    "beat_max_loop_interval": 5,
}
#: Celery's defaults for everything else: no time limits, acks on receipt, prefetch 4.
BAD_SETTINGS: dict[str, Any] = {"result_expires": None}

#: The hung task of ``bad``: far longer than any test session.
HUNG_SECONDS = 3600
#: The backlog of ``bad``: above the catalog's default ``queue_backlog_max`` (100).
BACKLOG = 150
#: Messages of ``bad`` on RabbitMQ that its worker rejects and the broker dead-letters.
DEAD_LETTERS = 3
#: The dead-letter exchange (fanout) and the queue bound to it, on RabbitMQ.
DLX = "dlx"
DEAD_LETTER_QUEUE = "dead_letters"

#: How old the stale RedBeat entries of ``bad`` are.
STALE_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class Periodic:
    """A periodic task beat sends: ``task`` every ``every`` seconds."""

    name: str
    task: str
    every: float
    queue: str = "default"


#: Every 5 s: short enough that a rate judged over the workers' uptime (two beats send twice as
#: often) has several intervals to go on within a test session.
DEFAULT_PERIODIC = (Periodic("cleanup", CLEANUP, 5.0),)


@dataclass
class CeleryBed(Instance):
    """A Celery setup: its workers and beats (each a ServerProcess) on one broker.

    ``admin`` holds ``broker_url`` (with the password: for tests only), ``workers``
    (hostnames), ``scheduler``, ``beat_pids``, ``worker_pids``, ``hung_task_id``, ``backlog``,
    ``startup_seconds``, ``settings`` (what DC_CELERY_SETTINGS held) and, on RabbitMQ, ``vhost``.
    """

    processes: list[ServerProcess] = field(default_factory=list)
    workdir: Path | None = None
    make_beat: Callable[[int], ServerProcess] | None = None
    beat_ready: Callable[[ServerProcess], Callable[[], bool]] | None = None

    def add_beat(self, timeout: float = 60.0) -> ServerProcess:
        """Start one more beat on this setup (with RedBeat: a standby waiting for the lock) and
        return it; it is stopped with the setup, or earlier by ``proc.stop()``."""
        assert self.make_beat is not None and self.beat_ready is not None
        proc = self.make_beat(len(self.processes) + 1)
        self.processes.append(proc)
        return proc.start(self.beat_ready(proc), timeout)

    def stop(self) -> None:
        # All at once: beats exit on SIGTERM (RedBeat releasing its lock), workers on SIGQUIT;
        # a worker stuck in the hung task is killed after a short grace.
        with ThreadPoolExecutor(max_workers=max(1, len(self.processes))) as pool:
            list(pool.map(lambda proc: proc.stop(timeout=3.0 if proc.stop_signal == signal.SIGQUIT else 10.0), self.processes))
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def inspect(self, timeout: float = 1.0, destination: Sequence[str] | None = None) -> contextlib.AbstractContextManager[Inspect]:
        """``with bed.inspect() as inspect:``: see ``inspector``."""
        return inspector(self.admin["broker_url"], timeout, destination)


def client_app(broker_url: str) -> Celery:
    """A bare Celery app on ``broker_url``: no tasks, no settings; what ``control.inspect`` needs."""
    return Celery("deploycheck_probe", broker=broker_url, set_as_current=False)


@contextlib.contextmanager
def inspector(broker_url: str, timeout: float = 1.0, destination: Sequence[str] | None = None) -> Iterator[Inspect]:
    """``celery.app.control.Inspect`` on one broker connection that is closed afterwards, as a
    check would use it::

        with inspector(url, timeout=1.0) as inspect:
            replies = inspect.ping()        # {hostname: {"ok": "pong"}} or None

    Without ``destination`` each call waits the whole ``timeout`` (nobody knows how many workers
    will answer); with it, a call returns as soon as every named worker answered.
    """
    app = client_app(broker_url)
    try:
        with app.connection_for_write() as connection:
            yield app.control.inspect(timeout=timeout, destination=list(destination) if destination else None, connection=connection)
    finally:
        close_app(app)


def send_tasks(broker_url: str, name: str, args_list: Sequence[Sequence[Any]], queue: str) -> list[str]:
    """Publish one ``name`` task message per args to ``queue`` on one connection; return the ids."""
    app = client_app(broker_url)
    try:
        with app.connection_for_write() as connection, connection.Producer() as producer:
            return [app.send_task(name, args=list(args), queue=queue, producer=producer).id for args in args_list]
    finally:
        close_app(app)


def launch_celery(
    variant: Variant,
    broker: Instance,
    name: str | None = None,
    *,
    vhost: str | None = None,
    scheduler: Scheduler | None = None,
    beats: int | None = None,
    consumed: Sequence[str] | None = None,
    backlog: int | None = None,
    hung_task: bool | None = None,
    periodic: Sequence[Periodic] = DEFAULT_PERIODIC,
    timeout: float = 90.0,
) -> CeleryBed:
    """Start a Celery setup configured as ``variant`` on ``broker`` and return its inventory entry.

    ``broker`` is a ``launch_redis(..., role="broker")`` instance or a ``launch_rabbitmq``
    instance; for RabbitMQ, ``vhost`` (created if missing, default ``celery-<variant>``) keeps
    this setup apart from others on the same node.  Every keyword left ``None`` takes the
    variant's value (see the module docstring): ``scheduler`` (``redbeat`` on Redis,
    ``persistent`` on RabbitMQ), ``beats`` (good 1; bad 0 with RedBeat, 2 otherwise),
    ``consumed`` queues (good all of ``REQUIRED_QUEUES``, bad ``default`` only), ``backlog``
    (bad: ``BACKLOG`` ``send_email`` messages on ``emails``), ``hung_task`` (bad: one ``sleep(3600)``).

    ``entry`` (kind ``workers``): ``broker`` (URL without password), ``password`` as
    ``${DC_<NAME>_PASSWORD}``, ``framework: celery``, ``queues`` (the required ones),
    ``periodic_tasks`` (names), ``workers`` (expected: good 1, bad 2), ``worker_cpus`` (1) and,
    on RabbitMQ, ``management_url`` and ``schedule_file`` (the first beat's schedule file).
    """
    started = time.monotonic()
    good = variant == "good"
    name = name or f"celery-{broker.kind}-{variant}"
    rabbit = broker.kind == "rabbitmq"
    scheduler = scheduler or ("persistent" if rabbit else "redbeat")
    if scheduler == "redbeat" and rabbit:
        raise LauncherError("RedBeat keeps its schedule in Redis: use scheduler='persistent' on RabbitMQ")
    beats = beats if beats is not None else (1 if good else (0 if scheduler == "redbeat" else 2))
    consumed = list(consumed if consumed is not None else (REQUIRED_QUEUES if good else ("default",)))
    backlog = backlog if backlog is not None else (0 if good else BACKLOG)
    hung_task = hung_task if hung_task is not None else not good

    public_url, password = _broker_url(broker, vhost or f"celery-{variant}")
    secret_url = _with_password(public_url, password)
    settings = dict(GOOD_SETTINGS if good else BAD_SETTINGS)
    schedule = {p.name: {"task": p.task, "every": p.every, "queue": p.queue} for p in periodic}
    env = {
        "DC_CELERY_BROKER_URL": secret_url,
        # On Redis the results go to the broker's Redis, where result_expires decides how long they stay.
        **({} if rabbit else {"DC_CELERY_RESULT_BACKEND": secret_url}),
        "DC_CELERY_SETTINGS": json.dumps(settings),
        "DC_CELERY_SCHEDULE": json.dumps(schedule),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }
    workdir = make_tempdir(name)
    token = secrets.token_hex(3)
    hostname = f"worker1@{name}-{token}"
    worker = ServerProcess(
        name=f"{name}-worker", workdir=_subdir(workdir, "worker"), log=workdir / "worker.log", env=env,
        argv=[
            sys.executable, "-m", "celery", "-A", "tests.servers.celery_app", "worker",
            f"--hostname={hostname}", "--loglevel=INFO", f"--queues={','.join(consumed)}",
            # prefork is the pool that enforces time limits; bad runs threads, as a team that
            # "just wanted it lighter" would: two threads so the hung task does not stop the rest.
            *(["--pool=prefork", "--concurrency=1"] if good else ["--pool=threads", "--concurrency=2"]),
            # Mingle and gossip only slow the start of a one-worker setup.
            "--without-mingle", "--without-gossip",
        ],
        # Cold shutdown: a warm one would wait for the hung task.
        stop_signal=signal.SIGQUIT,
    )
    def make_beat(i: int) -> ServerProcess:
        return ServerProcess(
            name=f"{name}-beat{i}", workdir=_subdir(workdir, f"beat{i}"), log=workdir / f"beat{i}.log",
            # Only beats get redbeat_redis_url: ``inspect conf`` would show a worker's unmasked.
            env={**env, "DC_CELERY_SETTINGS": json.dumps({**settings, "redbeat_redis_url": secret_url})} if scheduler == "redbeat" else env,
            argv=[
                sys.executable, "-m", "celery", "-A", "tests.servers.celery_app", "beat", "--loglevel=INFO",
                # The default scheduler keeps last runs in a local file: one per beat.
                "--scheduler=redbeat.RedBeatScheduler" if scheduler == "redbeat" else f"--schedule={workdir / f'beat{i}' / 'schedule'}",
            ],
        )

    beat_procs = [make_beat(i) for i in range(1, beats + 1)]

    processes = [*beat_procs, worker]
    bed = CeleryBed(
        name=name, kind="workers", entry={}, env={}, server=None, processes=processes, workdir=workdir,
        make_beat=make_beat, beat_ready=lambda proc: _beat_ready(proc, scheduler, secret_url, periodic, first=False),
    )
    try:
        if rabbit:
            # Good: both required queues dead-letter; bad: only ``default`` does.
            _dead_letter_policy(broker, urlsplit(public_url).path.lstrip("/"), REQUIRED_QUEUES if good else ("default",))
        if scheduler == "redbeat":
            _seed_redbeat(secret_url, periodic, None if beats else STALE_AGE)
        if backlog:
            # Sent before the worker starts, as a producer would while no one consumes ``emails``.
            send_tasks(secret_url, SEND_EMAIL, [[f"user{i}@example.com"] for i in range(backlog)], queue="emails")
        # The worker and the first beat start together; with RedBeat, further beats start once
        # the first holds the lock, so that which one holds it is known.
        first: list[tuple[ServerProcess, Callable[[], bool]]] = [(worker, lambda: _pings(secret_url, hostname))]
        first += [(proc, _beat_ready(proc, scheduler, secret_url, periodic, first=True)) for proc in beat_procs[:1]]
        rest = [(proc, _beat_ready(proc, scheduler, secret_url, periodic, first=False)) for proc in beat_procs[1:]]
        if scheduler == "persistent":
            first, rest = first + rest, []
        for group in (first, rest):
            with ThreadPoolExecutor(max_workers=max(1, len(group))) as pool:
                for future in [pool.submit(proc.start, ready, timeout) for proc, ready in group]:
                    future.result()
        hung_id = None
        dead_letters = 0
        if rabbit and not good:
            # Tasks its worker rejects: RabbitMQ moves them to the dead-letter queue.
            send_tasks(secret_url, REJECT, [["cannot process"]] * DEAD_LETTERS, queue="default")
            dead_letters = DEAD_LETTERS
            from tests.servers.rabbitmq import wait_for_queue

            wait_for_queue(broker, urlsplit(public_url).path.lstrip("/"), DEAD_LETTER_QUEUE, messages=DEAD_LETTERS, timeout=timeout)
        if hung_task:
            hung_id = send_tasks(secret_url, SLEEP, [[HUNG_SECONDS]], queue="default")[0]
            wait_until(lambda: _is_active(secret_url, hostname, hung_id), timeout, f"the hung task to run on {hostname}")
    except BaseException:
        bed.stop()
        raise

    password_var = env_name(name, "password")
    entry: dict[str, Any] = {
        "broker": public_url,
        "password": f"${{{password_var}}}",
        "framework": "celery",
        "queues": list(REQUIRED_QUEUES),
        "periodic_tasks": [p.name for p in periodic],
        # The deployment expects one worker; the bad one expects two and only one came up.
        "workers": 1 if good else 2,
        # Each worker host of the bed is given one CPU: the good pool (1 process) fits, the bad (2 threads) does not.
        "worker_cpus": 1,
    }
    if rabbit:
        entry["management_url"] = broker.entry["management_url"]
        # The default scheduler keeps its schedule (last runs) in this file, beside the first beat.
        entry["schedule_file"] = str(workdir / "beat1" / "schedule")
    bed.entry = entry
    bed.env = {password_var: password}
    bed.admin = {
        "broker_url": secret_url, "workers": [hostname], "scheduler": scheduler, "consumed": consumed,
        "beat_pids": [p.pid for p in beat_procs], "worker_pids": [worker.pid], "hung_task_id": hung_id,
        "backlog": backlog, "dead_letters": dead_letters, "settings": settings, "periodic": list(periodic), "logs": str(workdir),
        "startup_seconds": round(time.monotonic() - started, 2), "vhost": urlsplit(public_url).path.lstrip("/") if rabbit else None,
    }
    return bed


def _subdir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    return path


def _broker_url(broker: Instance, vhost: str) -> tuple[str, str]:
    """The broker URL a setup uses (no password) and the password, from the broker's entry."""
    password = _resolve(broker.entry.get("password"), broker.env)
    if password is not None and broker.kind == "rabbitmq":
        from tests.servers.rabbitmq import add_vhost

        return add_vhost(broker, vhost), password
    if password is None:
        raise LauncherError("the Celery test bed runs on a Redis with a password: use launch_redis('good', role='broker')")
    return str(broker.entry["url"]), password


def _resolve(reference: Any, env: Mapping[str, str]) -> str | None:
    """An entry's ``${VAR}`` resolved from the instance's env, as a runner would."""
    if reference is None:
        return None
    return string.Template(str(reference)).substitute(env)


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _pings(url: str, hostname: str) -> bool:
    with inspector(url, destination=[hostname]) as inspect:
        replies = inspect.ping() or {}
    return hostname in replies


def _is_active(url: str, hostname: str, task_id: str) -> bool:
    with inspector(url, destination=[hostname]) as inspect:
        active = inspect.active() or {}
    return any(task.get("id") == task_id for task in active.get(hostname, []))


def _beat_ready(proc: ServerProcess, scheduler: Scheduler, url: str, periodic: Sequence[Periodic], *, first: bool) -> Callable[[], bool]:
    """A beat is ready when it schedules: with RedBeat, the first once it holds the lock and has run
    every entry once, a later one once it started and waits for that lock; a default-scheduler
    beat once its log says it started."""
    if scheduler == "persistent":
        return lambda: "beat: Starting..." in _read(proc.log)

    def ready() -> bool:
        log = _read(proc.log)
        if first:
            return "beat: Acquired lock" in log and all(redbeat_entry(url, p.name).get("total_run_count", 0) >= 1 for p in periodic)
        return "beat: Starting..." in log and _lock_held_by_other(url)

    return ready


def _lock_held_by_other(url: str) -> bool:
    import redis

    with redis.Redis.from_url(url) as r:
        return bool(r.exists(REDBEAT_LOCK))


def _read(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")
    return ""


REDBEAT_PREFIX = "redbeat:"
REDBEAT_LOCK = "redbeat::lock"
REDBEAT_SCHEDULE = "redbeat::schedule"


def redbeat_entry(url: str, name: str) -> dict[str, Any]:
    """RedBeat's stored entry ``name``, read straight from Redis as a check would:
    ``definition`` (task, schedule, enabled, ...) merged with ``meta`` (``last_run_at`` as an
    aware datetime or None, ``total_run_count``); ``{}`` when there is no such entry."""
    import redis

    with redis.Redis.from_url(url) as r:
        raw = r.hgetall(f"{REDBEAT_PREFIX}{name}")
    if not raw:
        return {}
    # RedBeat's own decoder turns its {"__type__": "datetime", ...} objects into aware datetimes.
    from redbeat.decoder import RedBeatJSONDecoder

    definition = json.loads(raw.get(b"definition", b"{}"), cls=RedBeatJSONDecoder)
    meta = json.loads(raw.get(b"meta", b"{}"), cls=RedBeatJSONDecoder)
    return {**definition, **meta, "last_run_at": meta.get("last_run_at")}


def _seed_redbeat(url: str, periodic: Sequence[Periodic], last_run_ago: timedelta | None = None) -> None:
    """Store RedBeat entries through RedBeat's own entry API, each last run ``last_run_ago``
    (default: one interval) ago.  One interval ago is what a beat that has been running for a
    while leaves, and makes the first beat send each task at once instead of an interval after
    its start; ``STALE_AGE`` ago with no beat started is what Redis shows after the beat died."""
    from celery.schedules import schedule
    from redbeat import RedBeatSchedulerEntry
    from redbeat.schedulers import get_redis

    app = Celery("deploycheck_seed", broker=url, set_as_current=False)
    app.conf.redbeat_redis_url = url
    try:
        now = datetime.now(UTC)
        for p in periodic:
            every = timedelta(seconds=p.every)
            entry = RedBeatSchedulerEntry(p.name, p.task, schedule(every), app=app, options={"queue": p.queue})
            entry.save()
            entry.reschedule(last_run_at=now - (last_run_ago or every))
    finally:
        get_redis(app).close()
        close_app(app)


def _dead_letter_policy(broker: Instance, vhost: str, queues: Sequence[str]) -> None:
    """Declare the fanout exchange ``DLX`` and the queue ``DEAD_LETTER_QUEUE`` bound to it, and a
    policy that dead-letters ``queues`` there.  A policy, as RabbitMQ recommends over queue
    arguments: it applies to the queues whoever declares them, with no argument mismatch."""
    import requests

    base, auth = broker.admin["management_url"], (broker.admin["user"], broker.admin["password"])
    quoted = quote(vhost, safe="")

    def put(path: str, body: dict[str, Any]) -> None:
        response = requests.put(base + path, json=body, auth=auth, timeout=10)
        if response.status_code not in (200, 201, 204):
            raise LauncherError(f"PUT {path} on the RabbitMQ management API failed: {response.status_code} {response.text}")

    put(f"/api/permissions/{quoted}/{broker.admin['user']}", {"configure": ".*", "write": ".*", "read": ".*"})
    put(f"/api/exchanges/{quoted}/{DLX}", {"type": "fanout", "durable": True})
    put(f"/api/queues/{quoted}/{DEAD_LETTER_QUEUE}", {"durable": True})
    response = requests.post(f"{base}/api/bindings/{quoted}/e/{DLX}/q/{DEAD_LETTER_QUEUE}", json={"routing_key": ""}, auth=auth, timeout=10)
    if response.status_code not in (200, 201, 204):
        raise LauncherError(f"binding {DEAD_LETTER_QUEUE} to {DLX} failed: {response.status_code} {response.text}")
    pattern = "^(" + "|".join(queues) + ")$"
    put(f"/api/policies/{quoted}/dead-letter", {"pattern": pattern, "definition": {"dead-letter-exchange": DLX}, "apply-to": "queues"})
