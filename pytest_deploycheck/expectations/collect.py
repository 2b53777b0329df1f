"""Each (expectation, target) a test item: ``expectations.yml::acme.orders-api[api]``.

An expectation runs like a catalog check: its metadata (id, title, severity, rationale, answers) in
``META_KEY``, so outcomes, evidence, waivers, attestations, the verdict, every report and the
checklist matcher treat it alike; its target through the run's pool of handles, after the
reachability pre-flight, so a dead target costs one timeout and secrets stay masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.expectations import probes
from pytest_deploycheck.expectations.model import PROBE_KINDS, Expectation, ExpectationsFile, load_expectations
from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.markers import CheckMeta
from pytest_deploycheck.outcomes import Evidence, not_applicable
from pytest_deploycheck.state import EVIDENCE_KEY, META_KEY, STATE_KEY, TARGET_KEY
from pytest_deploycheck.targets import BY_NAME
from pytest_deploycheck.targets.base import Target


@dataclass
class Loaded:
    path: Path
    file: ExpectationsFile


def load(paths: Iterable[Path], inventory: Inventory | None) -> list[Loaded]:
    """Read every expectations file; a target name the inventory lacks is a usage error too."""
    loaded = [Loaded(path.resolve(), load_expectations(path)) for path in paths]
    if loaded and inventory is None:
        raise pytest.UsageError("--deploycheck-expectations needs an inventory (--inventory=PATH) naming the targets they run on")
    problems: list[str] = []
    seen: dict[str, str] = {}
    for lf in loaded:
        for exp in lf.file.expectations:
            if exp.id in seen:
                problems.append(f"{exp.source}: expectations.{exp.id}: the id is also used at {seen[exp.id]}; ids are unique")
            seen.setdefault(exp.id, exp.source)
            for selector in exp.targets:
                if selector.name is None or inventory is None:
                    continue
                kinds = PROBE_KINDS[exp.probe]
                found = [t for t in inventory.targets if t.name == selector.name]
                if not found:
                    problems.append(f"{exp.source}: expectations.{exp.id}.targets: no target {selector.name!r} in inventory "
                                    f"{inventory.name}; name one of its {' or '.join(kinds)} targets")
                elif found[0].kind not in kinds:
                    problems.append(f"{exp.source}: expectations.{exp.id}.targets: {selector.name} is a {found[0].kind} target; "
                                    f"a {exp.probe} probe runs on {' or '.join(kinds)} targets")
    if problems:
        head = f"{len(problems)} problems in the expectations:\n" if len(problems) > 1 else ""
        raise pytest.UsageError(head + "\n".join(problems))
    return loaded


def targets_of(exp: Expectation, inventory: Inventory) -> list[Target]:
    kinds = PROBE_KINDS[exp.probe]
    out: dict[tuple[str, str], Target] = {}
    for selector in exp.targets:
        for target in inventory.targets:
            if target.kind not in kinds:
                continue
            if (selector.name == target.name or (selector.role and selector.role in target.roles)
                    or (selector.tag and selector.tag in target.tags)):
                out[(target.kind, target.name)] = target
    return sorted(out.values(), key=lambda t: t.name)


def meta_of(exp: Expectation) -> CheckMeta:
    return CheckMeta(id=exp.id, title=exp.title, severity=exp.severity, section="expectations", section_title=exp.section,
                     rationale=exp.rationale, refs=exp.refs, active_probe=exp.active_probe, answers=exp.answers)


class ExpectationsNode(pytest.File):
    loaded: Loaded

    def collect(self) -> Iterable[pytest.Item]:
        state = self.config.stash[STATE_KEY]
        assert state.inventory is not None  # load() refused expectations without an inventory
        for exp in self.loaded.file.expectations:
            meta = meta_of(exp)
            targets: list[Target | None] = [*targets_of(exp, state.inventory)] or [None]
            for target in targets:
                item = ExpectationItem.from_parent(self, name=f"{exp.id}[{target.name if target else 'no-targets'}]")
                item.expectation, item.target = exp, target
                # Metadata at once, before anything reads it (the catalog's hook, -m, the checklist matcher).
                item.stash[META_KEY] = meta
                item.add_marker(meta.severity.value)
                item.extra_keyword_matches.update({meta.id, meta.section, meta.severity.value})
                if target is not None:
                    item.stash[TARGET_KEY] = (target.kind, target.name)
                yield item


class ExpectationItem(pytest.Item):
    expectation: Expectation
    target: Target | None

    def runtest(self) -> None:
        state = self.config.stash[STATE_KEY]
        exp = self.expectation
        if self.target is None:
            kinds = " or ".join(PROBE_KINDS[exp.probe])
            not_applicable(f"no {kinds} target in inventory {state.inventory.name if state.inventory else '-'} matches "
                           f"{', '.join(_selector(s) for s in exp.targets)}", unexamined=True)
        target = self.target
        if exp.active_probe and not target.active_probes:
            not_applicable(f"{target.name}: active probe not enabled; set active_probes: true on the target to allow it", unexamined=True)
        state.reach.preflight(target)
        kind = BY_NAME[target.kind]
        handle = state.pool.handle(kind.fixture, target, kind.handle)
        evidence: Evidence = self.stash.setdefault(EVIDENCE_KEY, Evidence())
        probes.run(exp, handle, evidence, state.redactor)

    def reportinfo(self) -> tuple[Path, int, str]:
        line = int(self.expectation.source.rsplit(":", 1)[1])
        return self.path, line - 1, f"{self.expectation.id} {self.expectation.title}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(excinfo.value)


def _selector(s: Any) -> str:
    return s.name or (f"role {s.role}" if s.role else f"tag {s.tag}")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = parent.config.stash.get(STATE_KEY, None)
    for lf in getattr(state, "expectations", None) or []:
        if file_path.resolve() == lf.path:
            node = ExpectationsNode.from_parent(parent, path=file_path)
            node.loaded = lf
            return node
    return None
