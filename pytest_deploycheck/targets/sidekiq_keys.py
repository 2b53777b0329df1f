"""Sidekiq read from its Redis keys, read-only (Sidekiq 6 and 7 layout).

The ``workers`` kind uses this for ``framework: sidekiq``.  The caller passes a connected redis-py
client with ``decode_responses``; nothing here writes, runs Lua or opens a transaction (pipelines
run with ``transaction=False``), so a Redis user limited to ``-@all +@read +ping +time`` is
enough.  What is read is what Sidekiq's own API (``Sidekiq::ProcessSet``, ``Sidekiq::Queue``,
``Sidekiq::DeadSet``, ``Sidekiq::Workers``) and its Web UI read.

Layout (keys unprefixed, or ``<namespace>:<key>`` under redis-namespace):
``processes`` set of process identities (``hostname:pid:nonce``); per identity a hash with
``info`` (JSON: hostname, pid, tag, concurrency, queues, ...), ``beat`` (epoch seconds of the last
heartbeat, every 5-10 s), ``busy`` and ``quiet``, which expires 60 s after the last heartbeat;
``<identity>:workers`` (Sidekiq 6) or ``<identity>:work`` (7) hash of the jobs running now,
each JSON ``{"queue", "payload", "run_at"}``.  ``queues`` set of queue names; ``queue:<q>`` list
(clients LPUSH, processes BRPOP: the oldest job is the last element; its ``enqueued_at`` gives the
queue's latency); ``schedule``, ``retry`` and ``dead`` zsets (scores: due, next try, died at).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: A process whose last heartbeat is older than this is gone: Sidekiq lets its key expire then.
HEARTBEAT_TTL_S = 60.0
#: Most processes and running jobs read (a larger fleet is cut there and says so).
MAX_PROCESSES = 500
MAX_BUSY = 1000


@dataclass(frozen=True)
class SidekiqProcess:
    identity: str
    hostname: str
    pid: int | None
    tag: str | None
    queues: tuple[str, ...]
    concurrency: int | None
    busy: int
    beat_age_s: float | None
    quiet: bool
    version: str | None

    @property
    def alive(self) -> bool:
        return self.beat_age_s is not None and self.beat_age_s <= HEARTBEAT_TTL_S

    @property
    def serving(self) -> bool:
        """Takes new jobs: alive and not quieted (TSTP, a deploy shutting it down)."""
        return self.alive and not self.quiet


@dataclass(frozen=True)
class BusyJob:
    identity: str
    queue: str | None
    job_class: str | None
    jid: str | None
    running_s: float | None


@dataclass(frozen=True)
class DeadJob:
    job_class: str | None
    error_class: str | None
    error_message: str | None
    died_age_s: float | None


@dataclass(frozen=True)
class QueueState:
    queue: str
    size: int
    latency_s: float | None  # age of the oldest waiting job


@dataclass(frozen=True)
class Snapshot:
    processes: tuple[SidekiqProcess, ...]
    processes_cut: bool  # more identities than MAX_PROCESSES were listed
    queues: dict[str, QueueState]
    known_queues: tuple[str, ...]
    busy: tuple[BusyJob, ...]
    scheduled: int
    retries: int
    dead: int
    latest_dead: DeadJob | None
    now: float

    def consumers(self) -> dict[str, list[str]]:
        """Queue -> the processes serving it (alive, not quiet)."""
        out: dict[str, list[str]] = {}
        for process in self.processes:
            if process.serving:
                for queue in process.queues:
                    out.setdefault(queue, []).append(process.identity)
        return out


def _key(prefix: str, key: str) -> str:
    return f"{prefix}:{key}" if prefix else key


def _json(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _seconds(value: Any) -> float | None:
    """An epoch timestamp in seconds: Sidekiq 8 writes milliseconds (integers), earlier versions seconds."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number / 1000.0 if number > 1e11 else number


def server_now(client: Any) -> float:
    """The broker's clock (``TIME``), so that ages do not depend on the clock of the machine running deploycheck."""
    seconds, micros = client.time()
    return int(seconds) + int(micros) / 1e6


def snapshot(client: Any, queues: Iterable[str], *, prefix: str = "") -> Snapshot:
    """Sidekiq's processes, the required ``queues``, the running jobs and the scheduled, retry and dead sets."""
    queues = list(queues)
    now = server_now(client)
    identities = sorted(client.smembers(_key(prefix, "processes")) or ())
    cut = len(identities) > MAX_PROCESSES
    identities = identities[:MAX_PROCESSES]
    pipe = client.pipeline(transaction=False)
    for identity in identities:
        pipe.hmget(_key(prefix, identity), "info", "beat", "busy", "quiet")
        pipe.hgetall(_key(prefix, f"{identity}:workers"))
        pipe.hgetall(_key(prefix, f"{identity}:work"))
    for queue in queues:
        pipe.llen(_key(prefix, f"queue:{queue}"))
        pipe.lindex(_key(prefix, f"queue:{queue}"), -1)
    pipe.smembers(_key(prefix, "queues"))
    pipe.zcard(_key(prefix, "schedule"))
    pipe.zcard(_key(prefix, "retry"))
    pipe.zcard(_key(prefix, "dead"))
    pipe.zrevrange(_key(prefix, "dead"), 0, 0, withscores=True)
    replies = pipe.execute()

    processes: list[SidekiqProcess] = []
    busy: list[BusyJob] = []
    for index, identity in enumerate(identities):
        (info_raw, beat, busy_count, quiet), *work = replies[3 * index: 3 * index + 3]
        info = _json(info_raw)
        beat_at = _seconds(beat)
        processes.append(SidekiqProcess(
            identity=identity, hostname=str(info.get("hostname") or identity.split(":", 1)[0]),
            pid=int(info["pid"]) if str(info.get("pid", "")).isdigit() else None, tag=info.get("tag") or None,
            queues=tuple(dict.fromkeys(str(q) for q in info.get("queues") or ())), concurrency=info.get("concurrency"),
            busy=int(busy_count) if str(busy_count or "").isdigit() else 0,
            beat_age_s=None if beat_at is None else max(0.0, now - beat_at), quiet=str(quiet).lower() == "true",
            version=info.get("version")))
        for jobs in work:
            for raw in list((jobs or {}).values())[: MAX_BUSY - len(busy)]:
                entry = _json(raw)
                payload = entry.get("payload")
                payload = _json(payload) if isinstance(payload, str) else (payload if isinstance(payload, dict) else {})
                run_at = _seconds(entry.get("run_at"))
                busy.append(BusyJob(identity, entry.get("queue"), payload.get("wrapped") or payload.get("class"), payload.get("jid"),
                                    None if run_at is None else max(0.0, now - run_at)))
    rest = replies[3 * len(identities):]
    states = {}
    for index, queue in enumerate(queues):
        size, oldest = rest[2 * index], rest[2 * index + 1]
        enqueued = _seconds(_json(oldest).get("enqueued_at")) if oldest else None
        states[queue] = QueueState(queue, int(size or 0), None if enqueued is None else max(0.0, now - enqueued))
    known, scheduled, retries, dead, latest = rest[2 * len(queues):]
    latest_dead = None
    if latest:
        raw, died = latest[0]
        job = _json(raw)
        message = job.get("error_message")
        latest_dead = DeadJob(job.get("wrapped") or job.get("class"), job.get("error_class"),
                              str(message)[:160] if message is not None else None, max(0.0, now - float(died)))
    return Snapshot(tuple(processes), cut, states, tuple(sorted(known or ())), tuple(busy), int(scheduled or 0),
                    int(retries or 0), int(dead or 0), latest_dead, now)
