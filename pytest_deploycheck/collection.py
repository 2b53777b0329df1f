"""Collection: checks parametrized over the inventory's targets, their metadata evaluated once.

``pytest_generate_tests`` gives every check one item per matching target (or one "no-targets"
item that ends as not applicable); ``pytest_collection_modifyitems`` evaluates the markers into
``CheckMeta``, reports catalog problems as one usage error and applies ``--deploycheck-severity``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pytest_deploycheck.checklist.collect import assign as assign_checklist
from pytest_deploycheck.decision import function_of
from pytest_deploycheck.markers import CheckMeta, Severity, check_meta, duplicate_ids, is_check
from pytest_deploycheck.options import resolve
from pytest_deploycheck.reports.summary import write_shared_catalog
from pytest_deploycheck.state import META_KEY, NO_INVENTORY, STATE_KEY, NoTarget, collection_usage_error, item_target
from pytest_deploycheck.targets import fixture_kinds, takes


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = metafunc.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    mark = metafunc.definition.get_closest_marker("targets")
    roles = set(_as_tuple(mark.kwargs.get("roles"))) if mark else set()
    tags = set(_as_tuple(mark.kwargs.get("tags"))) if mark else set()
    for fixture, kinds in fixture_kinds().items():
        if fixture not in metafunc.fixturenames:
            continue
        if state.inventory is None:
            # A project's own testinfra tests (no check marker) keep testinfra's ``host``.
            state.needs_inventory = state.needs_inventory or is_check(metafunc.definition)
            continue
        targets = sorted(
            (t for kind in kinds for t in state.inventory.of_kind(kind)
             if takes(fixture, t) and (not roles or roles & set(t.roles)) and (not tags or tags & set(t.tags))),
            key=lambda t: t.name,
        )
        if targets:
            metafunc.parametrize(fixture, [(t.kind, t.name) for t in targets], ids=[t.name for t in targets], indirect=True)
        else:
            what = " or ".join(kinds) if fixture != "tls_endpoint" else "tls (or https http)"
            narrowed = ""
            if roles:
                narrowed += f" with role {' or '.join(sorted(roles))}"
            if tags:
                narrowed += f" with tag {' or '.join(sorted(tags))}"
            metafunc.parametrize(fixture, [NoTarget(f"no {what} targets{narrowed} in inventory {state.inventory.name}")],
                                 ids=["no-targets"], indirect=True)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


#: The severity marks added to every check item, made once (``pytest.mark.<name>`` builds a new decorator per access).
_SEVERITY_MARKS = {severity: getattr(pytest.mark, severity.value) for severity in Severity}


def _definition_key(item: pytest.Item) -> tuple[Any, ...]:
    """Items with one key share their markers: the same function under the same parent, with the
    same own marks (a ``pytest.param(..., marks=...)`` makes its item differ)."""
    return (item.parent, getattr(item, "originalname", item.name), tuple(id(mark) for mark in item.own_markers))


@pytest.hookimpl(tryfirst=True)  # before -m/-k deselection, which reads the markers we add
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    problems: list[str] = []
    by_function: dict[tuple[str, str], CheckMeta] = {}
    # A check parametrized over 500 targets is one definition: its markers are evaluated, its path
    # made relative, once; each item only gets the result.
    evaluated: dict[tuple[Any, ...], CheckMeta | None] = {}
    relpaths: dict[Any, str] = {}
    for item in items:
        key = _definition_key(item)
        if key in evaluated:
            meta = evaluated[key]
        else:
            meta = check_meta(item, problems) if is_check(item) else None
            evaluated[key] = meta
            if meta is not None:
                if item.path not in relpaths:
                    relpaths[item.path] = os.path.relpath(item.path)
                by_function[(relpaths[item.path], getattr(item, "originalname", item.name))] = meta
        if meta is None:
            continue  # a project's own test (no metadata, no verdict), or a check with a problem reported once
        item.stash[META_KEY] = meta
        item.add_marker(_SEVERITY_MARKS[meta.severity])
        item.extra_keyword_matches.update((meta.id, meta.section, meta.severity.value))
    # The catalog's order, before any selection: a shard's report carries it, so merged shards list
    # their results as one run would (merge.ordered), also for a function whose items one shard holds.
    state.order = list(dict.fromkeys(function_of(item.nodeid) for item in items))
    problems = list(dict.fromkeys(problems))  # a parametrized check reports its problem once
    problems += duplicate_ids(by_function)
    if problems:
        head = f"{len(problems)} problems in the check catalog:\n" if len(problems) > 1 else ""
        collection_usage_error(config, items, head + "\n".join(problems))
        return
    if state.needs_inventory and not resolve(config, "deploycheck_list"):
        collection_usage_error(config, items, NO_INVENTORY)
        return
    assign_checklist(config, items)  # the team's checklist items: their checks, or manual
    if state.min_severity is not None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            meta = item.stash.get(META_KEY, None)
            (drop if meta is not None and not meta.severity.at_least(state.min_severity) else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Remember the checks a selection (-k, -m, --deploycheck-severity, --lf) left out: the run
    is then partial, and every report says so (``decision.Scope``)."""
    for item in items:
        meta = item.stash.get(META_KEY, None)
        state = item.config.stash.get(STATE_KEY, None)
        if meta is not None and state is not None:
            state.deselected[item.nodeid] = meta.id


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reports its collection: the controller schedules by it
def pytest_collection_finish(session: pytest.Session) -> None:
    """Under xdist the controller never collects: a worker shares the checks it collected, so an
    interrupted run still names the checks that never started (``summary.write_shared_catalog``),
    and the controller can keep each target's items on one worker (``distribution.py``)."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is None or state.state_dir is None or not hasattr(session.config, "workerinput"):
        return
    checks: dict[str, dict[str, Any]] = {}
    items: dict[str, list[Any]] = {}
    for item in session.items:
        meta = item.stash.get(META_KEY, None)
        if meta is not None:
            if meta.id not in checks:
                checks[meta.id] = meta.as_dict()
            kind, target = item_target(item)
            items[item.nodeid] = [meta.id, target, kind]
    write_shared_catalog(state.state_dir, checks, items, state.deselected, state.order)
