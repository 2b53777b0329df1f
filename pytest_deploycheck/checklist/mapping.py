"""The team's mapping file: which checks answer each item of their checklist, reviewed like code.

It sits beside the checklist (``go-live.md`` -> ``go-live.deploycheck.yml``)::

    version: 1
    sections:                      # severity for every item under a heading (its title, or "A > B")
      Security: {severity: critical}
    items:
      security--ssl-certificates-installed:      # the item's key (--deploycheck-checklist-map writes them)
        text: SSL certificates installed         # for the reader; the key is what counts
        checks: [tls-01, tls-02]                 # catalog check ids (or the team's expectation ids)
        severity: high                           # optional: the item's severity
        id: SEC-01                               # optional: a stable id for attestations and waivers
      deployment--rollback-plan-tested:
        text: Rollback plan tested
        manual: true                             # a person attests it
      monitoring--dashboards-reviewed:
        text: Dashboards reviewed
        checks: [mon-02]
        suggested: matched 'dashboard' in ...    # written by the matcher; delete this line to adopt the entry
      security--only-key-based-ssh-port-not-22:
        text: Only key-based SSH, port not 22
        checks: [ssh-01, ssh-05]
        attest: port not 22                      # the part no check answers: a person attests it too

An entry without ``suggested`` is a person's: the matcher never changes it.  Entries with it are the
matcher's proposals: they count (the file is reviewed in pull requests), are reported as suggested, and
are rewritten by the next ``--deploycheck-checklist-map``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from pytest_deploycheck.checklist.parse import Checklist
from pytest_deploycheck.markers import Severity
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode, raise_problems, read_yaml, typename

SUFFIX = ".deploycheck.yml"
ITEM_KEYS = {"text": "the item's wording, for the reader", "checks": "check ids that answer the item",
             "manual": "true: a person attests the item", "severity": "critical, high, medium, low or info",
             "id": "a stable id for attestations and waivers", "suggested": "why the matcher proposed this entry",
             "attest": "the part of the item its checks do not answer, which a person attests as well"}
ITEM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class Entry:
    """One item's entry in the mapping file."""

    key: str
    line: int
    checks: tuple[str, ...] = ()
    manual: bool = False
    severity: Severity | None = None
    id: str | None = None
    suggested: str | None = None
    text: str | None = None
    attest: str | None = None  # with checks: the part of the item they do not answer, attested by a person

    @property
    def by_person(self) -> bool:
        return self.suggested is None


class Suggestion(NamedTuple):
    """What the matcher proposes for one item: its checks and why, and the part of the item those
    checks leave unanswered (a person attests it beside them)."""

    checks: tuple[str, ...]
    why: str
    attest: str = ""


@dataclass(frozen=True)
class MappingFile:
    path: Path
    exists: bool
    entries: Mapping[str, Entry]
    sections: Mapping[str, Severity]

    def section_severity(self, section: tuple[str, ...]) -> Severity | None:
        """The severity the file sets for an item under ``section``: the innermost heading that has one."""
        for depth in range(len(section), 0, -1):
            for name in (" > ".join(section[:depth]), section[depth - 1]):
                if name in self.sections:
                    return self.sections[name]
        return None


def mapping_path(checklist: Path) -> Path:
    """``go-live.md`` -> ``go-live.deploycheck.yml`` in the same folder."""
    return checklist.with_name(checklist.stem + SUFFIX) if checklist.suffix else checklist.with_name(checklist.name + SUFFIX)


def load_mapping(path: Path) -> MappingFile:
    """Read and validate the mapping file (its shape; the check ids are judged once the catalog is
    collected, ``unknown_checks``); a missing file is an empty mapping."""
    if not path.exists():
        return MappingFile(path, False, {}, {})
    ld, tree, _ = read_yaml(path, what="checklist mapping", missing="mapping file not found",
                            directory=f"is a directory; the mapping file is a YAML file named <checklist>{SUFFIX}")
    entries: dict[str, Entry] = {}
    sections: dict[str, Severity] = {}
    if tree is not None and not isinstance(tree.value, dict):
        ld.problem(tree.line, "", f"expected a mapping with 'version: 1' and 'items:', got {typename(tree.value)}")
    elif tree is not None:
        top: dict[str, YamlNode] = tree.value
        _unknown(ld, top, {"version": "1", "checklist": "", "sections": "", "items": ""}, "")
        version = top.get("version")
        if version is not None and version.value != 1:
            ld.problem(version.line, "version", f"unsupported version {version.value!r}; this plugin reads version 1")
        _sections(ld, top.get("sections"), sections)
        _items(ld, top.get("items"), entries)
    raise_problems(ld, "checklist mapping")
    return MappingFile(path, True, entries, sections)


def _sections(ld: YamlLoader, node: YamlNode | None, out: dict[str, Severity]) -> None:
    if node is None or node.value is None:
        return
    if not isinstance(node.value, dict):
        ld.problem(node.line, "sections", f"expected a mapping of section titles to settings, got {typename(node.value)}")
        return
    for title, sub in node.value.items():
        where = f"sections.{title}"
        if not isinstance(sub.value, dict):
            ld.problem(sub.line, where, f"expected a mapping such as {{severity: high}}, got {typename(sub.value)}")
            continue
        _unknown(ld, sub.value, {"severity": ITEM_KEYS["severity"]}, where)
        severity = _severity(ld, sub.value.get("severity"), f"{where}.severity")
        if severity is not None:
            out[str(title)] = severity


def _items(ld: YamlLoader, node: YamlNode | None, out: dict[str, Entry]) -> None:
    if node is None or node.value is None:
        return
    if not isinstance(node.value, dict):
        ld.problem(node.line, "items", f"expected a mapping of item keys to entries, got {typename(node.value)}")
        return
    ids: dict[str, str] = {}
    for key, sub in node.value.items():
        where = f"items.{key}"
        value = sub.value
        if value == "manual":
            out[key] = Entry(key, sub.line, manual=True)
            continue
        if isinstance(value, list):
            value = {"checks": sub}
        if not isinstance(value, dict):
            ld.problem(sub.line, where, f"expected a mapping (checks, manual, severity, id), a list of check ids or 'manual', "
                                        f"got {typename(value)}")
            continue
        _unknown(ld, value, ITEM_KEYS, where)
        checks = _checks(ld, value.get("checks"), f"{where}.checks")
        manual_node = value.get("manual")
        manual = False
        if manual_node is not None:
            if not isinstance(manual_node.value, bool):
                ld.problem(manual_node.line, f"{where}.manual", f"expected true or false, got {typename(manual_node.value)}")
            manual = manual_node.value is True
        attest = _text(ld, value.get("attest"), f"{where}.attest")
        if not checks and not manual:
            ld.problem(sub.line, where, "names no check and is not manual; give 'checks: [id, ...]' or 'manual: true'")
        elif attest is not None and not checks:
            ld.problem(value["attest"].line, f"{where}.attest", "names the part a person attests beside the item's checks, "
                                                                "and this entry has none; write 'manual: true' instead")
        item_id = _text(ld, value.get("id"), f"{where}.id")
        if item_id is not None:
            if not ITEM_ID_RE.match(item_id):
                ld.problem(value["id"].line, f"{where}.id", f"{item_id!r}: an item id holds letters, digits and . _ : - "
                                                              "(at most 64); pick a short stable id such as SEC-01")
            elif item_id in ids:
                ld.problem(value["id"].line, f"{where}.id", f"id {item_id!r} is already used by {ids[item_id]}; item ids are unique")
            else:
                ids[item_id] = where
        out[key] = Entry(key, sub.line, checks=checks, manual=manual,
                         severity=_severity(ld, value.get("severity"), f"{where}.severity"), id=item_id,
                         suggested=_text(ld, value.get("suggested"), f"{where}.suggested"),
                         text=_text(ld, value.get("text"), f"{where}.text"), attest=attest)


def _checks(ld: YamlLoader, node: YamlNode | Any, where: str) -> tuple[str, ...]:
    if node is None or node.value is None:
        return ()
    raw = node.value if isinstance(node.value, list) else [node]
    out: list[str] = []
    for child in raw:
        value = child.value if isinstance(child, YamlNode) else child
        if not isinstance(value, str) or not value.strip():
            ld.problem(getattr(child, "line", node.line), where, f"expected check ids such as tls-01, got {typename(value)}")
            continue
        out.append(value.strip())
    return tuple(dict.fromkeys(out))


def _severity(ld: YamlLoader, node: YamlNode | None, where: str) -> Severity | None:
    if node is None:
        return None
    try:
        return Severity.parse(str(node.value))
    except ValueError as exc:
        ld.problem(node.line, where, f"{exc}")
        return None


def _text(ld: YamlLoader, node: YamlNode | None, where: str) -> str | None:
    if node is None or node.value is None:
        return None
    if isinstance(node.value, (dict, list, bool)):
        ld.problem(node.line, where, f"expected text, got {typename(node.value)}")
        return None
    return str(node.value).strip() or None


def _unknown(ld: YamlLoader, mapping: Mapping[str, YamlNode], known: Mapping[str, str], keypath: str) -> None:
    for key, node in mapping.items():
        if key in known or key.startswith("x-"):
            continue
        hint = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
        where = f"{keypath}.{key}" if keypath else key
        ld.problem(node.line, where, f"unknown key{'; did you mean ' + repr(hint[0]) + '?' if hint else ''} "
                                     f"(known keys: {', '.join(known)}); fix or delete it")


def stale_entries(mapping: MappingFile, checklist: Checklist) -> list[str]:
    """Warnings for entries whose item is no longer in the checklist (renamed or deleted)."""
    keys = {item.key for item in checklist.items}
    out = []
    for key, entry in mapping.entries.items():
        if key not in keys:
            near = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.8)
            hint = f"; the item is now {near[0]!r}? rename the entry" if near else "; delete the entry or restore the item"
            out.append(f"{_display(mapping.path)}:{entry.line}: items.{key}: no such item in {Path(checklist.source).name}{hint}")
    return out


def unknown_checks(mapping: MappingFile, known: Iterable[str], judge: Callable[[str, Iterable[str]], bool] = lambda c, k: True) -> list[str]:
    """Usage-error lines for check ids the collected catalog does not have (with the nearest id);
    ``judge`` says whether this run can tell (a run narrowed to one module cannot know the others)."""
    known = sorted(set(known))
    out = []
    for key, entry in mapping.entries.items():
        for check in entry.checks:
            if check not in known and judge(check, known):
                near = difflib.get_close_matches(check, known, n=1, cutoff=0.6)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                out.append(f"{_display(mapping.path)}:{entry.line}: items.{key}.checks: no check {check!r} in the collected "
                           f"catalog{hint} Fix the id (pytest --deploycheck-list shows them) or delete it")
    return out


def _display(path: Path) -> str:
    from pytest_deploycheck.yamlfile import display_path

    return display_path(path)


def render(mapping: MappingFile, checklist: Checklist, suggestions: Mapping[str, Suggestion]) -> str:
    """The mapping file text after ``--deploycheck-checklist-map``: every entry a person made, as it
    was; for every other item of the checklist, the matcher's suggestion (``suggestions``: key ->
    ``Suggestion``), or ``manual`` when nothing matched.  Items in file order."""
    lines = [
        f"# pytest-deploycheck: which checks answer each item of {Path(checklist.source).name}.",
        "# Entries with 'suggested:' were proposed by --deploycheck-checklist-map: review them, and delete the",
        "# 'suggested:' line to adopt one. Entries without it are yours: the tool never changes them.",
        "version: 1",
    ]
    if mapping.sections:
        lines.append("sections:")
        for title, severity in mapping.sections.items():
            lines.append(f"  {_q(title)}: {{severity: {severity.value}}}")
    lines.append("items:")
    keys = [item.key for item in checklist.items]
    plain = {item.key: item.plain for item in checklist.items}
    for key in keys + [k for k in mapping.entries if k not in plain]:
        entry = mapping.entries.get(key)
        if entry is not None and entry.by_person:
            body = _entry_body(entry, plain.get(key, entry.text or ""))
        else:
            checks, why, attest = suggestions.get(key, Suggestion((), "no catalog check matched: a person attests it"))
            body = {"text": plain.get(key, ""), **({"checks": list(checks)} if checks else {"manual": True}),
                    **({"attest": attest} if checks and attest else {}), "suggested": why}
            if entry is not None and entry.id:
                body["id"] = entry.id
        lines.append(f"  {_q(key)}:")
        dumped = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=200, default_flow_style=False)
        lines.extend("    " + line for line in dumped.rstrip("\n").splitlines())
    return "\n".join(lines) + "\n"


def _entry_body(entry: Entry, text: str) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text}
    if entry.checks:
        body["checks"] = list(entry.checks)
    if entry.attest:
        body["attest"] = entry.attest
    if entry.manual:
        body["manual"] = True
    if entry.severity is not None:
        body["severity"] = entry.severity.value
    if entry.id:
        body["id"] = entry.id
    return body


def _q(text: str) -> str:
    dumped = yaml.safe_dump(text, default_style=None, allow_unicode=True, width=1000).strip()
    return dumped.removesuffix("\n...").removesuffix("...").strip()
