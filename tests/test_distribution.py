"""The by-target scheduler's bookkeeping, driven as xdist's controller drives it, with stand-ins
for xdist's worker controllers (what the scheduler sends each worker is recorded, and answered
as a worker would).  The real thing runs in test_speed_xdist.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_deploycheck.distribution import make_scheduler

pytest.importorskip("xdist")


class Worker:
    """Records what the scheduler asks of a worker; holds its queue as a worker does."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.queue: list[int] = []
        self.steals: list[list[int]] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.queue += indices

    def send_steal(self, indices: list[int]) -> None:
        self.steals.append(indices)

    def shutdown(self) -> None:
        self.shutting_down = True

    def __repr__(self) -> str:
        return self.gateway.id


#: Twenty targets of three checks each; ``t0`` is handed out first (largest: four checks).
COLLECTION = [f"test_c.py::test_{c}[t{t}]" for c in "abc" for t in range(20)] + ["test_c.py::test_d[t0]"]


def scheduler(tmp_path: Path, workers: list[Worker]) -> Any:
    config = SimpleNamespace(getvalue=lambda name: [f"{len(workers)}*popen"], option=SimpleNamespace(loadscopereorder=True))
    sched = make_scheduler(config, None, tmp_path, None)  # type: ignore[arg-type]
    sched._scopes = {nodeid: nodeid.rsplit("[", 1)[1][:-1] for nodeid in COLLECTION}
    for worker in workers:
        sched.add_node(worker)
        sched.add_node_collection(worker, COLLECTION)
    sched.schedule()
    return sched


def run(sched: Any, worker: Worker, count: int) -> None:
    """The worker finishes its next ``count`` items."""
    for _ in range(count):
        sched.mark_test_complete(worker, worker.queue.pop(0))


def run_dry(sched: Any, worker: Worker, others: list[Worker]) -> None:
    """The worker runs until it is down to the last item it holds back, with nothing left to hand
    out: it then asks another worker for a target, or is told to finish."""
    for _ in range(len(COLLECTION)):
        if (not sched.workqueue and len(worker.queue) <= 1) or any(o.steals for o in others):
            return
        run(sched, worker, 1)
    raise AssertionError("the worker never ran dry")


def scope_of(indices: list[int]) -> set[str]:
    return {COLLECTION[i].rsplit("[", 1)[1][:-1] for i in indices}


def test_an_idle_worker_takes_the_last_target_a_busy_one_has_not_started(tmp_path: Path) -> None:
    a, b = Worker("gw0"), Worker("gw1")
    sched = scheduler(tmp_path, [a, b])
    assert scope_of(a.queue[:4]) == {"t0"}  # the largest target first, more queued behind it
    run(sched, a, 1)  # a is busy with t0 from now on
    queued = list(dict.fromkeys(COLLECTION[i].rsplit("[", 1)[1][:-1] for i in a.queue))
    run_dry(sched, b, [a])
    assert len(a.steals) == 1 and scope_of(a.steals[0]) == {queued[-1]}  # the last one a was handed
    assert not b.shutting_down and not sched.tests_finished  # waits for the answer
    stolen = a.steals[0]
    a.queue = [i for i in a.queue if i not in stolen]
    sched.remove_pending_tests_from_node(a, stolen)
    assert b.queue[-len(stolen):] == stolen
    run_dry(sched, b, [])  # and the next one, and so on: a keeps only t0
    assert len(a.steals) == 2 and scope_of(a.steals[1]) == {queued[-2]}


def test_a_refused_steal_is_not_asked_again_and_the_idle_worker_finishes(tmp_path: Path) -> None:
    a, b = Worker("gw0"), Worker("gw1")
    sched = scheduler(tmp_path, [a, b])
    run(sched, a, 1)
    run_dry(sched, b, [a])
    for _ in range(len(COLLECTION)):
        asked = len(a.steals)
        sched.remove_pending_tests_from_node(a, [])  # a had started it (a steal takes all or none)
        if len(a.steals) == asked:
            break
    assert len({frozenset(s) for s in a.steals}) == len(a.steals) > 1  # each target asked for once
    assert b.shutting_down  # nothing left to take: b finishes its last item
    run(sched, b, len(b.queue))
    assert not sched.tests_finished
    run(sched, a, len(a.queue) - 1)
    assert sched.tests_finished  # a holds its last item back until xdist tells every worker to finish


def test_a_target_given_back_after_its_thief_went_down_is_handed_out_again(tmp_path: Path) -> None:
    a, b, c = Worker("gw0"), Worker("gw1"), Worker("gw2")
    sched = scheduler(tmp_path, [a, b, c])
    run(sched, a, 1)
    run(sched, c, 1)
    run_dry(sched, b, [a, c])
    victim = next(w for w in (a, c) if w.steals)
    stolen = victim.steals[-1]
    sched.remove_node(b)  # the thief crashed meanwhile
    victim.queue = [i for i in victim.queue if i not in stolen]
    sched.remove_pending_tests_from_node(victim, stolen)  # the answer still comes, with the items
    assert any(set(stolen) <= set(w.queue) for w in (a, c)) or set(COLLECTION[i] for i in stolen) <= {
        n for unit in sched.workqueue.values() for n in unit}  # they run somewhere
    assert sched.has_pending and not sched.tests_finished
