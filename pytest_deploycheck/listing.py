"""``pytest --deploycheck-list[=text|json|md]``: the catalog, or a checklist's mapping, without running.

No inventory is needed: the checks are collected and described (id, severity, section, title, the
target kinds they run on, active probe or manual).  With ``--deploycheck-checklist`` it prints, item
by item, which checks answer it and why (the mapping file, the matcher's suggestion) or that a person
attests it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pytest_deploycheck.checklist.collect import ENTRY_KEY, ChecklistItem
from pytest_deploycheck.options import resolve
from pytest_deploycheck.state import META_KEY, STATE_KEY
from pytest_deploycheck.targets import fixture_kinds

FORMATS = ("text", "json", "md")


def wanted(config: pytest.Config) -> str | None:
    value = resolve(config, "deploycheck_list")
    return str(value) if value else None


def rows(items: list[pytest.Item]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(checks, checklist items) of the collected items, in collection order, each check once."""
    checks: dict[str, dict[str, Any]] = {}
    listed: list[dict[str, Any]] = []
    kinds_of = fixture_kinds()
    for item in items:
        entry = item.stash.get(ENTRY_KEY, None)
        if isinstance(item, ChecklistItem):
            if entry is not None:
                listed.append(entry.as_dict())
            continue
        meta = item.stash.get(META_KEY, None)
        if meta is None or meta.id in checks:
            continue
        fixtures = getattr(item, "fixturenames", ())
        kinds = sorted({kind for fixture, names in kinds_of.items() if fixture in fixtures for kind in names})
        checks[meta.id] = {
            "id": meta.id, "severity": meta.severity.value, "section": meta.section, "section_title": meta.section_title,
            "title": meta.title, "target_kinds": kinds, "active_probe": meta.active_probe, "manual": meta.manual,
            "refs": list(meta.refs), "answers": list(meta.answers), "answers_kind": meta.answers_kind,
            "answers_unless": list(meta.answers_unless), "answers_accepts": list(meta.answers_accepts),
        }
    return list(checks.values()), listed


def render(fmt: str, checks: list[dict[str, Any]], listed: list[dict[str, Any]], warnings: list[str] | None = None) -> str:
    """The listing; ``warnings`` are the checklists' (lines not read as items, stale mapping entries)."""
    warnings = warnings or []
    if fmt == "json":
        return json.dumps({"checks": checks, "checklist": listed, "warnings": warnings}, indent=2, ensure_ascii=False) + "\n"
    if listed:
        return _render_checklist(fmt, listed) + "".join(f"{'- ' if fmt == 'md' else ''}warning: {w}\n" for w in warnings)
    if fmt == "md":
        out = ["| id | severity | section | title | targets | kind |", "|---|---|---|---|---|---|"]
        out += [f"| `{c['id']}` | {c['severity']} | {c['section_title']} | {c['title']} | {', '.join(c['target_kinds']) or '-'} | "
                f"{_kind(c)} |" for c in checks]
        return "\n".join(out) + "\n"
    width = max((len(c["id"]) for c in checks), default=6)
    out = [f"{c['id'].ljust(width)}  {c['severity']:<8}  {c['section']:<12}  {c['title']}"
           f"  [{', '.join(c['target_kinds']) or 'no target'}{'; ' + _kind(c) if _kind(c) != 'automated' else ''}]" for c in checks]
    out.append(f"{len(checks)} checks")
    return "\n".join(out) + "\n"


def _kind(check: dict[str, Any]) -> str:
    return "manual" if check["manual"] else "active probe" if check["active_probe"] else "automated"


def _how(e: dict[str, Any], quote: str = "") -> str:
    """What answers a listed item: manual, its sub-items, or its checks (and the rest a person attests)."""
    if e["manual"]:
        return "manual"
    if e.get("group"):
        return "its sub-items"
    how = ", ".join(f"{quote}{c}{quote}" for c in e["checks"])
    return how + (f" + attest {e['attest']!r}" if e.get("attest") else "")


def _render_checklist(fmt: str, listed: list[dict[str, Any]]) -> str:
    if fmt == "md":
        out = ["| item | section | answered by | severity | why |", "|---|---|---|---|---|"]
        for e in listed:
            how = _how(e, "`")
            out.append(f"| {e['text']} ({os.path.basename(e['source'])}:{e['line']}) | {' > '.join(e['section'])} | {how} | "
                       f"{e['severity']} | {e['matched_by']} |")
        return "\n".join(out) + "\n"
    out = []
    for e in listed:
        how = _how(e)
        out.append(f"{os.path.basename(e['source'])}:{e['line']}: {e['text']}\n    -> {how} [{e['severity']}] ({e['matched_by']})")
    automated = sum(1 for e in listed if not e["manual"] and not e.get("group"))
    groups = sum(1 for e in listed if e.get("group"))
    partly = sum(1 for e in listed if e.get("attest") and not e["manual"])
    out.append(f"{len(listed)} items: {automated} automated" + (f" ({partly} in part, the rest attested)" if partly else "")
               + f", {len(listed) - automated - groups} manual" + (f", {groups} judged by their sub-items" if groups else ""))
    return "\n".join(out) + "\n"


@pytest.hookimpl(trylast=True)  # after the catalog's metadata and the checklist's mapping are known
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    fmt = wanted(config)
    if fmt is None or hasattr(config, "workerinput"):
        return
    checks, listed = rows(items)
    state = config.stash.get(STATE_KEY, None)
    warnings = [w for lc in state.checklists for w in lc.warnings] if state is not None else []
    config.stash[_OUTPUT] = render(fmt, checks, listed, warnings)


_OUTPUT = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    text = session.config.stash.get(_OUTPUT, None)
    if text is None:
        return None
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write(text)
    else:  # pragma: no cover - -p no:terminal
        print(text, end="")
    return True
