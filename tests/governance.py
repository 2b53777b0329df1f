"""Shared by the attestation, waiver and governance-catalog tests: write the files, run pytest
in-process on them, and read the go-live summary the run produced."""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

TODAY = dt.date.today()


def day(offset: int) -> str:
    """An ISO date ``offset`` days from today (negative: in the past)."""
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else textwrap.dedent(data))
    return path


@dataclass(eq=False)  # hashable: pytest keeps registered plugins in sets
class SummaryCatcher:
    """A plugin passed to the in-process run: keeps the RunSummary the reports are built from."""

    summaries: list[Any] = field(default_factory=list)

    def pytest_deploycheck_summary(self, config: pytest.Config, summary: Any) -> None:
        self.summaries.append(summary)


@dataclass
class Run:
    result: pytest.RunResult
    summary: Any  # RunSummary, or None when the run stopped before a verdict

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def text(self) -> str:
        return self.result.stdout.str() + self.result.stderr.str()

    def result_for(self, check_id: str, target: str | None = None) -> Any:
        assert self.summary is not None, f"no go-live summary (exit {self.ret}):\n{self.text}"
        found = [r for r in self.summary.results if r.check_id == check_id and r.target == target]
        assert found, f"no result for {check_id} on {target}: {[(r.check_id, r.target) for r in self.summary.results]}"
        return found[0]

    def outcome(self, check_id: str, target: str | None = None) -> str:
        return str(self.result_for(check_id, target).outcome.value)

    def message(self, check_id: str, target: str | None = None) -> str:
        return str(self.result_for(check_id, target).message)

    @property
    def verdict(self) -> str:
        assert self.summary is not None, f"no go-live summary (exit {self.ret}):\n{self.text}"
        return str(self.summary.verdict.level.value)

    def extra(self, key: str) -> list[dict[str, Any]]:
        assert self.summary is not None, f"no go-live summary (exit {self.ret}):\n{self.text}"
        return list(self.summary.extra[key])

    def waiver(self, waiver_id: str) -> dict[str, Any]:
        rows = [w for w in self.extra("waivers") if w["id"] == waiver_id]
        assert rows, f"no waiver {waiver_id} in the report: {self.extra('waivers')}"
        return rows[0]

    def usage_error(self) -> str:
        """The UsageError text of a run that ended with exit status 4."""
        assert self.ret == pytest.ExitCode.USAGE_ERROR, f"expected a usage error, got exit {self.ret}:\n{self.text}"
        return self.result.stderr.str()


def run(pytester: pytest.Pytester, *args: str) -> Run:
    catcher = SummaryCatcher()
    # Plugins these runs never use, left out: hypothesis alone re-imports for a second per run.
    quiet = ("-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:anyio")
    result = pytester.runpytest("-p", "no:cacheprovider", *quiet, *args, plugins=[catcher])
    return Run(result, catcher.summaries[-1] if catcher.summaries else None)


def files_inventory(pytester: pytest.Pytester, *names: str, thresholds: dict[str, Any] | None = None, **top: Any) -> Path:
    """An inventory with one ``files`` target per name, each a folder under the pytester dir."""
    targets = {}
    for name in names:
        folder = pytester.path / "repos" / name
        folder.mkdir(parents=True, exist_ok=True)
        targets[name] = {"path": str(folder)}
    doc: dict[str, Any] = {"name": "gov-test", **top}
    if thresholds:
        doc["thresholds"] = thresholds
    if targets:
        doc["files"] = targets
    return write_yaml(pytester.path / "inventory.yml", doc)


def attestation(by: str = "Ada Lovelace", role: str = "SRE lead", date: int = -3, valid_for: str | None = "30d",
                expires: int | None = None, **more: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {**more, "by": by, "role": role, "date": day(date), "evidence": "https://tickets.example.com/OPS-1"}
    if expires is not None:
        entry["expires"] = day(expires)
    elif valid_for is not None:
        entry["valid_for"] = valid_for
    return entry


def waiver(wid: str, check: str, target: str = "*", expires: int = 60, **more: Any) -> dict[str, Any]:
    return {"id": wid, "check": check, "target": target, "justification": "accepted until the Q3 migration",
            "approver": "Jane Doe (CISO)", "ticket": "RISK-14", "expires": day(expires), **more}
