"""The ticked checklist (``--deploycheck-checklist-md=PATH``): the catalog as the Markdown
checklist a team would have written by hand, section by section, with this run's ticks.

- ``- [x]`` the item passed on every target (a manual item: it is attested);
- ``- [ ]`` it did not: the line (or one nested line per target) says where and why;
- ``- [ ] ~~item~~`` not applicable: not examined, and the reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pytest_deploycheck.checklist.status import ChecklistSummary, ItemStatus
from pytest_deploycheck.decision import Result
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.reports.common import CheckGroup, by_check, clean_text, extra_list, one_line, result_keys
from pytest_deploycheck.reports.summary import RunSummary

MESSAGE_LIMIT = 300

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#])")


def md(text: str) -> str:
    """Plain text that Markdown shows as typed: no emphasis, links or HTML."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(text, 10 * MESSAGE_LIMIT))


def code(text: str) -> str:
    """An inline code span that holds any text (the fence is longer than any backtick run in it)."""
    text = one_line(text, MESSAGE_LIMIT)
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _attested(att: dict[str, Any] | None, target: str = "") -> str:
    if not att:
        return ""
    who = md(str(att.get("by") or "someone"))
    if att.get("role"):
        who += f" ({md(str(att['role']))})"
    text = f"attested by {who}"
    if att.get("date"):
        text += f" on {md(str(att['date']))}"
    if target:
        text += f" for {md(target)}"
    if att.get("evidence"):
        text += f"; evidence: {md(str(att['evidence']))}"
    if att.get("expires"):
        text += f"; expires {md(str(att['expires']))}"
    return text


def _waived(w: dict[str, Any] | None) -> str:
    if not w:
        return "waived"
    parts = [md(str(w.get("id") or "?"))]
    if w.get("approver"):
        parts.append(f"approved by {md(str(w['approver']))}")
    if w.get("expires"):
        parts.append(f"until {md(str(w['expires']))}")
    text = f"waived ({', '.join(parts)})"
    if w.get("justification"):
        text += f": {md(str(w['justification']))}"
    return text


def _why(r: Result, where: str = "") -> str:
    """What a target's line says: the outcome (``where`` after it: " on api"), then why."""
    if r.outcome is Outcome.PASSED:
        attested = _attested(r.attestation, r.target or "" if where else "")
        return attested or f"passed{where}"
    if r.outcome is Outcome.MANUAL:
        reason = (r.attestation or {}).get("reason") or "no attestation recorded"
        todo = r.check.instructions if r.check else ""
        return f"pending attestation{where} ({md(str(reason))})" + (f"; to do: {md(todo)}" if todo else "")
    if r.outcome is Outcome.WAIVED:
        return f"{_waived(r.waiver)}{where}" + (f"; failure: {code(r.message)}" if r.message else "")
    label = {Outcome.NOT_APPLICABLE: "not applicable", Outcome.NOT_RUN: "not run"}.get(r.outcome, r.outcome.value)
    if r.outcome is Outcome.NOT_APPLICABLE:
        where = ""  # the reason names the target when it matters
    return f"{label}{where}: {code(r.message)}" if r.message else f"{label}{where}"


def _item(group: CheckGroup) -> list[str]:
    head = f"**{md(group.check_id)}** {md(group.title)} *({group.severity}{', manual' if group.manual else ''})*"
    if group.not_applicable:
        head = f"~~{head}~~"
    box = "[x]" if group.ticked else "[ ]"
    results = group.results
    if len(results) == 1:
        r = results[0]
        return [f"- {box} {head} — {_why(r, f' on {md(r.target)}' if r.target else '')}"]
    met = sum(r.outcome is Outcome.PASSED for r in results)
    if group.ticked:
        tail = f"passed on all {len(results)} targets"
    elif group.not_applicable:
        tail = f"not applicable on all {len(results)} targets"
    else:
        tail = f"met on {met} of {len(results)} targets"
    lines = [f"- {box} {head} — {tail}"]
    for r, key in zip(results, result_keys(results), strict=True):
        sub = "[x]" if r.outcome is Outcome.PASSED else "[ ]"
        name = md(key.split("@", 1)[1])  # the target, plus the parameter id when a check runs twice on it
        if r.outcome is Outcome.NOT_APPLICABLE:
            name = f"~~{name}~~"
        lines.append(f"  - {sub} {name}: {_why(r)}")
    return lines


_BOX = {"passed": "[x]"}


def _team_checklist(checklist: ChecklistSummary) -> list[str]:
    """The team's own list: their headings, their wording, their order, ticked by this run; under
    each item not met, where and why (target: observed; expected) or who must attest."""
    lines: list[str] = []
    for source in checklist.sources:
        items = [i for i in checklist.items if i.source == source]
        lines += ["", f"## Your checklist: {md(Path(source).name)}"]
        heading: tuple[str, ...] = ()
        for item in items:
            if item.section != heading:
                common = 0
                while common < min(len(heading), len(item.section)) and heading[common] == item.section[common]:
                    common += 1
                for depth in range(common, len(item.section)):
                    lines += ["", f"{'#' * min(6, depth + 3)} {md(item.section[depth])}", ""]
                heading = item.section
            lines += ["  " * checklist.depth(item) + line for line in _team_item(item)]
    if checklist.warnings:
        lines += ["", "**Mapping warnings:**", ""] + [f"- {md(w)}" for w in checklist.warnings]
    return lines


def _team_item(item: ItemStatus) -> list[str]:
    entry = item.entry
    box = _BOX.get(item.status, "[ ]")
    text = md(item.text)
    if item.status == "n/a":
        text = f"~~{text}~~"
    how = ""
    if entry is not None:
        how = "manual" if entry.manual else "judged by its sub-items" if entry.group else "checks " + ", ".join(md(c) for c in entry.checks)
        if entry.attest and not entry.manual:
            how += f", the rest attested: {md(entry.attest)}"
        how = f" *({entry.severity.value}; {how})*"
    lines = [f"- {box} {text}{how} — {md(item.status)}"]
    if entry is None:
        return [*lines, f"  - not judged: {md(item.reason)}"]
    if entry.manual:
        r = item.results[0] if item.results else None
        if r is not None and r.outcome is Outcome.PASSED:
            lines.append(f"  - {_attested(r.attestation)}")
        elif r is not None:
            lines.append(f"  - {_why(r)}")
        return lines
    shown = item.problems if item.status != "passed" else ()
    own = item.results[-1] if entry.attest and item.results and item.results[-1].check_id == entry.id else None
    if own is not None and own.outcome is Outcome.PASSED:
        lines.append(f"  - the rest ({md(entry.attest)}): {_attested(own.attestation)}")
    for r in shown[:20]:
        lines.append(f"  - [ ] {md(r.check_id)} on {md(r.target or '-')}: {_why(r)}")
    if len(shown) > 20:
        lines.append(f"  - ... and {len(shown) - 20} more")
    if (item.status in ("not run", "n/a") or entry.group) and not shown:
        lines.append(f"  - {md(item.reason)}")
    return lines


def render(summary: RunSummary, redactor: Redactor | None = None) -> str:
    verdict = summary.verdict
    title = summary.inventory_name or "(no inventory)"
    when = summary.finished.strftime("%Y-%m-%d %H:%M UTC")
    inv = f"inventory {md(title)}"
    if summary.inventory_sha256:
        inv += f" (sha256 `{summary.inventory_sha256[:12]}`)"
    counts = summary.counts()
    tally = ", ".join(f"{n} {o.value}" for o, n in counts.items() if n)
    lines = [
        f"# Go-live checklist: {md(title)}",
        "",
        f"**Verdict: {md(verdict.line)}** — {md(verdict.rule)}",
        "",
        f"Checked {when} against {inv}; catalog `{summary.catalog_digest}`; pytest-deploycheck {md(summary.plugin_version)}.",
        f"{len(summary.results)} results: {tally or 'none'}."
        + (" The run was interrupted: unfinished items are marked not run." if summary.interrupted else ""),
        "",
        "`[x]` met on every target (manual items: attested) · `[ ]` not met, pending or not run · ~~struck through~~: not applicable.",
    ]
    beyond: set[str] | None = None
    if summary.checklist is not None:
        lines += _team_checklist(summary.checklist)
        lines += ["", f"{summary.checklist.line()}."]
        beyond = {r.check_id for r in summary.checklist.beyond}
        if beyond:
            lines += ["", "## Beyond your checklist", "",
                      "Catalog checks no item of your checklist maps to; they count in the verdict by their severity."]
    for (section, section_title), groups in by_check(summary).items():
        if beyond is not None:
            groups = [g for g in groups if g.check_id in beyond and section != "checklist"]
            if not groups:
                continue
        lines += ["", f"{'###' if beyond is not None else '##'} {md(section_title)}", ""]
        for group in groups:
            lines += _item(group)
    waivers = extra_list(summary, "waivers")
    if redactor is not None:  # before escaping: an escaped secret would no longer match
        waivers = redactor.redact_obj(waivers)
    if waivers:
        lines += ["", "## Waivers", ""]
        for w in waivers:
            scope = md(str(w.get("check") or "?")) + (f" on {md(str(w['target']))}" if w.get("target") else "")
            status = md(str(w.get("status") or "listed"))
            text = f"- **{md(str(w.get('id') or '?'))}** ({status}) {scope}"
            if w.get("justification"):
                text += f": {md(str(w['justification']))}"
            meta = [f"approved by {md(str(w['approver']))}" if w.get("approver") else "",
                    f"ticket {md(str(w['ticket']))}" if w.get("ticket") else "",
                    f"expires {md(str(w['expires']))}" if w.get("expires") else ""]
            if any(meta):
                text += " — " + ", ".join(m for m in meta if m)
            notes = w.get("notes")
            if isinstance(notes, (list, tuple)) and notes:
                text += f" ({md('; '.join(str(n) for n in notes))})"
            lines.append(text)
    text = "\n".join(lines) + "\n"
    text = clean_text(text)
    return redactor.redact(text) if redactor is not None else text
