"""Under pytest-xdist, the items of one target run on one worker.

A target's checks share one connection and one fact cache (an SSH ControlMaster and its host's
memoized facts, a TLS endpoint's certificate chain, an HTTP session and its login): spread over
workers, every worker would log in and read them again, and ``-n`` would cost more than it
saves.  So ``-n`` without a ``--dist`` of the user's choosing schedules *by target*: xdist's
``loadscope`` machinery with the scope of an item being its target (``kind.name``), so whole
targets are balanced over the workers.  Host entries that seem to reach one machine (one address,
or local:// and SSH to a loopback address: ``hosts.machine_hint``) share a scope, so the
machine's facts are read once (``HostTarget.memo``).  Items without a target keep
their own node id as scope (balanced one by one).  An explicit ``--dist`` (``load``,
``loadfile``, ``worksteal``, ...) is honoured as given.

The largest targets are handed out first; each worker keeps a few targets queued, which it
reads ahead while checking the current one, and it checks first the queued items whose reads are
done (``preflight._ready_first``); a worker that runs out when nothing is left to hand
out takes the last target another worker was handed and has not started (xdist's ``steal``
command, all of a target's items or none).  So one slow target (a host whose package state
takes seconds to read, a site that answers slowly) delays only itself, not the targets queued
behind it.  A stolen target may already have been read ahead by the worker that gave it up:
that read is wasted, never wrong, as the thief reads it again.

The controller never collects: the item -> target map is the one the workers share through the
run's state directory (``reports/summary.py``: ``write_shared_catalog``), which they write before
reporting their collection, that is before the first scheduling decision.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.options import resolve
from pytest_deploycheck.reports.summary import read_shared_catalog
from pytest_deploycheck.targets.hosts import machine_hint

#: Targets queued on a worker ahead of the one it checks (it reads their facts meanwhile).
SCOPES_AHEAD = 8

#: ``config.stash``: True when ``-n`` was given without a ``--dist``: the run distributes by target.
BY_TARGET_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)  # a wrapper runs before every implementation: before xdist turns "no --dist" into "load"
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, Any, Any]:
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", "no") == "no" and not getattr(option, "distload", False):
        config.stash[BY_TARGET_KEY] = True
    return (yield)


#: CPUs from which ``-n auto`` starts workers for a go-live run; below, the run stays in one process.
AUTO_MIN_CPUS = 3

#: ``config.stash``: the usable CPUs when ``-n auto`` kept a go-live run in one process.
AUTO_ONE_PROCESS_KEY = pytest.StashKey[int]()


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # pytest-xdist's hook (unknown without it), before its own
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` for a go-live run: no workers on fewer than ``AUTO_MIN_CPUS`` usable CPUs (a
    container's CPU quota counts), one per usable CPU otherwise.

    One process already overlaps the targets' waits (reading ahead, the reachability pre-flight);
    what workers add is CPU for pytest's per-item work, and each costs a start and a collection
    of its own.  On 2 CPUs shared with the checks' own TLS and SSH work they never paid (measured:
    the reference stack 3.9 s serial, 4.2 s with 2 workers; 500 http targets 29.0 s and 28.6 s;
    100 targets 20 ms away 8.6 s and 11.0 s).  xdist's own count (the machine's CPUs) when no
    quota lowers it, and always when ``PYTEST_XDIST_AUTO_NUM_WORKERS`` is set or the run is a
    project's own tests; ``-n 2`` is taken as given."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or not _go_live(config):
        return None
    cpus = usable_cpus()
    if cpus >= AUTO_MIN_CPUS:
        # xdist counts the machine's CPUs; a container's CPU quota (a CI pod's limit) may allow fewer.
        return cpus if cpus < _machine_cpus() else None
    config.stash[AUTO_ONE_PROCESS_KEY] = cpus
    return 0


def auto_kept_in_one_process(config: pytest.Config) -> int | None:
    """The usable CPUs when ``-n auto`` kept this run in one process (for the report header)."""
    return config.stash.get(AUTO_ONE_PROCESS_KEY, None)


def _go_live(config: pytest.Config) -> bool:
    try:
        return resolve(config, "deploycheck_inventory") is not None
    except pytest.UsageError:
        return True  # the configuration reports it; one process meanwhile is harmless


#: Where cgroup file systems are mounted.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """The CPUs this process may use: its CPU affinity, bounded by the CPU quota of its cgroup and
    of every cgroup above it (``docker --cpus``, a Kubernetes CPU limit), rounded up."""
    quotas = [cpus for files in _quota_files(proc_cgroup) if (cpus := quota_cpus(*_read(files))) is not None]
    return min([_machine_cpus(), *quotas])


def _quota_files(proc_cgroup: Path) -> list[tuple[Path, Path | None]]:
    """The quota files of this process's cgroup and its ancestors (cgroup v2 ``cpu.max``; v1
    ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``), and of the root as a container sees it."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    places: list[tuple[Path, Path | None]] = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "":
            mounts, v2 = [CGROUP_ROOT], True
        elif "cpu" in controllers.split(","):
            mounts, v2 = [CGROUP_ROOT / "cpu", CGROUP_ROOT / controllers], False
        else:
            continue
        parts = [p for p in path.strip().split("/") if p not in ("", ".", "..")]
        for mount in dict.fromkeys(mounts):
            for depth in range(len(parts), -1, -1):
                folder = mount.joinpath(*parts[:depth])
                places.append((folder / "cpu.max", None) if v2 else (folder / "cpu.cfs_quota_us", folder / "cpu.cfs_period_us"))
    return places


def quota_cpus(quota: str | None, period: str | None = None) -> int | None:
    """CPUs a cgroup quota allows: v2 ``cpu.max`` (``"200000 100000"``, ``"max 100000"``) as
    ``quota`` alone, or v1's ``cfs_quota_us`` (-1: none) and ``cfs_period_us``; None: no quota."""
    if quota is None:
        return None
    fields = quota.split() if period is None else [quota.strip(), period.strip()]
    try:
        limit, span = int(fields[0]), int(fields[1])
    except (IndexError, ValueError):
        return None  # "max" (v2) or unreadable
    if limit <= 0 or span <= 0:
        return None  # -1 (v1): no quota
    return max(1, -(-limit // span))


def _read(files: tuple[Path, Path | None]) -> tuple[str | None, str | None]:
    texts = []
    for path in files:
        try:
            texts.append(path.read_text() if path is not None else None)
        except OSError:
            return None, None
    return texts[0], texts[1]


def _machine_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def by_target(config: pytest.Config) -> bool:
    """Whether this run schedules items by target (``-n`` without ``--dist``)."""
    return config.stash.get(BY_TARGET_KEY, False)


def make_scheduler(config: pytest.Config, log: Any, state_dir: Path, inventory: Inventory) -> Any:
    """The by-target scheduler (xdist is installed: only then is this called)."""
    from xdist.scheduler import LoadScopeScheduling

    class TargetScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """``loadscope`` with an item's target as its scope, targets queued ahead on each worker,
        and a worker that runs out taking a target another worker has not started (work stealing,
        with xdist's own ``steal`` command): one slow target no longer keeps the targets queued
        behind it waiting while the other workers idle.  The bookkeeping is counts per worker and
        target, never a walk over every item assigned so far (xdist's own, on every report, is
        quadratic in a 500-target run)."""

        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            self._scopes: dict[str, str] | None = None
            self._index: dict[Any, dict[str, int]] = {}  # node -> node id -> its index in the node's collection
            self._left: dict[Any, dict[str, int]] = {}  # node -> its unfinished scopes, in order -> items not done
            self._size: dict[str, int] = {}  # scope -> items handed over with it
            self._asked: dict[Any, tuple[Any, str]] = {}  # worker asked to give a scope back -> (thief or None, scope)
            self._started: set[str] = set()  # scopes a steal found started: never asked for again

        def _split_scope(self, nodeid: str) -> str:
            if self._scopes is None:
                self._scopes = target_scopes(state_dir, inventory)
            return self._scopes.get(nodeid, nodeid)

        # -- what xdist asks --------------------------------------------------------

        @property
        def tests_finished(self) -> bool:
            if not self.collection_is_completed or self.workqueue or self._asked:
                return False
            return all(sum(left.values()) < 2 for left in self._left.values())

        @property
        def has_pending(self) -> bool:
            return bool(self.workqueue) or any(any(left.values()) for left in self._left.values())

        def schedule(self) -> None:
            """xdist's ``loadscope`` start (identical collections, the largest targets first), but
            no worker is told to shut down while another may still have a target to give away."""
            assert self.collection_is_completed
            collection: list[str] | None = getattr(self, "collection", None)
            if collection is not None:
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return
            units: dict[str, dict[str, bool]] = {}
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            ordered = sorted(units.items(), key=lambda unit: -len(unit[1])) if self.config.option.loadscopereorder else units.items()
            self.workqueue.update(ordered)
            for _ in range(len(self.nodes) - len(self.workqueue)):  # more workers than targets
                unused, _ = self.assigned_work.popitem()
                unused.shutdown()
            for node in self.nodes:
                self._assign_work_unit(node)
            for node in self.nodes:
                self._reschedule(node)

        def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
            nodeid = self.registered_collections[node][item_index]
            scope = self._split_scope(nodeid)
            self.assigned_work[node][scope][nodeid] = True
            left = self._left[node]
            left[scope] -= 1
            if not left[scope]:
                del left[scope]
            self._reschedule(node)

        def remove_node(self, node: Any) -> str | None:
            """xdist's ``loadscope`` removal, but the item a crashed worker was running
            (``running``) is not run again: xdist reports it as crashed, and run again it would
            take every replacement worker down with it, in turn, up to ``--max-worker-restart``.
            The rest of its target is handed out again."""
            self._left.pop(node, None)
            self._index.pop(node, None)
            for victim, (thief, scope) in list(self._asked.items()):
                if victim is node:
                    del self._asked[victim]  # its work is handed out again below
                elif thief is node:
                    self._asked[victim] = (None, scope)  # the answer still comes: whatever it gives back is queued again
            workload: dict[str, dict[str, bool]] = self.assigned_work.pop(node)
            crashed = running(node, workload, self.registered_collections.get(node, ()))
            if crashed is None:
                return None
            for scope, unit in workload.items():
                if crashed in unit:
                    unit[crashed] = True
                if not all(unit.values()):
                    self.workqueue[scope] = unit
            for other in self.assigned_work:
                self._reschedule(other)
            return crashed

        def remove_pending_tests_from_node(self, node: Any, indices: Any) -> None:
            """A worker's answer to ``steal``: every item of the scope asked for, or none (it had
            started it); the thief gets the scope, or asks again elsewhere."""
            asked = self._asked.pop(node, None)
            if asked is None:
                return
            thief, scope = asked  # the thief is None when it went down meanwhile: the scope is queued again
            if indices and node in self.assigned_work:
                unit = self.assigned_work[node].pop(scope)
                self._left[node].pop(scope, None)
                self.workqueue[scope] = unit
                self.workqueue.move_to_end(scope, last=False)
            else:
                self._started.add(scope)
            for other in sorted(self.nodes, key=lambda n: n is not thief):  # the thief first; others if it is gone
                self._reschedule(other)

        # -- handing out ----------------------------------------------------------------

        def _assign_work_unit(self, node: Any) -> None:
            scope, unit = self.workqueue.popitem(last=False)
            self.assigned_work.setdefault(node, {})[scope] = unit
            index = self._index.get(node)
            if index is None:
                index = self._index[node] = {nodeid: i for i, nodeid in enumerate(self.registered_collections[node])}
            indexes = [index[nodeid] for nodeid, done in unit.items() if not done]
            if indexes:
                self._left.setdefault(node, {})[scope] = self._size[scope] = len(indexes)
                node.send_runtest_some(indexes)

        def _reschedule(self, node: Any) -> None:
            """Keep up to ``SCOPES_AHEAD`` targets queued on a worker (xdist's ``loadscope`` hands
            the next one over when two items are left), so that it can read them ahead while it
            checks the current one; fewer towards the end, so the workers still finish together.
            When none is left to hand out, a worker down to two items takes a target another has
            not started, or, when there is none, is told to finish."""
            if node.shutting_down or any(thief is node for thief, _ in self._asked.values()):
                return
            left = self._left.setdefault(node, {})
            if self.workqueue:
                wanted = min(SCOPES_AHEAD, max(1, len(self.workqueue) // max(1, len(self.nodes))))
                # xdist's own rule first: a worker holds its last item back until it knows the next
                # one, so one with two items or fewer left always gets more work.
                if sum(left.values()) <= 2:
                    self._assign_work_unit(node)
                while self.workqueue and len(left) < wanted:
                    self._assign_work_unit(node)
                return
            if sum(left.values()) > 2:
                return
            if not self._steal_for(node):
                node.shutdown()

        def _steal_for(self, thief: Any) -> bool:
            """Ask the busiest other worker for the last target it was handed and has not started."""
            best: tuple[int, Any, str] | None = None
            for victim, left in self._left.items():
                if victim is thief or victim in self._asked or victim not in self.assigned_work:
                    continue
                waiting = [scope for scope in list(left)[1:] if left[scope] == self._size[scope] and scope not in self._started]
                pending = sum(left.values())
                if waiting and (best is None or pending > best[0]):
                    best = (pending, victim, waiting[-1])
            if best is None:
                return False
            _, victim, scope = best
            self._asked[victim] = (thief, scope)
            index = self._index[victim]
            victim.send_steal([index[nodeid] for nodeid, done in self.assigned_work[victim][scope].items() if not done])
            return True

    return TargetScheduling(config, log)


def running(node: Any, workload: dict[str, dict[str, bool]], collection: Any) -> str | None:
    """The item a worker that went down was running: the one its last batch named as next
    (``wire.py``; a worker may take a ready item out of turn), when that one is not done;
    otherwise the first one it was handed and has not finished (xdist's rule: a worker runs
    its items in turn)."""
    upcoming = getattr(node, "deploycheck_upcoming", None)
    if isinstance(upcoming, int) and 0 <= upcoming < len(collection):
        nodeid = collection[upcoming]
        if any(unit.get(nodeid) is False for unit in workload.values()):
            return str(nodeid)
    return next((nodeid for unit in workload.values() for nodeid, done in unit.items() if not done), None)


def scope_of(kind: str, name: str, inventory: Inventory | None) -> str:
    """The scheduling scope of a target: ``kind.name``; for hosts, the machine they seem to reach
    (``hosts.machine_hint``), so entries of one machine share its facts on one worker."""
    if kind == "hosts" and inventory is not None:
        try:
            return f"hosts@{machine_hint(inventory.get(kind, name))}"
        except KeyError:
            pass
    return f"{kind}.{name}"


def target_scopes(state_dir: Path, inventory: Inventory | None = None) -> dict[str, str]:
    """node id -> the scope of its target, from the workers' shared catalog."""
    entries = read_shared_catalog(state_dir) or {}
    scopes: dict[str, str] = {}
    by_target: dict[tuple[str, str], str] = {}
    for nodeid, entry in entries.items():
        if entry.get("target"):
            key = (str(entry.get("target_kind")), str(entry["target"]))
            if key not in by_target:
                by_target[key] = scope_of(key[0], key[1], inventory)
            scopes[str(nodeid)] = by_target[key]
    return scopes
