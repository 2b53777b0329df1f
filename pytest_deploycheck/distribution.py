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

The controller never collects: the item -> target map is the one the workers share through the
run's state directory (``reports/summary.py``: ``write_shared_catalog``), which they write before
reporting their collection, that is before the first scheduling decision.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.reports.summary import SHARED_CATALOG
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


def by_target(config: pytest.Config) -> bool:
    """Whether this run schedules items by target (``-n`` without ``--dist``)."""
    return config.stash.get(BY_TARGET_KEY, False)


def make_scheduler(config: pytest.Config, log: Any, state_dir: Path, inventory: Inventory) -> Any:
    """The by-target scheduler (xdist is installed: only then is this called)."""
    from xdist.scheduler import LoadScopeScheduling

    class TargetScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """``loadscope`` with an item's target as its scope."""

        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            self._scopes: dict[str, str] | None = None
            self._open: dict[Any, list[str]] = {}  # node -> its scopes not finished, in order

        def _split_scope(self, nodeid: str) -> str:
            if self._scopes is None:
                self._scopes = target_scopes(state_dir, inventory)
            return self._scopes.get(nodeid, nodeid)

        def _reschedule(self, node: Any) -> None:
            """Keep up to ``SCOPES_AHEAD`` targets queued on a worker (xdist's ``loadscope`` hands
            the next one over when two items are left), so that it can read them ahead while it
            checks the current one; fewer towards the end, so the workers still finish together."""
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            wanted = min(SCOPES_AHEAD, max(1, len(self.workqueue) // max(1, len(self.nodes))))
            # Only the node's unfinished scopes are looked at (xdist's own count walks every item
            # ever assigned, on every report: quadratic in a 500-target run).
            work = self.assigned_work[node]
            unfinished = self._open.setdefault(node, [])
            unfinished[:] = [scope for scope in unfinished if not all(work[scope].values())]
            # xdist's own rule first: a worker holds its last item back until it knows the next
            # one, so one with two items or fewer left always gets more work.
            if sum(1 for scope in unfinished for done in work[scope].values() if not done) <= 2:
                self._assign_work_unit(node)
            while self.workqueue and len(unfinished) < wanted:
                self._assign_work_unit(node)

        def _assign_work_unit(self, node: Any) -> None:
            scope = next(iter(self.workqueue))
            super()._assign_work_unit(node)
            self._open.setdefault(node, []).append(scope)

    return TargetScheduling(config, log)


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
    try:
        entries = json.loads((state_dir / SHARED_CATALOG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    scopes: dict[str, str] = {}
    if isinstance(entries, dict):
        for nodeid, entry in entries.items():
            if isinstance(entry, dict) and entry.get("target"):
                scopes[str(nodeid)] = scope_of(str(entry.get("target_kind")), str(entry["target"]), inventory)
    return scopes
