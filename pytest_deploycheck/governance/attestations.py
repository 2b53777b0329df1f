"""Attestations: a named person vouches for a manual item, in a file the run reads.

A check marked ``@pytest.mark.manual`` ends *manual* (pending) unless an attestation covers
it; with one it passes and every report says who attested it, in what role, when, on what
evidence and until when.  The file (``--deploycheck-attestations``, env
``DEPLOYCHECK_ATTESTATIONS``, ini ``deploycheck_attestations``, or the inventory's
``attestations`` key) is keyed by check id::

    version: 1
    attestations:
      signoff-02:                          # a check id of the catalog
        by: Ada Lovelace
        role: SRE lead
        date: 2026-11-02                   # the day it was done; never in the future
        evidence: https://jira.example.com/browse/OPS-1234
        valid_for: 30d                     # or: expires: 2026-12-02
      doc-01:                              # a check with targets: one entry per target ...
        - target: shop                     # ... (a target name or glob; omitted: every target)
          by: Grace Hopper
          role: on-call lead
          date: 2026-10-28
          evidence: reviewed in OPS-1201
          expires: 2027-01-31

An expired attestation leaves the item pending, with "expired on D" in its message.  A date in
the future, a missing field, a placeholder left from the template, or a check id the catalog
does not have is a ``UsageError`` naming file and line.  ``--deploycheck-attestation-template``
writes a template listing every manual item the run selected.

The plugin object is registered in every process: the hook runs on the worker that ran the
item; the per-entry report (``summary.extra["attestations"]``) is built on the controller.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import sys
import textwrap
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck import __version__
from pytest_deploycheck.governance import files as govfile
from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.markers import CheckMeta
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.state import META_KEY, STATE_KEY, NoTarget, item_target, xdist_active
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode, raise_problems, typename

PLUGIN_NAME = "deploycheck-attestations"
WHAT = "attestations file"
OPTION = "--deploycheck-attestations"
EXAMPLE = "the attestations example in the README, or write one with --deploycheck-attestation-template=PATH"

FIELDS = {
    "target": "the target it covers: a name or glob (omitted: every target of the check)",
    "by": "who attests (a name)",
    "role": "their role (e.g. SRE lead)",
    "date": "the day it was done",
    "evidence": "a URL, ticket or short text an auditor can follow",
    "expires": "the last day it holds",
    "valid_for": "how long it holds (30d, 12w)",
    "note": "free text shown in reports",
}


@dataclass(frozen=True)
class Attestation:
    """One entry of the attestations file: who vouched for which item, when, until when."""

    check: str
    target: str | None  # a name or glob; None covers every target
    by: str
    role: str
    date: dt.date
    evidence: str
    expires: dt.date
    source: str  # "attestations.yml:12"
    note: str = ""

    def covers(self, target: str | None) -> bool:
        if self.target is None:
            return True
        return fnmatch.fnmatchcase(target, self.target) if target is not None else self.target == "*"

    @property
    def specificity(self) -> int:
        """An entry naming the target beats a glob, which beats one for every target."""
        if self.target is None:
            return 0
        return 1 if any(c in self.target for c in "*?[") else 2

    def expired(self, on: dt.date | None = None) -> bool:
        return (on or govfile.today()) > self.expires

    @property
    def age_days(self) -> int:
        """Days since the attested work was done (a restore drill's age, say)."""
        return (govfile.today() - self.date).days

    def as_dict(self) -> dict[str, Any]:
        expired = self.expired()
        data: dict[str, Any] = {
            "status": "expired" if expired else "valid", "check": self.check, "target": self.target,
            "by": self.by, "role": self.role, "date": self.date.isoformat(), "evidence": self.evidence,
            "expires": self.expires.isoformat(), "source": self.source, "note": self.note,
        }
        if expired:
            data["reason"] = f"expired on {self.expires.isoformat()}: attested by {self.by} ({self.role}) on {self.date.isoformat()}"
        return data


@dataclass
class AttestationFile:
    path: Path
    loader: YamlLoader
    entries: tuple[tuple[Attestation, int], ...]  # (attestation, line of its check id key)

    def best(self, check: str, target: str | None) -> Attestation | None:
        """The entry that decides ``check`` on ``target``: a valid one if any (the most specific,
        then the most recent), else the expired one that lasted longest."""
        found = [a for a, _ in self.entries if a.check == check and a.covers(target)]
        if not found:
            return None
        valid = [a for a in found if not a.expired()]
        if valid:
            return max(valid, key=lambda a: (a.specificity, a.date, a.expires))
        return max(found, key=lambda a: (a.expires, a.specificity))


def load_attestations(path: Path, items: bool = False) -> AttestationFile:
    """Read and validate an attestations file, or raise one ``UsageError`` listing every problem."""
    ld, tree = govfile.read(path, what=WHAT, option=OPTION)
    entries: list[tuple[Attestation, int]] = []
    node = govfile.top_level(ld, tree, list_key="attestations", shape="a mapping of check ids to attestations", example=EXAMPLE)
    if node is not None and node.value is not None:
        if not isinstance(node.value, dict):
            ld.problem(node.line, "attestations",
                       f"expected a mapping of check ids to attestations, got {typename(node.value)}; see {EXAMPLE}")
        else:
            for key, sub in node.value.items():
                keypath = f"attestations.{key}"
                check = govfile.check_id(ld, key, sub.line, keypath, items)
                if check is None:
                    continue
                values = sub.value if isinstance(sub.value, list) else [sub]
                for i, entry in enumerate(values):
                    where = f"{keypath}[{i}]" if isinstance(sub.value, list) else keypath
                    found = _entry(ld, check, entry, where)
                    if found is not None:
                        entries.append((found, sub.line))
    _duplicates(ld, [a for a, _ in entries])
    raise_problems(ld, WHAT)
    return AttestationFile(path=path, loader=ld, entries=tuple(entries))


def _entry(ld: YamlLoader, check: str, node: YamlNode, keypath: str) -> Attestation | None:
    if not isinstance(node.value, dict):
        ld.problem(node.line, keypath, f"expected a mapping with by, role, date, evidence and expires (or valid_for), "
                                       f"got {typename(node.value)}; see {EXAMPLE}")
        return None
    entry: dict[str, YamlNode] = node.value
    govfile.unknown_keys(ld, entry, FIELDS, keypath)
    line = node.line
    target = govfile.text(ld, entry, "target", keypath, line, FIELDS["target"], required=False)
    by = govfile.text(ld, entry, "by", keypath, line, FIELDS["by"])
    role = govfile.text(ld, entry, "role", keypath, line, FIELDS["role"])
    evidence = govfile.text(ld, entry, "evidence", keypath, line, FIELDS["evidence"])
    note = govfile.text(ld, entry, "note", keypath, line, FIELDS["note"], required=False) or ""
    date = govfile.date(ld, entry, "date", keypath, line, FIELDS["date"])
    today = govfile.today()
    if date is not None and date > today:
        ld.problem(entry["date"].line, f"{keypath}.date", f"{date.isoformat()} is in the future (today is {today.isoformat()}); "
                                                          "an attestation records work already done: write the day it was done")
        date = None
    expires: dt.date | None = None
    if "expires" in entry and "valid_for" in entry:
        ld.problem(entry["valid_for"].line, f"{keypath}.valid_for", "give expires or valid_for, not both; delete one")
    elif "expires" in entry:
        expires = govfile.date(ld, entry, "expires", keypath, line, FIELDS["expires"])
        if expires is not None and date is not None and expires < date:
            ld.problem(entry["expires"].line, f"{keypath}.expires", f"{expires.isoformat()} is before the attestation's date "
                                                                     f"{date.isoformat()}; fix one of the two dates")
            expires = None
    elif "valid_for" in entry:
        days = govfile.period(ld, entry["valid_for"], f"{keypath}.valid_for")
        if days is not None and date is not None:
            expires = date + dt.timedelta(days=days)
    else:
        ld.problem(line, keypath, "no expiry; add expires: YYYY-MM-DD or valid_for: 30d (an attestation holds for a limited time)")
    if by is None or role is None or evidence is None or date is None or expires is None:
        return None
    return Attestation(check=check, target=target, by=by, role=role, date=date, evidence=evidence, expires=expires,
                       source=f"{ld.display}:{line}", note=note)


def _duplicates(ld: YamlLoader, entries: list[Attestation]) -> None:
    seen: dict[tuple[str, str | None, dt.date], Attestation] = {}
    for a in entries:
        key = (a.check, a.target, a.date)
        if key in seen:
            line = int(a.source.rsplit(":", 1)[1])
            ld.problem(line, f"attestations.{a.check}", f"a second attestation for {a.check}"
                                                        f"{' on ' + a.target if a.target else ''} dated {a.date.isoformat()} "
                                                        f"(the first is at {seen[key].source}); delete one")
        else:
            seen[key] = a


def attestation_for(config: pytest.Config, item: pytest.Item) -> Attestation | None:
    """The attestation that decides ``item`` (also an expired one), or None."""

    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    meta = item.stash.get(META_KEY, None)
    if not isinstance(plugin, AttestationPlugin) or plugin.file is None or meta is None:
        return None
    return plugin.file.best(meta.id, item_target(item)[1])


class AttestationPlugin:
    """Answers ``pytest_deploycheck_attestation`` from the file; writes the template; reports."""

    def __init__(self, file: AttestationFile | None, template: str | None, inventory: Inventory | None) -> None:
        self.file = file
        self.template = template  # a path, or "-" for the terminal
        self.inventory = inventory
        self.template_text: str | None = None
        self.template_count = 0

    # -- every process ----------------------------------------------------------------------

    @pytest.hookimpl
    def pytest_deploycheck_attestation(self, config: pytest.Config, check: CheckMeta, target: str | None) -> dict[str, Any] | None:
        if self.file is None:
            return None
        found = self.file.best(check.id, target)
        return found.as_dict() if found is not None else None

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> Generator[None, Any, Any]:
        collected = list(items)  # before -k/-m/--deploycheck-severity deselection: ids are judged against all of it
        result = yield

        catalog = {meta.id: meta for item in collected if (meta := item.stash.get(META_KEY, None)) is not None}
        if self.file is not None and catalog:  # no check collected (a project's own tests): nothing to judge ids by
            ld = self.file.loader
            for check, line in sorted({(a.check, line) for a, line in self.file.entries}, key=lambda e: e[1]):
                meta = catalog.get(check)
                if meta is None:
                    if govfile.judged(check, catalog):
                        govfile.unknown_id_problem(ld, line, f"attestations.{check}", check, catalog)
                elif not meta.manual:
                    ld.problem(line, f"attestations.{check}", f"{check} ({meta.title}) is not a manual item and takes no "
                                                              "attestation (only @pytest.mark.manual checks do); delete the entry")
            govfile.raise_catalog_problems(config, items, ld, WHAT)
        if self.template is not None:
            self.template_text, self.template_count = template(items, self.file, self.inventory)
        return result

    # -- the template: collect, write, run nothing -------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if self.template is None or self.template_text is None:
            return None
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if self.template == "-":
            if reporter is not None:
                reporter.write_sep("=", "attestation template")
                reporter.write(self.template_text)
            else:
                sys.stdout.write(self.template_text)
            return True
        path = Path(self.template)
        path.write_text(self.template_text, encoding="utf-8")
        if reporter is not None:
            reporter.write_line(f"deploycheck: wrote an attestation template for {self.template_count} manual item(s) to {path}")
        return True

    # -- the controller: one row per entry for the reports -----------------------------------

    @pytest.hookimpl(wrapper=True)  # before every report writer, which renders summary.extra
    def pytest_deploycheck_summary(self, config: pytest.Config, summary: Any) -> Generator[None, Any, Any]:
        summary.extra["attestations"] = report_rows(self.file, summary.results)
        return (yield)


def report_rows(file: AttestationFile | None, results: list[Any]) -> list[dict[str, Any]]:
    """Each entry of the file with its status in this run: valid (it made items pass), expired (it
    left items pending) or unused (no item of the run consulted it), the targets it decided
    (``matched``) and ``notes`` saying why."""
    if file is None:
        return []
    decided: dict[str, list[str]] = {}
    for r in results:
        data = r.attestation
        if isinstance(data, dict) and data.get("source") and r.outcome in (Outcome.PASSED, Outcome.MANUAL):
            decided.setdefault(str(data["source"]), []).append(r.target or "-")
    rows = []
    for a, _ in file.entries:
        row = a.as_dict()
        matched = sorted(set(decided.get(a.source, [])))
        row.update(matched=matched, days_left=(a.expires - govfile.today()).days, notes=[])
        if matched and row["status"] == "valid":
            row["notes"].append(f"attested {a.check} on {', '.join(matched)}")
        elif matched:
            row["notes"].append(f"expired on {a.expires.isoformat()}: {a.check} pending again on {', '.join(matched)}")
        else:
            row["status"] = "expired" if a.expired() else "unused"
            row["notes"].append(_unused(a, results))
        rows.append(row)
    return rows


def _unused(a: Attestation, results: list[Any]) -> str:
    ran = [r for r in results if r.check_id == a.check]
    if not ran:
        return f"{a.check} was not part of this run"
    covered = [r for r in ran if a.covers(r.target)]
    if not covered:
        return f"no target of this run matches '{a.target}'"
    failed = sorted({r.target or "-" for r in covered if r.outcome is not Outcome.PASSED and r.attestation is None})
    if failed:
        return f"the automated part of {a.check} did not pass on {', '.join(failed)}, so the attestation was not consulted"
    return "another entry decided the item"


def template(items: list[pytest.Item], file: AttestationFile | None, inventory: Inventory | None) -> tuple[str, int]:
    """A YAML attestations file with one TODO entry per selected manual item (per target), and
    the number of items."""

    order: list[CheckMeta] = []
    targets: dict[str, list[str | None]] = {}
    for item in items:
        meta = item.stash.get(META_KEY, None)
        callspec = getattr(item, "callspec", None)
        if meta is None or not meta.manual or (callspec and any(isinstance(p, NoTarget) for p in callspec.params.values())):
            continue
        if meta.id not in targets:
            order.append(meta)
            targets[meta.id] = []
        targets[meta.id].append(item_target(item)[1])
    today = govfile.today().isoformat()
    lines = [
        f"# Attestations{' for inventory ' + inventory.name if inventory else ''}: {len(order)} manual item(s) selected by this run.",
        f"# Written by pytest-deploycheck {__version__} on {today} (--deploycheck-attestation-template).",
        f"# Replace every {govfile.PLACEHOLDER} of the items you can vouch for and delete the others: a {govfile.PLACEHOLDER} left in",
        "# the file is an error. Then run with --deploycheck-attestations=<this file>.",
        "#   by, role   who attests, and in what capacity",
        "#   date       the day it was done (YYYY-MM-DD, not in the future)",
        "#   evidence   a URL, ticket or short text an auditor can follow",
        "#   valid_for  how long it holds (30d, 12w); or expires: YYYY-MM-DD",
        "version: 1",
        "attestations:" if order else "attestations: {}",
    ]
    fields = [f"by: {govfile.PLACEHOLDER}", f"role: {govfile.PLACEHOLDER}", f"date: {govfile.PLACEHOLDER}",
              f"evidence: {govfile.PLACEHOLDER}", "valid_for: 30d"]
    for meta in order:
        lines += ["", f"  # {meta.id} [{meta.severity.value}] {meta.title} ({meta.section_title})"]
        if meta.instructions:
            lines += textwrap.wrap(" ".join(meta.instructions.split()), 110, initial_indent="  # how: ", subsequent_indent="  #      ")
        names = targets[meta.id]
        for name in names:
            on_file = file.best(meta.id, name) if file is not None else None
            if on_file is not None:
                state = f"expired on {on_file.expires}" if on_file.expired() else f"valid until {on_file.expires}"
                lines.append(f"  # on file{' for ' + name if name else ''}: {on_file.by} ({on_file.role}), {on_file.date}, "
                             f"{state} ({on_file.source})")
        lines.append(f"  {meta.id}:")
        if names == [None]:
            lines += [f"    {f}" for f in fields]
        else:
            for name in names:
                lines.append(f"    - target: {json.dumps(name)}")
                lines += [f"      {f}" for f in fields]
    return "\n".join(lines) + "\n", len(order)


def register(config: pytest.Config, inventory: Inventory | None) -> None:
    """Load the file (if any) and register the plugin object; called from ``pytest_configure``."""
    path = govfile.locate(config, "deploycheck_attestations", inventory, "attestations")
    template_path = config.getoption("deploycheck_attestation_template", None)
    if template_path is not None and template_path != "-":
        template_path = str(config.invocation_params.dir / template_path)
        if Path(template_path).exists() and not hasattr(config, "workerinput"):
            raise pytest.UsageError(f"{template_path}: exists; --deploycheck-attestation-template never overwrites a file: "
                                    "choose a new path or delete this one")
    if template_path is not None and _xdist_controller(config):
        raise pytest.UsageError("--deploycheck-attestation-template collects the catalog in this process; run it without -n/--dist")
    plugin = AttestationPlugin(load_attestations(path, _checklist_given(config)) if path is not None else None, template_path, inventory)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    config.add_cleanup(lambda: config.pluginmanager.unregister(plugin) if config.pluginmanager.is_registered(plugin) else None)


def _xdist_controller(config: pytest.Config) -> bool:
    return xdist_active(config) and not hasattr(config, "workerinput")


def _checklist_given(config: pytest.Config) -> bool:
    """Whether the run reads a team checklist, whose items entries may name by id or key."""
    state = config.stash.get(STATE_KEY, None)
    return bool(state is not None and state.checklists)
