"""Background workers: every ``workers`` target, the Celery, BullMQ or Sidekiq workers on one broker.

Whether the work behind the web requests gets done: workers answer and serve every required
queue, tasks cannot run forever, queues do not pile up, failed messages are kept and counted,
beat schedules each periodic task once and on time, and results do not fill the broker.

Celery is read through its own remote-control ``inspect`` (ping, stats, conf, active,
active_queues, scheduled) with the real ``celery`` library (``pip install
'pytest-deploycheck[celery]'``).  ``inspect`` sends *control messages* on the broker's broadcast
channel, which the workers answer, as ``celery inspect`` and Flower do; it sends no task and
changes no queue or setting.  Queue depth is read with read-only Redis commands (``LLEN``) or
RabbitMQ's management API; the beat schedule from RedBeat's keys or the default scheduler's
schedule file.  BullMQ queues are read from their Redis keys and ``CLIENT LIST`` (a user with
``-@all +@read +ping +info +time +client|list`` is enough), never through BullMQ's Lua scripts.
Sidekiq is read from its Redis keys as its own API and Web UI read them: the processes' heartbeats,
the queues, the jobs running now and the retry and dead sets (``-@all +@read +ping +time``).
"""

from __future__ import annotations

import math
import ssl
from datetime import UTC, datetime

import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, require
from pytest_deploycheck.targets import sidekiq_keys
from pytest_deploycheck.targets.bullmq_keys import Limits, judge_queue
from pytest_deploycheck.targets.celery_inspect import LIMIT_POOLS, beat_intervals, parse_interval

pytestmark = pytest.mark.section("workers", "Background workers")

CELERY_WORKERS = "Celery docs: Workers Guide"
CELERY_CONFIG = "Celery docs: Configuration and defaults"
BULLMQ = "BullMQ docs: Guide (Workers, Jobs, Queues)"
SIDEKIQ = "Sidekiq wiki: API (ProcessSet, Queue, DeadSet, Workers)"
RABBIT_DLX = "RabbitMQ docs: Dead Letter Exchanges"
#: Intervals of worker uptime needed before how often beat sends a task says anything.
RATE_INTERVALS = 3


def _listing(problems: list[str], limit: int = 6) -> str:
    shown = "; ".join(problems[:limit])
    return shown + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago" if seconds < 172800 else f"{seconds / 86400:.0f} days ago"


def _sidekiq_periodic(workers):
    """Sidekiq: periodic jobs the inventory names cannot be read (their gems keep them in keys of
    their own); not applicable when it names none."""
    if workers.framework != "sidekiq":
        return
    if not workers.periodic_tasks:
        not_applicable(f"{workers.label}: the inventory names no periodic_tasks", unexamined=True)
    raise TargetError(f"{workers.label}: Sidekiq's periodic jobs ({', '.join(workers.periodic_tasks)}) are kept by sidekiq-cron, "
                      "sidekiq-scheduler or Sidekiq Enterprise, which this version does not read: attest them as a manual item "
                      "(a mapping file entry) and remove periodic_tasks")


def _bullmq_only_stats(workers):
    """Per required queue, BullMQ's counts; an error when the inventory names no queue."""
    if not workers.queues:
        raise TargetError(f"{workers.label}: the inventory names no queues for this BullMQ target; list them under queues")
    return workers.bullmq()


@pytest.mark.check("wrk-01", "Workers answer", severity="critical", refs=(f"{CELERY_WORKERS}: Inspecting workers (ping)", BULLMQ, SIDEKIQ),
                   answers=("celery|background|queue|bullmq|sidekiq|job worker|consumer run|up|alive|healthy|respond|start",
                            "sidekiq|celery|bullmq run|alive|start|healthy queue|queues?",
                            "worker healthy|alive|respond|responsive|heartbeat|ping", "celery|background|queue|job|bullmq worker count|number|replica|instance",
                            "bullmq|queue|job worker connect|connected|attached", "background job|task processing|process",
                            "sidekiq|celery|bullmq process|processes|worker up|run|alive|healthy|respond|heartbeat"),
                   answers_unless=("gunicorn", "uwsgi", "puma", "unicorn", "nginx", "php", "apache", "web worker|process"))
def test_workers_answer(workers, evidence):
    """Queued work is done only while workers run; a crashed worker fails silently, its tasks
    just wait.  Celery: passes when at least ``workers`` (default 1) workers answer ``ping``
    within the target's timeout.  BullMQ: passes when at least that many worker connections are
    open on the required queues (``CLIENT LIST``).  Sidekiq: when at least that many processes
    sent a heartbeat within the last 60 s and are not quiet (a quiet process, told to stop,
    takes no new job).  Fails naming how many answered."""
    expected = workers.expected_workers
    if workers.framework == "sidekiq":
        snap = workers.sidekiq()
        serving = [p.identity for p in snap.processes if p.serving]
        quiet = [p.identity for p in snap.processes if p.alive and p.quiet]
        gone = [p.identity for p in snap.processes if not p.alive]
        evidence.record(processes={p.identity: {"beat_age_s": None if p.beat_age_s is None else round(p.beat_age_s, 1), "quiet": p.quiet,
                                                "queues": list(p.queues), "busy": p.busy, "concurrency": p.concurrency, "version": p.version}
                                   for p in snap.processes}, listed_more_than=sidekiq_keys.MAX_PROCESSES if snap.processes_cut else None)
        observed = f"{len(serving)} Sidekiq process(es) with a heartbeat in the last {sidekiq_keys.HEARTBEAT_TTL_S:g}s taking jobs"
        observed += f" ({', '.join(serving[:5])})" if serving else ""
        observed += f"; quiet: {', '.join(quiet[:5])}" if quiet else ""
        observed += f"; listed without a heartbeat: {', '.join(gone[:5])}" if gone else ""
        require(len(serving) >= expected, workers, observed, f">= {expected} (workers)")
        return
    if workers.framework == "bullmq":
        stats = _bullmq_only_stats(workers)
        # One blocking connection per worker; unnamed workers of one queue share a connection name.
        connected = sum(s.workers for s in stats.values())
        evidence.record(worker_connections={q: list(s.worker_names) for q, s in stats.items()})
        require(connected >= expected, workers, f"{connected} BullMQ worker connection(s) on queues {', '.join(workers.queues)}",
                f">= {expected} (workers)")
        return
    snapshot = workers.celery()
    evidence.record(answered=snapshot.hostnames, timeout_s=workers.timeout, unanswered_commands=list(snapshot.missing))
    require(len(snapshot.workers) >= expected, workers,
            f"{len(snapshot.workers)} worker(s) answered ping within {workers.timeout:g}s" + (f" ({', '.join(snapshot.hostnames)})" if snapshot.workers else ""),
            f">= {expected} (workers)")


@pytest.mark.check("wrk-02", "Every required queue has a consumer", severity="critical", refs=(f"{CELERY_WORKERS}: Queues", BULLMQ, SIDEKIQ),
                   answers=("queue consumer|consume|worker|listener|subscriber", "every|each|all queue serve|process|consume|drain",
                            "no? orphan|unconsumed|unserved|idle queue"),
                   answers_unless=("restart|reload",))
def test_queues_consumed(workers, evidence):
    """A queue nobody consumes keeps accepting work that never runs: a worker started with the
    wrong ``-Q`` list, or a new queue the deployment forgot.  Celery: passes when every queue in
    ``queues`` is in some answering worker's ``active_queues``.  BullMQ: when every queue has a
    worker connection.  Sidekiq: when every queue is in the queue list of a process with a
    heartbeat that is not quiet.  Fails naming each queue without a consumer."""
    if not workers.queues:
        raise TargetError(f"{workers.label}: the inventory names no queues; list the ones that must be served under queues")
    if workers.framework == "bullmq":
        consumers = {q: list(s.worker_names) for q, s in _bullmq_only_stats(workers).items()}
    elif workers.framework == "sidekiq":
        consumers = workers.sidekiq().consumers()
    else:
        consumers = workers.celery_workers().consumers()
    evidence.record(consumers={q: consumers.get(q, []) for q in workers.queues})
    missing = [q for q in workers.queues if not consumers.get(q)]
    require(not missing, workers, f"no consumer for queue(s) {', '.join(missing)}", "a worker consuming every queue in queues")


@pytest.mark.check("wrk-03", "Task time limits set", severity="high",
                   refs=(f"{CELERY_WORKERS}: Time limits", f"{CELERY_CONFIG}: task_time_limit, task_soft_time_limit"),
                   answers=("tasktimeout", "celery|task|job timeout|limit|tasktimeout", "tasktimeout hung|stuck|stall|stalled|runaway", "soft|hard tasktimeout|timeout|limit", "celery|background|queue worker timeout|tasktimeout"))
def test_time_limits(workers, evidence):
    """A task without a time limit that waits on a dead peer holds its worker slot forever; a
    few of them and the worker does nothing.  Passes when every worker has a hard
    (``task_time_limit``) and a soft (``task_soft_time_limit``) limit, the soft one below the
    hard one (so the task can clean up on SoftTimeLimitExceeded), and runs a pool that enforces
    them (prefork or gevent; threads and eventlet ignore them).  Per-task limits set in code are
    not visible to ``inspect`` and are not counted."""
    workers.require_framework("celery", bullmq="BullMQ has no task time limit; a stuck job is found by its lock running out (wrk-09)",
                              sidekiq="Sidekiq has no job time limit (a thread cannot be stopped safely); a stuck job is found "
                                      "by how long it has been running (wrk-09)")
    problems = []
    seen = {}
    for worker in workers.celery_workers().workers:
        hard, soft = worker.setting("task_time_limit"), worker.setting("task_soft_time_limit")
        seen[worker.hostname] = {"task_time_limit": hard, "task_soft_time_limit": soft, "pool": worker.pool}
        if hard is None or soft is None:
            problems.append(f"{worker.hostname}: task_time_limit={hard}, task_soft_time_limit={soft}")
        elif float(soft) >= float(hard):
            problems.append(f"{worker.hostname}: soft limit {soft}s not below the hard limit {hard}s")
        if worker.pool not in LIMIT_POOLS:
            problems.append(f"{worker.hostname}: the {worker.pool} pool does not enforce time limits")
    evidence.record(workers=seen)
    require(not problems, workers, _listing(problems), "soft and hard task time limits on every worker, soft < hard, in a prefork or gevent pool")


@pytest.mark.check("wrk-04", "Prefetch and acknowledgement fit long tasks", severity="info",
                   refs=(f"{CELERY_CONFIG}: task_acks_late, worker_prefetch_multiplier", "Celery docs: Optimizing (Prefetch limits)"),
                   answers=("prefetch multiplier|count|limit|setting?", "acks_late|ack late|acknowledg prefetch?", "celery ack|acknowledge setting|mode",
                            "consumer|consumers|worker|workers|task|tasks ack|acks|acknowledg manual|manually|explicit|explicitly|late"))
def test_prefetch_and_acks(workers, evidence):
    """With the defaults a worker acknowledges a task when it receives it and reserves four per
    process: a worker that dies loses what it held, and a long task makes the reserved ones
    wait behind it.  Information: passes when every worker acknowledges late
    (``task_acks_late``) and prefetches one per process (``worker_prefetch_multiplier = 1``),
    the setting Celery recommends for long tasks.  Short-task workloads may keep the defaults."""
    workers.require_framework("celery", bullmq="BullMQ workers lock one job per concurrency slot and acknowledge on completion",
                              sidekiq="a Sidekiq thread fetches one job at a time; there is no prefetch to tune")
    problems = []
    seen = {}
    for worker in workers.celery_workers().workers:
        acks, multiplier = worker.setting("task_acks_late"), worker.setting("worker_prefetch_multiplier")
        seen[worker.hostname] = {"task_acks_late": acks, "worker_prefetch_multiplier": multiplier,
                                 "prefetch_count": worker.stats.get("prefetch_count")}
        if acks is not True:
            problems.append(f"{worker.hostname}: task_acks_late={acks}")
        if multiplier != 1:
            problems.append(f"{worker.hostname}: worker_prefetch_multiplier={multiplier}")
    evidence.record(workers=seen)
    require(not problems, workers, _listing(problems), "task_acks_late = True and worker_prefetch_multiplier = 1 on every worker")


@pytest.mark.check("wrk-05", "Worker concurrency fits the host's CPUs", severity="low", refs=(f"{CELERY_WORKERS}: Concurrency",),
                   answers=("worker|celery concurrency cpu|core?", "worker|celery process|thread|pool count|size|number cpu|core"))
def test_concurrency(workers, evidence):
    """More processes than CPUs make CPU-bound tasks slower, not faster, and multiply memory;
    Celery's own default is one process per CPU.  Passes when every worker's pool
    (``max-concurrency`` from ``inspect stats``) is at most ``worker_cpus`` x
    ``worker_concurrency_per_cpu_max``; gevent and eventlet pools are for I/O-bound work and
    are not bound by CPUs.  Needs ``worker_cpus``: Celery does not report its host's CPUs."""
    workers.require_framework("celery", bullmq="a BullMQ worker is one Node process whose concurrency is async I/O, not CPUs",
                              sidekiq="Sidekiq's concurrency is threads of one process, bound by I/O and its connection pools, not CPUs")
    cpus = workers.setting("worker_cpus")
    if not cpus:
        raise TargetError(f"{workers.label}: set worker_cpus to the CPUs of each worker host (Celery's inspect does not report them)")
    ratio = float(workers.threshold("worker_concurrency_per_cpu_max"))
    allowed = max(1, math.floor(int(cpus) * ratio))
    problems = []
    seen = {}
    for worker in workers.celery_workers().workers:
        seen[worker.hostname] = {"pool": worker.pool, "concurrency": worker.concurrency}
        if worker.pool in ("gevent", "eventlet"):
            continue
        if worker.concurrency is None:
            raise TargetError(f"{workers.label}: {worker.hostname} did not report its pool's max-concurrency")
        if worker.concurrency > allowed:
            problems.append(f"{worker.hostname}: {worker.pool} pool of {worker.concurrency}")
    evidence.record(workers=seen, worker_cpus=cpus, allowed=allowed)
    require(not problems, workers, _listing(problems), f"<= {allowed} per worker ({cpus} CPUs x {ratio:g}, worker_concurrency_per_cpu_max)")


@pytest.mark.check("wrk-06", "Queue backlog under the limit", severity="high", refs=("Celery docs: Monitoring (Redis / RabbitMQ queue length)", BULLMQ, SIDEKIQ),
                   answers=("backlog", "backlog control|limit|threshold|bound|normal|low|healthy|acceptable|under|below|less|max|small", "queue|job|task pile|build|grow|pending|waiting|back",
                            "delayed|overdue job|task", "queue|job latency|wait|age", "queue|queues depth|length",
                            "queue|queues more|over|exceed|exceeds|above|fewer|under|below messages"),
                   answers_unless=("deadletter|dlq|dlx|poison|fail",))  # dead letters and failures are wrk-07's
def test_backlog(workers, evidence):
    """A growing queue means workers cannot keep up or are not taking it; users see it as
    emails that never come.  Celery: passes when every required queue holds at most
    ``queue_backlog_max`` ready messages (Redis ``LLEN`` of the queue and its priority lists;
    RabbitMQ ``messages_ready``).  BullMQ: also no waiting job older than ``queue_wait_max_s``,
    no delayed job overdue by more than ``delayed_overdue_grace_s``, and no paused queue.
    Sidekiq: at most ``queue_backlog_max`` jobs in each queue and its oldest job waiting no longer
    than ``queue_wait_max_s`` (the queue's latency, as Sidekiq's API reports it)."""
    if not workers.queues:
        raise TargetError(f"{workers.label}: the inventory names no queues; list them under queues")
    backlog_max = int(workers.threshold("queue_backlog_max"))
    if workers.framework == "sidekiq":
        wait_max = float(workers.threshold("queue_wait_max_s"))
        snap = workers.sidekiq()
        evidence.record(queues={q: {"size": s.size, "latency_s": None if s.latency_s is None else round(s.latency_s, 1)} for q, s in snap.queues.items()},
                        scheduled=snap.scheduled, retries=snap.retries)
        problems = []
        for state in snap.queues.values():
            if state.size > backlog_max:
                problems.append(f"{state.queue}: {state.size} jobs waiting")
            if state.latency_s is not None and state.latency_s > wait_max:
                problems.append(f"{state.queue}: oldest job waiting {state.latency_s:.0f}s")
        require(not problems, workers, _listing(problems), f"<= {backlog_max} waiting per queue (queue_backlog_max), none waiting longer than {wait_max:g}s")
        return
    if workers.framework == "bullmq":
        limits = Limits(min_workers=None, max_waiting=backlog_max, max_oldest_waiting_s=float(workers.threshold("queue_wait_max_s")),
                        max_failed=None, max_stalled=None, max_overdue=0, overdue_grace_s=float(workers.threshold("delayed_overdue_grace_s")))
        verdicts = [judge_queue(s, limits) for s in _bullmq_only_stats(workers).values()]
        evidence.record(queues={v.queue: {k: v.evidence[k] for k in ("waiting", "delayed", "overdue", "paused", "oldest_waiting_age_ms")} for v in verdicts})
        problems = [p for v in verdicts for p in v.problems]
        require(not problems, workers, _listing(problems),
                f"<= {backlog_max} waiting (queue_backlog_max), none older than {limits.max_oldest_waiting_s:g}s, no overdue delayed job, not paused")
        return
    depths = {q: workers.queue_depth(q) for q in workers.queues}
    evidence.record(queues=depths)
    over = [f"{q}: {d['ready']} messages ready" for q, d in depths.items() if d["ready"] > backlog_max]
    require(not over, workers, _listing(over), f"<= {backlog_max} per queue (queue_backlog_max)")


@pytest.mark.check("wrk-07", "Dead-lettered and failed messages under the limit", severity="medium", refs=(RABBIT_DLX, BULLMQ, SIDEKIQ),
                   answers=("deadletter empty|drain|depth|count|message|backlog|review", "fail|failed job|task|message", "poison message",
                            "dead job|jobs review|empty|count|clear|none|zero"),
                   answers_unless=("log", "logged", "logging", "alert", "retry", "retries"))
def test_dead_letters(workers, evidence):
    """Dead-lettered messages and failed jobs are work that did not happen; left to pile up they
    are found months later.  RabbitMQ: passes when the dead-letter queues (bound to the required
    queues' dead-letter exchange, plus ``dead_letter_queues``) hold at most ``dead_letters_max``
    messages.  BullMQ: when each queue's failed set holds at most that many jobs.  Sidekiq: when
    its dead set (jobs whose retries ran out) holds at most that many; jobs waiting in the retry
    set are shown beside it.  Not applicable on a Redis Celery broker, which does not dead-letter."""
    allowed = int(workers.threshold("dead_letters_max"))
    if workers.framework == "sidekiq":
        snap = workers.sidekiq()
        latest = snap.latest_dead
        evidence.record(dead=snap.dead, retries=snap.retries, latest_dead=latest.__dict__ if latest else None)
        shown = (f" (latest: {latest.job_class} {latest.error_class}: {(latest.error_message or '')[:100]}, "
                 f"{_ago(latest.died_age_s)})") if latest and latest.died_age_s is not None else ""
        retrying = f"; {snap.retries} job(s) in the retry set" if snap.retries else ""
        require(snap.dead <= allowed, workers, f"{snap.dead} job(s) in the dead set{shown}{retrying}", f"<= {allowed} dead jobs (dead_letters_max)")
        return
    if workers.framework == "bullmq":
        stats = _bullmq_only_stats(workers)
        evidence.record(failed={q: s.failed for q, s in stats.items()},
                        recent_failures={q: [f.__dict__ for f in s.recent_failures] for q, s in stats.items()})
        over = [f"queue {q}: {s.failed} failed jobs" + (f" (latest: {(s.recent_failures[0].reason or '')[:100]})" if s.recent_failures else "")
                for q, s in stats.items() if s.failed > allowed]
        require(not over, workers, _listing(over), f"<= {allowed} failed jobs per queue (dead_letters_max)")
        return
    queues = workers.dead_letter_queues()
    evidence.record(dead_letter_queues=queues)
    if not queues:
        not_applicable(f"{workers.label}: no dead-letter queue: none of the required queues dead-letters and dead_letter_queues is empty (see wrk-08)")
    over = [f"{q}: {n} messages" for q, n in queues.items() if n > allowed]
    require(not over, workers, _listing(over), f"<= {allowed} per dead-letter queue (dead_letters_max)")


@pytest.mark.check("wrk-08", "Dead-letter route for every required queue", severity="medium", refs=(RABBIT_DLX,),
                   answers=("deadletter", "deadletter exchange|route|routing|policy", "dlx|dlq", "rabbitmq|queue dlx|dlq|deadletter"),
                   answers_unless=("topic|kafka|pubsub|sns",))
def test_dead_letter_route(workers, evidence):
    """Without a dead-letter exchange a rejected or expired message is dropped: the evidence of
    what failed disappears with it.  RabbitMQ: passes when every required queue has a
    dead-letter exchange, by ``x-dead-letter-exchange`` argument or by policy
    (``dead-letter-exchange``, the way RabbitMQ recommends).  Not applicable where the broker
    has no dead-lettering (Redis; BullMQ keeps failed jobs in its failed set instead)."""
    if workers.on_redis:
        not_applicable(f"{workers.label}: Redis has no dead-letter routing; "
                       + {"bullmq": "BullMQ keeps failed jobs in each queue's failed set (wrk-07)",
                          "sidekiq": "Sidekiq keeps jobs whose retries ran out in its dead set (wrk-07)"}.get(
                              workers.framework, "failed Celery tasks are kept only in the result backend"))
    if not workers.queues:
        raise TargetError(f"{workers.label}: the inventory names no queues; list them under queues")
    routes = {}
    for queue in workers.queues:
        if workers.rabbit_queue(queue) is None:
            raise TargetError(f"{workers.label}: queue {queue} does not exist on vhost {workers.vhost}")
        routes[queue] = workers.dead_letter_exchange(queue)
    evidence.record(dead_letter_exchanges=routes)
    missing = [q for q, x in routes.items() if not x]
    require(not missing, workers, f"no dead-letter exchange for queue(s) {', '.join(missing)}",
            "a dead-letter exchange on every required queue (x-dead-letter-exchange or a policy)")


@pytest.mark.check("wrk-09", "No task hung", severity="high", refs=(f"{CELERY_WORKERS}: Inspecting workers (active)", f"{BULLMQ}: stalled jobs", SIDEKIQ),
                   answers=("hung|stuck|stall|stalled|zombie|runaway task|job|worker", "long run|running task|job", "hung task detect|detection"),
                   answers_unless=("time_limit|timeout",))
def test_no_hung_task(workers, evidence):
    """A task that never ends holds a worker slot and, with acks late, its message.  Celery:
    passes when no active task (``inspect active``) has run longer than its worker's hard time
    limit, or ``task_hung_max_s`` where the worker sets none.  BullMQ: when no active job has
    lost its lock (stalled: its worker died holding it) and none has been active longer than
    ``task_hung_max_s``.  Sidekiq: when no job has been running longer than ``task_hung_max_s``
    (the jobs each process reports running, with their start)."""
    hung_max = float(workers.threshold("task_hung_max_s"))
    problems = []
    if workers.framework == "sidekiq":
        busy = workers.sidekiq().busy
        evidence.record(running=[{"process": j.identity, "queue": j.queue, "job": j.job_class, "jid": j.jid,
                                  "running_s": None if j.running_s is None else round(j.running_s, 1)} for j in busy], limit_s=hung_max)
        problems = [f"{j.identity}: {j.job_class} ({j.jid}) on {j.queue} running for {j.running_s:.0f}s" for j in busy
                    if j.running_s is not None and j.running_s > hung_max]
        require(not problems, workers, _listing(problems), f"no job running longer than {hung_max:g}s (task_hung_max_s)")
        return
    if workers.framework == "bullmq":
        stats = _bullmq_only_stats(workers)
        evidence.record(queues={q: {"active": s.active, "stalled": s.stalled, "stalled_ids": list(s.stalled_ids)} for q, s in stats.items()})
        problems = [f"queue {q}: {s.stalled} active job(s) without a lock (stalled: {', '.join(s.stalled_ids[:5])})" for q, s in stats.items() if s.stalled]
        require(not problems, workers, _listing(problems), "no stalled job (an active job whose worker no longer holds its lock)")
        return
    snapshot = workers.celery_workers()
    seen = []
    for worker in snapshot.workers:
        hard = worker.setting("task_time_limit")
        limit = float(hard) if hard else hung_max
        for task in worker.active:
            started = task.get("time_start")
            running = snapshot.taken_at - float(started) if started else None
            seen.append({"worker": worker.hostname, "task": task.get("name"), "id": task.get("id"),
                         "running_s": round(running, 1) if running is not None else None, "limit_s": limit})
            if running is not None and running > limit:
                what = "its hard time limit" if hard else "task_hung_max_s (no hard time limit)"
                problems.append(f"{worker.hostname}: {task.get('name')} ({task.get('id')}) active for {running:.0f}s, past {what} of {limit:g}s")
    evidence.record(active=seen)
    require(not problems, workers, _listing(problems), "no task active longer than its time limit")


@pytest.mark.check("wrk-10", "Exactly one beat scheduler", severity="high",
                   refs=("Celery docs: Periodic Tasks (one scheduler only)", "celery-redbeat: lock"),
                   answers=("beat", "beat|schedule single|one|only|once|exactly|duplicate|instance", "duplicate periodic task|run|execution"))
def test_one_beat(workers, evidence):
    """Two beats send every periodic task twice (double invoices, double emails); none sends
    nothing.  RedBeat: passes when a beat holds the lock ``<prefix>:lock`` (standbys wait for it,
    so one sends).  Default scheduler (no shared lock, nothing on the broker names a beat):
    judged by effect, from one ``inspect stats`` reading: each required periodic task with an
    interval must have run no more often than one beat sends it over the workers' uptime
    (``total`` count against uptime / interval + 2).  A second beat doubles the count; so does
    the application sending the same task itself, which the message says.  Needs three
    intervals of worker uptime; crontab entries are not judged this way."""
    _sidekiq_periodic(workers)
    workers.require_framework("celery", bullmq="BullMQ schedules repeatable jobs inside the queue itself, with no separate scheduler process")
    if not workers.periodic_tasks:
        not_applicable(f"{workers.label}: the inventory names no periodic_tasks, so no beat is expected", unexamined=True)
    if workers.scheduler == "redbeat":
        held, ttl = workers.beat_lock()
        evidence.record(lock=workers.redbeat_prefix + ":lock", held=held, ttl_ms=ttl)
        require(held, workers, f"no beat holds the RedBeat lock {workers.redbeat_prefix}:lock (no beat is scheduling)",
                "one beat holding the lock (standbys may wait for it)")
        return
    snapshot = workers.celery_workers()
    intervals = {name: (task, every) for name, (task, every) in beat_intervals(snapshot.workers).items()}
    if workers.scheduler == "file":
        _, entries = workers.periodic()
        intervals.update({n: (e.task or n, e.every_s) for n, e in entries.items()})
    uptime = max(w.uptime for w in snapshot.workers)
    judged, problems = {}, []
    for name in workers.periodic_tasks:
        task, every = intervals.get(name, (name, None))
        if not every:
            continue
        runs = sum(int((w.stats.get("total") or {}).get(task, 0)) for w in snapshot.workers)
        allowed = math.floor(uptime / every) + 2
        judged[name] = {"task": task, "every_s": every, "runs": runs, "uptime_s": uptime, "allowed": allowed}
        if uptime < RATE_INTERVALS * every:
            raise TargetError(f"{workers.label}: the workers have been up {uptime:.0f}s, less than {RATE_INTERVALS} intervals of {name} "
                              f"({RATE_INTERVALS * every:g}s): too soon to tell how often beat sends it; run again later")
        if runs > allowed:
            problems.append(f"{task} ran {runs} times in {uptime:.0f}s of worker uptime, one beat sends it at most {allowed} "
                            f"(every {every:g}s): a second beat is running, or the task is also sent from elsewhere")
    evidence.record(rates=judged)
    if not judged:
        raise TargetError(f"{workers.label}: none of {', '.join(workers.periodic_tasks)} has an interval schedule the workers "
                          "or the schedule file report; with the default scheduler count the beat processes on the beat hosts")
    require(not problems, workers, _listing(problems), "exactly one beat scheduler (each periodic task sent once per interval)")


@pytest.mark.check("wrk-11", "Periodic tasks scheduled and running on time", severity="high",
                   refs=("Celery docs: Periodic Tasks", "celery-redbeat", "django-celery-beat"),
                   answers=("beat", "periodic|scheduled|cron task|job present|register|run|late|stale|miss",
                            "beat|periodic|schedule last run|execution"))
def test_periodic_tasks(workers, evidence):
    """A periodic task that is missing from the schedule, disabled, or whose beat died stops
    without an error anywhere.  Passes when every name in ``periodic_tasks`` is in the beat
    schedule (RedBeat keys, or the default scheduler's ``schedule_file``), enabled, and its next
    run after the last one recorded was due no more than ``periodic_grace_s`` ago (interval or
    crontab, computed by Celery's own schedule).  The default scheduler writes its file every
    few minutes (``beat_sync_every``), which the grace absorbs."""
    _sidekiq_periodic(workers)
    workers.require_framework("celery", bullmq="BullMQ repeatable jobs are delayed jobs in their queue: see the delayed backlog (wrk-06)")
    if not workers.periodic_tasks:
        not_applicable(f"{workers.label}: the inventory names no periodic_tasks", unexamined=True)
    source, entries = workers.periodic()
    grace = float(workers.threshold("periodic_grace_s"))
    now = datetime.now(UTC)
    evidence.record(source=source, entries={n: e.as_evidence(now) for n, e in entries.items()}, grace_s=grace)
    problems = []
    for name in workers.periodic_tasks:
        entry = entries.get(name)
        if entry is None:
            problems.append(f"{name}: not in the schedule")
            continue
        if not entry.enabled:
            problems.append(f"{name}: disabled")
            continue
        overdue = entry.overdue_s(now)
        if entry.last_run_at is None:
            problems.append(f"{name}: never ran")
        elif overdue is None:
            raise TargetError(f"{workers.label}: cannot compute when {name} ({entry.schedule}) was next due")
        elif overdue > grace:
            problems.append(f"{name} ({entry.schedule}): last run {entry.last_run_at:%Y-%m-%d %H:%M:%S}Z, next run overdue by {overdue:.0f}s")
    require(not problems, workers, f"{source}: " + _listing(problems),
            f"every periodic task scheduled, enabled and run on time (next run late by <= {grace:g}s, periodic_grace_s)")


@pytest.mark.check("wrk-12", "Task results expire", severity="medium", refs=(f"{CELERY_CONFIG}: result_expires",),
                   answers=("result|results expire|expiry|expiration|ttl|cleanup", "result_backend clean|expire|ttl|grow",
                            "task|celery result clean|cleanup|purge|expire|delete old?"))
def test_results_expire(workers, evidence):
    """Every task result stored without expiry stays in the result backend for good: a Redis
    backend fills its memory and starts evicting or refusing writes.  Passes when every worker
    with a result backend has ``result_expires`` set (Celery's default is one day).  Not
    applicable when no result backend is configured (or ``rpc://``, whose results are messages)."""
    workers.require_framework("celery", bullmq="BullMQ keeps finished jobs by removeOnComplete/removeOnFail, set per job in the producer",
                              sidekiq="Sidekiq stores no job results")
    problems, seen = [], {}
    for worker in workers.celery_workers().workers:
        backend = worker.setting("result_backend")
        expires = worker.setting("result_expires")
        seen[worker.hostname] = {"result_backend": backend, "result_expires": expires}
        if not backend or str(backend).startswith(("rpc", "disabled")):
            continue
        seconds = parse_interval(expires)
        if not seconds:
            problems.append(f"{worker.hostname}: result_expires={expires} with result backend {backend}")
    evidence.record(workers=seen)
    if all(not s["result_backend"] or str(s["result_backend"]).startswith(("rpc", "disabled")) for s in seen.values()):
        not_applicable(f"{workers.label}: no result backend configured (result_backend unset or rpc://): results are not stored")
    if problems:
        fail(workers, _listing(problems), "result_expires set on every worker that stores results (Celery's default: 1 day)")


@pytest.mark.check("wrk-13", "Broker refuses the default guest login", severity="critical",
                   refs=("RabbitMQ docs: Access Control (the default user guest)", "CWE-1392: Use of Default Credentials",
                         "CIS RabbitMQ guidance: remove the guest user"),
                   answers=("rabbitmq|broker|amqp guest user|account|login|credentials disabl|remov|delet|refus|chang|no?", "default_credentials component|components|system|systems|service|services|server|servers|everywhere|host|hosts", "no|zero|none default_credentials",
                            "rabbitmq|broker|amqp default credentials|user|password|login|account chang|remov|disabl|refus?",
                            "rabbitmq|broker|amqp default_credentials chang|remov|disabl|refus?"))
@pytest.mark.active_probe
def test_guest_refused(workers, evidence):
    """RabbitMQ creates ``guest``/``guest`` with full rights on ``/``.  Only loopback clients may
    use it until a configuration lifts that, and a broker behind a local proxy or a sidecar sees
    its clients as loopback.  This active probe (only where the inventory sets ``active_probes:
    true``) opens one AMQP connection as guest/guest to the broker's host and port, vhost ``/``,
    with the target's TLS settings and timeout, and closes it at once.  Passes when the broker
    refuses the login; fails when it authenticates, even if it then refuses the vhost.  Not
    applicable to a Redis broker, which has no guest account (redis-01 and redis-02 judge it)."""
    if workers.on_redis:
        not_applicable(f"{workers.label}: a Redis broker has no guest account (redis-01 and redis-02 judge its authentication)")
    answer = workers.amqp_login("guest", "guest", "/")
    evidence.record(login="guest/guest", vhost="/", answer=answer)
    require(answer == "refused", workers, f"the login guest/guest was {answer}", "guest/guest refused (delete the guest user)")


@pytest.mark.check("wrk-14", "Broker traffic encrypted", severity="medium",
                   refs=("RabbitMQ docs: TLS Support", "Redis docs: TLS", "Celery docs: broker_use_ssl",
                         "PCI DSS v4.0 4.2.1: strong cryptography for data in transit"),
                   # Not "rediss" or "amqps" alone: as words they meet "redis" and "amqp".
                   answers=("rabbitmq|broker|amqp|celery|sidekiq|bullmq tls|ssl|encrypt|encrypted|encryption",
                            "amqps|amqp only|enforced|required|everywhere", "broker|queue|message connection|connections|traffic tls|ssl|encrypt|encrypted",
                            "traffic|data|connection|connections|internal? encrypt|encrypted|encryption transit|wire|flight"),
                   answers_unless=("backup|backups",))
def test_broker_tls(workers, evidence):
    """What the application hands its workers travels through the broker: user data, tokens,
    password-reset links, and the broker password itself at login.  Passes when the workers' broker
    URL is ``amqps://`` or ``rediss://`` and one TLS handshake with the broker's host and port
    verifies its certificate for that host name (against ``ca_bundle``, else the system's CAs) with
    TLS 1.2 or later.  A plain ``amqp://`` or ``redis://`` URL fails, on a private network too:
    anything on the path reads it.  A broker only ever reached over loopback (a sidecar) may waive it."""
    if workers.scheme not in ("amqps", "rediss"):
        evidence.record(scheme=workers.scheme)
        fail(workers, f"the workers reach the broker over plaintext {workers.scheme}://",
             "amqps:// or rediss:// (TLS), the broker's certificate verified")
    try:
        seen = workers.tls_handshake()
    except ssl.SSLCertVerificationError as exc:
        fail(workers, f"the broker's certificate does not verify: {exc.verify_message}",
             "a certificate for the broker's host name that ca_bundle (or the system) trusts")
    except ssl.SSLError as exc:
        fail(workers, f"no TLS 1.2+ handshake with the broker: {exc.reason or exc}", "TLS 1.2 or later on the broker's port")
    evidence.record(scheme=workers.scheme, **seen)
