"""The team's checklist as pytest nodes: a file, its sections, its items.

``pytest --inventory=prod.yml --deploycheck-checklist=go-live.md`` adds the checklist to what pytest
collects; each heading becomes a node and each item a test item, so the node ids read like the list
(``go-live.md::Security::SSL certificates installed``) and ``-k``, ``--collect-only``, xdist and every
report work on it the pytest way.

What an item does when it runs:

* a **manual** item (no check answers it) is a manual check in the team's words: pending until a
  person attests it, waivable, judged by its severity (high unless the mapping file says otherwise);
* an **automated** item runs nothing itself: its status is judged on the controller from the results
  of the checks it maps to, over every target (``checklist.status``).  Its report carries the
  mapping (``report.deploycheck_checklist``) and counts apart as ``checklist`` in the closing line;
* an item its checks answer **in part** ("Only key-based SSH, port not 22": the SSH login checks,
  and no check of the port) does both: its checks' results, and the rest (``attest``) pending until a
  person attests it, like a manual item.  Its status is the worse of the two;
* an automated item whose checks **looked at nothing** (every result an n/a for want of a target, a
  path, a privilege, an active probe allowed) has no evidence: its status is an error naming what is
  missing, and the verdict weighs it at the item's severity (``checklist.status``).

Which checks answer an item is decided once the catalog is collected (``assign``): the mapping file
beside the checklist, else the matcher, else manual.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.checklist.items import ChecklistEntry, resolve
from pytest_deploycheck.checklist.loaded import LoadedChecklist
from pytest_deploycheck.checklist.mapping import Suggestion, render, unknown_checks
from pytest_deploycheck.checklist.parse import Item
from pytest_deploycheck.governance.files import judged
from pytest_deploycheck.markers import CheckMeta
from pytest_deploycheck.state import META_KEY, STATE_KEY, collection_usage_error

ENTRY_KEY = pytest.StashKey[ChecklistEntry]()


# --------------------------------------------------------------------------- nodes


def node_name(text: str) -> str:
    """An item's or section's text as a node name: one line, no ``::`` (pytest's separator)."""
    name = " ".join(text.split()).replace("::", ":").replace("/", "∕") or "(untitled)"
    return name[:120]


class ChecklistFile(pytest.File):
    """A Markdown checklist: its sections and items, in file order."""

    loaded: LoadedChecklist

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        tree: dict[tuple[str, ...], list[Item]] = {}
        for item in self.loaded.checklist.items:
            tree.setdefault(item.section, []).append(item)
        return list(_children(self, self.loaded, (), tree))


class ChecklistSection(pytest.Collector):
    """A heading of the checklist and what stands under it."""

    loaded: LoadedChecklist
    heading: tuple[str, ...]
    tree: dict[tuple[str, ...], list[Item]]

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        return list(_children(self, self.loaded, self.heading, self.tree))


def _children(parent: pytest.Collector, loaded: LoadedChecklist, prefix: tuple[str, ...],
              tree: dict[tuple[str, ...], list[Item]]) -> Iterator[pytest.Item | pytest.Collector]:
    """Items directly under ``prefix``, then one section node per heading one level deeper, in file order."""
    names: set[str] = set()

    def unique(text: str) -> str:
        name, n = node_name(text), 2
        while name in names:
            name, n = f"{node_name(text)} ({n})", n + 1
        names.add(name)
        return name

    firsts: dict[str, int] = {}
    for section, items in tree.items():
        if len(section) > len(prefix) and section[: len(prefix)] == prefix:
            firsts.setdefault(section[len(prefix)], min(i.line for i in items))
    direct: list[tuple[int, Item | str]] = [(i.line, i) for i in tree.get(prefix, [])]
    heads: list[tuple[int, Item | str]] = [(line, title) for title, line in firsts.items()]
    for _, what in sorted(direct + heads, key=lambda entry: entry[0]):
        if isinstance(what, Item):
            node = ChecklistItem.from_parent(parent, name=unique(what.plain))
            node.loaded, node.entry_item = loaded, what
            yield node
        else:
            sub = ChecklistSection.from_parent(parent, name=unique(str(what)))
            sub.loaded, sub.heading, sub.tree = loaded, (*prefix, str(what)), tree
            yield sub


class ChecklistItem(pytest.Item):
    """One item of the team's checklist (see the module docstring for what running it means)."""

    loaded: LoadedChecklist
    entry_item: Item

    def runtest(self) -> None:
        entry = self.stash.get(ENTRY_KEY, None)
        if entry is None:
            raise RuntimeError(f"{self.nodeid}: the checklist item was never matched to checks (was the catalog collected?)")

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.entry_item.line - 1, f"{self.loaded.display}:{self.entry_item.line}: {self.entry_item.plain}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return f"{self.loaded.display}:{self.entry_item.line}: {excinfo.value}"


# --------------------------------------------------------------------------- hooks


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = parent.config.stash.get(STATE_KEY, None)
    loaded = getattr(state, "checklists", None) or []
    for entry in loaded:
        if file_path.resolve() == entry.path:
            node = ChecklistFile.from_parent(parent, path=file_path)
            node.loaded = entry
            return node
    return None


def assign(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After the catalog's metadata is known: decide every checklist item's checks (mapping file,
    matcher, manual), give manual items their metadata, apply --deploycheck-checklist-only and
    --deploycheck-checklist-map.  Called from ``collection.pytest_collection_modifyitems``."""
    state = config.stash.get(STATE_KEY, None)
    loaded: list[LoadedChecklist] = getattr(state, "checklists", None) or []
    if not loaded:
        return
    catalog: dict[str, CheckMeta] = {}
    for item in items:
        meta = item.stash.get(META_KEY, None)
        if meta is not None and not isinstance(item, ChecklistItem):
            catalog.setdefault(meta.id, meta)
    problems = [line for lc in loaded for line in unknown_checks(lc.mapping, catalog, judge=judged)]
    if problems:
        head = f"{len(problems)} problems in the checklist mapping:\n" if len(problems) > 1 else ""
        collection_usage_error(config, items, head + "\n".join(problems))
        return
    from pytest_deploycheck.checklist import match  # the matcher's tables load only when a checklist is given

    matcher = match.Matcher.from_catalog(catalog.values())
    severities = {cid: meta.severity for cid, meta in catalog.items()}
    suggestions: dict[Path, dict[str, Suggestion]] = {}
    mapped: set[str] = set()
    seen_ids: dict[str, str] = {}
    sub_items: dict[Path, dict[str, int]] = {}
    for item in items:
        if not isinstance(item, ChecklistItem):
            continue
        lc = item.loaded
        if lc.path not in sub_items:
            sub_items[lc.path] = lc.checklist.sub_items()
        under = sub_items[lc.path].get(item.entry_item.key, 0)
        suggestion = matcher.suggest(item.entry_item, lc.checklist, under)
        if under and not suggestion.checks:  # the mapping file says why it is written as manual: true
            suggestion = Suggestion((), f"group: judged by its {under} sub-items; delete this line to attest it as an item of its own")
        suggestions.setdefault(lc.path, {})[item.entry_item.key] = suggestion
        entry = resolve(str(lc.path), item.entry_item, lc.mapping, suggestion, severities, under)
        if entry.id in seen_ids and seen_ids[entry.id] != item.nodeid:
            collection_usage_error(config, items, f"{lc.display}:{entry.line}: item id {entry.id!r} is also the id of {seen_ids[entry.id]}; "
                                                  "give one of them another id in the mapping file")
            return
        seen_ids[entry.id] = item.nodeid
        item.stash[ENTRY_KEY] = entry
        mapped.update(entry.checks)
        item.extra_keyword_matches.update({entry.id, *entry.checks})
        if entry.attested:  # a manual item, or the part of one its checks leave
            meta = entry.meta()
            item.stash[META_KEY] = meta
            item.add_marker(pytest.mark.manual(instructions=meta.instructions))
            item.add_marker(meta.severity.value)
    if _option(config, "deploycheck_checklist_map"):
        _write_maps(config, loaded, suggestions)
        return
    if _option(config, "deploycheck_checklist_only"):
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            meta = item.stash.get(META_KEY, None)
            beyond = meta is not None and not isinstance(item, ChecklistItem) and meta.id not in mapped
            (drop if beyond else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def _option(config: pytest.Config, dest: str) -> bool:
    from pytest_deploycheck.options import resolve as resolve_option

    return bool(resolve_option(config, dest))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """--deploycheck-checklist-map writes the mapping files (``assign``) and runs nothing."""
    return True if _option(session.config, "deploycheck_checklist_map") else None


def _write_maps(config: pytest.Config, loaded: list[LoadedChecklist], suggestions: dict[Path, dict[str, Suggestion]]) -> None:
    if hasattr(config, "workerinput"):
        return
    writer = config.pluginmanager.get_plugin("terminalreporter")
    for lc in loaded:
        text = render(lc.mapping, lc.checklist, suggestions.get(lc.path, {}))
        lc.mapping.path.write_text(text, encoding="utf-8")
        kept = sum(1 for e in lc.mapping.entries.values() if e.by_person)
        if writer is not None:
            writer.write_line(f"deploycheck: wrote {lc.mapping.path} ({len(lc.checklist.items)} items; {kept} entries a person made kept)")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    entry = item.stash.get(ENTRY_KEY, None)
    if entry is not None:
        report.deploycheck_checklist = entry.as_dict()  # type: ignore[attr-defined]
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """An automated item's own run proves nothing (its checks do): counted apart, never as passed."""
    data = getattr(report, "deploycheck_checklist", None)
    if isinstance(data, dict) and not data.get("manual") and not data.get("attest") and report.when == "call" and report.passed:
        return "checklist", "c", "CHECKLIST"
    return None
