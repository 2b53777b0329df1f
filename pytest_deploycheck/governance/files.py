"""What the attestation and waiver files share: where they are, how their values are read, how
their problems are raised.

Both are read with the inventory's node-walking loader (``inventory.read_yaml``), so every
problem names its file, line and key path, and all problems of a file are raised together as
one ``pytest.UsageError``: ``attestations.yml:7: attestations.dr-02.date: 2027-01-05 is in the
future; ...``.  Problems that need the catalog (an unknown check id) are found at collection.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.markers import ID_RE
from pytest_deploycheck.options import resolve_path
from pytest_deploycheck.state import collection_usage_error
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode, raise_problems, read_yaml, typename

PLACEHOLDER = "TODO"  # what the attestation template leaves for a person to fill in

#: Longest validity period an attestation or waiver may give (valid_for, expires_in).
MAX_PERIOD_DAYS = 3660

_PERIOD = re.compile(r"^\s*(\d+)\s*(d|day|days|w|week|weeks)?\s*$", re.IGNORECASE)


def today() -> dt.date:
    """The day the run judges expiry against (local time, like the dates people write)."""
    return dt.date.today()


def locate(config: pytest.Config, dest: str, inventory: Inventory | None, key: str) -> Path | None:
    """The file's path: command line > environment > ini (``resolve_path``) > the inventory's key."""
    path = resolve_path(config, dest)
    if path is None and inventory is not None and inventory.settings.get(key):
        path = Path(str(inventory.settings[key]))  # already resolved against the inventory's folder
    return path


def read(path: Path, *, what: str, option: str) -> tuple[YamlLoader, Any]:
    loader, tree, _ = read_yaml(
        path, what=what,
        missing=f"{what} not found; check the path given to {option} (or its environment variable, ini key or inventory key)",
        directory=f"is a directory; {option} takes a YAML file",
    )
    return loader, tree


def top_level(ld: YamlLoader, tree: Any, *, list_key: str, shape: str, example: str) -> YamlNode | None:
    """Check the top of a governance file (``version`` and ``list_key``) and return ``list_key``'s node."""
    if tree is None:
        if not ld.problems:
            ld.problem(1, "", f"the file is empty; write 'version: 1' and '{list_key}:' ({example})")
        return None
    if not isinstance(tree.value, dict):
        ld.problem(tree.line, "", f"expected a mapping with 'version: 1' and '{list_key}:' at the top level, "
                                  f"got {typename(tree.value)}; see {example}")
        return None
    top: dict[str, YamlNode] = tree.value
    unknown_keys(ld, top, {"version": "", list_key: ""}, "")
    version = top.get("version")
    if version is not None and version.value != 1:
        ld.problem(version.line, "version", f"unsupported version {version.value!r}; this plugin reads version 1")
    node = top.get(list_key)
    if node is None:
        ld.problem(tree.line, list_key, f"required key missing: {shape}; add '{list_key}:' ({example})")
        return None
    return node


def unknown_keys(ld: YamlLoader, mapping: Mapping[str, YamlNode], known: Mapping[str, str], keypath: str) -> None:
    for key, node in mapping.items():
        if key in known or key.startswith("x-"):
            continue
        hint = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
        ld.problem(node.line, join(keypath, key), f"unknown key{'; did you mean ' + repr(hint[0]) + '?' if hint else ''} "
                                                  f"(known keys: {', '.join(known)}); fix or delete it")


def text(ld: YamlLoader, entry: Mapping[str, YamlNode], key: str, keypath: str, line: int, doc: str, required: bool = True) -> str | None:
    """A non-empty string that is not the template's placeholder; None (with a problem when required) otherwise."""
    node = entry.get(key)
    where = join(keypath, key)
    if node is None or node.value is None:
        if required:
            ld.problem(node.line if node else line, where, f"required key missing: {doc}; add it")
        return None
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        ld.problem(node.line, where, f"expected text ({doc}), got {typename(value)}; write it as a string")
        return None
    value = str(value).strip()
    if not value:
        ld.problem(node.line, where, f"is empty; write {doc}")
        return None
    if value == PLACEHOLDER:
        ld.problem(node.line, where, f"still holds the template placeholder {PLACEHOLDER}; write {doc} or delete the entry")
        return None
    return value


def date(ld: YamlLoader, entry: Mapping[str, YamlNode], key: str, keypath: str, line: int, doc: str,
         required: bool = True) -> dt.date | None:
    """A calendar date: YAML's own ``2026-11-02`` or the same text quoted."""
    node = entry.get(key)
    where = join(keypath, key)
    if node is None or node.value is None:
        if required:
            ld.problem(node.line if node else line, where, f"required key missing: {doc}; add it as YYYY-MM-DD")
        return None
    value = node.value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    placeholder = " (the template placeholder)" if value == PLACEHOLDER else ""
    ld.problem(node.line, where, f"expected a date YYYY-MM-DD ({doc}), got {value!r}{placeholder}; write it as e.g. {today().isoformat()}")
    return None


def period(ld: YamlLoader, node: YamlNode, keypath: str) -> int | None:
    """A validity period in days: ``90``, ``90d``, ``12w``."""
    value = node.value
    match = _PERIOD.match(str(value)) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if match is None or int(match.group(1)) <= 0:
        ld.problem(node.line, keypath, f"expected a validity period such as 30d, 12w or 90 (days), got {value!r}; "
                                       "or write expires: YYYY-MM-DD instead")
        return None
    days = int(match.group(1))
    days = days * 7 if (match.group(2) or "d").lower().startswith("w") else days
    if days > MAX_PERIOD_DAYS:  # also keeps date arithmetic from overflowing past year 9999
        ld.problem(node.line, keypath, f"a validity period of {days:,} days is out of range: at most {MAX_PERIOD_DAYS} "
                                       "(ten years); write a shorter one, or expires: YYYY-MM-DD")
        return None
    return days


#: A checklist item's id or key (checklist/mapping.py), which attestations and waivers may name too.
ITEM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,120}$")


def check_id(ld: YamlLoader, value: Any, line: int, keypath: str, items: bool = False) -> str | None:
    """A check id (area-NN); with ``items`` (a run given a checklist) also a checklist item's id or key."""
    if not isinstance(value, str) or not (ID_RE.match(value) or (items and ITEM_RE.match(value))):
        ld.problem(line, keypath, f"expected a check id such as doc-01 (area-NN), got {value!r}; copy the id from the catalog "
                                  "(pytest --collect-only -q, or --deploycheck-attestation-template)")
        return None
    return value


def judged(check: str, known: Iterable[str]) -> bool:
    """Whether this run can say ``check`` does not exist: when it collected checks of the same
    area (``dr-09`` while some ``dr-NN`` ran) or the id is a near miss of one it collected (a
    typo such as ``gvo-01``).  A run narrowed to one module by path cannot know the other
    sections' ids, and must not call them unknown."""
    known = list(known)
    if not ID_RE.match(check):  # a checklist item's key: judged when any item of the checklist was collected
        return any(not ID_RE.match(k) for k in known) or bool(difflib.get_close_matches(check, known, n=1, cutoff=0.75))
    area = check.split("-", 1)[0]
    return any(k.split("-", 1)[0] == area for k in known) or bool(difflib.get_close_matches(check, known, n=1, cutoff=0.75))


def unknown_id_problem(ld: YamlLoader, line: int, keypath: str, check: str, known: Iterable[str]) -> None:
    hint = difflib.get_close_matches(check, sorted(known), n=1, cutoff=0.6)
    ld.problem(line, keypath, f"no check {check!r} in the collected catalog{'; did you mean ' + repr(hint[0]) + '?' if hint else ''} "
                              "Fix the id or delete the entry")


def raise_catalog_problems(config: pytest.Config, items: list[pytest.Item], ld: YamlLoader, what: str) -> None:
    """Raise the problems found against the catalog as one usage error (also under xdist)."""
    try:
        raise_problems(ld, what)
    except pytest.UsageError as exc:
        collection_usage_error(config, items, str(exc))


def join(keypath: str, key: str) -> str:
    return f"{keypath}.{key}" if keypath else key



