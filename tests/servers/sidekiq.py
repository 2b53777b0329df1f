"""Sidekiq for the test bed: real Sidekiq processes (Debian's ruby-sidekiq) on a real Redis broker.

``good`` is what operations wants to find: one process serving ``mailers`` and ``default``,
every job done, nothing dead or retrying, one mail scheduled for later.  ``bad`` holds the ways
background work quietly stops, on the same well configured Redis:

``mailers``     its one process is quiet (told to stop, as a deploy does: it sends heartbeats and
                takes no job), and ``BACKLOG`` jobs a client enqueued an hour ago wait (the
                client ran under ``faketime``: Sidekiq stamps ``enqueued_at`` with its clock);
``thumbnails``  served, but every job raises and, with ``retry: 0``, lands in the dead set;
``reports``     served, and a job that waits forever holds a thread (a hung job).

The deployment expects two processes taking jobs (``workers: 2``); one does.  The inventory entry logs in as
``monitor``, a read-only ACL user this launcher adds (``@read``, ``PING``, ``TIME``), the jobs
and the processes as the broker's ``app`` user.  Job code: ``tests/servers/ruby/sidekiq_jobs.rb``.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import redis

from tests.servers.base import LOOPBACK, Instance, LauncherError, ServerProcess, env_name, make_tempdir, run, wait_until
from tests.servers.redis import launch_redis

Variant = Literal["good", "bad"]

RUBY_DIR = Path(__file__).resolve().parent / "ruby"
MONITOR = "monitor"
#: The read-only rights of the ``monitor`` user: enough to judge Sidekiq, never to change it.
MONITOR_COMMANDS = ("-@all", "+@read", "+ping", "+time")
GOOD_JOBS = 10
BACKLOG = 30
DEAD = 4
#: How long the bad bed's report job has run, at least, when the bed is handed over.
HUNG_FOR_S = 2.0


def sidekiq_binary() -> str:
    found = shutil.which("sidekiq")
    if found is None:
        raise LauncherError("sidekiq not found on PATH: install Debian's ruby-sidekiq ('apt-get install -y ruby-sidekiq')")
    return found


@dataclass
class SidekiqInstance(Instance):
    """An ``Instance`` whose stop also stops the Sidekiq processes before their Redis."""

    processes: list[ServerProcess] = field(default_factory=list)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        super().stop()


@dataclass
class _Bed:
    port: int
    password: str
    admin: redis.Redis
    workdir: Path

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": f"redis://{LOOPBACK}:{self.port}/0", "DC_SIDEKIQ_REDIS_USER": "app", "DC_SIDEKIQ_REDIS_PASSWORD": self.password}

    def enqueue(self, job: str, count: int, *, in_s: float | None = None, hours_ago: int = 0) -> list[str]:
        argv = ["ruby", str(RUBY_DIR / "enqueue.rb"), job, str(count), *([str(in_s)] if in_s is not None else [])]
        if hours_ago:
            faketime = shutil.which("faketime")
            if faketime is None:
                raise LauncherError("faketime not found on PATH: install it ('apt-get install -y faketime')")
            argv = [faketime, f"{hours_ago} hour ago", *argv]
        return run(argv, env=self.env(), timeout=60).stdout.decode().split()

    def process(self, tag: str, *queues: str, concurrency: int = 2) -> ServerProcess:
        workdir = self.workdir / tag
        workdir.mkdir()
        argv = [sidekiq_binary(), "-r", str(RUBY_DIR / "sidekiq_jobs.rb"), "-c", str(concurrency), "-t", "1", "-g", tag,
                *(arg for queue in queues for arg in ("-q", queue))]
        proc = ServerProcess(name=f"sidekiq-{tag}", argv=argv, workdir=workdir, log=workdir / "sidekiq.log", env=self.env())
        return proc.start(lambda: any(f'"tag":"{tag}"' in (self.admin.hget(i, "info") or "") and self.admin.hget(i, "beat")
                                      for i in self.admin.smembers("processes")), timeout=60)

    def wait(self, what: str, ready: object, proc: ServerProcess | None = None) -> None:
        wait_until(ready, 60, what, proc.proc if proc else None, proc.log if proc else None)


def launch_sidekiq(variant: Variant, name: str | None = None) -> SidekiqInstance:
    """Start a Redis broker and the Sidekiq processes of ``variant``; return the inventory entry.

    ``entry`` (kind ``workers``, ``framework: sidekiq``): ``broker`` (user ``monitor``,
    read-only), ``password`` as ``${DC_<NAME>_PASSWORD}``, ``queues`` and ``workers`` (good 1, bad 2);
    the bad one also ``thresholds: {task_hung_max_s: 1}``.  ``admin``: ``port``, ``user``/``password``
    of the broker's full-rights user and ``redis`` (the broker's own ``Instance``).
    """
    name = name or f"sidekiq-{variant}"
    broker = launch_redis("good", name=f"{name}-redis", role="broker")
    processes: list[ServerProcess] = []
    try:
        port = int(broker.admin["port"])
        admin = redis.Redis(host=LOOPBACK, port=port, username=broker.admin["user"], password=broker.admin["password"],
                            socket_timeout=10, decode_responses=True)
        monitor_password = secrets.token_urlsafe(18)
        admin.acl_setuser(MONITOR, enabled=True, passwords=[f"+{monitor_password}"], keys=["*"], reset_keys=True,
                          reset_channels=True, commands=list(MONITOR_COMMANDS))
        bed = _Bed(port=port, password=string.Template(broker.entry["password"]).substitute(broker.env), admin=admin,
                   workdir=make_tempdir(name))
        assert broker.server is not None
        broker.server.cleanup_paths.append(bed.workdir)
        entry: dict[str, object] = {"framework": "sidekiq"}
        if variant == "good":
            processes.append(bed.process("good", "mailers", "default"))
            bed.enqueue("WelcomeJob", GOOD_JOBS)
            bed.wait("the good process to send every mail",
                     lambda: int(admin.get("stat:processed") or 0) >= GOOD_JOBS and admin.llen("queue:mailers") == 0, processes[-1])
            bed.enqueue("WelcomeJob", 1, in_s=3600)  # tomorrow's digest: scheduled work, not a backlog
            entry |= {"queues": ["default", "mailers"], "workers": 1}
        else:
            # A process told to stop (TSTP, as a deploy does) still sends heartbeats, but takes no job.
            processes.append(bed.process("bad-quiet", "mailers"))
            processes[-1].proc.send_signal(signal.SIGTSTP)
            bed.wait("the quieted process to say so", lambda: any(admin.hget(i, "quiet") == "true" for i in admin.smembers("processes")),
                     processes[-1])
            bed.enqueue("WelcomeJob", BACKLOG, hours_ago=1)
            processes.append(bed.process("bad", "thumbnails", "reports"))
            bed.enqueue("ThumbnailJob", DEAD)
            bed.wait("the thumbnail jobs to die", lambda: admin.zcard("dead") == DEAD, processes[-1])
            started = time.monotonic()
            bed.enqueue("ReportJob", 1)
            identity = next(i for i in admin.smembers("processes") if '"tag":"bad"' in (admin.hget(i, "info") or ""))
            bed.wait("the report job to show as running", lambda: admin.hlen(f"{identity}:workers") == 1, processes[-1])
            time.sleep(max(0.0, HUNG_FOR_S - (time.monotonic() - started)))
            entry |= {"queues": ["mailers", "reports", "thumbnails"], "workers": 2, "thresholds": {"task_hung_max_s": 1}}
        admin.close()
    except BaseException:
        for process in processes:
            process.stop()
        broker.stop()
        raise
    password_var = env_name(name, "password")
    entry = {"broker": f"redis://{MONITOR}@{LOOPBACK}:{port}/0", "password": f"${{{password_var}}}", **entry}
    return SidekiqInstance(name=name, kind="workers", entry=entry, env={password_var: monitor_password}, server=broker.server,
                           admin={"port": port, "user": broker.admin["user"], "password": broker.admin["password"], "redis": broker},
                           processes=processes)
