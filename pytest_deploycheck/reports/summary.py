"""The go-live summary: collects every result on the controller, decides, prints, gates the exit.

``GoLiveSummary`` is registered only where reports arrive whole (the serial process or the xdist
controller), like pytest's ``LogXML``.  It folds the setup/call/teardown reports of each item
into one ``Result``, marks items that never finished as *not run*, decides the verdict, hands a
``RunSummary`` to the report writers (``pytest_deploycheck_summary``) and sets the exit status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck import __version__
from pytest_deploycheck.decision import Level, Result, Verdict, decide, gate_fails
from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.markers import CheckMeta, Severity
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.state import META_KEY, STATE_KEY

OUTCOME_ORDER = (Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.MANUAL, Outcome.WAIVED, Outcome.NOT_APPLICABLE, Outcome.NOT_RUN)


def meta_from_dict(data: dict[str, Any]) -> CheckMeta:
    return CheckMeta(
        id=data["id"], title=data["title"], severity=Severity.parse(data["severity"]),
        section=data["section"], section_title=data["section_title"], rationale=data.get("rationale", ""),
        refs=tuple(data.get("refs", ())), manual=bool(data.get("manual")),
        instructions=data.get("instructions", ""), active_probe=bool(data.get("active_probe")),
    )


@dataclass
class RunSummary:
    """Everything a report writer needs, identical for a serial and an xdist run."""

    inventory_name: str | None
    inventory_path: str | None
    inventory_sha256: str | None
    started: dt.datetime
    finished: dt.datetime
    results: list[Result]
    verdict: Verdict
    fail_on: str
    exit_status: int
    interrupted: bool
    plugin_version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)  # report writers may add (waivers, attestations)

    @property
    def catalog_digest(self) -> str:
        """A short digest of the checks that ran (id, title, severity): two runs with the same
        digest applied the same checklist."""
        rows = sorted({(r.check.id, r.check.title, r.check.severity.value) for r in self.results if r.check})
        return hashlib.sha256(repr(rows).encode()).hexdigest()[:12]

    def counts(self) -> Counter[Outcome]:
        return Counter(r.outcome for r in self.results)

    def by_section(self) -> dict[str, Counter[Outcome]]:
        table: dict[str, Counter[Outcome]] = defaultdict(Counter)
        for r in self.results:
            table[r.check.section_title if r.check else "(unknown)"][r.outcome] += 1
        return dict(sorted(table.items()))

    def by_severity(self) -> dict[Severity, Counter[Outcome]]:
        table: dict[Severity, Counter[Outcome]] = {s: Counter() for s in Severity}
        for r in self.results:
            table[r.severity][r.outcome] += 1
        return table


@dataclass
class _Pending:
    data: dict[str, Any]
    outcome: Outcome = Outcome.PASSED
    message: str = ""
    duration: float = 0.0
    done: bool = False


class GoLiveSummary:
    def __init__(self, config: pytest.Config, inventory: Inventory | None, fail_on: str) -> None:
        self.config = config
        self.inventory = inventory
        self.fail_on = fail_on
        self.started = dt.datetime.now(dt.timezone.utc)
        self.expected: dict[str, CheckMeta | None] = {}
        self.items: dict[str, _Pending] = {}
        self.summary: RunSummary | None = None
        self.internal_error = False

    # -- collection: what should run -------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            meta = item.stash.get(META_KEY, None)
            if meta is not None:
                self.expected[item.nodeid] = meta

    def xdist_collected(self, ids: list[str]) -> None:
        for nodeid in ids:
            self.expected.setdefault(nodeid, None)

    # -- results ------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "deploycheck", None)
        if not isinstance(data, dict):
            self.expected.pop(report.nodeid, None)  # not a check: a user's own test
            return
        pending = self.items.setdefault(report.nodeid, _Pending(data))
        outcome = Outcome(data["outcome"])
        pending.duration += float(getattr(report, "duration", 0.0) or 0.0)
        if report.when == "call" or (outcome is not Outcome.PASSED and pending.outcome is Outcome.PASSED):
            pending.data = data
            pending.outcome = outcome
            pending.message = data.get("message", "")
        elif report.when == "teardown" and outcome is Outcome.ERROR and pending.outcome is Outcome.PASSED:
            pending.outcome, pending.message = Outcome.ERROR, data.get("message", "")
        if report.when == "teardown":
            pending.done = True

    def pytest_internalerror(self) -> None:
        self.internal_error = True

    def results(self) -> list[Result]:
        out: list[Result] = []
        for nodeid, pending in self.items.items():
            data = pending.data
            out.append(Result(
                nodeid=nodeid, check=meta_from_dict(data["check"]), target=data.get("target"),
                target_kind=data.get("target_kind"),
                outcome=pending.outcome if pending.done else Outcome.NOT_RUN,
                message=pending.message if pending.done else "the run ended before this check finished",
                evidence=data.get("evidence") or {}, duration=round(pending.duration, 3),
                attestation=data.get("attestation"), waiver=data.get("waiver"),
            ))
        shared = self._shared_catalog() if any(m is None for m in self.expected.values()) else None
        for nodeid, meta in self.expected.items():
            if nodeid not in self.items:
                target, kind = _target_from_nodeid(nodeid), None
                if meta is None and shared is not None:  # xdist: the workers said what this item is
                    entry = shared.get(nodeid)
                    if entry is None:
                        continue  # not a check: a project's own test
                    meta, target, kind = meta_from_dict(entry["check"]), entry.get("target"), entry.get("target_kind")
                out.append(Result(nodeid=nodeid, check=meta, target=target, target_kind=kind,
                                  outcome=Outcome.NOT_RUN, message="never ran"))
        # Catalog (collection) order, known alike to a serial run and to the xdist controller,
        # never the order in which results happened to arrive.
        order = {nodeid: i for i, nodeid in enumerate(self.expected)}
        return sorted(out, key=lambda r: (order.get(r.nodeid, len(order)), r.nodeid))

    def _shared_catalog(self) -> dict[str, Any] | None:
        state = self.config.stash.get(STATE_KEY, None)
        return read_shared_catalog(state.state_dir) if state is not None and state.state_dir is not None else None

    # -- the end ------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        internal = self.internal_error or exitstatus == pytest.ExitCode.INTERNAL_ERROR
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            return
        if self.config.getoption("collectonly", False) or self.config.getoption("deploycheck_attestation_template", None):
            return  # nothing was meant to run (--collect-only, the attestation template): no verdict
        results = self.results()
        if not results and self.inventory is None:
            return  # not a go-live run at all (a project's own tests, with no inventory and no checks)
        verdict = decide(results, interrupted=interrupted, internal_error=internal)
        summary = RunSummary(
            inventory_name=self.inventory.name if self.inventory else None,
            inventory_path=str(self.inventory.path) if self.inventory else None,
            inventory_sha256=self.inventory.sha256 if self.inventory else None,
            started=self.started, finished=dt.datetime.now(dt.timezone.utc),
            results=results, verdict=verdict, fail_on=self.fail_on, exit_status=int(exitstatus), interrupted=interrupted,
        )
        override = self.config.hook.pytest_deploycheck_verdict(config=self.config, summary=summary)
        if isinstance(override, Verdict):
            summary.verdict = verdict = override
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if gate_fails(verdict, results, self.fail_on) else pytest.ExitCode.OK
            if not results and self.fail_on != "never":
                session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
        summary.exit_status = int(session.exitstatus)
        self.summary = summary
        self.config.hook.pytest_deploycheck_summary(config=self.config, summary=summary)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.summary is None:
            return
        chars = str(getattr(self.config.option, "reportchars", "") or "")
        show_na = self.config.get_verbosity() > 0 or any(c in chars for c in "saA")
        write_terminal_summary(terminalreporter, self.summary, show_not_applicable=show_na)


SHARED_CATALOG = "catalog.json"


def write_shared_catalog(state_dir: Path, entries: dict[str, dict[str, Any]]) -> None:
    """On an xdist worker: the checks it collected (node id -> check, target), for the controller,
    which never collects and would otherwise know an item that never started only by its node id.
    Every worker collects the same items: the first one to write wins."""
    path = state_dir / SHARED_CATALOG
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entries), encoding="utf-8")
    os.replace(tmp, path)


def read_shared_catalog(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / SHARED_CATALOG).read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _target_from_nodeid(nodeid: str) -> str | None:
    if nodeid.endswith("]") and "[" in nodeid:
        return nodeid.rsplit("[", 1)[1][:-1]
    return None


_COLOURS = {Level.GO: {"green": True, "bold": True}, Level.GO_WITH_RISKS: {"yellow": True, "bold": True}, Level.NO_GO: {"red": True, "bold": True}}


def write_terminal_summary(tr: Any, summary: RunSummary, show_not_applicable: bool = False) -> None:
    tr.write_sep("=", "go-live summary")
    name = summary.inventory_name or "(no inventory)"
    tr.write_line(f"inventory: {name}" + (f" (sha256 {summary.inventory_sha256[:12]})" if summary.inventory_sha256 else "")
                  + f"; catalog {summary.catalog_digest}; pytest-deploycheck {summary.plugin_version}")
    sections = summary.by_section()
    if sections:
        width = max(len(s) for s in sections)
        cols = [o for o in OUTCOME_ORDER if any(c[o] for c in sections.values())]
        tr.write_line(f"{'section'.ljust(width)}  " + "  ".join(f"{o.value:>7}" for o in cols))
        for section, counts in sections.items():
            tr.write_line(f"{section.ljust(width)}  " + "  ".join(f"{counts[o] or '':>7}" for o in cols))
    verdict = summary.verdict
    if verdict.blocking:
        _write_results(tr, "blocking:", verdict.blocking, 50, " (see the HTML or JSON report)", red=True, bold=True)
    if verdict.risks:
        _write_results(tr, "risks:", verdict.risks, 30, "", yellow=True, bold=True)
    not_applicable = [r for r in summary.results if r.outcome is Outcome.NOT_APPLICABLE]
    if not_applicable and show_not_applicable:
        tr.write_line("")
        tr.write_line("not applicable (not examined):", bold=True)
        for r in not_applicable:
            tr.write_line(f"  {r.check_id} {r.target or '-'}: {_short(r.message)}")
    _write_governance(tr, summary.extra)
    tr.write_line("")
    tr.write_line(f"VERDICT: {verdict.level.value}", **_COLOURS[verdict.level])
    tr.write_line(f"rule: {verdict.rule}")
    tr.write_line(f"gate (--deploycheck-fail-on={summary.fail_on}): exit status {summary.exit_status}")


def _write_governance(tr: Any, extra: dict[str, Any]) -> None:
    """Who attested what, and every waiver that applied or needs attention (attestations.py, waivers.py)."""
    attested = [a for a in extra.get("attestations", ()) if a.get("status") == "valid"]
    if attested:
        tr.write_line("")
        tr.write_line("attested:", bold=True)
        for a in attested[:30]:
            tr.write_line(f"  {a['check']} {', '.join(a.get('matched') or ['-'])}: by {a['by']} ({a['role']}) on {a['date']}, "
                          f"valid until {a['expires']}; evidence: {_short(a['evidence'], 80)}")
        if len(attested) > 30:
            tr.write_line(f"  ... and {len(attested) - 30} more")
    waivers = extra.get("waivers", ())
    if waivers:
        tr.write_line("")
        tr.write_line("waivers:", yellow=True, bold=True)
        for w in waivers[:30]:
            tr.write_line(f"  {w['id']} ({w['check']} on {w['target']}, {w['ticket']}, approved by {w['approver']} until {w['expires']}): "
                          f"{w['status']}: {_short('; '.join(w.get('notes') or ()))}")
        if len(waivers) > 30:
            tr.write_line(f"  ... and {len(waivers) - 30} more (see the HTML or JSON report)")


def _write_results(tr: Any, title: str, results: tuple[Result, ...], limit: int, more_hint: str, **markup: bool) -> None:
    tr.write_line("")
    tr.write_line(title, **markup)
    for r in results[:limit]:
        tr.write_line(f"  {r.check_id} [{r.severity.value}] {r.target or '-'}: {r.outcome.value}: {_short(r.message)}")
    if len(results) > limit:
        tr.write_line(f"  ... and {len(results) - limit} more{more_hint}")


def _short(message: str, limit: int = 200) -> str:
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


SUMMARY_KEY = pytest.StashKey[GoLiveSummary]()
