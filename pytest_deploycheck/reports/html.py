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
- results-table columns Outcome (the six go-live outcomes, not pytest's four), Severity,
  Check, Title, Target and Section; each row's details hold the message, the evidence, the
  rationale (docstring), the references, the attestation and the waiver;
- filters by outcome, severity and section that keep working while pytest-html re-sorts its
  table (they are CSS rules keyed on data attributes of our cells).

Every value is escaped (``esc``) and masked (the run's redactor) before it is inserted.
pytest-html's own write is replaced by an atomic one.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.decision import Level, Result
from pytest_deploycheck.markers import Severity
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.reports.common import clean_text, extra_list, outcome_columns, show_value, truncate, write_atomic
from pytest_deploycheck.reports.summary import OUTCOME_ORDER, RunSummary

TEXT_LIMIT = 64_000  # a 1 MB message would make the page unusable; the JSON report keeps it whole
LONG_LIST = 25  # lists longer than this scroll inside their own box

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

    def inline(self, value: object, limit: int = TEXT_LIMIT) -> str:
        """For pytest-html's log pane: no raw newline (its script rewrites lines starting with E)."""
        return self(value, limit).replace("\r", "").replace("\n", "&#10;")


class HtmlReport:
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

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        ours = [
            '<th class="sortable" data-column-type="dcoutcome">Outcome</th>',
            '<th data-column-type="dcseverity">Severity</th>',
            '<th class="sortable" data-column-type="dccheck">Check</th>',
            "<th>Title</th>",
            '<th class="sortable" data-column-type="dctarget">Target</th>',
            '<th class="sortable" data-column-type="dcsection">Section</th>',
        ]
        cells[1:1] = ours

    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        esc = self.esc
        data = getattr(report, "deploycheck", None)
        when = getattr(report, "when", "call")
        # pytest-html puts the node id in unescaped; a hostile parameter id must not become markup.
        test_id = report.nodeid + ("" if when == "call" else f"::{when}")
        if len(cells) > 1:
            cells[1] = f'<td class="col-testId">{esc(test_id, 2000)}</td>'
        if not isinstance(data, dict):
            cells[1:1] = ['<td class="col-dcoutcome"></td>', '<td class="col-dcseverity"></td>', '<td class="col-dccheck"></td>',
                          "<td></td>", '<td class="col-dctarget"></td>', '<td class="col-dcsection"></td>']
            return
        check = data.get("check") or {}
        outcome = str(data.get("outcome", ""))
        severity = str(check.get("severity", ""))
        section = str(check.get("section", ""))
        cells[1:1] = [
            f'<td class="col-dcoutcome dc-o-{_slug(outcome)}" data-dc-outcome="{esc.attr(outcome)}">{esc(outcome)}</td>',
            f'<td class="col-dcseverity dc-s-{_slug(severity)}" data-dc-severity="{esc.attr(severity)}">{esc(severity)}</td>',
            f'<td class="col-dccheck">{esc(check.get("id", ""))}</td>',
            f'<td class="col-dctitle">{esc(check.get("title", ""), 500)}</td>',
            f'<td class="col-dctarget">{esc(data.get("target") or "-")}</td>',
            f'<td class="col-dcsection" data-dc-section="{esc.attr(section)}">{esc(check.get("section_title", section))}</td>',
        ]

    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        info = getattr(report, "deploycheck", None)
        if isinstance(info, dict):
            data.insert(0, self.details(info))

    @pytest.hookimpl(trylast=True)  # after the modules that add waivers and attestations to summary.extra
    def pytest_deploycheck_summary(self, config: pytest.Config, summary: RunSummary) -> None:
        self.summary = summary
        if self.report_data is not None:
            name = summary.inventory_name or "(no inventory)"
            self.report_data.title = clean_text(f"{summary.verdict.level.value} — go-live report: {name}")

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session) -> None:
        run = self.summary
        prefix.insert(0, f"<style>{CSS}</style>")
        if run is None:
            return
        prefix.insert(1, self.verdict_block(run))
        summary.append(self.counts_block(run))
        postfix += [self.blocking_block(run), self.manual_block(run), self.waivers_block(run), self.na_block(run),
                    self.not_run_block(run), self.filters_block(run)]

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
        ]
        table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return (f'<section id="dc-verdict" class="dc-verdict {_LEVEL_CLASS[verdict.level]}">'
                f'<div class="dc-level">{esc(verdict.level.value)}</div>'
                f'<div class="dc-rule">{esc(verdict.rule)}</div>'
                f'<table class="dc-meta">{table}</table></section>')

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
        parts = [self._results_section("dc-blocking", f"Blocking items ({len(verdict.blocking)})", verdict.blocking,
                                       "Nothing blocks the go-live.")]
        if verdict.risks:
            parts.append(self._results_section("dc-risks", f"Risks ({len(verdict.risks)})", verdict.risks, ""))
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
        return ('<section id="dc-filters"><h2>Results</h2><p>Filter the table below (with pytest-html\'s check boxes above, '
                "which know only passed/failed/skipped/error): "
                + select("outcome", "outcome", ((o.value, o.value) for o in OUTCOME_ORDER if o in present))
                + select("severity", "severity", ((s.value, s.value) for s in Severity))
                + select("section", "section", sections.items())
                + '<span id="dc-filter-count"></span></p><style id="dc-filter-style"></style>'
                f"<script>{FILTER_JS}</script></section>")

    def details(self, info: dict[str, Any]) -> str:
        """A row's details: what an auditor reads about one check on one target."""
        esc = self.esc.inline
        check = info.get("check") or {}
        rows = [("Check", f"{esc(check.get('id', ''))} — {esc(check.get('title', ''))}"),
                ("Section", f"{esc(check.get('section_title', ''))} ({esc(check.get('section', ''))})"),
                ("Severity", esc(check.get("severity", ""))),
                ("Target", esc(info.get("target") or "-") + (f" ({esc(info['target_kind'])})" if info.get("target_kind") else "")),
                ("Outcome", esc(info.get("outcome", "")))]
        if info.get("message"):
            rows.append(("Message", f'<span class="dc-pre">{esc(info["message"])}</span>'))
        evidence = info.get("evidence") or {}
        if evidence:
            inner = "".join(f'<tr><th>{esc(k, 200)}</th><td class="dc-pre">{esc(show_value(v))}</td></tr>' for k, v in evidence.items())
            rows.append(("Evidence", f'<table class="dc-evidence">{inner}</table>'))
        if check.get("rationale"):
            rows.append(("Rationale", f'<span class="dc-pre">{esc(check["rationale"])}</span>'))
        if check.get("refs"):
            rows.append(("References", "; ".join(esc(ref) for ref in check["refs"])))
        if check.get("manual"):
            att = info.get("attestation") or {}
            if att and info.get("outcome") == Outcome.PASSED.value:
                text = f"attested by {esc(att.get('by', '?'))}" + (f" ({esc(att['role'])})" if att.get("role") else "")
                text += f" on {esc(att.get('date', '?'))}; evidence: {esc(att.get('evidence', ''))}"
                text += f"; expires {esc(att['expires'])}" if att.get("expires") else ""
            else:
                text = "pending" + (f" ({esc(att['reason'])})" if att.get("reason") else "")
            if check.get("instructions"):
                text += f"<br>instructions: {esc(check['instructions'])}"
            rows.append(("Attestation", text))
        waiver = info.get("waiver")
        if waiver:
            rows.append(("Waiver", f"{esc(waiver.get('id', '?'))}: {esc(waiver.get('justification', ''))}; approved by "
                                   f"{esc(waiver.get('approver', '?'))}; ticket {esc(waiver.get('ticket', '-'))}; "
                                   f"expires {esc(waiver.get('expires', '?'))}"))
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f'<div class="dc-detail"><table>{body}</table></div>'


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


# Filters are CSS rules keyed on our cells' data attributes, so they survive pytest-html
# rebuilding its table on every sort or check-box click.
FILTER_JS = r"""(function(){
var style=document.getElementById('dc-filter-style'),count=document.getElementById('dc-filter-count');
var selects=[].slice.call(document.querySelectorAll('select[data-dc-filter]'));
function quote(v){return '"'+v.replace(/\\/g,'\\\\').replace(/"/g,'\\"')+'"';}
function show(){var rows=[].slice.call(document.querySelectorAll('#results-table>tbody.results-table-row'));
rows=rows.filter(function(t){return !t.querySelector('#not-found-message');});
var shown=rows.filter(function(t){return getComputedStyle(t).display!=='none';}).length;
count.textContent='showing '+shown+' of '+rows.length+' rows';}
function update(){var rules=[],hash=[];
selects.forEach(function(s){if(!s.value){return;}
hash.push(s.dataset.dcFilter+'='+encodeURIComponent(s.value));
rules.push('#results-table>tbody.results-table-row:not(:has(#not-found-message)):not(:has(td[data-dc-'+s.dataset.dcFilter+'='+quote(s.value)+'])){display:none}');});
style.textContent=rules.join('\n');
if(window.history&&history.replaceState){history.replaceState(null,'',hash.length?'#'+hash.join('&'):location.pathname+location.search);}
show();}
location.hash.replace(/^#/,'').split('&').forEach(function(p){var kv=p.split('=');
selects.forEach(function(s){if(s.dataset.dcFilter===kv[0]){s.value=decodeURIComponent(kv[1]||'');}});});
selects.forEach(function(s){s.addEventListener('change',update);});
window.addEventListener('load',function(){update();
new MutationObserver(show).observe(document.getElementById('results-table'),{childList:true});});
})();"""

CSS = """
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
"""
