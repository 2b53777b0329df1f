"""Write an inventory naming test-bed instances, and run the catalog against it.

A check's test then reads like the checklist it proves::

    run = run_catalog(pytester, "test_postgres.py", targets=[pg_good, pg_bad])
    assert run.outcome("pg-03", "pg_good") == "passed"
    assert run.outcome("pg-03", "pg_bad") == "failed"
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.base import Instance

REPO = Path(__file__).resolve().parents[2]
CHECKS = REPO / "checks"


def inventory_document(targets: Iterable[Instance], **top: Any) -> dict[str, Any]:
    """The inventory as a dict: ``{kind: {instance.name: instance.entry}}`` plus top-level keys."""
    doc: dict[str, Any] = {"name": top.pop("name", "testbed"), **top}
    for inst in targets:
        doc.setdefault(inst.kind, {})[inst.name] = inst.entry
    return doc


def write_inventory(path: Path, targets: Iterable[Instance] = (), **top: Any) -> Path:
    targets = list(targets)
    path.write_text(yaml.safe_dump(inventory_document(targets, **top), sort_keys=False))
    return path


def secrets_env(targets: Iterable[Instance]) -> dict[str, str]:
    env: dict[str, str] = {}
    for inst in targets:
        env.update(inst.env)
    return env


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@dataclass
class CatalogRun:
    """The outcome of one in-process catalog run: the summary every report is built from."""

    result: pytest.RunResult | None
    summary: Any  # pytest_deploycheck.reports.summary.RunSummary
    ret: int

    def result_for(self, check_id: str, target: str | None = None) -> Any:
        found = [r for r in self.summary.results if r.check_id == check_id and (target is None or r.target == target)]
        if not found:
            known = sorted({(r.check_id, r.target) for r in self.summary.results})
            raise AssertionError(f"no result for {check_id} on {target}; have {known}")
        return found[0]

    def outcome(self, check_id: str, target: str | None = None) -> str:
        return str(self.result_for(check_id, target).outcome.value)

    def message(self, check_id: str, target: str | None = None) -> str:
        return str(self.result_for(check_id, target).message)

    def evidence(self, check_id: str, target: str | None = None) -> dict[str, Any]:
        return dict(self.result_for(check_id, target).evidence)


def run_catalog(pytester: pytest.Pytester, *modules: str, targets: Iterable[Instance] = (), args: Iterable[str] = (),
                env: Mapping[str, str] | None = None, **top: Any) -> CatalogRun:
    """Run catalog modules (names under checks/, e.g. "test_tls.py", or "-k" style args) against
    an inventory naming ``targets``; returns the run's go-live summary."""
    targets = list(targets)
    inventory = write_inventory(pytester.path / "inventory.yml", targets, **top)
    paths = [str(CHECKS / m) for m in modules] or [str(CHECKS)]
    values = {**secrets_env(targets), **(env or {})}
    with environment(values):
        reprec = pytester.inline_run(*paths, f"--inventory={inventory}", f"--rootdir={REPO}", "-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:hypothesispytest", *args)
    calls = reprec.getcalls("pytest_deploycheck_summary")
    assert calls, f"the run produced no go-live summary (exit {reprec.ret})"
    return CatalogRun(result=None, summary=calls[-1].summary, ret=int(reprec.ret))
