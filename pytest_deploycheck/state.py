"""Run state: what one pytest process knows about the run, and the stash keys that hold it.

Every module that needs the run's inventory, redactor, reachability memory or an item's check
metadata reads it from here, never from ``plugin.py``: the entry module imports the rest and
nothing imports it back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.checklist.loaded import LoadedChecklist
from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.markers import CheckMeta, Severity
from pytest_deploycheck.outcomes import Evidence, Outcome, TargetError, not_applicable
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.targets import fixture_kinds
from pytest_deploycheck.targets.base import Target
from pytest_deploycheck.targets.reach import Reachability, TargetPool

NO_INVENTORY = (
    "these checks need an inventory: pass --inventory=PATH (or set DEPLOYCHECK_INVENTORY, or the ini key "
    "deploycheck_inventory); to check this machine: pytest --inventory=inventories/localhost.yml"
)

#: Under xdist, a worker's collection-time usage error, handed to the controller (``collection_usage_error``).
USAGE_ERROR_FILE = "usage-error.txt"


@dataclass
class DeploycheckState:
    """Per-process state, in ``config.stash[STATE_KEY]``."""

    inventory: Inventory | None
    redactor: Redactor
    reach: Reachability
    pool: TargetPool
    fail_on: str
    min_severity: Severity | None
    state_dir: Path | None
    owns_state_dir: bool
    needs_inventory: bool = False
    deselected: dict[str, str] = field(default_factory=dict)  # node id -> check id of checks -k/-m/--deploycheck-severity left out
    checklists: list[LoadedChecklist] = field(default_factory=list)  # --deploycheck-checklist, with their mapping files
    expectations: list[Any] = field(default_factory=list)  # --deploycheck-expectations (expectations.collect.Loaded)
    order: list[str] = field(default_factory=list)  # every collected test function (node id without parameters), in collection order
    _by_key: dict[tuple[str, str], Target] = field(default_factory=dict, repr=False)

    def target(self, kind: str, name: str) -> Target:
        """The inventory's target ``kind.name``, from an index built once: a fleet's inventory has
        hundreds of targets, and every item asks for its own."""
        assert self.inventory is not None
        found = self.find(kind, name)
        return found if found is not None else self.inventory.get(kind, name)

    def find(self, kind: str, name: str) -> Target | None:
        """The inventory's target ``kind.name``, or None (the same index as ``target``)."""
        assert self.inventory is not None
        if not self._by_key:
            self._by_key.update({(t.kind, t.name): t for t in self.inventory.targets})
        return self._by_key.get((kind, name))


@dataclass(frozen=True)
class NoTarget:
    """The single parameter of a check that has no matching target: it ends as not applicable."""

    reason: str


STATE_KEY = pytest.StashKey[DeploycheckState]()
META_KEY = pytest.StashKey[CheckMeta]()
EVIDENCE_KEY = pytest.StashKey[Evidence]()
OUTCOME_KEY = pytest.StashKey[Outcome]()
#: (kind, name) of the target of an item that is not parametrized through a fixture (an expectation).
TARGET_KEY = pytest.StashKey[tuple[str, str]]()


def state_of(request: pytest.FixtureRequest) -> DeploycheckState:
    return request.config.stash[STATE_KEY]


#: pytest's own options under which no check runs (the items are listed, or their fixtures).
PYTEST_RUNS_NOTHING = ("collectonly", "setupplan", "showfixtures", "show_fixtures_per_test")
#: Ours: the attestation template, the checklist's mapping file, the catalog list are written instead.
DEPLOYCHECK_RUNS_NOTHING = ("deploycheck_attestation_template", "deploycheck_checklist_map", "deploycheck_list")


def runs_nothing(config: pytest.Config) -> bool:
    """A run that collects and runs no check: no target is contacted, no verdict is decided."""
    return any(config.getoption(dest, None) for dest in PYTEST_RUNS_NOTHING + DEPLOYCHECK_RUNS_NOTHING)


def xdist_active(config: pytest.Config) -> bool:
    """Whether this run distributes items to xdist workers (``-n``, ``--dist``)."""
    return bool(config.pluginmanager.hasplugin("xdist") and (config.getoption("numprocesses", None) or config.getoption("dist", "no") != "no"))


def item_target(item: pytest.Item) -> tuple[str | None, str | None]:
    """(kind, name) of the inventory target an item was parametrized with; (None, None) if none."""
    own = item.stash.get(TARGET_KEY, None)
    if own is not None:
        return own
    params = item_target_params(item)
    return (params[0][1], params[0][2]) if params else (None, None)


#: ``item.stash``: the item's target parameters, read once (``item_target_params``).
_PARAMS_KEY = pytest.StashKey[tuple[tuple[str, str, str], ...]]()


def item_target_params(item: pytest.Item) -> tuple[tuple[str, str, str], ...]:
    """(fixture, kind, name) of every target fixture the item was parametrized with; read once per
    item (the results, the read-ahead and the scheduler each ask, several times per item)."""
    found = item.stash.get(_PARAMS_KEY, None)
    if found is not None:
        return found
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    pairs = ((fixture, params.get(fixture)) for fixture in fixture_kinds()) if params else ()
    found = tuple((fixture, str(param[0]), str(param[1])) for fixture, param in pairs if isinstance(param, tuple) and len(param) == 2)
    item.stash[_PARAMS_KEY] = found
    return found


def resolve_target(request: pytest.FixtureRequest) -> Target:
    """The inventory target this item was parametrized with; applies the run-wide rules
    (not applicable, active probes off, dead target) before the check starts."""
    state = state_of(request)
    param = getattr(request, "param", None)
    if isinstance(param, NoTarget):
        not_applicable(param.reason, unexamined=True)
    if state.inventory is None or not isinstance(param, tuple):
        raise TargetError(NO_INVENTORY)
    target = state.target(*param)
    meta = request.node.stash.get(META_KEY, None)
    if meta is not None and meta.active_probe and not target.active_probes:
        not_applicable(f"{target.name}: active probe not enabled; set active_probes: true on the target "
                       "(or at the top of the inventory) to allow it", unexamined=True)
    state.reach.preflight(target)
    return target


def collection_usage_error(config: pytest.Config, items: list[pytest.Item], message: str) -> None:
    """Stop the run with a one-line usage error (exit 4) found while collecting.

    An xdist worker cannot raise one: xdist turns it into an INTERNALERROR that loses the
    message.  A worker writes it to the run's state directory and runs nothing; the controller
    raises it when the worker reports its collection (``plugin._XdistHooks``).
    """
    state = config.stash.get(STATE_KEY, None)
    if not hasattr(config, "workerinput") or state is None or state.state_dir is None:
        raise pytest.UsageError(message)
    target = state.state_dir / USAGE_ERROR_FILE
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(message)
    os.replace(tmp, target)
    items[:] = []
