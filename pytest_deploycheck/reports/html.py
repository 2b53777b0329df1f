"""The go-live report inside pytest-html's page (``--html=PATH --self-contained-html``, or the
``--deploycheck-html=PATH`` shortcut for exactly that).

Registered only when pytest-html is present and writing a report, and only on the controller
(``reports.register``).  What it adds to pytest-html's page:

- the title reads ``NO-GO — go-live report: <inventory>``; the verdict block (level, the
  rule that decided it, when, the inventory's name and sha256, plugin and catalog versions,
  the exit gate) is moved above everything else;
- counts by section and by severity, per outcome;
- the blocking items first, then the risks; manual items with their attestation or
  "pending"; waivers applied / matching nothing / expired; checks not applicable (and why)
  and checks not run;
- the results table, rendered in the page (readable without JavaScript, printable): every
  check on every target with the six go-live outcomes, problems first, its message, evidence,
  attestation and waiver; then each check of the run once with its rationale and references.
  A check's row is left out of pytest-html's script-built table, which keeps the project's own
  tests (its counts still include every check): the page stays small (bench/bench_reports.py);
- filters by outcome, severity and section (CSS rules keyed on the rows' data attributes, set by
  a small script; without it they stay hidden and every row shows);
- print CSS: no scroll box clips a list on paper, every row of the table prints.

Every value is escaped (``esc``) and masked (the run's redactor) before it is inserted.
pytest-html's own write is replaced by an atomic one.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.checklist.status import ChecklistSummary
from pytest_deploycheck.decision import Level, Result
from pytest_deploycheck.markers import Severity
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.reports.causes import grouped
from pytest_deploycheck.reports.common import clean_text, extra_list, outcome_columns, show_value, truncate, write_atomic
from pytest_deploycheck.reports.summary import OUTCOME_ORDER, RunSummary

TEXT_LIMIT = 64_000  # a 1 MB message would make the page unusable; the JSON report keeps it whole
RESULT_TEXT = 4_000  # a message in the results table (the blocking and risk lists show it whole)
EVIDENCE_TEXT = 300  # one evidence value in the results table; the JSON report keeps it whole
LONG_LIST = 25  # lists longer than this scroll inside their own box

#: The results table's order: what needs a decision first.
PROBLEM_FIRST = (Outcome.FAILED, Outcome.ERROR, Outcome.NOT_RUN, Outcome.MANUAL, Outcome.WAIVED, Outcome.PASSED, Outcome.NOT_APPLICABLE)

_LEVEL_CLASS = {Level.GO: "dc-go", Level.GO_WITH_RISKS: "dc-risks", Level.NO_GO: "dc-nogo"}


def enable_shortcut(config: pytest.Config, path: Path) -> None:
    """``--deploycheck-html=PATH`` is ``--html=PATH --self-contained-html``.

    Our ``pytest_configure`` runs after pytest-html's (``trylast``), so pytest-html has already
    decided not to write a report: set its options and let its own ``pytest_configure`` set up
    the report, exactly as if the options had been given.
    """
    current = getattr(config.option, "htmlpath", None)
    if current:
        if Path(current).resolve() == path and getattr(config.option, "self_contained_html", False):
            return
        raise pytest.UsageError(f"--deploycheck-html={path} and --html={current} both ask for an HTML report; "
                                "--deploycheck-html is a shortcut for --html=PATH --self-contained-html: pass one of them")
    config.option.htmlpath = str(path)
    config.option.self_contained_html = True
    config.pluginmanager.getplugin("html").pytest_configure(config)


def make_writes_atomic(config: pytest.Config, path: Path) -> None:
    """pytest-html writes its page with a plain ``open(..., "w")``; a run killed while it writes
    would leave half a page.  Route that one write through ``write_atomic``."""
    for plugin in config.pluginmanager.get_plugins():
        if callable(getattr(plugin, "_write_report", None)) and hasattr(plugin, "_report_path"):
            report_path = Path(plugin._report_path)
            plugin._write_report = lambda text, p=report_path: write_atomic(p, text)


class Html:
    """Escaping with the run's redactor: mask first (an escaped secret would not match), then escape."""

    def __init__(self, redactor: Redactor | None) -> None:
        self.redactor = redactor

    def __call__(self, value: object, limit: int = TEXT_LIMIT) -> str:
        text = truncate(clean_text("" if value is None else str(value)), limit)
        if self.redactor is not None:
            text = self.redactor.redact(text)
        return _html.escape(text, quote=True)

    def attr(self, value: object) -> str:
        return self(value, 200).replace("\n", "&#10;")


class HtmlReport:
    DEPLOYCHECK_WRITER = True  # called again on its own if another summary hook raised (summary.write_reports_again)

    def __init__(self, config: pytest.Config, redactor: Redactor | None = None) -> None:
        self.config = config
        self.esc = Html(redactor)
        self.redactor = redactor
        self.report_data: Any = None
        self.summary: RunSummary | None = None
        make_writes_atomic(config, Path(str(config.option.htmlpath)))

    # -- pytest-html hooks --------------------------------------------------------------

    def pytest_html_report_title(self, report: Any) -> None:
        self.report_data = report
        report.title = "Go-live report"
        # pytest-metadata's environment table (CI variables among others) is shown as is: mask secrets.
        environment = report.data.get("environment")
        if self.redactor is not None and isinstance(environment, dict):
            report.set_data("environment", self.redactor.redact_obj(dict(environment)))

    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        """A check's result is a row of our own results table, rendered in the page (``results_block``):
        readable without JavaScript, printable, and a fraction of the size of pytest-html's script-built
        row.  pytest-html's table keeps the project's own tests; its counts line gets the checks'
        go-live counts (``_agree_counts``), as it counts nothing for a row it leaves out."""
        if isinstance(getattr(report, "deploycheck", None), dict):
            cells.clear()  # pytest-html leaves a row with no cells out of its table, its data and its counts
            return
        when = getattr(report, "when", "call")
        # pytest-html puts the node id in unescaped; a hostile parameter id must not become markup.
        test_id = report.nodeid + ("" if when == "call" else f"::{when}")
        if len(cells) > 1:
            cells[1] = f'<td class="col-testId">{self.esc(test_id, 2000)}</td>'

    @pytest.hookimpl(trylast=True)  # after the modules that add waivers and attestations to summary.extra
    def pytest_deploycheck_summary(self, config: pytest.Config, summary: RunSummary) -> None:
        self.summary = summary
        if self.report_data is not None:
            name = summary.inventory_name or "(no inventory)"
            partial = " (partial run)" if summary.partial else ""
            self.report_data.title = clean_text(f"{summary.verdict.level.value}{partial} — go-live report: {name}")
            self._agree_counts(summary)

    def _agree_counts(self, run: RunSummary) -> None:
        """pytest-html's counts line: it counted only the project's own tests (check rows are left out
        of its table, ``pytest_html_results_table_row``); the checks are added as the go-live summary
        counts them (a check that could not look is an error, not "Failed")."""
        outcomes = getattr(self.report_data, "outcomes", None)
        if not isinstance(outcomes, dict) or not all(k in outcomes for k in ("passed", "failed", "error", "skipped")):
            return
        counts = run.counts()
        outcomes["passed"]["value"] += counts[Outcome.PASSED]
        outcomes["failed"]["value"] += counts[Outcome.FAILED]
        outcomes["error"]["value"] += counts[Outcome.ERROR]
        outcomes["skipped"]["value"] += sum(counts[o] for o in (Outcome.MANUAL, Outcome.WAIVED, Outcome.NOT_APPLICABLE, Outcome.NOT_RUN))
        outcomes["skipped"]["label"] = "Skipped (manual, waived, n/a, not run)"

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session) -> None:
        run = self.summary
        prefix.insert(0, f"<style>{CSS}</style>")
        if run is None:
            return
        prefix.insert(1, self.verdict_block(run))
        if run.checklist is not None:
            prefix.insert(2, self.checklist_block(run.checklist))
        summary.append(self.counts_block(run))
        postfix += [self.blocking_block(run), self.manual_block(run), self.waivers_block(run), self.na_block(run),
                    self.not_run_block(run), self.filters_block(run), self.results_block(run), self.checks_block(run)]

    # -- the blocks ---------------------------------------------------------------------

    def verdict_block(self, run: RunSummary) -> str:
        esc = self.esc
        verdict = run.verdict
        inventory = "(no inventory)"
        if run.inventory_name is not None:
            inventory = f"<b>{esc(run.inventory_name)}</b>"
            if run.inventory_path:
                inventory += f" ({esc(run.inventory_path)})"
            if run.inventory_sha256:
                inventory += f", sha256 <code>{esc(run.inventory_sha256)}</code>"
        seconds = (run.finished - run.started).total_seconds()
        rows = [
            ("Inventory", inventory),
            ("Run", f"{esc(run.started.strftime('%Y-%m-%d %H:%M:%S'))} to {esc(run.finished.strftime('%H:%M:%S'))} UTC "
                    f"({seconds:.1f} s); {len(run.results)} results"
                    + ("; <b>interrupted</b>: unfinished checks are marked not run" if run.interrupted else "")),
            ("Versions", f"pytest-deploycheck {esc(run.plugin_version)}; catalog <code>{esc(run.catalog_digest)}</code>; "
                         f"pytest {esc(pytest.__version__)}"),
            ("Gate", f"--deploycheck-fail-on={esc(run.fail_on)}: exit status {run.exit_status}"),
            ("Scope", f"<b>partial run</b>: {esc(run.scope.describe())}" if run.partial
                      else f"the whole catalog collected: {run.scope.selected} results"),
            *(("Incident", f"<b>{esc(incident)}</b>") for incident in run.incidents),
        ]
        table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return (f'<section id="dc-verdict" class="dc-verdict {_LEVEL_CLASS[verdict.level]}">'
                f'<div class="dc-level">{esc(verdict.level.value)}{" (partial run)" if verdict.partial else ""}</div>'
                f'<div class="dc-rule">{esc(verdict.rule)}</div>'
                f'<table class="dc-meta">{table}</table></section>')

    def _attested(self, att: dict[str, Any]) -> str:
        esc = self.esc
        return (f"attested by {esc(att.get('by'))} ({esc(att.get('role'))}) on {esc(att.get('date'))}; "
                f"evidence: {esc(att.get('evidence'))}; expires {esc(att.get('expires'))}")

    def checklist_block(self, checklist: ChecklistSummary) -> str:
        """The team's own list first: each item, its status, the checks behind it per target, or who attested it."""
        esc = self.esc
        rows = []
        for item in checklist.items:
            entry = item.entry
            section = " > ".join(item.section)
            if entry is None:
                how = "not judged"
            elif entry.manual:
                how = "manual"
            elif entry.group:
                how = "its sub-items"
            else:
                how = ", ".join(entry.checks) + (f"; the rest attested: {entry.attest}" if entry.attest else "")
            if entry is not None and entry.manual and item.results and item.results[0].attestation and item.status == "passed":
                evidence = self._attested(item.results[0].attestation)
            elif entry is not None and not entry.manual and item.results:
                evidence = "<br>".join(f'<span class="dc-o-{_slug(r.outcome.value)}">{esc(r.check_id)} on {esc(r.target or "-")}: '
                                       f"{esc(r.outcome.value)}</span>" + (f" — {esc(r.message)}" if r.outcome is not Outcome.PASSED else "")
                                       + (f" — {self._attested(r.attestation)}" if r.outcome is Outcome.PASSED and r.attestation else "")
                                       for r in item.results[:12])
                if len(item.results) > 12:
                    evidence += f"<br>... and {len(item.results) - 12} more"
            else:
                evidence = esc(item.reason)
            matched = esc(entry.matched_by) if entry is not None else ""
            indent = f' style="padding-left:{1.2 * checklist.depth(item):g}em"' if item.parent else ""
            rows.append(f'<tr><td>{esc(section)}</td><td{indent}>{esc(item.text)}<div class="dc-where">{esc(Path(item.source).name)}:{item.line}</div></td>'
                        f'<td class="dc-o-{_slug(item.status)}">{esc(item.status)}</td>'
                        f'<td>{esc(entry.severity.value if entry else "")}</td><td class="dc-id">{esc(how)}'
                        f'<div class="dc-where">{matched}</div></td><td class="dc-msg">{evidence}</td></tr>')
        warnings = "".join(f"<li>{esc(w)}</li>" for w in checklist.warnings)
        beyond = len({r.check_id for r in checklist.beyond})
        return (f'<section id="dc-checklist"><h2>Your checklist</h2><p>{esc(checklist.line())}. '
                f"{beyond} catalog check(s) beyond your checklist are reported below and count in the verdict by their severity.</p>"
                + (f"<p>Mapping warnings:</p><ul>{warnings}</ul>" if warnings else "")
                + '<table class="dc-table"><tr><th>Section</th><th>Item</th><th>Status</th><th>Severity</th><th>Answered by</th>'
                f"<th>Evidence</th></tr>{''.join(rows)}</table></section>")

    def counts_block(self, run: RunSummary) -> str:
        cols = outcome_columns(run) or [Outcome.PASSED]
        head = "".join(f'<th class="dc-o-{_slug(o.value)}">{o.value}</th>' for o in cols)

        def table(title: str, rows: Iterable[tuple[str, Any]]) -> str:
            body = "".join(f"<tr><th>{self.esc(name)}</th>" + "".join(f"<td>{c[o] or ''}</td>" for o in cols)
                           + f"<td>{sum(c.values())}</td></tr>" for name, c in rows)
            return f'<table class="dc-table dc-counts"><caption>{title}</caption><tr><th></th>{head}<th>total</th></tr>{body}</table>'

        by_severity = [(s.value, c) for s, c in run.by_severity().items() if sum(c.values())]
        return (f'<section id="dc-counts"><h2>Counts</h2><div class="dc-row">'
                f"{table('By section', run.by_section().items())}{table('By severity', by_severity)}</div></section>")

    def blocking_block(self, run: RunSummary) -> str:
        verdict = run.verdict
        causes = run.root_causes()  # each cause once, not one line per check it blocked
        under = grouped(causes)
        blocking = [r for r in verdict.blocking if id(r) not in under]
        risks = [r for r in verdict.risks if id(r) not in under]
        parts = [self._results_section("dc-blocking", f"Blocking items ({len(blocking)})", blocking,
                                       "Nothing blocks the go-live." if not causes else "Nothing else blocks the go-live.")]
        if causes:
            rows = "".join(f'<tr><td class="dc-msg">{self.esc(c.label)}</td><td>{self.esc(", ".join(sorted({r.check_id for r in c.blocked})), 2000)}'
                           "</td></tr>" for c in causes)
            parts.insert(0, f'<section id="dc-root-causes"><h2>Root causes ({len(causes)})</h2><p>Checks that could not look, '
                            f'grouped by what stopped them.</p>{self._box(len(causes))}<table class="dc-table"><tr><th>Cause</th>'
                            f"<th>Checks blocked</th></tr>{rows}</table></div></section>")
        if risks:
            parts.append(self._results_section("dc-risks", f"Risks ({len(risks)})", risks, ""))
        return "".join(parts)

    def _results_section(self, anchor: str, title: str, results: Sequence[Result], empty: str) -> str:
        esc = self.esc
        if not results:
            return f'<section id="{anchor}"><h2>{title}</h2><p>{empty}</p></section>'
        rows = "".join(
            f'<tr><td class="dc-id">{esc(r.check_id)}</td><td>{esc(r.check.title if r.check else "")}</td><td>{esc(r.target or "-")}</td>'
            f'<td class="dc-s-{_slug(r.severity.value)}">{esc(r.severity.value)}</td>'
            f'<td class="dc-o-{_slug(r.outcome.value)}">{esc(r.outcome.value)}</td>'
            f'<td class="dc-msg">{esc(r.message)}</td></tr>' for r in results)
        return (f'<section id="{anchor}"><h2>{title}</h2>{self._box(len(results))}<table class="dc-table">'
                f"<tr><th>Check</th><th>Title</th><th>Target</th><th>Severity</th><th>Outcome</th><th>Message</th></tr>{rows}</table></div></section>")

    def _box(self, n: int) -> str:
        return f'<div class="dc-box{" dc-scroll" if n > LONG_LIST else ""}">'

    def manual_block(self, run: RunSummary) -> str:
        esc = self.esc
        items = [r for r in run.results if r.check and r.check.manual]
        on_file = extra_list(run, "attestations")
        if not items and not on_file:
            return ""
        rows = []
        for r in items:
            att = r.attestation or {}
            if r.outcome is Outcome.PASSED and att:
                status = "attested"
            elif r.outcome is Outcome.MANUAL:
                status = "pending" + (f" ({att['reason']})" if att.get("reason") else "")
            else:
                status = r.outcome.value
            rows.append(f'<tr><td class="dc-id">{esc(r.check_id)}</td><td>{esc(r.check.title if r.check else "")}</td>'
                        f'<td>{esc(r.target or "-")}</td><td class="dc-att-{_slug(status.split()[0])}">{esc(status)}</td>'
                        + "".join(f"<td>{esc(att.get(k) or '')}</td>" for k in ("by", "role", "date", "evidence", "expires")) + "</tr>")
        html = (f'<section id="dc-manual"><h2>Manual items ({len(items)})</h2>{self._box(len(items))}<table class="dc-table">'
                "<tr><th>Check</th><th>Title</th><th>Target</th><th>Status</th><th>Attested by</th><th>Role</th><th>When</th>"
                f"<th>Evidence</th><th>Expires</th></tr>{''.join(rows)}</table></div>")
        if on_file:
            html += f"<h3>Attestations on file ({len(on_file)})</h3>{self._dict_table(on_file, ATTESTATION_KEYS)}"
        return html + "</section>"

    def waivers_block(self, run: RunSummary) -> str:
        listed = extra_list(run, "waivers")
        if not listed:  # no waiver module: show what the results carry
            listed = [{**r.waiver, "check": r.waiver.get("check", r.check_id), "target": r.waiver.get("target", r.target),
                       "status": "applied"} for r in run.results if r.waiver]
        if not listed:
            return ""
        def status(w: dict[str, Any]) -> str:
            return str(w.get("status") or "applied")

        groups = [("Waivers applied", [w for w in listed if status(w) in ("applied", "expiring")]),
                  ("Waivers that matched nothing", [w for w in listed if status(w) in ("stale", "not selected", "unused")]),
                  ("Expired waivers (no longer applied)", [w for w in listed if status(w) == "expired"])]
        shown = {id(w) for _, ws in groups for w in ws}
        other = [w for w in listed if id(w) not in shown]
        if other:
            groups.append(("Waivers refused", other))
        body = "".join(f"<h3>{title} ({len(ws)})</h3>{self._dict_table(ws, WAIVER_KEYS)}" for title, ws in groups if ws)
        return f'<section id="dc-waivers"><h2>Waivers</h2>{body}</section>'

    def _dict_table(self, rows: list[dict[str, Any]], keys: Sequence[str]) -> str:
        esc = self.esc
        extra = sorted({k for row in rows for k in row} - set(keys))
        cols = [k for k in keys if any(k in row for row in rows)] + extra
        head = "".join(f"<th>{esc(k.replace('_', ' '))}</th>" for k in cols)
        body = "".join("<tr>" + "".join(f"<td>{esc(_plain(row.get(k, '')))}</td>" for k in cols) + "</tr>" for row in rows)
        return f'{self._box(len(rows))}<table class="dc-table"><tr>{head}</tr>{body}</table></div>'

    def na_block(self, run: RunSummary) -> str:
        items = [r for r in run.results if r.outcome is Outcome.NOT_APPLICABLE]
        return self._simple_list("dc-na", f"Not applicable ({len(items)}): not examined in this run", items, "Reason") if items else ""

    def not_run_block(self, run: RunSummary) -> str:
        items = [r for r in run.results if r.outcome is Outcome.NOT_RUN]
        return self._simple_list("dc-notrun", f"Not run ({len(items)})", items, "Why") if items else ""

    def _simple_list(self, anchor: str, title: str, items: list[Result], why: str) -> str:
        esc = self.esc
        rows = "".join(f'<tr><td class="dc-id">{esc(r.check_id)}</td><td>{esc(r.check.title if r.check else "")}</td>'
                       f'<td>{esc(r.target or "-")}</td><td>{esc(r.severity.value)}</td><td class="dc-msg">{esc(r.message)}</td></tr>'
                       for r in items)
        return (f'<section id="{anchor}"><h2>{title}</h2>{self._box(len(items))}<table class="dc-table">'
                f"<tr><th>Check</th><th>Title</th><th>Target</th><th>Severity</th><th>{why}</th></tr>{rows}</table></div></section>")

    def filters_block(self, run: RunSummary) -> str:
        esc = self.esc
        sections: dict[str, str] = {}
        for r in run.results:
            if r.check:
                sections.setdefault(r.check.section, r.check.section_title)

        def select(kind: str, label: str, options: Iterable[tuple[str, str]]) -> str:
            opts = "".join(f'<option value="{esc.attr(v)}">{esc(t)}</option>' for v, t in options)
            return f'<label>{label} <select data-dc-filter="{kind}"><option value="">all</option>{opts}</select></label>'

        present = {r.outcome for r in run.results}
        # The filters need the script: without it they stay hidden and the table shows every row.
        return ('<section id="dc-filters"><h2>Results</h2><p class="dc-js" hidden>Filter the results table: '
                + select("outcome", "outcome", ((o.value, o.value) for o in OUTCOME_ORDER if o in present))
                + select("severity", "severity", ((s.value, s.value) for s in Severity))
                + select("section", "section", sections.items())
                + '<span id="dc-filter-count"></span></p><style id="dc-filter-style"></style>'
                f"<script>{FILTER_JS}</script></section>")

    def results_block(self, run: RunSummary) -> str:
        """Every result, in the page itself (the report's canonical view): problems first, then by
        severity, check and target.  A check's rationale and references are listed once, below."""
        esc = self.esc
        rank = {o: i for i, o in enumerate(PROBLEM_FIRST)}
        severity_rank = {s: i for i, s in enumerate(Severity)}
        ordered = sorted(run.results, key=lambda r: (rank.get(r.outcome, len(rank)), severity_rank.get(r.severity, 0), r.check_id, r.target or ""))
        rows = []
        for r in ordered:
            outcome, severity = r.outcome.value, r.severity.value
            section = r.check.section if r.check else ""
            notes = [esc(r.message, RESULT_TEXT)] if r.message else []
            if r.attestation and r.outcome is Outcome.PASSED:
                notes.append(f"attested by {esc(r.attestation.get('by', '?'))} on {esc(r.attestation.get('date', '?'))}")
            if r.waiver:
                notes.append(f"waived: {esc(r.waiver.get('id', '?'))}, expires {esc(r.waiver.get('expires', '?'))}")
            if r.evidence:
                notes.append('<span class="dc-ev">' + "; ".join(f"{esc(k, 200)}: {esc(show_value(v), EVIDENCE_TEXT)}"
                                                               for k, v in r.evidence.items()) + "</span>")
            rows.append(f'<tr data-dc-outcome="{esc.attr(outcome)}" data-dc-severity="{esc.attr(severity)}" data-dc-section="{esc.attr(section)}">'
                        f'<td class="col-dcoutcome dc-o-{_slug(outcome)}">{esc(outcome)}</td><td class="dc-s-{_slug(severity)}">{esc(severity)}</td>'
                        f'<td class="col-dccheck">{esc(r.check_id)}</td><td class="col-dctitle">{esc(r.check.title if r.check else "", 500)}</td>'
                        f'<td class="col-dctarget">{esc(r.target or "-")}{self._variant(r)}</td><td>{esc(r.check.section_title if r.check else "")}</td>'
                        f'<td class="dc-msg">{"<br>".join(notes)}</td></tr>')
        others = ("<p>pytest-html's table below lists the project's own tests (no check marker) and any run-level errors; "
                  "every check's result is here.</p>")
        return (f'<section id="dc-results">{others}<table class="dc-table dc-results"><thead><tr><th>Outcome</th><th>Severity</th>'
                f"<th>Check</th><th>Title</th><th>Target</th><th>Section</th><th>Message and evidence</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table></section>")

    def _variant(self, r: Result) -> str:
        """A check parametrized beyond its target (``[me-5]``) names the variant, so rows stay distinct."""
        param = r.nodeid.rsplit("[", 1)[1][:-1] if r.nodeid.endswith("]") and "[" in r.nodeid else ""
        return f' <span class="dc-where">[{self.esc(param, 200)}]</span>' if param and param != r.target else ""

    def checks_block(self, run: RunSummary) -> str:
        """Each check of the run once: what it proves (its rationale), its references, how to attest it."""
        esc = self.esc
        checks = {r.check.id: r.check for r in run.results if r.check}
        if not checks:
            return ""
        entries = []
        for cid in sorted(checks):
            c = checks[cid]
            extra = f"<br>References: {'; '.join(esc(ref) for ref in c.refs)}" if c.refs else ""
            extra += f"<br>Attest: {esc(c.instructions)}" if c.manual and c.instructions else ""
            entries.append(f'<dt id="dc-check-{esc.attr(cid)}"><b>{esc(cid)}</b> {esc(c.title)} ({esc(c.severity.value)}; '
                           f'{esc(c.section_title)}{"; manual" if c.manual else ""}{"; active probe" if c.active_probe else ""})</dt>'
                           f'<dd><span class="dc-pre">{esc(c.rationale)}</span>{extra}</dd>')
        return f'<section id="dc-checks"><h2>Checks in this run ({len(checks)})</h2><dl>{"".join(entries)}</dl></section>'


ATTESTATION_KEYS = ("check", "target", "status", "by", "role", "date", "evidence", "expires", "reason")
WAIVER_KEYS = ("id", "check", "target", "status", "justification", "approver", "ticket", "expires", "expiring_soon")


def _plain(value: Any) -> str:
    """A cell's text: lists joined, booleans as yes/no, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "; ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)


def _slug(value: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in value.lower())


# Filters are CSS rules keyed on the results table's data attributes; without the script the
# filters stay hidden and every row shows.
FILTER_JS = r"""(function(){
var style=document.getElementById('dc-filter-style'),count=document.getElementById('dc-filter-count');
var selects=[].slice.call(document.querySelectorAll('select[data-dc-filter]'));
[].slice.call(document.querySelectorAll('.dc-js')).forEach(function(e){e.hidden=false;});
function quote(v){return '"'+v.replace(/\\/g,'\\\\').replace(/"/g,'\\"')+'"';}
function show(){var rows=[].slice.call(document.querySelectorAll('#dc-results tbody>tr'));
var shown=rows.filter(function(t){return getComputedStyle(t).display!=='none';}).length;
count.textContent='showing '+shown+' of '+rows.length+' rows';}
function update(){var rules=[],hash=[];
selects.forEach(function(s){if(!s.value){return;}
hash.push(s.dataset.dcFilter+'='+encodeURIComponent(s.value));
rules.push('#dc-results tbody>tr:not([data-dc-'+s.dataset.dcFilter+'='+quote(s.value)+']){display:none}');});
style.textContent=rules.join('\n');
if(window.history&&history.replaceState){history.replaceState(null,'',hash.length?'#'+hash.join('&'):location.pathname+location.search);}
show();}
location.hash.replace(/^#/,'').split('&').forEach(function(p){var kv=p.split('=');
selects.forEach(function(s){if(s.dataset.dcFilter===kv[0]){s.value=decodeURIComponent(kv[1]||'');}});});
selects.forEach(function(s){s.addEventListener('change',update);});
if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded',update);}else{update();}
})();"""

CSS = """
.dc-where { color: #666; font-size: 85%; }
body{display:flex;flex-direction:column}
body>h1{order:0}body>p{order:1}body>.summary{order:2}body>#results-table{order:3}
body>#environment-header{order:4}body>#environment{order:5}body>footer{order:6}
.summary{display:block}
.dc-verdict{border:3px solid;border-radius:6px;padding:10px 14px;margin:0 0 14px 0;color:#111;max-width:1100px}
.dc-verdict.dc-go{border-color:#1a7f37;background:#e6f4ea}.dc-verdict.dc-risks{border-color:#9a6700;background:#fff4d6}
.dc-verdict.dc-nogo{border-color:#cf222e;background:#fdecea}
.dc-level{font-size:30px;font-weight:bold;letter-spacing:1px}
.dc-go .dc-level{color:#1a7f37}.dc-risks .dc-level{color:#9a6700}.dc-nogo .dc-level{color:#cf222e}
.dc-rule{font-size:15px;margin:4px 0 8px 0}
.dc-meta th,.dc-meta td{text-align:left;padding:2px 10px 2px 0;vertical-align:top;color:#111}
section[id^=dc-]{color:#111}
section[id^=dc-] h2{margin:14px 0 6px 0}
.dc-row{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.dc-table{border-collapse:collapse;color:#111;margin:4px 0}
.dc-table caption{text-align:left;font-weight:bold;padding:2px 0}
.dc-table th,.dc-table td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
.dc-table th{background:#f3f3f3}
.dc-box.dc-scroll{max-height:420px;overflow:auto;border:1px solid #ddd}
.dc-msg,.dc-pre{white-space:pre-wrap;word-break:break-word}
.dc-id{font-family:monospace;white-space:nowrap}
.dc-o-passed{color:#1a7f37}.dc-o-failed,.dc-o-error,.dc-o-not-run{color:#cf222e;font-weight:bold}
.dc-o-manual,.dc-o-waived{color:#9a6700;font-weight:bold}.dc-o-n-a{color:#666}
.dc-s-critical{color:#8b0000;font-weight:bold}.dc-s-high{color:#cf222e}
.dc-att-attested{color:#1a7f37}.dc-att-pending{color:#9a6700;font-weight:bold}
#dc-filters label{margin-right:14px}
.dc-detail{font-family:Helvetica,Arial,sans-serif;white-space:normal;color:#111;margin-bottom:8px}
.dc-detail th{text-align:left;vertical-align:top;padding:1px 10px 1px 0;white-space:nowrap}
.dc-detail td{vertical-align:top}
.dc-evidence th{font-family:monospace;font-weight:normal}
.dc-ev{color:#444;font-size:90%;word-break:break-word}
.dc-results thead th{position:sticky;top:0}
#dc-checks dd{margin:0 0 8px 24px}
@media print {
  body{display:block}
  .dc-box.dc-scroll{max-height:none;overflow:visible;border:0}
  .dc-js,#dc-filters select,.filters,.collapse,.summary__reload,.logwrapper .logexpander{display:none !important}
  .logwrapper,.log{max-height:none !important;overflow:visible !important}
  .dc-results thead th{position:static}
  .dc-table thead{display:table-header-group}
  .dc-table tr,.dc-verdict,#dc-checks dt,#dc-checks dd{break-inside:avoid}
  .dc-verdict,.dc-table th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  #dc-results tbody>tr{display:table-row !important}
}
"""
