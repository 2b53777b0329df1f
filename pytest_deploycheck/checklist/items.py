"""How the run treats each checklist item: the checks that answer it, or a person who attests it.

``resolve`` decides, item by item: the team's mapping file first (an entry a person wrote always
wins), then the matcher's suggestion from the phrases the checks declare (``answers=`` on their
marker), else a manual item in the team's own words.  ``ChecklistEntry`` is the outcome, carried by
the item's test report to the controller, which judges its status from its checks' results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_deploycheck.checklist.mapping import MappingFile, Suggestion
from pytest_deploycheck.checklist.parse import Item
from pytest_deploycheck.markers import CheckMeta, Severity

#: A team wrote an unmapped item down as a go-live condition: it blocks until someone vouches for it.
MANUAL_DEFAULT = Severity.HIGH


@dataclass(frozen=True)
class ChecklistEntry:
    """One checklist item as this run treats it (the JSON report's ``checklist.items[]``)."""

    source: str  # the checklist file, as given
    key: str
    id: str
    section: tuple[str, ...]
    text: str
    line: int
    checks: tuple[str, ...]
    manual: bool
    severity: Severity
    matched_by: str  # "mapping", "suggested: <why>", or "manual: <why>"
    severity_set: bool = False  # the mapping file set the severity (it then raises the checks' own)
    group: bool = False  # a heading with sub-items that no check answers itself: judged by its sub-items
    attest: str = ""  # with checks: the part of the item they do not answer, which a person attests as well

    @property
    def attested(self) -> bool:
        """Whether the item has its own attestation to give: a manual item, or the part its checks leave."""
        return self.manual or bool(self.attest)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "key": self.key, "id": self.id, "section": list(self.section), "text": self.text,
                "line": self.line, "checks": list(self.checks), "manual": self.manual, "severity": self.severity.value,
                "matched_by": self.matched_by, "severity_set": self.severity_set, "group": self.group, "attest": self.attest}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChecklistEntry:
        return cls(source=str(data["source"]), key=str(data["key"]), id=str(data["id"]), section=tuple(data["section"]),
                   text=str(data["text"]), line=int(data["line"]), checks=tuple(data["checks"]), manual=bool(data["manual"]),
                   severity=Severity.parse(str(data["severity"])), matched_by=str(data["matched_by"]),
                   severity_set=bool(data.get("severity_set")), group=bool(data.get("group")), attest=str(data.get("attest") or ""))

    def meta(self) -> CheckMeta:
        """The metadata of a manual item, or of the part of an item its checks leave (``attest``), so it
        is attested, waived and judged like a manual check."""
        where = f"{Path(self.source).name}:{self.line}"
        if self.attest and not self.manual:
            rationale = (f"An item of the team's go-live checklist ({where}) that its checks ({', '.join(self.checks)}) answer "
                         f"only in part: a named person attests the rest ({self.attest!r}), with evidence and a date.")
            instructions = (f"attest the part of {self.text!r} ({where}) its checks ({', '.join(self.checks)}) leave: "
                            f"{self.attest!r}; give the evidence (a ticket, a document, a run)")
        else:
            rationale = (f"An item of the team's go-live checklist ({where}) that no automated check answers: a named "
                         "person attests it, with evidence and a date.")
            instructions = f"attest that this is true today: {self.text!r} ({where}); give the evidence (a ticket, a document, a run)"
        return CheckMeta(
            id=self.id, title=self.text, severity=self.severity, section="checklist",
            section_title=" > ".join(self.section) or Path(self.source).name, rationale=rationale, manual=True,
            instructions=instructions,
        )


def resolve(source: str, item: Item, mapping: MappingFile, suggestion: Suggestion | None,
            severities: Mapping[str, Severity], sub_items: int = 0) -> ChecklistEntry:
    """The entry for ``item``: the mapping file's, else the matcher's ``suggestion``, else manual.
    An item its checks answer only in part keeps the rest (``attest``) for a person to attest.
    ``severities`` gives each known check's severity, for the item's default.

    An item with ``sub_items`` that no check answers ("- [ ] **Cluster**" above its own items) is
    a group: judged by its sub-items, not attested on its own.  A person's mapping entry that makes
    it manual (or maps it) still wins."""
    entry = mapping.entries.get(item.key)
    section_severity = mapping.section_severity(item.section)
    unanswered = (entry is None or not entry.by_person) and not (entry.checks if entry is not None else suggestion and suggestion.checks)
    if sub_items and unanswered:
        return ChecklistEntry(source=source, key=item.key, id=(entry.id if entry is not None else None) or item.key, section=item.section,
                              text=item.plain, line=item.line, checks=(), manual=False, severity=section_severity or MANUAL_DEFAULT,
                              matched_by=f"group: judged by its {sub_items} sub-item{'s' if sub_items > 1 else ''} "
                                         "(no check answers the heading itself)",
                              severity_set=section_severity is not None, group=True)
    if entry is not None:
        checks = () if entry.manual and not entry.checks else entry.checks
        matched_by = "mapping" if entry.by_person else f"suggested: {entry.suggested}"
        manual = entry.manual and not checks
        item_id = entry.id or item.key
        set_severity = entry.severity or section_severity
        attest = (entry.attest or "") if checks else ""
    elif suggestion is not None and suggestion.checks:
        checks, matched_by, manual, item_id, set_severity = suggestion.checks, f"suggested: {suggestion.why}", False, item.key, section_severity
        attest = suggestion.attest
    else:
        why = suggestion.why if suggestion is not None and suggestion.why else "no catalog check answers this item"
        checks, matched_by, manual, item_id, set_severity, attest = (), f"manual: {why}", True, item.key, section_severity, ""
    if set_severity is not None:
        severity = set_severity
    elif checks:
        known = [severities[c] for c in checks if c in severities]
        severity = max(known, key=lambda s: s.rank) if known else MANUAL_DEFAULT
    else:
        severity = MANUAL_DEFAULT
    return ChecklistEntry(source=source, key=item.key, id=item_id, section=item.section, text=item.plain, line=item.line,
                          checks=tuple(checks), manual=manual, severity=severity, matched_by=matched_by,
                          severity_set=set_severity is not None, attest=attest)
