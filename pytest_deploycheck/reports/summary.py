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
from pytest_deploycheck.checklist.items import ChecklistEntry
from pytest_deploycheck.checklist.status import ChecklistSummary, for_verdict, judge, raise_severity
from pytest_deploycheck.decision import Level, Result, Scope, Verdict, decide, gate_fails
from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.markers import CheckMeta, Severity
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.reports.causes import RootCause, grouped, root_causes
from pytest_deploycheck.state import META_KEY, STATE_KEY, runs_nothing

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
    checklist: ChecklistSummary | None = None  # the team's own checklist (--deploycheck-checklist)
    incidents: list[str] = field(default_factory=list)  # what else happened: SIGTERM, a report hook that raised, ...

    @property
    def scope(self) -> Scope:
        return self.verdict.scope

    @property
    def partial(self) -> bool:
        return self.verdict.scope.partial

    def root_causes(self) -> list[RootCause]:
        """Causes that blocked results (a dead target, a certificate), each with what it blocked."""
        return root_causes(self.results)

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
    check: dict[str, Any] = field(default_factory=dict)
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
        self.checklist_entries: dict[str, ChecklistEntry] = {}  # "source::key" -> what the item's report carried
        self.checklist_nodeids: dict[str, str] = {}  # node id -> "source::key"
        self.interrupt_cause = ""  # "SIGTERM", "Ctrl-C"
        self.crashed: dict[str, str] = {}  # xdist: node id -> why the worker running it is gone

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
        listed = getattr(report, "deploycheck_checklist", None)
        if isinstance(listed, dict):
            entry = ChecklistEntry.from_dict(listed)
            key = f"{entry.source}::{entry.key}"
            self.checklist_entries[key] = entry
            self.checklist_nodeids[report.nodeid] = key
        data = getattr(report, "deploycheck", None)
        if not isinstance(data, dict):
            if report.failed and report.when not in ("setup", "call", "teardown") and report.nodeid in self.expected:
                # xdist's report for the item a worker died running (``when="???"``): could not look.
                self.crashed[report.nodeid] = str(report.longrepr)
                return
            self.expected.pop(report.nodeid, None)  # not a check: a user's own test
            return
        pending = self.items.setdefault(report.nodeid, _Pending(data))
        if "title" in data.get("check", {}):
            pending.check = data["check"]  # the setup report's whole metadata; later reports name only the id
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

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        said = str(excinfo.value)
        if "SIGTERM" in said:
            self.interrupt_cause = "SIGTERM received"
        elif type(excinfo.value).__name__ == "Interrupted" and said:
            self.interrupt_cause = said  # xdist stopping the run itself: "stopping after 1 failures" (-x, --maxfail)
        else:
            self.interrupt_cause = "Ctrl-C (SIGINT)"

    def results(self) -> list[Result]:
        out: list[Result] = []
        for nodeid, pending in self.items.items():
            data = pending.data
            outcome, message = pending.outcome, pending.message
            if not pending.done:
                outcome, message = Outcome.NOT_RUN, "the run ended before this check finished"
                if nodeid in self.crashed:
                    outcome, message = Outcome.ERROR, _crash_message(self.crashed[nodeid])
            out.append(Result(
                nodeid=nodeid, check=meta_from_dict(pending.check or data["check"]), target=data.get("target"),
                target_kind=data.get("target_kind"), outcome=outcome, message=message,
                evidence=data.get("evidence") or {}, duration=round(pending.duration, 3),
                attestation=data.get("attestation"), waiver=data.get("waiver"),
                unexamined=bool(data.get("unexamined")) and outcome is Outcome.NOT_APPLICABLE,
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
                if nodeid in self.crashed:
                    out.append(Result(nodeid=nodeid, check=meta, target=target, target_kind=kind,
                                      outcome=Outcome.ERROR, message=_crash_message(self.crashed[nodeid])))
                    continue
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
        if runs_nothing(self.config):
            return  # nothing was meant to run (--collect-only, the attestation template, the mapping file): no verdict
        results = self.results()
        if not results and self.inventory is None:
            return  # not a go-live run at all (a project's own tests, with no inventory and no checks)
        checklist = None
        state = self.config.stash.get(STATE_KEY, None)
        if state is not None and state.checklists:
            results = raise_severity(results, self.checklist_entries.values())
            item_results = {self.checklist_nodeids[r.nodeid]: r for r in results if r.nodeid in self.checklist_nodeids}
            checklist = judge(self.checklist_entries, [(str(lc.path), lc.checklist.items) for lc in state.checklists], results,
                              item_results, [w for lc in state.checklists for w in lc.warnings],
                              {key: nodeid for nodeid, key in self.checklist_nodeids.items()})
        scope = run_scope(self.config, results, self._deselected())
        cause = self.interrupt_cause if interrupted else ""
        verdict = decide(for_verdict(results, checklist), interrupted=interrupted, internal_error=internal, scope=scope, cause=cause)
        summary = RunSummary(
            inventory_name=self.inventory.name if self.inventory else None,
            inventory_path=str(self.inventory.path) if self.inventory else None,
            inventory_sha256=self.inventory.sha256 if self.inventory else None,
            started=self.started, finished=dt.datetime.now(dt.timezone.utc),
            results=results, verdict=verdict, fail_on=self.fail_on, exit_status=int(exitstatus), interrupted=interrupted,
            checklist=checklist, incidents=[f"the run was interrupted: {cause}"] if cause else [],
        )
        if state is not None:
            order = state.order or (read_shared_order(state.state_dir) if state.state_dir is not None else [])
            summary.extra["order"] = order  # the catalog order, for merging shards (merge.ordered)
        try:
            override = self.config.hook.pytest_deploycheck_verdict(config=self.config, summary=summary)
        except Exception as exc:  # noqa: BLE001 - a house policy that raises must not cost the reports
            override = _hook_failed(summary, "pytest_deploycheck_verdict", exc)
        if isinstance(override, Verdict):
            if override.scope != verdict.scope and not override.scope.partial:
                override = Verdict(override.level, override.rule, override.blocking, override.risks, verdict.scope)
            summary.verdict = verdict = override
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if gate_fails(verdict, for_verdict(results, checklist), self.fail_on) else pytest.ExitCode.OK
            if not results and self.fail_on != "never":
                session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
        summary.exit_status = int(session.exitstatus)
        self.summary = summary
        try:
            self.config.hook.pytest_deploycheck_summary(config=self.config, summary=summary)
        except Exception as exc:  # noqa: BLE001 - one writer (or a user's hook) that raises must not cost the others
            _hook_failed(summary, "pytest_deploycheck_summary", exc)
            if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
                session.exitstatus = pytest.ExitCode.TESTS_FAILED if self.fail_on != "never" else pytest.ExitCode.OK
            summary.exit_status = int(session.exitstatus)
            write_reports_again(self.config, summary)

    def _deselected(self) -> dict[str, str]:
        state = self.config.stash.get(STATE_KEY, None)
        if state is None:
            return {}
        if state.deselected or state.state_dir is None:
            return dict(state.deselected)
        return read_shared_deselected(state.state_dir)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.summary is None:
            return
        chars = str(getattr(self.config.option, "reportchars", "") or "")
        show_na = self.config.get_verbosity() > 0 or any(c in chars for c in "saA")
        write_terminal_summary(terminalreporter, self.summary, show_not_applicable=show_na)


SHARED_CATALOG = "catalog.json"
SHARED_DESELECTED = "deselected.json"


def write_shared_catalog(state_dir: Path, checks: dict[str, dict[str, Any]], items: dict[str, list[Any]],
                         deselected: dict[str, str] | None = None, order: list[str] | None = None) -> None:
    """On an xdist worker: the checks it collected (check id -> metadata, once each; node id ->
    [check id, target, target kind]), for the controller, which never collects and would
    otherwise know an item that never started only by its node id; and the checks its selection
    left out (node id -> check id), so the controller can say the run was partial.  Every worker
    collects the same items: the first one to write wins (``read_shared_catalog`` reads it)."""
    compact = {"checks": checks, "items": items, "order": order or []}
    for name, value in ((SHARED_CATALOG, compact), (SHARED_DESELECTED, deselected or {})):
        path = state_dir / name
        if path.exists():
            continue
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value), encoding="utf-8")
        os.replace(tmp, path)


def read_shared_deselected(state_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((state_dir / SHARED_DESELECTED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def run_scope(config: pytest.Config, results: list[Result], deselected: dict[str, str]) -> Scope:
    """How much of the catalog this run selected, and what narrowed it (``decision.Scope``)."""
    narrowed: list[str] = []
    keyword = str(getattr(config.option, "keyword", "") or "")
    if keyword:
        narrowed.append(f"-k {keyword!r}")
    markexpr = str(getattr(config.option, "markexpr", "") or "")
    if markexpr:
        narrowed.append(f"-m {markexpr!r}")
    state = config.stash.get(STATE_KEY, None)
    severity = state.min_severity.value if state is not None and state.min_severity is not None else ""
    if severity:
        narrowed.append(f"--deploycheck-severity={severity}")
    left_out = sorted(set(deselected.values()))
    paths, modules = _narrowing_paths(config)
    narrowed += paths
    from pytest_deploycheck.options import resolve as resolve_option

    checklist_only = bool(resolve_option(config, "deploycheck_checklist_only"))
    if checklist_only:
        narrowed.append("--deploycheck-checklist-only (the checks your checklist maps to)")
    if deselected and not (keyword or markexpr or severity or checklist_only):
        narrowed.append("deselected by a plugin or option (--lf, --deselect, ...)")
    return Scope(selected=len(results), deselected=len(deselected), narrowed_by=tuple(narrowed), left_out=tuple(left_out or modules))


def _narrowing_paths(config: pytest.Config) -> tuple[list[str], list[str]]:
    """Arguments that run part of a catalog folder: a node id (``::``), or one module of a folder
    that holds other check modules which were not named (``checks/test_tls.py``)."""
    base = config.invocation_params.dir
    args = [str(a) for a in config.args]
    named = {(base / a.split("::", 1)[0]).resolve() for a in args}
    narrowed: list[str] = []
    modules: list[str] = []
    for arg in args:
        path = (base / arg.split("::", 1)[0]).resolve()
        if path.suffix != ".py":
            continue  # a folder (the whole catalog), or a checklist the plugin collects
        if "::" in arg:
            narrowed.append(f"node id {arg}")
            continue
        if not path.is_file():
            continue
        others = sorted(p.name for p in path.parent.glob("test_*.py") if p.resolve() not in named and p.name != path.name)
        if others:
            narrowed.append(f"path {os.path.relpath(path, base)} (not the other {len(others)} module(s) of {path.parent.name}/)")
            modules += [p for p in others if p not in modules]
    return narrowed, modules


def _hook_failed(summary: RunSummary, hook: str, exc: BaseException) -> Verdict:
    """A report or policy hook raised: the run is NO-GO, and every report says why."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    incident = f"the {hook} hook raised {type(exc).__name__}: {text[:300]}"
    summary.incidents.append(incident)
    old = summary.verdict
    summary.verdict = Verdict(Level.NO_GO, f"NO-GO: {incident}; no verdict can be trusted", old.blocking, old.risks, old.scope)
    return summary.verdict


def write_reports_again(config: pytest.Config, summary: RunSummary) -> None:
    """After a ``pytest_deploycheck_summary`` implementation raised, pluggy stopped calling the
    others: call each of the plugin's own report writers once more, each on its own, so every
    report is written, with the NO-GO verdict and the incident."""
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "DEPLOYCHECK_WRITER", False):
            try:
                plugin.pytest_deploycheck_summary(config=config, summary=summary)
            except Exception as exc:  # noqa: BLE001 - say it and go on with the next writer
                summary.incidents.append(f"{type(plugin).__name__} could not write its report: {type(exc).__name__}: {exc}")


def read_shared_order(state_dir: Path) -> list[str]:
    """The collection order of test functions a worker shared (``write_shared_catalog``), or []."""
    try:
        order = json.loads((state_dir / SHARED_CATALOG).read_text(encoding="utf-8")).get("order", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [str(f) for f in order] if isinstance(order, list) else []


def read_shared_catalog(state_dir: Path) -> dict[str, Any] | None:
    """node id -> {"check": metadata, "target": name, "target_kind": kind}, as a worker collected it."""
    try:
        data = json.loads((state_dir / SHARED_CATALOG).read_text(encoding="utf-8"))
        checks, items = data["checks"], data["items"]
        return {nodeid: {"check": checks[check_id], "target": target, "target_kind": kind}
                for nodeid, (check_id, target, kind) in items.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _crash_message(said: str) -> str:
    """An item whose xdist worker died running it: it could not look, and the run says where to look."""
    return (f"not checked: the xdist worker running this check died ({said.strip() or 'no message'}); "
            "run this check alone, without -n, to see why")


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
    causes = summary.root_causes()
    under_cause = grouped(causes)
    blocking = tuple(r for r in verdict.blocking if id(r) not in under_cause)
    risks = tuple(r for r in verdict.risks if id(r) not in under_cause)
    if blocking:
        _write_results(tr, "blocking:", blocking, 50, " (see the HTML or JSON report)", red=True, bold=True)
    if causes:
        tr.write_line("")
        tr.write_line("root causes (each blocked checks that could not look):", red=True, bold=True)
        for cause in causes[:30]:
            severe = sum(1 for r in cause.blocked if r.severity.at_least(Severity.HIGH))
            tr.write_line(f"  {_short(cause.label, 300)}" + (f" ({severe} critical/high)" if severe else ""))
    if risks:
        _write_results(tr, "risks:", risks, 30, "", yellow=True, bold=True)
    not_applicable = [r for r in summary.results if r.outcome is Outcome.NOT_APPLICABLE]
    if not_applicable and show_not_applicable:
        tr.write_line("")
        tr.write_line("not applicable (not examined):", bold=True)
        for r in not_applicable:
            tr.write_line(f"  {r.check_id} {r.target or '-'}: {_short(r.message)}")
    _write_governance(tr, summary.extra)
    if summary.checklist is not None:
        _write_checklist(tr, summary.checklist)
    tr.write_line("")
    for incident in summary.incidents:
        tr.write_line(f"deploycheck: {incident}", red=True, bold=True)
    tr.write_line(f"VERDICT: {verdict.line}", **_COLOURS[verdict.level])
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


def _write_checklist(tr: Any, checklist: ChecklistSummary) -> None:
    """The team's own list: every item not passed, in file order, with why; then the counts."""
    tr.write_line("")
    open_items = [i for i in checklist.items if i.status != "passed"]
    if open_items:
        tr.write_line("your checklist, open items:", bold=True)
        for item in open_items[:40]:
            where = f"{os.path.basename(item.source)}:{item.line}"
            tr.write_line(f"  [{item.status}] {_short(item.text, 80)} ({where}): {_short(item.reason, 160)}")
        if len(open_items) > 40:
            tr.write_line(f"  ... and {len(open_items) - 40} more (see the Markdown or HTML report)")
    for warning in checklist.warnings[:10]:
        tr.write_line(f"  warning: {warning}", yellow=True)
    if checklist.beyond:
        tr.write_line(f"beyond your checklist: {len(checklist.beyond)} results of {len({r.check_id for r in checklist.beyond})} "
                      "catalog checks no item maps to (they count in the verdict by their severity)")
    tr.write_line(checklist.line(), bold=True)


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
