"""BullMQ for the test bed: real Node workers and producers against a real Redis broker.

``good`` is a queue as operations wants to find it: queue ``emails`` with one connected worker,
every job completed, none failed or stuck, nothing waiting, and one job scheduled for later.
``bad`` holds the ways background work quietly stops:

``emails``      no worker at all, and a waiting backlog of ``BACKLOG`` jobs a producer added an
                hour ago (``BACKLOG_AGE_MS``, through BullMQ's own ``timestamp`` job option);
``thumbnails``  a connected worker whose processor throws: ``FAILED`` jobs in the failed set;
``reports``     a worker killed mid-job (lock of ``STALL_LOCK_MS``): one job left active with
                its lock expired and nobody to finish it, i.e. stalled;
``reminders``   no worker, ``DELAYED_FUTURE`` jobs due in an hour and ``DELAYED_OVERDUE`` that fell
                due an hour ago (``OVERDUE_BY_MS``) but that nobody promoted.

Both variants run on a well configured Redis broker (``launch_redis("good", role="broker")``):
what is bad here is the queues, not the server.  The inventory entry logs in as ``monitor``,
a read-only ACL user this launcher adds, allowed ``@read`` commands, ``INFO``, ``PING``, ``TIME`` (the
broker's clock, to judge due times) and ``CLIENT LIST`` (how a check counts workers), nothing else.

How BullMQ lays out a queue in Redis (bullmq 5, prefix ``bull``; read from its source) and how a
worker is seen is written down in ``BULLMQ_LAYOUT`` below, for the check that will read it.
"""

from __future__ import annotations

import base64
import fcntl
import secrets
import shutil
import signal
import string
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis

from tests.servers.base import (
    LOOPBACK,
    Instance,
    LauncherError,
    ServerProcess,
    env_name,
    make_tempdir,
    run,
    wait_until,
)
from tests.servers.redis import launch_redis

Variant = Literal["good", "bad"]

NODE_DIR = Path(__file__).resolve().parent / "node"
PREFIX = "bull"
MONITOR = "monitor"
PASSWORD_ENV = "DC_BULLMQ_PASSWORD"

BACKLOG = 25
FAILED = 4
GOOD_JOBS = 10
DELAYED_FUTURE = 3
DELAYED_OVERDUE = 2
STALL_LOCK_MS = 1000
#: How old the bad backlog is and how overdue the bad delayed jobs are: an hour, far past any grace.
BACKLOG_AGE_MS = 3_600_000
OVERDUE_BY_MS = 3_600_000

#: The read-only rights of the ``monitor`` user: enough to judge queues, never to change them.
MONITOR_COMMANDS = ("-@all", "+@read", "+ping", "+info", "+time", "+client|list")

#: Where BullMQ keeps a queue ``<q>`` with prefix ``<p>`` (default ``bull``), from bullmq 5's
#: ``QueueKeys`` and its Lua scripts.  Job ids are strings; the job itself is the hash ``<p>:<q>:<id>``.
BULLMQ_LAYOUT: dict[str, str] = {
    "<p>:<q>:wait": "list of job ids ready to run; producers LPUSH, workers take from the right (LLEN = waiting)",
    "<p>:<q>:paused": "list used instead of :wait while the queue is paused (meta field paused=1)",
    "<p>:<q>:prioritized": "zset of waiting jobs that have a priority (count them as waiting too)",
    "<p>:<q>:active": "list of job ids being processed (LLEN = active)",
    "<p>:<q>:<id>:lock": "string (worker token) with PX = lockDuration, renewed by a live worker; "
                         "an active job without it is stalled",
    "<p>:<q>:stalled": "set of active ids the last stalled check marked; moved to wait at the next check if still unlocked",
    "<p>:<q>:stalled-check": "string set with PX stalledInterval by the worker running the stalled check",
    "<p>:<q>:delayed": "zset of delayed job ids; score = due timestamp in ms * 4096 + (counter & 0xfff), so due ms = score >> 12",
    "<p>:<q>:completed": "zset of completed job ids scored by finishedOn (ms)",
    "<p>:<q>:failed": "zset of failed job ids scored by finishedOn (ms); the job hash holds failedReason, stacktrace",
    "<p>:<q>:waiting-children": "zset of parent jobs waiting for their children (flows)",
    "<p>:<q>:id": "string counter of the last auto-generated job id",
    "<p>:<q>:meta": "hash: opts.maxLenEvents, version (e.g. bullmq:5.81.5), paused, concurrency, max, duration",
    "<p>:<q>:events": "stream of events (added, waiting, active, completed, failed, stalled, delayed, ...)",
    "<p>:<q>:marker": "zset the blocking worker waits on (BZPOPMIN) to learn there is work",
    "<p>:<q>:repeat": "zset of job schedulers (repeatable jobs), with hashes <p>:<q>:repeat:<key>",
    "<p>:<q>:<id>": "hash of one job: name, data, opts, timestamp, delay, processedOn, finishedOn, failedReason, "
                    "stacktrace, attemptsMade (atm), stc (times stalled), returnvalue",
    "CLIENT LIST name=": "a worker's blocking connection is named '<p>:' + base64(<q>) (standard alphabet, padded), "
                         "or '<p>:' + base64(<q>) + ':w:' + <worker name> when the worker has a name; "
                         "QueueEvents connections end in ':qe' and are not workers",
}


def worker_client_name(queue: str, worker: str | None = None, prefix: str = PREFIX) -> str:
    """The connection name a BullMQ worker sets with CLIENT SETNAME, as ``Queue.getWorkers`` matches it."""
    encoded = base64.b64encode(queue.encode()).decode()
    return f"{prefix}:{encoded}" + (f":w:{worker}" if worker else "")


def node_binary() -> str:
    found = shutil.which("node")
    if found is None:
        raise LauncherError("node not found on PATH: install Node.js 20 ('apt-get install -y nodejs npm')")
    return found


def ensure_node_modules() -> Path:
    """Install the pinned bullmq into ``tests/servers/node/node_modules`` once (``npm ci``), under a
    file lock so that xdist workers do not install over each other."""
    if (NODE_DIR / "node_modules" / "bullmq" / "package.json").exists():
        return NODE_DIR
    npm = shutil.which("npm")
    if npm is None:
        raise LauncherError("npm not found on PATH: install it ('apt-get install -y npm') to run the BullMQ test bed")
    with open(Path(tempfile.gettempdir()) / "deploycheck-npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (NODE_DIR / "node_modules" / "bullmq" / "package.json").exists():
            run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)], timeout=600)
    return NODE_DIR


@dataclass
class BullmqInstance(Instance):
    """An ``Instance`` whose stop also stops the worker processes before their Redis."""

    workers: list[ServerProcess] = field(default_factory=list)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        super().stop()


@dataclass
class _Bed:
    """What the worker and producer scripts need to reach the broker."""

    port: int
    username: str | None
    password: str | None
    admin: redis.Redis
    workdir: Path

    def _argv(self, script: str, queue: str, *extra: str) -> list[str]:
        argv = [node_binary(), str(NODE_DIR / script), "--host", LOOPBACK, "--port", str(self.port), "--queue", queue, "--prefix", PREFIX]
        if self.username:
            argv += ["--username", self.username]
        return [*argv, *extra]

    def _env(self) -> dict[str, str]:
        return {PASSWORD_ENV: self.password} if self.password else {}

    def produce(self, queue: str, count: int, *, name: str = "job", delay_ms: int = 0, age_ms: int = 0) -> list[str]:
        argv = self._argv("produce.js", queue, "--count", str(count), "--name", name, "--delay-ms", str(delay_ms), "--age-ms", str(age_ms))
        result = run(argv, env=self._env(), timeout=60)
        return result.stdout.decode().split()

    def worker(self, queue: str, *, name: str | None = None, mode: str = "ok", lock_ms: int = 30000,
               stop_signal: int = signal.SIGTERM) -> ServerProcess:
        extra = ["--mode", mode, "--lock-duration", str(lock_ms)]
        if name:
            extra += ["--name", name]
        label = f"bullmq-{queue}-{name or mode}"
        workdir = self.workdir / label
        workdir.mkdir()
        proc = ServerProcess(name=label, argv=self._argv("worker.js", queue, *extra), workdir=workdir,
                             log=workdir / "worker.log", env=self._env(), stop_signal=stop_signal)
        client_name = worker_client_name(queue, name)
        return proc.start(lambda: any(c.get("name") == client_name for c in self.admin.client_list()), timeout=60)

    def wait(self, what: str, ready: Any, proc: ServerProcess | None = None) -> None:
        wait_until(ready, 60, what, proc.proc if proc else None, proc.log if proc else None)


def launch_bullmq(variant: Variant, name: str | None = None) -> BullmqInstance:
    """Start a Redis broker and the BullMQ workers of ``variant``; return the inventory entry.

    ``entry`` (kind ``workers``, ``framework: bullmq``): ``broker`` (user ``monitor``, read-only),
    ``password`` as ``${DC_<NAME>_PASSWORD}``, ``prefix`` (``bull``), ``queues`` (the queue names
    to judge) and ``workers`` (how many the deployment expects: good 1, bad 2).
    ``admin``: ``port``, ``user``/``password`` of the broker's full-rights user, ``redis`` (the
    broker's own ``Instance``), ``expected`` (per queue: what the test bed made it hold) and
    ``worker_names`` (per queue: the CLIENT LIST names of its live workers).
    """
    name = name or f"bullmq-{variant}"
    ensure_node_modules()
    broker = launch_redis("good", name=f"{name}-redis", role="broker")
    workers: list[ServerProcess] = []
    try:
        port = int(broker.admin["port"])
        admin = redis.Redis(host=LOOPBACK, port=port, username=broker.admin["user"], password=broker.admin["password"],
                            socket_timeout=10, decode_responses=True)
        app_password = string.Template(broker.entry["password"]).substitute(broker.env)
        monitor_password = secrets.token_urlsafe(18)
        admin.acl_setuser(MONITOR, enabled=True, passwords=[f"+{monitor_password}"], keys=["*"], reset_keys=True,
                          reset_channels=True, commands=list(MONITOR_COMMANDS))
        bed = _Bed(port=port, username="app", password=app_password, admin=admin, workdir=make_tempdir(name))
        # The workers' directories go with the broker, which stops last.
        assert broker.server is not None
        broker.server.cleanup_paths.append(bed.workdir)
        expected: dict[str, dict[str, int]]
        worker_names: dict[str, list[str]]
        if variant == "good":
            expected, worker_names = _good(bed, workers)
        else:
            expected, worker_names = _bad(bed, workers)
        admin.close()
    except BaseException:
        for worker in workers:
            worker.stop()
        broker.stop()
        raise

    password_var = env_name(name, "password")
    # A ``workers`` target with ``framework: bullmq``; the bad deployment expects two workers.
    entry = {"broker": f"redis://{MONITOR}@{LOOPBACK}:{port}/0", "password": f"${{{password_var}}}", "framework": "bullmq",
             "prefix": PREFIX, "queues": sorted(expected), "workers": 1 if variant == "good" else 2}
    return BullmqInstance(
        name=name, kind="workers", entry=entry, env={password_var: monitor_password}, server=broker.server,
        admin={"port": port, "user": broker.admin["user"], "password": broker.admin["password"], "redis": broker,
               "expected": expected, "worker_names": worker_names},
        workers=workers,
    )


def _good(bed: _Bed, workers: list[ServerProcess]) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    workers.append(bed.worker("emails", name="emails-1"))
    bed.produce("emails", GOOD_JOBS, name="welcome")
    bed.wait("the emails worker to complete every job",
             lambda: bed.admin.zcard(f"{PREFIX}:emails:completed") == GOOD_JOBS and bed.admin.llen(f"{PREFIX}:emails:wait") == 0
             and bed.admin.llen(f"{PREFIX}:emails:active") == 0, workers[-1])
    # A job scheduled for tomorrow's digest is normal work, not a backlog.
    bed.produce("emails", 1, name="digest", delay_ms=3_600_000)
    expected = {"emails": {"workers": 1, "waiting": 0, "active": 0, "delayed": 1, "overdue": 0, "failed": 0, "completed": GOOD_JOBS, "stalled": 0}}
    return expected, {"emails": [worker_client_name("emails", "emails-1")]}


def _bad(bed: _Bed, workers: list[ServerProcess]) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    # emails: the producer keeps adding, nobody consumes; the oldest job has waited BACKLOG_AGE_MS.
    bed.produce("emails", BACKLOG, name="welcome", age_ms=BACKLOG_AGE_MS)

    # thumbnails: a worker is connected, but its code throws on every job.  Unnamed on purpose,
    # so the bed shows both connection-name forms.
    workers.append(bed.worker("thumbnails", mode="throw"))
    bed.produce("thumbnails", FAILED, name="resize")
    bed.wait("the thumbnails jobs to fail", lambda: bed.admin.zcard(f"{PREFIX}:thumbnails:failed") == FAILED, workers[-1])

    # reports: a worker dies (SIGKILL, as the OOM killer would) holding a job; its lock runs out.
    hung = bed.worker("reports", name="reports-1", mode="hang", lock_ms=STALL_LOCK_MS, stop_signal=signal.SIGKILL)
    try:
        ids = bed.produce("reports", 1, name="monthly")
        bed.wait("the reports job to become active", lambda: bed.admin.llen(f"{PREFIX}:reports:active") == 1, hung)
    finally:
        hung.stop()
    lock = f"{PREFIX}:reports:{ids[0]}:lock"
    bed.wait("the killed worker's job lock to expire", lambda: bed.admin.exists(lock) == 0)
    bed.wait("the killed worker's connection to close",
             lambda: not any(c.get("name") == worker_client_name("reports", "reports-1") for c in bed.admin.client_list()))

    # reminders: jobs due later are fine; jobs already due with no worker to promote them are not.
    bed.produce("reminders", DELAYED_FUTURE, name="renewal", delay_ms=3_600_000)
    # Created two hours ago with a one-hour delay: due an hour ago, and still delayed.
    bed.produce("reminders", DELAYED_OVERDUE, name="followup", delay_ms=OVERDUE_BY_MS, age_ms=2 * OVERDUE_BY_MS)

    expected = {
        "emails": {"workers": 0, "waiting": BACKLOG, "active": 0, "delayed": 0, "overdue": 0, "failed": 0, "completed": 0, "stalled": 0},
        "thumbnails": {"workers": 1, "waiting": 0, "active": 0, "delayed": 0, "overdue": 0, "failed": FAILED, "completed": 0, "stalled": 0},
        "reports": {"workers": 0, "waiting": 0, "active": 1, "delayed": 0, "overdue": 0, "failed": 0, "completed": 0, "stalled": 1},
        "reminders": {"workers": 0, "waiting": 0, "active": 0, "delayed": DELAYED_FUTURE + DELAYED_OVERDUE, "overdue": DELAYED_OVERDUE,
                      "failed": 0, "completed": 0, "stalled": 0},
    }
    return expected, {"thumbnails": [worker_client_name("thumbnails")]}


def admin_client(instance: Instance) -> redis.Redis:
    """A full-rights client on the instance's broker, for tests that inspect what the bed built."""
    return redis.Redis(host=LOOPBACK, port=int(instance.admin["port"]), username=instance.admin["user"],
                       password=instance.admin["password"], socket_timeout=10, decode_responses=True)

