"""``--deploycheck-shard=I/N``: one CI job checks one Nth of the fleet, split by target.

Every job collects the same items and keeps those of its targets; the split is deterministic:
targets are dealt, most items first (ties by kind and name), each to the shard with the fewest
items so far, so the N jobs take about equal shares and every target's checks run in one job
(one login, one fact cache).  Items without a target (not applicable for want of one, manual
items) go to shard 1.  The items left out are deselected, so a shard's own report says it is a
partial run ("shard 2/4"); the shards' JSON reports merge into the fleet's verdict and reports:

    pytest --inventory=fleet.yml --deploycheck-shard=1/4 --deploycheck-json=shard-1.json
    ...
    python -m pytest_deploycheck.merge shard-*.json --json=go-live.json --html=go-live.html \\
        --junitxml=junit.xml --checklist-md=checklist.md

(``merge.py``).  The option also reads ``DEPLOYCHECK_SHARD`` and the ini key ``deploycheck_shard``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_deploycheck.decision import Verdict
from pytest_deploycheck.options import resolve
from pytest_deploycheck.state import item_target

SHARD_KEY = pytest.StashKey[tuple[int, int]]()

#: How a shard names itself in its report's scope (``decision.Scope.narrowed_by``).
SHARD_NOTE = "shard {i}/{n} (--deploycheck-shard): the other targets are checked by the other shards"


def shard_of(config: pytest.Config) -> tuple[int, int] | None:
    """The shard (I, N) this run is, command line > DEPLOYCHECK_SHARD > ini; None: the whole fleet."""
    value = resolve(config, "deploycheck_shard")
    return value if value is None else (int(value[0]), int(value[1]))


def pytest_configure(config: pytest.Config) -> None:
    shard = shard_of(config)
    if shard is not None:
        config.stash[SHARD_KEY] = shard


def assign(items: list[pytest.Item], n: int) -> list[int]:
    """The shard (0-based) of each item: whole targets dealt to the least-loaded shard."""
    weight: dict[tuple[str, str], int] = {}
    keys: list[tuple[str, str] | None] = []
    for item in items:
        kind, name = item_target(item)
        key = (kind, name) if kind is not None and name is not None else None
        keys.append(key)
        if key is not None:
            weight[key] = weight.get(key, 0) + 1
    load = [0] * n
    home: dict[tuple[str, str], int] = {}
    for key in sorted(weight, key=lambda k: (-weight[k], k)):
        best = min(range(n), key=lambda s: (load[s], s))
        home[key] = best
        load[best] += weight[key]
    return [home[key] if key is not None else 0 for key in keys]


@pytest.hookimpl(trylast=True)  # after -k, -m and --deploycheck-severity: split what is left
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = config.stash.get(SHARD_KEY, None)
    if shard is None or not items:
        return
    i, n = shard
    homes = assign(items, n)
    keep = [item for item, home in zip(items, homes, strict=True) if home == i - 1]
    drop = [item for item, home in zip(items, homes, strict=True) if home != i - 1]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_deploycheck_verdict(config: pytest.Config, summary: Any) -> Verdict | None:
    """A shard's report says it is one shard, not "deselected by a plugin or option"."""
    shard = config.stash.get(SHARD_KEY, None)
    if shard is None:
        return None
    verdict: Verdict = summary.verdict
    scope = verdict.scope
    generic = [text for text in scope.narrowed_by if text.startswith("deselected by a plugin or option")]
    narrowed = (*(text for text in scope.narrowed_by if text not in generic), SHARD_NOTE.format(i=shard[0], n=shard[1]))
    new_scope = dataclasses.replace(scope, narrowed_by=narrowed)
    rule = verdict.rule.replace(scope.describe(), new_scope.describe()) if scope.describe() else verdict.rule
    return Verdict(verdict.level, rule, verdict.blocking, verdict.risks, new_scope)
