"""Each checklist item's status, judged on the controller from the results of the checks it maps to.

An automated item passed only when each of its (check, target) results passed or is attested;
otherwise it takes the worst of failed / error / not run / pending / waived, and is n/a only when all
its results are (n/a is a finding: "the domain sends no mail", "this Redis is a cache").  A manual item's
status is its own result: passed when attested, manual (pending) until then.  An item its checks
answer only in part takes the worse of its checks' status and its own attestation of the rest.  An
item whose checks looked at nothing (every result an n/a for want of a target, a path, a privilege:
``Result.unexamined``) is an error, never the n/a of its checks, and the verdict weighs it.
Catalog results that no item maps to are "beyond your checklist": they still count in the verdict
by their severity.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deploycheck.checklist.items import ChecklistEntry
from pytest_deploycheck.checklist.mapping import mapping_path
from pytest_deploycheck.decision import Result
from pytest_deploycheck.outcomes import Outcome

#: Item statuses, as the JSON report names them.
STATUSES = ("passed", "failed", "error", "not run", "manual", "waived", "n/a")

#: Worst first: the status an automated item takes from its results.
_WORST = (Outcome.FAILED, Outcome.ERROR, Outcome.NOT_RUN, Outcome.MANUAL, Outcome.WAIVED)


@dataclass(frozen=True)
class ItemStatus:
    """One checklist item and how this run answered it."""

    entry: ChecklistEntry | None  # None: the item never reported (an interrupted run)
    source: str
    key: str
    section: tuple[str, ...]
    text: str
    line: int
    status: str
    results: tuple[Result, ...] = ()  # the (check, target) results behind an automated item; the item's own for a manual one
    reason: str = ""
    nodeid: str | None = None  # the item's test item, when it reported
    parent: str | None = None  # the key of the item it is nested under

    @property
    def problems(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.outcome not in (Outcome.PASSED, Outcome.NOT_APPLICABLE))

    def as_dict(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "key": self.key, "id": entry.id if entry else self.key, "source": self.source, "section": list(self.section),
            "text": self.text, "line": self.line,
            "checks": list(entry.checks) if entry else [], "manual": bool(entry and entry.manual),
            "severity": entry.severity.value if entry else None, "status": self.status, "group": bool(entry and entry.group),
            "attest": entry.attest if entry else "",
            "parent": self.parent, "matched_by": entry.matched_by if entry else "not run", "reason": self.reason,
            "results": [{"check": r.check_id, "target": r.target, "outcome": r.outcome.value, "message": r.message}
                        for r in self.results],
        }


@dataclass
class ChecklistSummary:
    """The team's checklist as this run answered it, for every report."""

    sources: tuple[str, ...]
    items: list[ItemStatus]
    beyond: list[Result]  # catalog results no item maps to
    warnings: list[str] = field(default_factory=list)  # stale mapping entries, encoding fallbacks
    #: An error result for each item whose checks all ended n/a without looking (no path, privilege or
    #: target to look with): the verdict weighs these beside the run's results (``for_verdict``).
    unexamined: list[Result] = field(default_factory=list)
    _by_key: dict[tuple[str, str], ItemStatus] = field(default_factory=dict, init=False, repr=False, compare=False)

    def counts(self) -> Counter[str]:
        return Counter(i.status for i in self.items)

    def depth(self, item: ItemStatus) -> int:
        """How many items ``item`` is nested under (the reports indent its sub-items under it)."""
        if len(self._by_key) != len(self.items):
            self._by_key = {(i.source, i.key): i for i in self.items}
        by_key = self._by_key
        depth, parent, seen = 0, item.parent, set()
        while parent and (item.source, parent) in by_key and parent not in seen:
            seen.add(parent)
            depth += 1
            parent = by_key[(item.source, parent)].parent
        return depth

    @property
    def automated(self) -> list[ItemStatus]:
        return [i for i in self.items if i.entry is not None and not i.entry.manual and not i.entry.group]

    @property
    def groups(self) -> list[ItemStatus]:
        return [i for i in self.items if i.entry is not None and i.entry.group]

    @property
    def manual(self) -> list[ItemStatus]:
        return [i for i in self.items if i.entry is not None and i.entry.manual]

    def line(self) -> str:
        """The closing line: items automated / manual, passed / failed / pending."""
        counts = self.counts()
        parts = [f"{counts[s]} {label}" for s, label in (("passed", "passed"), ("failed", "failed"), ("error", "could not be checked"),
                                                           ("manual", "pending attestation"), ("waived", "waived"),
                                                           ("not run", "not run"), ("n/a", "n/a")) if counts[s]]
        groups = f", {len(self.groups)} judged by their sub-items" if self.groups else ""
        partly = sum(1 for i in self.automated if i.entry is not None and i.entry.attest)
        automated = f"{len(self.automated)} automated" + (f" ({partly} in part, the rest attested)" if partly else "")
        return (f"checklist: {len(self.items)} items ({automated}, {len(self.manual)} manual{groups}): "
                + ", ".join(parts or ["nothing judged"]))

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.sources[0] if len(self.sources) == 1 else list(self.sources),
                "items": [i.as_dict() for i in self.items], "counts": dict(self.counts()),
                "beyond": sorted({r.check_id for r in self.beyond}), "warnings": list(self.warnings)}


def judge(entries: Mapping[str, ChecklistEntry], parsed: Sequence[tuple[str, Iterable[Any]]], results: Sequence[Result],
          item_results: Mapping[str, Result], warnings: Sequence[str] = (), nodeids: Mapping[str, str] | None = None) -> ChecklistSummary:
    """``entries``: key (``source::key``) -> the entry its report carried; ``parsed``: every checklist's
    (source, items) as read on this process, so an item that never reported is listed as not run;
    ``item_results``: a manual item's own result by the same key."""
    by_check: dict[str, list[Result]] = {}
    for r in results:
        if r.check is not None and r.check.section != "checklist":
            by_check.setdefault(r.check_id, []).append(r)
    items: list[ItemStatus] = []
    unexamined: list[Result] = []
    mapped: set[str] = set()
    nodeids = nodeids or {}
    for source, parsed_items in parsed:
        for item in parsed_items:
            key = f"{source}::{item.key}"
            entry = entries.get(key)
            parent = getattr(item, "parent", None)
            if entry is None:
                items.append(ItemStatus(None, source, item.key, item.section, item.plain, item.line, "not run",
                                        reason="the run ended before this item was judged, or it was not selected", parent=parent))
                continue
            mapped.update(entry.checks)
            if entry.manual:
                own = item_results.get(key)
                status = _manual_status(own)
                items.append(ItemStatus(entry, source, item.key, item.section, item.plain, item.line, status,
                                        (own,) if own else (), own.message if own else "never ran", nodeids.get(key), parent))
                continue
            found = tuple(r for check in entry.checks for r in by_check.get(check, ()))
            status, reason = _automated_status(entry, found)
            if status == "error" and found and all(r.unexamined for r in found):
                unexamined.append(_unexamined_result(entry, nodeids.get(key) or key, reason))
            if entry.attest:
                status, reason, found = _with_attestation(entry, status, reason, found, item_results.get(key))
            items.append(ItemStatus(entry, source, item.key, item.section, item.plain, item.line, status, found, reason, nodeids.get(key),
                                    parent))
    _judge_groups(items)
    beyond = [r for r in results if r.check is not None and r.check.section != "checklist" and r.check_id not in mapped]
    return ChecklistSummary(tuple(s for s, _ in parsed), items, beyond, list(warnings), unexamined)


def _unexamined_result(entry: ChecklistEntry, nodeid: str, reason: str) -> Result:
    """The error an item with nothing examined counts as in the verdict, at the item's severity."""
    meta = dataclasses.replace(entry.meta(), manual=False, instructions="",
                               rationale=f"An item of the team's go-live checklist ({Path(entry.source).name}:{entry.line}) whose checks "
                                         f"({', '.join(entry.checks)}) looked at nothing: it cannot pass.")
    return Result(nodeid=nodeid, check=meta, target=None, target_kind=None, outcome=Outcome.ERROR, message=reason)


def for_verdict(results: Sequence[Result], checklist: ChecklistSummary | None) -> list[Result]:
    """The results the verdict weighs: the run's, and an error for each checklist item nothing was examined for."""
    return [*results, *(checklist.unexamined if checklist is not None else ())]


#: Worst first: the status a group takes from its sub-items.
_GROUP_ORDER = ("failed", "error", "not run", "manual", "waived", "passed", "n/a")


def _judge_groups(items: list[ItemStatus]) -> None:
    """A group's status is the worst of its sub-items' (n/a only when all are); innermost first, so
    a group under a group counts as judged."""
    for index in range(len(items) - 1, -1, -1):
        group = items[index]
        if group.entry is None or not group.entry.group:
            continue
        subs = [i for i in items if i.source == group.source and i.parent == group.key]
        if not subs:
            items[index] = dataclasses.replace(group, status="not run", reason="none of its sub-items was judged in this run")
            continue
        statuses = Counter(i.status for i in subs)
        status = next(s for s in _GROUP_ORDER if statuses[s])
        told = ", ".join(f"{statuses[s]} {s}" for s in _GROUP_ORDER if statuses[s])
        items[index] = dataclasses.replace(group, status=status, reason=f"its {len(subs)} sub-item(s): {told}")


def _manual_status(result: Result | None) -> str:
    if result is None:
        return "not run"
    return {Outcome.PASSED: "passed", Outcome.MANUAL: "manual", Outcome.WAIVED: "waived", Outcome.FAILED: "failed",
            Outcome.ERROR: "error", Outcome.NOT_APPLICABLE: "n/a", Outcome.NOT_RUN: "not run"}[result.outcome]


def _with_attestation(entry: ChecklistEntry, status: str, reason: str, found: tuple[Result, ...],
                      own: Result | None) -> tuple[str, str, tuple[Result, ...]]:
    """An item its checks answer in part: the worse of their status and the attestation of the rest
    (its own result, last among the item's results)."""
    mine = _manual_status(own)
    told = {"passed": "attested", "manual": "pending attestation"}.get(mine, mine)
    worst = min((status, mine), key=_GROUP_ORDER.index)
    return worst, f"{reason}; the part no check answers ({entry.attest!r}): {told}", (*found, own) if own else found


def _automated_status(entry: ChecklistEntry, found: tuple[Result, ...]) -> tuple[str, str]:
    if not found:
        return "not run", f"none of its checks ran in this run ({', '.join(entry.checks)}): deselected, or no such check collected"
    outcomes = {r.outcome for r in found}
    for worst in _WORST:
        if worst in outcomes:
            bad = [r for r in found if r.outcome is worst]
            names = ", ".join(f"{r.check_id} on {r.target or '-'}" for r in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            return _manual_status(bad[0]), f"{len(bad)} of {len(found)} results {worst.value}: {names}"
    if outcomes == {Outcome.NOT_APPLICABLE}:
        said = "; ".join(dict.fromkeys(r.message for r in found[:3]))
        if all(r.unexamined for r in found):
            return "error", (f"nothing examined: {said}; give what is missing, or write 'manual: true' for the item in "
                             f"{mapping_path(Path(entry.source)).name} and attest it")
        return "n/a", "not applicable on every target: " + said
    passed = [r for r in found if r.outcome is Outcome.PASSED]
    return "passed", f"{len(passed)} result(s) passed: " + ", ".join(f"{r.check_id} on {r.target or '-'}" for r in passed[:5])


def raise_severity(results: Sequence[Result], entries: Iterable[ChecklistEntry]) -> list[Result]:
    """A team that sets an item's severity in its mapping file raises its checks' severity to it
    (never lowers it): "SSL certificates installed: critical" makes a failed tls-02 block the go-live."""
    floor: dict[str, ChecklistEntry] = {}
    for entry in entries:
        if entry.severity_set and not entry.manual:
            for check in entry.checks:
                if check not in floor or entry.severity.rank > floor[check].severity.rank:
                    floor[check] = entry
    out = []
    for r in results:
        raised = floor.get(r.check_id)
        if raised is not None and r.check is not None and raised.severity.rank > r.check.severity.rank:
            r = dataclasses.replace(r, check=dataclasses.replace(r.check, severity=raised.severity))
        out.append(r)
    return out
