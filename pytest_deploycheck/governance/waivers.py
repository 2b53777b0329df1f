"""Waivers: accepted risks.  A failure a waiver covers ends *waived*: it does not block GO, but
the verdict can then be at best GO WITH RISKS.

The file (``--deploycheck-waivers``, env ``DEPLOYCHECK_WAIVERS``, ini ``deploycheck_waivers``,
or the inventory's ``waivers`` key) is a list::

    version: 1
    waivers:
      - id: RISK-2026-014                 # unique; reports and the waived item name it
        check: http-07                    # a check id of the catalog
        target: "api-*"                   # a target name or glob; "*" also covers a check without target
        justification: legacy clients need TLS 1.1 until the 2026-12 migration
        approver: Jane Doe (CISO)
        ticket: RISK-14
        expires: 2026-12-31               # required: a risk is accepted for a limited time
        max_severity: medium              # optional: the highest severity it may cover
        advisories: [CVE-2024-1234]       # optional, for a check that lists advisories (rel-04)

A waiver covers a failure when the check id matches, the target is in scope, it has not
expired, the check's severity is at most ``max_severity``, for a critical check the policy
allows it (``--deploycheck-critical-waivers=allow``; denied by default), and, when it names
``advisories``, every advisory the failure lists (``(advisories: A, B)`` in its message) is
one of them: accepting one advisory never accepts the next one a scan finds.

At the end of the run the controller lists every waiver with its status: ``applied``,
``expiring`` (applied or not, it ends within ``waiver_expiry_warn_days``), ``expired`` (it no
longer applies; the failures it would cover stay failed), ``refused`` (it matched a failure it
may not cover: severity or the critical policy), ``stale`` (it matched no failure: fix done,
delete the waiver) or ``not selected`` (its check was not part of the run).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.governance import files as govfile
from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.markers import CheckMeta, Severity
from pytest_deploycheck.options import resolve
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.state import META_KEY, STATE_KEY
from pytest_deploycheck.thresholds import THRESHOLDS
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode, raise_problems, typename

PLUGIN_NAME = "deploycheck-waivers"
WHAT = "waivers file"
OPTION = "--deploycheck-waivers"
EXAMPLE = "the waivers example in the README"
CRITICAL_POLICY = ("critical failures cannot be waived under the default policy; allow it with "
                   "--deploycheck-critical-waivers=allow (or DEPLOYCHECK_CRITICAL_WAIVERS / ini deploycheck_critical_waivers)")

FIELDS = {
    "id": "a unique id such as RISK-2026-014",
    "check": "the check id it waives",
    "target": "the targets it covers: a name or glob ('*': every target)",
    "justification": "why the risk is accepted",
    "approver": "who accepted the risk",
    "ticket": "the ticket that records the decision",
    "expires": "the last day the waiver holds",
    "max_severity": "the highest severity it may cover",
    "note": "free text shown in reports",
    "advisories": "the advisory ids it accepts (CVE-..., GHSA-...), for a check whose failure lists them",
}

# Which status wins when several hold: the most urgent for a reader.
_PRECEDENCE = ("expired", "refused", "expiring", "stale", "not selected", "applied")

#: How a failure message lists the advisories it is about (rel-04): ``(advisories: A, B)``.
ADVISORIES_RE = re.compile(r"\(advisories: ([^()]*)\)")


def advisories_in(message: str) -> tuple[str, ...]:
    """The advisory ids a failure message lists, in order."""
    return tuple(dict.fromkeys(a.strip() for m in ADVISORIES_RE.findall(message) for a in m.split(",") if a.strip()))


@dataclass(frozen=True)
class Waiver:
    id: str
    check: str
    target: str
    justification: str
    approver: str
    ticket: str
    expires: dt.date
    source: str  # "waivers.yml:4"
    line: int
    check_line: int
    max_severity: Severity | None = None
    note: str = ""
    advisories: tuple[str, ...] = ()

    def in_scope(self, target: str | None) -> bool:
        return fnmatch.fnmatchcase(target, self.target) if target is not None else self.target == "*"

    @property
    def specificity(self) -> int:
        return 0 if self.target == "*" else 1 if any(c in self.target for c in "*?[") else 2

    def expired(self) -> bool:
        return govfile.today() > self.expires

    def refusal(self, severity: Severity, allow_critical: bool) -> str | None:
        """Why this waiver may not cover a failure of ``severity``, or None."""
        if self.expired():
            return f"expired on {self.expires.isoformat()}; it no longer applies"
        if self.max_severity is not None and severity.rank > self.max_severity.rank:
            return f"{self.check} is {severity.value}, above the waiver's max_severity {self.max_severity.value}"
        if severity is Severity.CRITICAL and not allow_critical:
            return CRITICAL_POLICY
        return None

    def advisory_gap(self, message: str) -> str | None:
        """Why this waiver, naming advisories, does not cover a failure with ``message``, or None."""
        if not self.advisories:
            return None
        listed = advisories_in(message)
        if not listed:
            return f"it accepts advisories ({', '.join(self.advisories)}) and the failure lists none"
        missing = [a for a in listed if a.lower() not in {w.lower() for w in self.advisories}]
        return f"the failure also lists {', '.join(missing)}, which the waiver does not name" if missing else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "check": self.check, "target": self.target, "justification": self.justification,
            "approver": self.approver, "ticket": self.ticket, "expires": self.expires.isoformat(),
            "max_severity": self.max_severity.value if self.max_severity else None, "source": self.source, "note": self.note,
            "advisories": list(self.advisories),
        }


@dataclass
class WaiverFile:
    path: Path
    loader: YamlLoader
    waivers: tuple[Waiver, ...]

    def find(self, check: CheckMeta, target: str | None, allow_critical: bool, message: str = "") -> Waiver | None:
        """The waiver that covers a failure of ``check`` on ``target``: the most specific scope first."""
        usable = [w for w in self.waivers
                  if w.check == check.id and w.in_scope(target) and w.refusal(check.severity, allow_critical) is None
                  and w.advisory_gap(message) is None]
        return max(usable, key=lambda w: (w.specificity, w.expires)) if usable else None


def load_waivers(path: Path, items: bool = False) -> WaiverFile:
    """Read and validate a waivers file, or raise one ``UsageError`` listing every problem."""
    ld, tree = govfile.read(path, what=WHAT, option=OPTION)
    waivers: list[Waiver] = []
    node = govfile.top_level(ld, tree, list_key="waivers", shape="a list of waivers", example=EXAMPLE)
    if node is not None and node.value is not None:
        if not isinstance(node.value, list):
            ld.problem(node.line, "waivers",
                       f"expected a list of waivers ('- id: ...' entries), got {typename(node.value)}; see {EXAMPLE}")
        else:
            for i, entry in enumerate(node.value):
                found = _entry(ld, entry, f"waivers[{i}]", items)
                if found is not None:
                    waivers.append(found)
    seen: dict[str, Waiver] = {}
    for i, w in enumerate(waivers):
        if w.id in seen:
            ld.problem(w.line, f"waivers[{i}].id", f"waiver id {w.id} is already used at {seen[w.id].source}; ids are unique: rename one")
        seen.setdefault(w.id, w)
    raise_problems(ld, WHAT)
    return WaiverFile(path=path, loader=ld, waivers=tuple(waivers))


def _entry(ld: YamlLoader, node: YamlNode, keypath: str, items: bool = False) -> Waiver | None:
    if not isinstance(node.value, dict):
        ld.problem(node.line, keypath, f"expected a mapping with id, check, target, justification, approver, ticket and expires, "
                                       f"got {typename(node.value)}; see {EXAMPLE}")
        return None
    entry: dict[str, YamlNode] = node.value
    govfile.unknown_keys(ld, entry, FIELDS, keypath)
    line = node.line
    values = {key: govfile.text(ld, entry, key, keypath, line, FIELDS[key])
              for key in ("id", "target", "justification", "approver", "ticket")}
    check = None
    check_line = entry["check"].line if "check" in entry else line
    if entry.get("check") is None or entry["check"].value is None:
        ld.problem(entry["check"].line if "check" in entry else line, f"{keypath}.check",
                   f"required key missing: {FIELDS['check']}; add it")
    else:
        check = govfile.check_id(ld, entry["check"].value, entry["check"].line, f"{keypath}.check", items)
    expires = govfile.date(ld, entry, "expires", keypath, line, FIELDS["expires"])
    max_severity = None
    if entry.get("max_severity") is not None and entry["max_severity"].value is not None:
        raw = entry["max_severity"].value
        try:
            max_severity = Severity.parse(str(raw))
        except ValueError as exc:
            ld.problem(entry["max_severity"].line, f"{keypath}.max_severity", f"{exc}; or delete the key to cover every severity")
            return None
    note = govfile.text(ld, entry, "note", keypath, line, FIELDS["note"], required=False) or ""
    advisories: list[str] = []
    node_adv = entry.get("advisories")
    if node_adv is not None and node_adv.value is not None:
        for item in node_adv.value if isinstance(node_adv.value, list) else [node_adv]:
            if not isinstance(item.value, str) or not item.value.strip():
                ld.problem(item.line, f"{keypath}.advisories", f"expected advisory ids (CVE-2024-1234, GHSA-...), got {typename(item.value)}")
                return None
            advisories.append(item.value.strip())
    if check is None or expires is None or any(v is None for v in values.values()):
        return None
    return Waiver(id=str(values["id"]), check=check, target=str(values["target"]), justification=str(values["justification"]),
                  approver=str(values["approver"]), ticket=str(values["ticket"]), expires=expires,
                  source=f"{ld.display}:{line}", line=line, check_line=check_line, max_severity=max_severity, note=note,
                  advisories=tuple(advisories))


class WaiverPlugin:
    """Answers ``pytest_deploycheck_waiver`` from the file; reports every waiver's status."""

    def __init__(self, file: WaiverFile | None, allow_critical: bool, warn_days: int) -> None:
        self.file = file
        self.allow_critical = allow_critical
        self.warn_days = warn_days

    @pytest.hookimpl
    def pytest_deploycheck_waiver(self, config: pytest.Config, check: CheckMeta, target: str | None, message: str) -> dict[str, Any] | None:
        if self.file is None:
            return None
        found = self.file.find(check, target, self.allow_critical, message)
        return found.as_dict() if found is not None else None

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> Generator[None, Any, Any]:
        collected = list(items)  # before deselection: a waiver of a deselected check is still a known one
        result = yield
        if self.file is not None:
            known = {meta.id for item in collected if (meta := item.stash.get(META_KEY, None)) is not None}
            for i, w in enumerate(self.file.waivers):
                if w.check not in known and govfile.judged(w.check, known):  # a section this run did not collect: not judged
                    govfile.unknown_id_problem(self.file.loader, w.check_line, f"waivers[{i}].check", w.check, known)
            govfile.raise_catalog_problems(config, items, self.file.loader, WHAT)
        return result

    @pytest.hookimpl(wrapper=True)  # before every report writer, which renders summary.extra
    def pytest_deploycheck_summary(self, config: pytest.Config, summary: Any) -> Generator[None, Any, Any]:
        summary.extra["waivers"] = report_rows(self.file, summary.results, self.allow_critical, self.warn_days)
        return (yield)


def report_rows(file: WaiverFile | None, results: list[Any], allow_critical: bool, warn_days: int) -> list[dict[str, Any]]:
    """Every waiver of the file with its status in this run (computed from the results, so a
    serial and an xdist run report alike)."""
    if file is None:
        return []
    today = govfile.today()
    rows = []
    for w in file.waivers:
        ran = [r for r in results if r.check_id == w.check]
        in_scope = [r for r in ran if w.in_scope(r.target)]
        applied = sorted({r.target or "-" for r in in_scope if r.outcome is Outcome.WAIVED and (r.waiver or {}).get("id") == w.id})
        left = [r for r in in_scope if r.outcome is Outcome.FAILED]
        days_left = (w.expires - today).days
        statuses, notes = [], []
        if applied:
            statuses.append("applied")
            notes.append(f"applied to {', '.join(applied)}")
        if w.expired():
            statuses.append("expired")
            notes.append(f"expired on {w.expires.isoformat()}; it no longer applies"
                         + (f": {w.check} still fails on {', '.join(sorted({r.target or '-' for r in left}))}" if left else ""))
        else:
            refused = {r.target or "-": w.refusal(r.severity, allow_critical) or w.advisory_gap(str(r.message or "")) for r in left}
            refused = {t: why for t, why in refused.items() if why}
            if refused:
                statuses.append("refused")
                notes += [f"does not cover {w.check} on {t}: {why}" for t, why in sorted(refused.items())]
            if days_left < warn_days:
                statuses.append("expiring")
                notes.append(f"expires in {days_left} day(s), on {w.expires.isoformat()} (flagged under {warn_days} days)")
        if not ran:
            statuses.append("not selected")
            notes.append(f"{w.check} was not part of this run")
        elif not applied and not left:
            statuses.append("stale")
            others = sorted({str((r.waiver or {}).get("id")) for r in in_scope if r.outcome is Outcome.WAIVED})
            if others:
                notes.append(f"matched no failure of its own: more specific waivers covered them ({', '.join(others)}); delete it")
            else:
                notes.append(f"matched no failure: {w.check} did not fail on any target in scope '{w.target}'; "
                             "delete the waiver if the risk is gone")
        row = w.as_dict()
        row.update(status=min(statuses, key=_PRECEDENCE.index) if statuses else "stale", matched=applied,
                   left_failing=sorted({r.target or "-" for r in left}), days_left=days_left, notes=notes)
        rows.append(row)
    return rows


def warn_days(config: pytest.Config, inventory: Inventory | None) -> int:
    """--deploycheck-waiver-warn-days (env, ini) > the inventory's waiver_expiry_warn_days > 14."""
    days = resolve(config, "deploycheck_waiver_warn_days")
    if days is not None:
        return int(days)
    if inventory is not None:
        return int(inventory.thresholds["waiver_expiry_warn_days"])
    return int(THRESHOLDS["waiver_expiry_warn_days"].default)


def register(config: pytest.Config, inventory: Inventory | None) -> None:
    """Load the file (if any) and register the plugin object; called from ``pytest_configure``."""
    path = govfile.locate(config, "deploycheck_waivers", inventory, "waivers")
    plugin = WaiverPlugin(load_waivers(path, _checklist_given(config)) if path is not None else None,
                          resolve(config, "deploycheck_critical_waivers") == "allow", warn_days(config, inventory))
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    config.add_cleanup(lambda: config.pluginmanager.unregister(plugin) if config.pluginmanager.is_registered(plugin) else None)


def _checklist_given(config: pytest.Config) -> bool:
    """Whether the run reads a team checklist, whose items entries may name by id or key."""
    state = config.stash.get(STATE_KEY, None)
    return bool(state is not None and state.checklists)
