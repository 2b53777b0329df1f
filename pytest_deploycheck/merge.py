"""Merge the JSON reports of a sharded run into the fleet's one verdict and reports.

    python -m pytest_deploycheck.merge shard-1.json shard-2.json shard-3.json \\
        --json=go-live.json --html=go-live.html --junitxml=junit.xml --checklist-md=checklist.md

Each shard ran ``pytest --deploycheck-shard=I/N --deploycheck-json=shard-I.json`` (``shard.py``).
The merged report is the one a single run over the whole fleet would have written: the results
in catalog order, the verdict decided again over all of them by the same rule (``decision.py``),
the scope no longer partial unless something other than sharding narrowed the run, the exit
status from the same gate (``--fail-on``, default: the shards').  It fails closed: a shard
whose report is missing (``2/4`` given, ``1/4`` absent), an interrupted shard or one whose
reports failed makes the merged verdict NO-GO; reports of different inventories, or that hold
the same result twice, are refused (exit status 4).

Prints the verdict line and exits 0 (gate passed), 1 (gate failed) or 4 (cannot merge).
The team's checklist (``--deploycheck-checklist``) is merged too: each item's mapping comes from
the shard that ran it (every shard maps alike: the mapping is decided on the whole catalog before
the split), and its status is judged again from the merged results, as one run would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from pytest_deploycheck.checklist.items import ChecklistEntry
from pytest_deploycheck.checklist.status import ChecklistSummary, for_verdict, judge
from pytest_deploycheck.decision import FAIL_ON, Level, Result, Scope, Verdict, decide, function_of, gate_fails
from pytest_deploycheck.markers import CheckMeta, Severity
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.reports import jsonreport
from pytest_deploycheck.reports.common import write_atomic
from pytest_deploycheck.reports.summary import RunSummary

K = TypeVar("K", bound=Hashable)

_SHARD_NOTE = re.compile(r"^shard (\d+)/(\d+) \(--deploycheck-shard\)")
_GENERIC = "deselected by a plugin or option"


class MergeError(Exception):
    """The reports cannot be merged; the message says why and what to do."""


@dataclass
class Shard:
    path: Path
    doc: dict[str, Any]

    @property
    def note(self) -> tuple[int, int] | None:
        for text in self.doc.get("scope", {}).get("narrowed_by", []):
            match = _SHARD_NOTE.match(str(text))
            if match:
                return int(match.group(1)), int(match.group(2))
        return None


def load(paths: Sequence[Path]) -> list[Shard]:
    shards = []
    for path in paths:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MergeError(f"{path}: cannot read a JSON report ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != jsonreport.FORMAT:
            raise MergeError(f"{path}: not a pytest-deploycheck JSON report (written with --deploycheck-json)")
        if doc.get("format_version") != jsonreport.FORMAT_VERSION:
            raise MergeError(f"{path}: report format version {doc.get('format_version')}; this merge reads {jsonreport.FORMAT_VERSION}")
        shards.append(Shard(path, doc))
    if not shards:
        raise MergeError("no reports given")
    digests = {json.dumps((s.doc["run"].get("inventory") or {}).get("sha256")) for s in shards}
    if len(digests) > 1:
        raise MergeError("the reports are of different inventories (run.inventory.sha256 differs): "
                         + ", ".join(f"{s.path}: {((s.doc['run'].get('inventory') or {}).get('sha256') or '-')[:12]}" for s in shards))
    return shards


def _meta(check_id: str, data: dict[str, Any]) -> CheckMeta:
    return CheckMeta(
        id=check_id, title=str(data.get("title", "")), severity=Severity.parse(str(data.get("severity", "critical"))),
        section=str(data.get("section", "")), section_title=str(data.get("section_title", "")),
        rationale=str(data.get("rationale", "")), refs=tuple(data.get("refs", ())), manual=bool(data.get("manual")),
        instructions=str(data.get("instructions", "")), active_probe=bool(data.get("active_probe")),
        answers=tuple(data.get("answers", ())),
    )


def _results(shard: Shard) -> list[Result]:
    checks = {cid: _meta(cid, data) for cid, data in shard.doc.get("checks", {}).items()}
    results = []
    for row in shard.doc.get("results", []):
        results.append(Result(
            nodeid=str(row["nodeid"]), check=checks.get(str(row["id"])), target=row.get("target"), target_kind=row.get("target_kind"),
            outcome=Outcome(row["outcome"]), message=str(row.get("message", "")), evidence=dict(row.get("evidence") or {}),
            duration=float(row.get("duration", 0.0)), attestation=row.get("attestation"), waiver=row.get("waiver"),
            unexamined=bool(row.get("unexamined")),
        ))
    return results


def merge_orders(sequences: Sequence[Sequence[K]], tie: Callable[[K], Any]) -> list[K]:
    """One order that keeps every sequence's own order (each shard lists its results in catalog
    order); elements no sequence orders against each other are taken by ``tie``."""
    after: dict[K, set[K]] = {}
    before_count: dict[K, int] = {}
    for seq in sequences:
        for element in seq:
            after.setdefault(element, set())
            before_count.setdefault(element, 0)
        for a, b in itertools.pairwise(seq):
            if b not in after[a]:
                after[a].add(b)
                before_count[b] += 1
    ready = sorted((e for e, n in before_count.items() if n == 0), key=tie)
    order: list[K] = []
    while ready:
        element = ready.pop(0)
        order.append(element)
        for nxt in after[element]:
            before_count[nxt] -= 1
            if before_count[nxt] == 0:
                ready.append(nxt)
        ready.sort(key=tie)
    if len(order) != len(after):  # contradictory orders (reports of different catalogs): keep what is left by tie
        order += sorted((e for e in after if e not in set(order)), key=tie)
    return order


def ordered(per_shard: Sequence[Sequence[Result]], catalog: Sequence[str] = ()) -> list[Result]:
    """All results in the catalog order a single run reports: functions in the order the shards
    agree on, and within a function the targets as collection sorts them (by name).  ``catalog``,
    the collection order of every test function a shard recorded (JSON ``order``), settles what the
    shards alone leave open (two functions each held whole by a different shard)."""
    first_seen: dict[str, int] = {}
    for results in per_shard:
        for r in results:
            first_seen.setdefault(function_of(r.nodeid), len(first_seen))
    known = {f: i for i, f in enumerate(catalog)}
    functions = merge_orders([list(dict.fromkeys(function_of(r.nodeid) for r in results)) for results in per_shard],
                             tie=lambda f: (known.get(f, len(known)), f.split("::", 1)[0], first_seen[f]))
    rank = {f: i for i, f in enumerate(functions)}
    by_function: dict[str, list[list[str]]] = {}
    found: dict[str, Result] = {}
    for results in per_shard:
        groups: dict[str, list[str]] = {}
        for r in results:
            if r.nodeid in found:
                raise MergeError(f"{r.nodeid} is in more than one report: give each shard's report once")
            found[r.nodeid] = r
            groups.setdefault(function_of(r.nodeid), []).append(r.nodeid)
        for function, ids in groups.items():
            by_function.setdefault(function, []).append(ids)
    out: list[Result] = []
    for function in sorted(by_function, key=lambda f: rank[f]):
        for nodeid in merge_orders(by_function[function], tie=lambda n: n):
            out.append(found[nodeid])
    return out


def merged_scope(shards: Sequence[Shard], total: int) -> Scope:
    """Sharding deselected each shard's share of the others' items; only what every shard left
    out for another reason (-k, -m, a path) still makes the merged run partial."""
    real = min(max(0, int(s.doc.get("deselected", 0)) - (total - int(s.doc.get("selected", 0)))) for s in shards)
    narrowed: list[str] = []
    for s in shards:
        for text in s.doc.get("scope", {}).get("narrowed_by", []):
            text = str(text)
            if _SHARD_NOTE.match(text) or (text.startswith(_GENERIC) and not real) or text in narrowed:
                continue
            narrowed.append(text)
    left_sets = [list(s.doc.get("scope", {}).get("left_out", [])) for s in shards]
    left_out = [x for x in left_sets[0] if all(x in other for other in left_sets[1:])] if (real or narrowed) else []
    return Scope(selected=total, deselected=real, narrowed_by=tuple(narrowed), left_out=tuple(left_out))


def merge(shards: Sequence[Shard], fail_on: str | None = None) -> RunSummary:
    catalog = next((list(map(str, s.doc["order"])) for s in shards if isinstance(s.doc.get("order"), list) and s.doc["order"]), [])
    results = ordered([_results(s) for s in shards], catalog)
    scope = merged_scope(shards, len(results))
    interrupted = any(s.doc["run"].get("interrupted") for s in shards)
    incidents: list[str] = []
    for s in shards:
        incidents += [f"{s.path.name}: {text}" for text in s.doc.get("incidents", [])]
    checklist = merged_checklist(shards, results)
    weighed = for_verdict(results, checklist)
    verdict = decide(weighed, interrupted=interrupted, scope=scope, cause="; ".join(incidents) if interrupted else "")
    problems = _missing_shards(shards)
    for s in shards:
        rule = str(s.doc["verdict"].get("rule", ""))
        if not s.doc["run"].get("interrupted") and ("internal error" in rule or "hook raised" in rule):
            problems.append(f"{s.path.name}: {rule}")
    if problems:
        verdict = Verdict(Level.NO_GO, f"NO-GO: {'; '.join(problems)}; no verdict on the whole fleet can be trusted",
                          verdict.blocking, verdict.risks, verdict.scope)
        incidents += problems
    first = shards[0].doc["run"]
    inventory = first.get("inventory") or {}
    policy = fail_on or str(first.get("fail_on", "high"))
    summary = RunSummary(
        inventory_name=inventory.get("name"), inventory_path=inventory.get("path"), inventory_sha256=inventory.get("sha256"),
        started=min(_when(s.doc["run"]["started"]) for s in shards), finished=max(_when(s.doc["run"]["finished"]) for s in shards),
        results=results, verdict=verdict, fail_on=policy, exit_status=0, interrupted=interrupted, incidents=incidents,
    )
    summary.exit_status = 1 if gate_fails(verdict, weighed, policy) or not results else 0
    summary.checklist = checklist
    for key in ("waivers", "attestations"):
        seen: dict[str, Any] = {}
        for s in shards:
            for entry in s.doc.get(key, []):
                seen.setdefault(json.dumps(entry, sort_keys=True), entry)
        summary.extra[key] = list(seen.values())
    summary.extra["order"] = catalog
    return summary


def merged_checklist(shards: Sequence[Shard], results: Sequence[Result]) -> ChecklistSummary | None:
    """The team checklist over every shard's results; None when the runs had no checklist."""
    documents = [s.doc["checklist"] for s in shards if isinstance(s.doc.get("checklist"), dict)]
    if not documents:
        return None
    entries: dict[str, ChecklistEntry] = {}
    listed: dict[str, dict[str, SimpleNamespace]] = {}
    warnings: list[str] = []
    for document in documents:
        warnings += [str(w) for w in document.get("warnings", [])]
        for row in document.get("items", []):
            key = f"{row['source']}::{row['key']}"
            listed.setdefault(str(row["source"]), {}).setdefault(str(row["key"]), SimpleNamespace(
                key=str(row["key"]), section=tuple(row["section"]), plain=str(row["text"]), line=int(row.get("line", 0)),
                parent=row.get("parent")))
            if row.get("severity") and row.get("matched_by") != "not run":  # the shard that ran the item
                entries.setdefault(key, ChecklistEntry(
                    source=str(row["source"]), key=str(row["key"]), id=str(row.get("id") or row["key"]), section=tuple(row["section"]),
                    text=str(row["text"]), line=int(row.get("line", 0)), checks=tuple(row["checks"]), manual=bool(row["manual"]),
                    severity=Severity.parse(str(row["severity"])), matched_by=str(row["matched_by"]), group=bool(row.get("group")),
                    attest=str(row.get("attest") or "")))
    own = {r.check_id: r for r in results if r.check is not None and r.check.section == "checklist"}
    item_results = {key: own[e.id] for key, e in entries.items() if e.attested and e.id in own}
    parsed = [(source, sorted(items.values(), key=lambda i: i.line)) for source, items in listed.items()]
    return judge(entries, parsed, results, item_results, list(dict.fromkeys(warnings)))


def _missing_shards(shards: Sequence[Shard]) -> list[str]:
    notes = [s.note for s in shards]
    given = {note for note in notes if note is not None}
    counts = {n for _, n in given}
    if not given:
        return []
    if len(counts) > 1 or None in notes:
        return ["the reports are not the shards of one split (different N, or a report of an unsharded run among them)"]
    n = counts.pop()
    return [f"shard {i}/{n} sent no report; its targets were not checked" for i in range(1, n + 1) if (i, n) not in given]


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(str(text))


# --------------------------------------------------------------------------- writers


def junit_xml(summary: RunSummary) -> str:
    """The JUnit file a single run would leave: one test case per result, rewritten by the same
    code as a run's (``reports/junit.py``)."""
    from pytest_deploycheck.reports.junit import JunitRewriter, pytest_address

    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="pytest")
    for r in summary.results:
        if r.outcome is Outcome.NOT_RUN:
            continue  # the rewriter adds these
        classname, name = pytest_address(r.nodeid)
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{r.duration:.3f}")
        tag = {Outcome.FAILED: "failure", Outcome.ERROR: "error"}.get(r.outcome)
        if tag is None and r.outcome is not Outcome.PASSED:
            tag = "skipped"
        if tag is not None:
            ET.SubElement(case, tag, message=r.message)
    return JunitRewriter(Path("junit.xml"), "xunit2").rewrite(ET.tostring(suites, encoding="unicode"), summary)


def html_page(summary: RunSummary) -> str:
    """A self-contained page with the go-live blocks of a run's HTML report (``reports/html.py``;
    needs pytest-html installed, as the run's HTML report does)."""
    from pytest_deploycheck.reports.html import CSS, Html, HtmlReport

    page = HtmlReport.__new__(HtmlReport)  # the blocks only need the escaper, not a pytest run
    page.esc, page.redactor, page.summary, page.report_data = Html(None), None, summary, None
    name = summary.inventory_name or "(no inventory)"
    title = page.esc(f"{summary.verdict.level.value}{' (partial run)' if summary.partial else ''} — go-live report: {name} (merged)")
    blocks = [page.verdict_block(summary), page.counts_block(summary), page.blocking_block(summary), page.manual_block(summary),
              page.waivers_block(summary), page.na_block(summary), page.not_run_block(summary), page.filters_block(summary),
              page.results_block(summary), page.checks_block(summary)]
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title><style>{CSS}</style></head>'
            f"<body><h1>{title}</h1>{''.join(blocks)}</body></html>\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_deploycheck.merge", description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json", help="the shards' --deploycheck-json reports")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the merged JSON report")
    parser.add_argument("--html", type=Path, metavar="PATH", help="write the merged HTML report (needs pytest-html)")
    parser.add_argument("--junitxml", type=Path, metavar="PATH", help="write the merged JUnit XML")
    parser.add_argument("--checklist-md", type=Path, metavar="PATH", help="write the merged Markdown checklist")
    parser.add_argument("--fail-on", choices=FAIL_ON, default=None, help="exit gate policy (default: the shards')")
    args = parser.parse_args(argv)
    try:
        summary = merge(load(args.reports), fail_on=args.fail_on)
    except MergeError as exc:
        print(f"merge: {exc}", file=sys.stderr)
        return 4
    from pytest_deploycheck.reports import markdown

    writers: list[tuple[Path | None, Callable[[RunSummary], str]]] = [
        (args.json, lambda s: jsonreport.dumps(jsonreport.document(s))),
        (args.checklist_md, lambda s: markdown.render(s, None)),
        (args.junitxml, junit_xml),
        (args.html, html_page),
    ]
    for path, render in writers:
        if path is not None:
            write_atomic(path, render(summary))
    counts = ", ".join(f"{n} {o.value}" for o, n in summary.counts().items() if n)
    print(f"VERDICT: {summary.verdict.line}\nrule: {summary.verdict.rule}\n{counts} from {len(args.reports)} report(s); "
          f"gate (--deploycheck-fail-on={summary.fail_on}): exit status {summary.exit_status}")
    return summary.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
