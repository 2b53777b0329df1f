"""An xdist worker sends each item's events to its controller as one message
(``pytest_deploycheck/wire.py``); the controller hands them to xdist's own handling in order.

The parts with stand-ins for xdist's two ends (a recording ``sendevent``, a node and a
``DSession`` that record what they are given), then real xdist: a worker that dies in the middle
of a target takes only the item it was running with it, and every item before it is reported
once.  ``tests/test_speed_xdist.py`` compares a serial and an xdist run's whole JSON reports.
"""

from __future__ import annotations

import json
import marshal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_deploycheck import wire
from pytest_deploycheck.state import STATE_KEY


def item_events(index: int) -> list[tuple[str, dict[str, Any]]]:
    nodeid = f"checks/test_tls.py::test_chain[web{index}]"
    location = ("checks/test_tls.py", 10, f"test_chain[web{index}]")
    reports = [("testreport", {"data": {"$report_type": "TestReport", "nodeid": nodeid, "when": when, "location": location,
                                        "user_properties": [("check_id", "tls-01")], "item_index": index}})
               for when in ("setup", "call", "teardown")]
    return [("logstart", {"nodeid": nodeid, "location": location}), *reports,
            ("logfinish", {"nodeid": nodeid, "location": location}),
            ("runtest_protocol_complete", {"item_index": index, "duration": 0.01})]


class Sent(list[tuple[str, dict[str, Any]]]):
    def __call__(self, name: str, **kwargs: Any) -> None:
        self.append((name, kwargs))


def unpacked(sent: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """What the controller makes of ``sent``: every event, batches opened."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, kwargs in sent:
        out.extend(marshal.loads(kwargs["packed"]) if name == wire.BATCH else [(name, kwargs)])
    return out


def test_an_items_events_travel_as_one_message_in_their_order() -> None:
    sent = Sent()
    batcher = wire.Batcher(sent)
    for index in (0, 1):
        for name, kwargs in item_events(index):
            batcher(name, **kwargs)
    assert [name for name, _ in sent] == [wire.BATCH, wire.BATCH]
    assert unpacked(sent) == item_events(0) + item_events(1)  # tuples stay tuples
    assert isinstance(unpacked(sent)[0][1]["location"], tuple)


def test_any_other_event_sends_what_waits_before_itself() -> None:
    """A steal's answer comes from the worker's receiver thread in the middle of an item;
    ``workerfinished`` after a Ctrl-C mid-item: the order on the wire never changes."""
    sent = Sent()
    batcher = wire.Batcher(sent)
    events = item_events(0)
    for name, kwargs in events[:2]:
        batcher(name, **kwargs)
    batcher("unscheduled", indices=[5, 6])
    for name, kwargs in events[2:]:
        batcher(name, **kwargs)
    batcher("workerfinished", workeroutput={})
    assert [name for name, _ in sent] == [wire.BATCH, "unscheduled", wire.BATCH, "workerfinished"]
    assert unpacked(sent) == [*events[:2], ("unscheduled", {"indices": [5, 6]}), *events[2:], ("workerfinished", {"workeroutput": {}})]


def test_an_event_alone_is_sent_as_itself() -> None:
    sent = Sent()
    wire.Batcher(sent)("workerready", workerinfo={"version": "3.11"})
    assert sent == [("workerready", {"workerinfo": {"version": "3.11"}})]


def test_what_marshal_cannot_hold_goes_event_by_event() -> None:
    sent = Sent()
    batcher = wire.Batcher(sent)
    events = item_events(0)
    events[2][1]["data"]["odd"] = object()  # execnet decides, as without batching
    for name, kwargs in events:
        batcher(name, **kwargs)
    assert sent == [*events, (wire.BATCH, {"packed": None, "upcoming": None})]  # the item after it, still named


def test_a_completed_items_batch_names_the_item_the_worker_runs_next() -> None:
    """What the controller blames if the worker dies next (a worker may take a ready item out of turn)."""
    sent = Sent()
    upcoming: list[Any] = [7]
    batcher = wire.Batcher(sent, lambda: upcoming[0])
    events = item_events(0)
    for name, kwargs in events[:2]:
        batcher(name, **kwargs)
    batcher("unscheduled", indices=[5])  # a steal's answer mid-item: no item named
    for name, kwargs in events[2:]:
        batcher(name, **kwargs)
    upcoming[0] = object()  # xdist's shutdown marker: nothing runs next
    for name, kwargs in item_events(7):
        batcher(name, **kwargs)
    assert [kwargs.get("upcoming", "absent") for name, kwargs in sent] == ["absent", "absent", 7, None]


class Node:
    """A stand-in for xdist's ``WorkerController``: records what its own handling is given."""

    def __init__(self, queued: list[Any], inventory: object | None = object()) -> None:
        config = SimpleNamespace(stash={STATE_KEY: SimpleNamespace(inventory=inventory)},
                                 pluginmanager=SimpleNamespace(get_plugin=lambda name: DSESSION if name == "dsession" else None))
        self.config = config
        self.workerinput: dict[str, Any] = {}
        self.putevent = queued.append
        self.handled: list[Any] = []

    def process_from_remote(self, eventcall: Any) -> None:
        self.handled.append(eventcall)
        name, kwargs = eventcall
        self.putevent((name, {"node": "gw0", **kwargs}))


class DSession:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("worker_") or name == "worker_" + wire.BATCH:
            raise AttributeError(name)
        return lambda **kwargs: self.calls.append((name, kwargs))


DSESSION = DSession()


def test_the_controller_hands_a_batch_to_xdist_event_by_event_and_queues_it_once() -> None:
    queued: list[Any] = []
    node = Node(queued)
    wire.pytest_configure_node(node)
    assert node.workerinput[wire.WORKER_FLAG] == wire.wire_format()
    sent = Sent()
    batcher = wire.Batcher(sent)
    for name, kwargs in item_events(3):
        batcher(name, **kwargs)
    node.process_from_remote(sent[0])
    node.process_from_remote(("workerfinished", {"workeroutput": {}}))
    assert node.handled == [*item_events(3), ("workerfinished", {"workeroutput": {}})]
    assert [name for name, _ in queued] == [wire.BATCH, "workerfinished"]
    assert node.putevent == queued.append  # put back after the batch
    DSESSION.calls.clear()
    getattr(DSESSION, "worker_" + wire.BATCH)(**queued[0][1])
    assert DSESSION.calls == [("worker_" + name, {"node": "gw0", **kwargs}) for name, kwargs in item_events(3)]
    node.process_from_remote((wire.BATCH, {"packed": None, "upcoming": 4}))  # events sent one by one before it
    assert node.deploycheck_upcoming == 4 and len(queued) == 2 and len(node.handled) == 7


def test_runs_without_an_inventory_are_left_as_xdist_makes_them() -> None:
    node = Node([], inventory=None)
    original = node.process_from_remote
    wire.pytest_configure_node(node)
    assert node.workerinput == {} and node.process_from_remote == original


def test_a_worker_batches_only_what_its_controller_asked_for() -> None:
    class Interactor:
        def sendevent(self, name: str, **kwargs: Any) -> None:
            raise AssertionError("not called here")

    def session(flag: Any) -> Any:
        interactor = Interactor()
        Interactor.__name__ = "WorkerInteractor"
        config = SimpleNamespace(workerinput={"workerid": "gw0", **({wire.WORKER_FLAG: flag} if flag is not None else {})},
                                 pluginmanager=SimpleNamespace(get_plugins=lambda: [interactor]))
        wire.pytest_sessionstart(SimpleNamespace(config=config))
        return interactor

    assert isinstance(session(wire.wire_format()).sendevent, wire.Batcher)
    assert not isinstance(session(None).sendevent, wire.Batcher)
    assert not isinstance(session([0, "other-python"]).sendevent, wire.Batcher)


CRASH = '''
import os
import pytest
from pytest_deploycheck import require

pytestmark = pytest.mark.section("wire", "Wire")

@pytest.mark.check("wire-01", "Counts", severity="high")
@pytest.mark.parametrize("n", range(6))
def test_count(files, n):
    """The worker dies at the fourth item of target b."""
    if files.name == "b" and n == 3:
        os._exit(1)
    require(True, files, "fine", "fine")
'''


def test_a_worker_that_dies_takes_only_the_item_it_was_running_and_that_item_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wire_crash=CRASH)
    (pytester.path / "inv.yml").write_text("files:\n  a: {path: .}\n  b: {path: .}\n  c: {path: .}\n")
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "--deploycheck-catalog=none", "-n", "2",
                                           "--deploycheck-json=report.json", "-p", "no:randomly")
    rows = json.loads(Path(pytester.path / "report.json").read_text())["results"]
    outcomes = {row["nodeid"].split("::")[-1]: row["outcome"] for row in rows}
    assert len(rows) == len(outcomes) == 18, rows  # every item reported once
    assert outcomes.pop("test_count[b-3]") == "error"
    assert set(outcomes.values()) == {"passed"}  # the dead worker's finished items, and the rest of b run elsewhere
    crashed = next(row for row in rows if row["nodeid"].endswith("[b-3]"))
    assert "worker running this check died" in crashed["message"] and "crashed while running" in crashed["message"]
    assert result.stdout.str().count("replacing crashed worker") == 1  # not run again: it would take the next worker down too
    assert "VERDICT: NO-GO" in result.stdout.str()
    assert result.ret == 1


IN_TURN = '''
import os
import time
import pytest
from pytest_deploycheck import read_ahead, require

pytestmark = pytest.mark.section("wire", "Wire")

@pytest.mark.check("wire-01", "Counts", severity="high")
@read_ahead(lambda files: files.name == "bslow" and time.sleep(1))
@pytest.mark.parametrize("n", range(6))
def test_count(files, n):
    """Target bslow's read takes 1 s; the worker dies at the fourth item of target ccrash."""
    if files.name == "ccrash" and n == 3:
        os._exit(1)
    require(True, files, "fine", "fine")
'''

OUT_OF_TURN = '''
import os
import time
from pathlib import Path
import pytest
from pytest_deploycheck import read_ahead, require

pytestmark = pytest.mark.section("wire", "Wire")


def _slow(files):
    """bslow's read lasts until an item of ccrash has started (at most 30 s): only a worker
    that takes ccrash out of turn gets past bslow without waiting for it."""
    deadline = time.monotonic() + 30
    while files.name == "bslow" and not Path("ccrash-started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.check("wire-01", "Counts", severity="high")
@read_ahead(_slow)
@pytest.mark.parametrize("n", range(6))
def test_count(files, n):
    """The worker dies at the first item of target ccrash.  afirst's items take a while, so that
    ccrash's read is done when the worker picks what follows them, however loaded the machine:
    a worker takes a queued item out of turn only if it is ready at that moment."""
    if files.name == "afirst":
        time.sleep(0.15)
    if files.name == "ccrash" and n == 0:
        Path("ccrash-started").touch()
        os._exit(1)
    require(True, files, "fine", "fine")
'''


def test_a_worker_takes_a_ready_target_out_of_turn_and_dying_there_is_blamed_on_the_right_item(pytester: pytest.Pytester) -> None:
    """One worker, handed afirst, bslow and ccrash in that order (by name; dlast waits at the
    controller).  bslow's read lasts until ccrash has started, so the worker must check ccrash
    (ready) rather than wait; it dies at ccrash's first item, and the controller blames that
    item, not bslow's first one (as xdist's rule, a worker runs its items in turn, would)."""
    pytester.makepyfile(test_wire_turn=OUT_OF_TURN)
    (pytester.path / "inv.yml").write_text("files:\n" + "".join(f"  {name}: {{path: .}}\n" for name in ("afirst", "bslow", "ccrash", "dlast")))
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "--deploycheck-catalog=none", "-n", "1", "-v",
                                           "--deploycheck-json=report.json", "-p", "no:randomly")
    out = result.stdout.str()
    assert "crashed while running 'test_wire_turn.py::test_count[ccrash-0]'" in out
    assert out.index("replacing crashed worker") < out.index("PASSED test_wire_turn.py::test_count[bslow-0]")  # bslow waited
    rows = json.loads(Path(pytester.path / "report.json").read_text())["results"]
    outcomes = {row["nodeid"].split("::")[-1]: row["outcome"] for row in rows}
    assert len(rows) == len(outcomes) == 24, rows
    assert outcomes.pop("test_count[ccrash-0]") == "error", rows
    assert set(outcomes.values()) == {"passed"}, outcomes
    assert out.count("replacing crashed worker") == 1
    assert result.ret == 1


def test_under_an_explicit_dist_the_worker_keeps_xdists_order(pytester: pytest.Pytester) -> None:
    """xdist's own schedulers blame the first item they handed over when a worker dies, so a
    worker they feed never takes an item out of turn."""
    pytester.makepyfile(test_wire_turn=IN_TURN)
    (pytester.path / "inv.yml").write_text("files:\n" + "".join(f"  {name}: {{path: .}}\n" for name in ("afirst", "bslow", "ccrash", "dlast")))
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "--deploycheck-catalog=none", "-n", "1", "--dist", "loadscope", "-v",
                                           "-p", "no:randomly")
    out = result.stdout.str()
    assert out.index("PASSED test_wire_turn.py::test_count[bslow-5]") < out.index("PASSED test_wire_turn.py::test_count[ccrash-0]")
    assert "crashed while running 'test_wire_turn.py::test_count[ccrash-3]'" in out
