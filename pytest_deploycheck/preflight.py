"""The start of a run: every target's reachability at once, then each target's costly facts.

Before the first check, ``Reachability.preflight_all`` connects to all the run's targets
concurrently (a bounded pool): K dead targets cost one timeout, not K timeouts paid in turn.
The first check on a dead target reports the failure as its own error; the others cite it.

* Serial run: the targets of the selected items, in ``pytest_runtestloop`` (after collection
  and deselection).
* Under xdist the controller never collects: it checks every inventory target in a thread
  started at ``pytest_sessionstart``, while the workers start and collect, and writes what it
  found to the run's state directory; each worker waits for that record before its first item
  (``Reachability.load_preflight``) and connects to nothing again.

Then each live target's costly facts are read ahead (``ReadAhead``), in a bounded pool of
background threads: its handle's own (``TargetHandle.warm``: the SSH login and machine identity
of a host, the certificate chain of a TLS endpoint, a database session) and what the selected
checks declare with ``@read_ahead`` (``ahead.py``).  The checks start at once; an item waits only
for its own target's reads, so the waits of different targets overlap each other and the checks.
Serial runs submit every target at the start; an xdist worker submits the targets xdist hands
it (whole: ``distribution.py``), as they arrive.  A fact read is kept for the checks.  A failure
that makes the target unusable (a refused login, a port that speaks no TLS) is the target's
whichever check meets it first: it is remembered, and the first check reports it as its own.
Any other failure (a TLS alert) is a finding: it is forgotten and the check that needs the fact
reads it again and decides, as it would have.  Threads reading ahead record nothing in the
evidence of the item running meanwhile (``outcomes.outside_items``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import Any

import pytest

from pytest_deploycheck.ahead import Reader, readers_of
from pytest_deploycheck.outcomes import TargetUnreachable, outside_items
from pytest_deploycheck.state import STATE_KEY, DeploycheckState, item_target_params, runs_nothing, xdist_active
from pytest_deploycheck.targets import KINDS
from pytest_deploycheck.targets.base import Target, TargetHandle
from pytest_deploycheck.targets.reach import PREFLIGHT_WORKERS
from pytest_deploycheck.wire import out_of_turn

#: Most targets read ahead at once (threads per process).
READ_AHEAD_WORKERS = 32
#: xdist: how often an item waiting for its target's reads looks for targets handed over meanwhile (s).
QUEUE_POLL = 0.05

_THREAD_KEY = pytest.StashKey[threading.Thread]()
_READER_KEY = pytest.StashKey["ReadAhead"]()
_INTERACTOR_KEY = pytest.StashKey[Any]()

#: Fixture -> its handle class.
HANDLES = {kind.fixture: kind.handle for kind in KINDS}


def pytest_sessionstart(session: pytest.Session) -> None:
    """The xdist controller: pre-flight every inventory target while the workers start."""
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.inventory is None or hasattr(config, "workerinput") or not xdist_active(config):
        return
    if state.state_dir is None or runs_nothing(config):
        return
    targets = list(state.inventory.targets)
    thread = threading.Thread(target=state.reach.preflight_all, args=(targets,), name="deploycheck-preflight", daemon=True)
    thread.start()
    config.stash[_THREAD_KEY] = thread


def pytest_sessionfinish(session: pytest.Session) -> None:
    reader = session.config.stash.get(_READER_KEY, None)
    if reader is not None:
        reader.close()
    thread = session.config.stash.get(_THREAD_KEY, None)
    if thread is not None:
        thread.join(timeout=_wait_for(session.config.stash[STATE_KEY]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.inventory is None or not session.items or runs_nothing(config):
        return
    reader = ReadAhead(state)
    config.stash[_READER_KEY] = reader
    if hasattr(config, "workerinput"):
        if state.state_dir is not None:
            state.reach.load_preflight(wait=_wait_for(state))
        if out_of_turn(config):
            _ready_first(session, reader)
        return  # this worker's targets are read ahead as xdist hands them over (pytest_runtest_protocol)
    used = _used_targets(session.items, state)
    state.reach.preflight_all(target for _, target, _ in used)
    reader.submit(used)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> None:
    """Before an item runs: under xdist, read ahead for the targets newly handed to this worker;
    then wait until the reads of this item's own target are done."""
    reader = item.config.stash.get(_READER_KEY, None)
    if reader is None:
        return
    if hasattr(item.config, "workerinput"):
        reader.submit_queued(item)
    reader.wait(item)


def _wait_for(state: DeploycheckState) -> float:
    """How long the controller's pre-flight can take: one timeout per batch of connects, plus slack."""
    assert state.inventory is not None
    targets = [t for t in state.inventory.targets if t.endpoint is not None]
    if not targets:
        return 10.0
    batches = math.ceil(len(targets) / PREFLIGHT_WORKERS)
    return batches * max(t.timeout for t in targets) + 10.0


def _used_targets(items: Iterable[pytest.Item], state: DeploycheckState) -> list[tuple[str, Target, list[Reader]]]:
    """(fixture, target, the readers its selected checks declare) of every selected item, in
    first-use order, each target once and each reader once."""
    seen: dict[tuple[str, str, str], tuple[str, Target, list[Reader]]] = {}
    for item in items:
        params = item_target_params(item)
        declared = readers_of(item) if len(params) == 1 else ()  # a reader takes the check's one target
        for key in params:
            if key not in seen:
                target = state.find(key[1], key[2])
                if target is None:
                    continue
                seen[key] = (key[0], target, [])
            readers = seen[key][2]
            readers.extend(r for r in declared if r not in readers)
    return list(seen.values())


# --------------------------------------------------------------------------- reading ahead

#: What a read ahead may raise that its check meets again: any error, and a check's own outcomes
#: (``TargetError``, ``not_applicable``), which are pytest's and not ``Exception``s.
READ_FAILURES: tuple[type[BaseException], ...] = (Exception, pytest.fail.Exception, pytest.skip.Exception)


def _warm(state: DeploycheckState, fixture: str, target: Target) -> bool:
    """The handle's own costly fact (``TargetHandle.warm``: a login, a certificate chain, a
    database session); False when the target's declared reads should not be tried."""
    handle = state.pool.handle(fixture, target, HANDLES[fixture])
    try:
        handle.warm()
    except TargetUnreachable:
        # Unusable (a refused login, no TLS, silence): whichever check came first would have
        # found exactly this and marked the target; the first one reports it as its own.
        state.reach.defer_report(target)
        return False
    except READ_FAILURES:  # a finding (a TLS alert, a query error, no STARTTLS): the checks read it again and decide, as serially
        state.pool.discard(fixture, target)
        return False
    return True


def _warms(fixture: str) -> bool:
    return HANDLES[fixture].warm is not TargetHandle.warm


def _read(state: DeploycheckState, fixture: str, target: Target, readers: list[Reader]) -> bool:
    """One target's reads, in turn: its kind's fact, then what its selected checks declare.
    False when the target's kind fact could not be read (its declared reads are not tried)."""
    if _warms(fixture) and not _warm(state, fixture, target):
        return False
    if readers:
        _run_readers(state, fixture, target, readers)
    return True


def _read_after(warmed: Future[bool], state: DeploycheckState, fixture: str, target: Target, reader: Reader) -> None:
    """One declared read of a target whose reads run beside its checks, once its kind's fact is read."""
    if warmed.result():
        _run_readers(state, fixture, target, [reader])


def _run_readers(state: DeploycheckState, fixture: str, target: Target, readers: list[Reader]) -> None:
    handle = state.pool.handle(fixture, target, HANDLES[fixture])
    for reader in readers:
        if state.reach.failure(target) is not None:
            return
        try:
            reader(handle)
        except TargetUnreachable:
            state.reach.defer_report(target)  # e.g. a deadline missed: the target's first check reports it
            return
        except READ_FAILURES:  # anything else is the check's to meet again, and judge, as serially
            continue


class ReadAhead:
    """Each target's reads (``_read``) in a bounded pool of background threads, while the checks
    of the targets already read run; an item waits only for its own target's reads, so the
    first checks start at once and the waits of different targets overlap one another and the
    checks.  A target's handle is touched by its reads or its checks, never both at once, except
    where the handle says it may be (``TargetHandle.reads_beside_checks``: hosts reached by a
    process per command): there each declared read is a task of its own, and an item waits only
    for its target's kind fact (the login) and for the reads its own check declares, so a host's
    other checks do not wait for its pending package updates."""

    def __init__(self, state: DeploycheckState, workers: int = READ_AHEAD_WORKERS) -> None:
        self.state = state
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._reads: dict[tuple[str, str, str], Future[bool]] = {}
        self._reader_reads: dict[tuple[tuple[str, str, str], Reader], Future[None]] = {}  # beside the checks
        self._seen: set[int] = set()  # xdist: items whose targets were submitted (id of the item)
        self._queue_mark: Any = None  # xdist: the worker queue's last item at the last look

    def submit(self, used: Iterable[tuple[str, Target, list[Reader]]]) -> None:
        for fixture, target, readers in used:
            key = (fixture, target.kind, target.name)
            if not (_warms(fixture) or readers) or self.state.reach.failure(target) is not None:
                continue
            beside = HANDLES[fixture].reads_beside_checks(target)
            if key in self._reads and not beside:
                continue  # its checks may be running: a read it did not declare at first is the check's own
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="deploycheck-read-ahead")
            if not beside:
                self._reads[key] = self._pool.submit(_outside_items, _read, self.state, fixture, target, readers)
                continue
            warmed = self._reads.get(key)
            if warmed is None:
                warmed = self._reads[key] = self._pool.submit(_outside_items, _read, self.state, fixture, target, [])
            for reader in readers:
                if (key, reader) not in self._reader_reads:
                    self._reader_reads[key, reader] = self._pool.submit(_outside_items, _read_after, warmed, self.state, fixture, target, reader)

    def submit_queued(self, item: pytest.Item) -> None:
        """xdist: read ahead for the items this worker has been handed and not yet looked at
        (the item it holds back as the next one, and its queue; xdist hands targets over whole,
        while the worker runs, and a steal may take some back: a target's reads are then wasted,
        never wrong).  The queue is copied only when its last item changed since the last look,
        as new work is appended at its end.  (A look misses new work only when a steal took the
        queue's last target and it came back before the next look: that target's reads then
        start at its first check.)"""
        items = item.session.items
        fresh = [] if id(item) in self._seen else [item]
        queued, self._queue_mark = _worker_queue(item.config, self._queue_mark)
        fresh += [items[i] for i in queued if isinstance(i, int) and i < len(items) and id(items[i]) not in self._seen]
        if fresh:
            self._seen.update(id(i) for i in fresh)
            self.submit(_used_targets(fresh, self.state))

    def _awaited(self, item: pytest.Item) -> Iterator[Future[Any]]:
        """The reads ``item`` waits for, in order: per target, its kind fact, then (where reads run
        beside the checks) the reads the item's check declares; each looked up when reached."""
        params = item_target_params(item)
        declared = readers_of(item) if len(params) == 1 else ()
        for key in params:
            read = self._reads.get(key)
            if read is None:
                continue
            yield read
            yield from (f for f in (self._reader_reads.get((key, reader)) for reader in declared) if f is not None)

    def wait(self, item: pytest.Item) -> None:
        """Until this item's own target is read (where reads run beside the checks: its kind fact
        and the reads the item's check declares); under xdist, targets handed over meanwhile are
        submitted while it waits (the queue is looked at again every ``QUEUE_POLL`` seconds)."""
        polling = hasattr(item.config, "workerinput")
        for one in self._awaited(item):
            while polling and not one.done() and not futures_wait([one], timeout=QUEUE_POLL).done:
                self.submit_queued(item)
            one.result()

    def ready(self, item: pytest.Item) -> bool:
        """Whether ``wait(item)`` would return at once: its reads were submitted and are done."""
        return id(item) in self._seen and all(one.done() for one in self._awaited(item))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _outside_items(work: Callable[..., Any], *args: Any) -> Any:
    outside_items()
    return work(*args)


def _interactor(config: pytest.Config) -> Any:
    """xdist's ``WorkerInteractor`` in this worker (None when there is none), looked up once."""
    if _INTERACTOR_KEY not in config.stash:
        config.stash[_INTERACTOR_KEY] = next((p for p in config.pluginmanager.get_plugins() if type(p).__name__ == "WorkerInteractor"), None)
    return config.stash[_INTERACTOR_KEY]


def _worker_queue(config: pytest.Config, mark: Any) -> tuple[list[Any], Any]:
    """The item indexes xdist has handed this worker and it has not started: the one it holds
    back as the next item, then its queue (``WorkerInteractor.torun``), the queue only when its
    mark (its last item) is no longer ``mark``, as nothing was handed over since that look;
    with the queue's new mark.  Nothing when this xdist keeps them elsewhere."""
    interactor = _interactor(config)
    lock = getattr(getattr(interactor, "torun", None), "lock", None)
    if lock is None:
        return [], mark
    held = [getattr(interactor, "nextitem_index", None)]
    with lock() as pending:
        now = pending[-1] if pending else None
        if now == mark:
            return held, mark
        return held + list(pending), now


def _ready_first(session: pytest.Session, reader: ReadAhead) -> None:
    """An xdist worker takes as its next item the first one in its queue whose reads are done.

    xdist runs a worker's items in the order it was handed them, so a target whose reads take
    seconds (a far host's login, its package state) kept the worker idle while the targets
    queued behind it were read and ready.  Now, when the item next in line would wait, the first
    queued item that would not is taken instead, and the one in line stays first.  The choice is
    made where xdist takes its next item (``WorkerInteractor.torun.get``), before the current
    item runs, so pytest's ``nextitem`` (and what it tears down) is the item that really runs
    next.  Nothing else changes: a steal still takes a target only while none of its items has
    started (xdist's rule), and an item found ready stays ready.

    Only with batched events and the by-target scheduler (``wire.out_of_turn``): each batch names
    the item the worker runs next, and that scheduler blames that item if the worker dies
    (``distribution.running``); xdist's own schedulers, under an explicit ``--dist``, blame the
    first item they handed over, so there the worker keeps xdist's order.
    The first item is always the first handed over: no batch has named one yet."""
    queue = getattr(_interactor(session.config), "torun", None)
    get, lock = getattr(queue, "get", None), getattr(queue, "lock", None)
    if queue is None or not (callable(get) and callable(lock)):
        return
    items = session.items
    first = [True]

    def take() -> Any:
        head = get()
        if first[0] or not isinstance(head, int) or head >= len(items):
            first[0] = False
            return head
        reader.submit_queued(items[head])
        if reader.ready(items[head]):
            return head
        with lock() as pending:
            for position, index in enumerate(pending):
                if not isinstance(index, int) or index >= len(items):
                    break  # xdist's shutdown marker: nothing after it runs
                if reader.ready(items[index]):
                    del pending[position]
                    pending.appendleft(head)
                    return index
        return head

    queue.get = take
