"""A small JSON path: ``$.a.b[0]["key with spaces"]`` — member names, quoted members, list indexes.

Enough to point at one value of an API's answer; no wildcards, filters or recursion, so a path
means exactly one place and an expectation reads the same to everyone.
"""

from __future__ import annotations

import re
from typing import Any

_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[(-\d+)\]|\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]""")
_MISSING = object()


class JsonPathError(ValueError):
    """A path that cannot be parsed; the message says where."""


def parse_path(path: str) -> tuple[str | int, ...]:
    if not path.startswith("$"):
        raise JsonPathError("a JSON path starts with $ (e.g. $.status or $.items[0].id)")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            raise JsonPathError(f"cannot read {path[pos:]!r} at character {pos + 1}; use .name, [index] or [\"name\"]")
        name, index, negative, dq, sq = match.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        elif negative is not None:
            steps.append(int(negative))
        else:
            steps.append((dq if dq is not None else sq or "").replace('\\"', '"').replace("\\'", "'"))
        pos = match.end()
    return tuple(steps)


def lookup(document: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of ``path`` in ``document``."""
    value = document
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return False, None
            value = value[step]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return False, None
    return True, value
