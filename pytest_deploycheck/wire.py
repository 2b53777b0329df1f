"""An item's events on the wire from an xdist worker to its controller: one message, not six.

For every item an xdist worker sends six events through execnet: ``logstart``, the setup, call
and teardown reports, ``logfinish`` and ``runtest_protocol_complete``.  execnet's serializer is
pure Python and costs per object, each message is a write and a flush on the pipe, and on the
controller each is read by the receiver thread and queued for the main thread, which wakes for it.
On a 500-target run that is 66,000 messages, on the same cores that run the checks.

So a worker keeps an item's events until the item is complete and sends them as one message: the
events ``marshal``-ed (C code, and it keeps tuples, which JSON would turn into lists) into one
bytes object.  The controller unpacks them and hands them to xdist's own event handling in the
order they were sent, then queues them for its main thread as one entry.  Every hook on the
controller sees the same calls with the same reports as without this.

* Only an item's own events wait (``BUFFERED``), and only until that item is complete: reports
  reach the controller item by item, so a worker that crashes takes only the item it was running
  with it.  Each item's batch also names the item the worker runs next (``upcoming``): a worker
  may take a ready item out of turn (``preflight._ready_first``), and the controller blames the
  item named (``distribution.running``), not the first one it handed over and saw no report of.
* Any other event (a steal's answer, sent from the worker's receiver thread; ``workerfinished``
  after a Ctrl-C mid-item) first sends what is waiting, then itself: the order never changes.
* Events that ``marshal`` cannot hold go the usual way, one by one (execnet cannot hold them
  either; it fails on them as before).
* Batching is on only in go-live runs (an inventory given), and only when the controller asked
  for it in the worker's ``workerinput``, with the same ``marshal`` format (same Python): a
  worker of another Python, or without this plugin, sends events the usual way, which the
  controller still understands.  Runs of a project's own tests are left as xdist makes them.
"""

from __future__ import annotations

import marshal
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from pytest_deploycheck.state import STATE_KEY

#: The event name of a worker's batch (its one keyword argument: ``packed``).
BATCH = "deploycheck_batch"
#: The events of one item that wait for the item to complete.
BUFFERED = frozenset({"logstart", "testreport", "logfinish", "warning_recorded"})
#: The event that completes an item: its batch is sent with it.
COMPLETE = "runtest_protocol_complete"
#: ``workerinput`` key: the controller understands batches in this ``marshal`` format.
WORKER_FLAG = "deploycheck_batch"
#: ``workerinput`` key: the controller schedules by target (``distribution.py``), whose crash
#: accounting reads ``upcoming``: the worker may take a ready item out of turn.  xdist's own
#: schedulers (an explicit ``--dist``) blame the first item handed over, so there it may not.
REORDER_FLAG = "deploycheck_ready_first"

Event = tuple[str, dict[str, Any]]


def wire_format() -> list[Any]:
    """What a batch's bytes depend on: ``marshal``'s format, and the interpreter that reads them."""
    return [marshal.version, sys.implementation.cache_tag]


def batching(config: pytest.Config) -> bool:
    """Whether this xdist worker sends its events in batches (its controller asked, same format)."""
    return getattr(config, "workerinput", {}).get(WORKER_FLAG) == wire_format()


def out_of_turn(config: pytest.Config) -> bool:
    """Whether this xdist worker may take a ready item out of turn: batches name the item it runs
    next, and its controller schedules by target, whose crash accounting reads them."""
    return batching(config) and getattr(config, "workerinput", {}).get(REORDER_FLAG) is True


class Batcher:
    """A worker's ``sendevent``: an item's events held until the item is complete, then sent as
    one ``BATCH``, with the index of the item the worker runs next (``upcoming``; None when it
    finishes).  Thread-safe: xdist's receiver thread sends a steal's answer through it."""

    def __init__(self, send: Callable[..., None], upcoming: Callable[[], Any] = lambda: None) -> None:
        self._send = send
        self._upcoming = upcoming
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, name: str, **kwargs: Any) -> None:
        with self._lock:
            if name in BUFFERED:
                self._events.append((name, kwargs))
                return
            if name == COMPLETE:
                self._events.append((name, kwargs))
                upcoming = self._upcoming()
                self._flush(upcoming=upcoming if isinstance(upcoming, int) else None)
                return
            self._flush()
            self._send(name, **kwargs)

    def _flush(self, **complete: Any) -> None:
        """Send what waits; ``complete`` (``upcoming``) when an item completes, else nothing."""
        events, self._events = self._events, []
        if not events:
            return
        try:
            packed: bytes | None = marshal.dumps(events)
        except ValueError:  # an object marshal cannot hold: execnet decides, event by event, as always
            packed = None
            for name, kwargs in events:
                self._send(name, **kwargs)
        if packed is not None or complete:
            self._send(BATCH, packed=packed, **complete)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """In a worker whose controller asked for batches: xdist's events go through a ``Batcher``."""
    config = session.config
    if not batching(config):
        return
    for plugin in config.pluginmanager.get_plugins():
        if type(plugin).__name__ == "WorkerInteractor" and callable(getattr(plugin, "sendevent", None)):
            plugin.sendevent = Batcher(plugin.sendevent, _next_item_of(plugin))


def _next_item_of(interactor: Any) -> Callable[[], Any]:
    """The index of the item xdist's worker loop runs next (``WorkerInteractor.nextitem_index``)."""
    return lambda: getattr(interactor, "nextitem_index", None)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """On the controller, before the node's channel is read: understand batches, and ask for them."""
    state = node.config.stash.get(STATE_KEY, None)
    if state is None or state.inventory is None:
        return
    dsession = node.config.pluginmanager.get_plugin("dsession")
    if dsession is None or not callable(getattr(node, "process_from_remote", None)):
        return
    if not hasattr(dsession, "worker_" + BATCH):
        setattr(dsession, "worker_" + BATCH, _run_batch(dsession))
    from pytest_deploycheck.distribution import by_target

    node.process_from_remote = _receive(node, node.process_from_remote)
    node.workerinput[WORKER_FLAG] = wire_format()
    node.workerinput[REORDER_FLAG] = by_target(node.config)


def _receive(node: Any, process: Callable[[Any], None]) -> Callable[[Any], None]:
    """The node's channel callback (execnet's receiver thread): a batch's events go through xdist's
    own handling one by one, and what that queues for the main thread is queued as one entry."""

    def process_from_remote(eventcall: Any) -> None:
        if not (isinstance(eventcall, tuple) and len(eventcall) == 2 and eventcall[0] == BATCH):
            process(eventcall)
            return
        if "upcoming" in eventcall[1]:
            node.deploycheck_upcoming = eventcall[1]["upcoming"]  # read by the scheduler if the worker dies
        if eventcall[1].get("packed") is None:
            return
        put = node.putevent
        calls: list[Event] = []
        node.putevent = calls.append  # only this thread queues for this node
        try:
            for event in marshal.loads(eventcall[1]["packed"]):
                process(event)
        finally:
            node.putevent = put
        if calls:
            put((BATCH, {"calls": calls}))

    return process_from_remote


def _run_batch(dsession: Any) -> Callable[..., None]:
    """The main thread's handler of a batch: each queued call, in order, as xdist's loop would."""

    def run(calls: list[Event]) -> None:
        for name, kwargs in calls:
            getattr(dsession, "worker_" + name)(**kwargs)

    return run
