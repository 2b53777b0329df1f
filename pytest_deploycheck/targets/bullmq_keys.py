"""BullMQ queues read from their Redis keys, read-only (bullmq 5 layout), and judged.

The ``workers`` kind uses this for ``framework: bullmq``.  The caller passes a connected redis-py
client (any ``decode_responses``); nothing here writes, runs Lua (BullMQ's own ``getCounts``
script could) or opens a transaction (pipelines run with ``transaction=False``), so a Redis user
limited to ``-@all +@read +ping +info +time +client|list`` is enough.

Layout read (prefix ``<p>``, default ``bull``; queue ``<q>``):
``<p>:<q>:wait`` / ``:paused`` lists and ``:prioritized`` zset = waiting; ``:active`` list;
``:delayed`` zset (due ms = score >> 12); ``:failed`` / ``:completed`` zsets (score = finishedOn ms);
``:meta`` hash (``paused``, ``version``); job hash ``<p>:<q>:<id>`` (``timestamp``, ``name``,
``failedReason``, ``finishedOn``); lock ``<p>:<q>:<id>:lock`` (absent on an active job = stalled).
Workers: CLIENT LIST connection names ``<p>:<base64(q)>`` or ``<p>:<base64(q)>:w:<worker name>``
(what ``Queue.getWorkers()`` matches); names ending ``:qe`` are QueueEvents, not workers.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PREFIX = "bull"
#: BullMQ packs a per-millisecond counter into the low 12 bits of a delayed job's score.
DELAY_SHIFT = 12


@dataclass(frozen=True)
class FailedJob:
    id: str
    name: str | None
    reason: str | None
    finished_ms: int | None


@dataclass(frozen=True)
class QueueStats:
    """What one queue looks like right now, read in one pass."""

    queue: str
    exists: bool
    workers: int
    worker_names: tuple[str, ...]
    paused: bool
    waiting: int
    active: int
    delayed: int
    overdue: int
    failed: int
    completed: int
    stalled: int
    stalled_ids: tuple[str, ...]
    stalled_checked: int  # how many active jobs had their lock looked at (bounded)
    oldest_waiting_age_ms: int | None
    recent_failures: tuple[FailedJob, ...]
    version: str | None
    now_ms: int

    def as_evidence(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if k != "recent_failures"} | {
            "recent_failures": [f.__dict__ for f in self.recent_failures]
        }


@dataclass(frozen=True)
class Limits:
    """Thresholds a queue is judged against; None switches a rule off."""

    min_workers: int | None = 1
    max_waiting: int | None = 100
    max_oldest_waiting_s: float | None = 900
    max_failed: int | None = 0
    max_stalled: int | None = 0
    max_overdue: int | None = 0
    #: A delayed job is overdue only when due longer ago than this: workers promote on a timer.
    overdue_grace_s: float = 60
    allow_paused: bool = False


@dataclass(frozen=True)
class Verdict:
    queue: str
    ok: bool
    problems: tuple[str, ...]
    stats: QueueStats
    evidence: dict[str, Any] = field(default_factory=dict)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_worker_name(name: str, prefix: str = DEFAULT_PREFIX) -> tuple[str, str | None] | None:
    """``(queue, worker name or None)`` for a BullMQ worker connection name, else None."""
    head = prefix + ":"
    if not name.startswith(head):
        return None
    encoded, sep, worker = name[len(head):].partition(":w:")
    if ":" in encoded or not encoded:
        return None  # ':qe' QueueEvents or something else under the prefix
    try:
        queue = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return queue, (worker if sep else None)


def workers_by_queue(clients: Iterable[Mapping[str, Any]], prefix: str = DEFAULT_PREFIX) -> dict[str, list[str]]:
    """Worker connection names per queue, from redis-py's ``client_list()`` rows."""
    out: dict[str, list[str]] = {}
    for row in clients:
        name = _s(row.get("name", ""))
        decoded = decode_worker_name(name, prefix)
        if decoded is not None:
            out.setdefault(decoded[0], []).append(name)
    return out


def server_now_ms(client: Any) -> int:
    """The broker's clock (TIME): due times are compared with it, not with the checker's clock."""
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def discover_queues(client: Any, prefix: str = DEFAULT_PREFIX, limit: int = 1000) -> list[str]:
    """Queue names that have a ``:meta`` hash, by SCAN (never KEYS), at most ``limit``."""
    found: set[str] = set()
    for key in client.scan_iter(match=f"{prefix}:*:meta", count=500):
        name = _s(key)[len(prefix) + 1: -len(":meta")]
        if name:
            found.add(name)
        if len(found) >= limit:
            break
    return sorted(found)


def queue_stats(client: Any, queue: str, *, prefix: str = DEFAULT_PREFIX, workers: Mapping[str, list[str]] | None = None,
                overdue_grace_ms: int = 0, failed_sample: int = 3, stalled_scan_limit: int = 1000) -> QueueStats:
    """Read one queue's state.  ``workers`` is ``workers_by_queue(client.client_list())``, passed
    in so that many queues share one CLIENT LIST; read here when None."""
    if workers is None:
        workers = workers_by_queue(client.client_list(), prefix)
    key = f"{prefix}:{queue}"
    now = server_now_ms(client)
    pipe = client.pipeline(transaction=False)  # MULTI would need write rights and buys nothing here
    pipe.exists(f"{key}:meta", f"{key}:id")
    pipe.hmget(f"{key}:meta", "paused", "version")
    pipe.llen(f"{key}:wait")
    pipe.llen(f"{key}:paused")
    pipe.zcard(f"{key}:prioritized")
    pipe.lrange(f"{key}:active", 0, stalled_scan_limit - 1)
    pipe.llen(f"{key}:active")
    pipe.zcard(f"{key}:delayed")
    pipe.zcount(f"{key}:delayed", "-inf", f"({(now - overdue_grace_ms + 1) << DELAY_SHIFT}")
    pipe.zcard(f"{key}:failed")
    pipe.zcard(f"{key}:completed")
    pipe.lindex(f"{key}:wait", -1)
    if failed_sample > 0:
        pipe.zrevrange(f"{key}:failed", 0, failed_sample - 1)
    else:
        pipe.ping()  # keeps the reply positions fixed; ZREVRANGE 0 -1 would read the whole set
    (exists, (paused, version), wait, paused_len, prioritized, active_ids, active, delayed, overdue, failed, completed,
     oldest, failed_ids) = pipe.execute()
    active_ids = [_s(i) for i in active_ids]
    failed_ids = [_s(i) for i in failed_ids] if failed_sample > 0 else []

    pipe = client.pipeline(transaction=False)
    for job_id in active_ids:
        pipe.exists(f"{key}:{job_id}:lock")
    if oldest is not None:
        pipe.hget(f"{key}:{_s(oldest)}", "timestamp")
    for job_id in failed_ids:
        pipe.hmget(f"{key}:{job_id}", "name", "failedReason", "finishedOn")
    results = pipe.execute() if (active_ids or oldest is not None or failed_ids) else []
    locks, rest = results[: len(active_ids)], results[len(active_ids):]
    stalled_ids = tuple(job_id for job_id, has_lock in zip(active_ids, locks, strict=True) if not has_lock)
    oldest_age = None
    if oldest is not None:
        created, rest = rest[0], rest[1:]
        oldest_age = max(0, now - int(_s(created))) if created is not None else None
    failures = tuple(
        FailedJob(id=job_id, name=_s(n) if n is not None else None, reason=_s(r) if r is not None else None,
                  finished_ms=int(_s(f)) if f is not None else None)
        for job_id, (n, r, f) in zip(failed_ids, rest, strict=True)
    )
    names = tuple(workers.get(queue, ()))
    return QueueStats(
        queue=queue, exists=bool(exists) or bool(wait or active or delayed or failed or completed), workers=len(names),
        worker_names=names, paused=paused is not None and _s(paused) == "1", waiting=int(wait) + int(paused_len) + int(prioritized),
        active=int(active), delayed=int(delayed), overdue=int(overdue), failed=int(failed), completed=int(completed),
        stalled=len(stalled_ids), stalled_ids=stalled_ids, stalled_checked=len(active_ids), oldest_waiting_age_ms=oldest_age,
        recent_failures=failures, version=_s(version) if version is not None else None, now_ms=now,
    )


def judge_queue(stats: QueueStats, limits: Limits = Limits()) -> Verdict:
    """The problems of one queue, each phrased as evidence: observed vs allowed."""
    q = stats.queue
    problems: list[str] = []
    if not stats.exists:
        problems.append(f"queue {q}: no such queue (no {q}:meta or {q}:id key)")
    if limits.min_workers is not None and stats.workers < limits.min_workers:
        problems.append(f"queue {q}: {stats.workers} worker(s) connected; need >= {limits.min_workers}")
    if stats.paused and not limits.allow_paused:
        problems.append(f"queue {q}: paused")
    if limits.max_waiting is not None and stats.waiting > limits.max_waiting:
        problems.append(f"queue {q}: {stats.waiting} jobs waiting; allowed <= {limits.max_waiting}")
    if (limits.max_oldest_waiting_s is not None and stats.oldest_waiting_age_ms is not None
            and stats.oldest_waiting_age_ms > limits.max_oldest_waiting_s * 1000):
        problems.append(f"queue {q}: oldest waiting job is {stats.oldest_waiting_age_ms // 1000}s old; "
                        f"allowed <= {limits.max_oldest_waiting_s:g}s")
    if limits.max_failed is not None and stats.failed > limits.max_failed:
        sample = "; ".join(f"{f.id}: {(f.reason or '')[:120]}" for f in stats.recent_failures)
        problems.append(f"queue {q}: {stats.failed} failed jobs; allowed <= {limits.max_failed}" + (f" (latest: {sample})" if sample else ""))
    if limits.max_stalled is not None and stats.stalled > limits.max_stalled:
        problems.append(f"queue {q}: {stats.stalled} active job(s) without a lock (stalled: {', '.join(stats.stalled_ids[:5])}); "
                        f"allowed <= {limits.max_stalled}")
    if limits.max_overdue is not None and stats.overdue > limits.max_overdue:
        problems.append(f"queue {q}: {stats.overdue} delayed job(s) overdue by more than {limits.overdue_grace_s:g}s; "
                        f"allowed <= {limits.max_overdue}")
    return Verdict(queue=q, ok=not problems, problems=tuple(problems), stats=stats, evidence=stats.as_evidence())


def judge_queues(client: Any, queues: Iterable[str], *, prefix: str = DEFAULT_PREFIX, limits: Limits = Limits()) -> list[Verdict]:
    """One CLIENT LIST for all queues, then one verdict per queue."""
    workers = workers_by_queue(client.client_list(), prefix)
    grace = int(limits.overdue_grace_s * 1000)
    return [judge_queue(queue_stats(client, q, prefix=prefix, workers=workers, overdue_grace_ms=grace), limits) for q in queues]
