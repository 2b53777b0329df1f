"""The strict YAML reader every input file shares: the inventory, attestations and waivers.

A file is read into ``(value, line)`` trees (``YamlNode``) so that every problem can name its
line; problems are collected on the ``YamlLoader`` and raised together as one
``pytest.UsageError`` whose lines read ``prod.yml:14: postgres.main.dsn: expected a string, got
a list``: file, line, key path, what is wrong and what to do.

Typed values (``Field``): strings may use ``${VAR}`` and ``${VAR:-default}`` (``$$`` is a
literal ``$``); interpolation happens after YAML parsing, so a variable's value can never change
a file's structure.  A variable spliced into a URL's user information or a query value is
percent-encoded, so a password holding ``@ / : # ?`` stays a password.  Interpolated values,
values under secret-like keys and URL passwords are registered with the redactor as they are read.

Reading is safe against hostile or broken files: regular files only (a FIFO or ``/dev/zero``
is refused before it is opened for reading), at most ``MAX_FILE_BYTES``, no NUL bytes, no YAML
tags (``!!python/object``...), nesting at most ``MAX_DEPTH`` deep, at most ``MAX_NODES`` values
after alias expansion (a "billion laughs" file stops at once), impossible dates
(``2026-02-30``), ``.nan``/``.inf`` numbers and out-of-range timeouts and ports are problems
naming file and line, never a traceback or a hang.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from pytest_deploycheck.inputfile import read_bounded, url_parts_to_encode, url_problem
from pytest_deploycheck.redact import MIN_INTERPOLATED_SECRET, Redactor, is_secret_key

#: Deepest nesting of mappings and lists (an inventory needs about six levels).
MAX_DEPTH = 48
#: Most values a file may hold once its aliases are expanded ("billion laughs" stops here).
MAX_NODES = 200_000
#: Longest timeout a file may set, in seconds: a timeout bounds every network operation, and a
#: run that may wait an hour per dead target is a hung run.
MAX_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Field:
    """One inventory key: its type, whether it is required, and what it means (README)."""

    type: str  # str | int | number | bool | path | url | value | list[str] | list[port] | map[str] | map[value] | record | choice
    doc: str
    required: bool = False
    choices: tuple[str, ...] = ()
    fields: Mapping[str, Field] | None = None  # for "record"
    must_exist: bool = False  # for "path"



@dataclass
class _Problem:
    line: int
    path: str
    message: str


class _Loader:
    def __init__(self, path: Path, environ: Mapping[str, str], redactor: Redactor) -> None:
        self.path = path
        self.display = display_path(path)
        self.environ = environ
        self.redactor = redactor
        self.problems: list[_Problem] = []
        self._nodes = 0

    def problem(self, line: int, keypath: str, message: str) -> None:
        # One problem per key and line: a value that could not be read (an impossible date) is
        # not reported again as "expected a number, got nothing".
        if any(p.line == line and p.path == keypath for p in self.problems):
            return
        self.problems.append(_Problem(line, keypath, message))

    # YAML nodes -> (value, line) trees --------------------------------------------------

    def parse(self, text: str) -> Any:
        fast = _compose_clean(text)
        if fast is not None:
            clean_root, c_loader = fast
            try:
                return self._tree(clean_root, c_loader)
            finally:
                c_loader.dispose()
        loader: _StrictLoader | None = None
        try:
            loader = _StrictLoader(text)
            root = loader.get_single_node()
        except _TooDeep as exc:
            self.problem(exc.line, "", f"nested more than {MAX_DEPTH} levels deep; an input file is a few levels of mappings and lists")
            return None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 0
            self.problem(line, "", f"YAML syntax error: {exc.problem or exc}; fix the file's syntax")
            return None
        except yaml.YAMLError as exc:  # a ReaderError (a control character) carries a position, not a mark
            self.problem(_line_at(text, getattr(exc, "position", None)), "", f"not a YAML text: {str(exc).splitlines()[0]}; fix the file")
            return None
        finally:
            if loader is not None:
                loader.dispose()
        for tag, line in loader.tags:
            self.problem(line, "", f"YAML tag {tag} is not allowed; write plain values (strings, numbers, true/false, lists, mappings)")
        if loader.tags or root is None:
            return None
        return self._tree(root, loader)

    def _tree(self, root: yaml.Node, loader: Any) -> Any:
        self._nodes = 0
        try:
            return self._node(root, loader, "", 0)
        except _TooBig as exc:
            self.problem(exc.line, "", f"expands to more than {MAX_NODES:,} values (YAML aliases referring to aliases?); "
                                       "write the values out or use fewer aliases")
        except _TooDeep as exc:
            self.problem(exc.line, "", f"nested more than {MAX_DEPTH} levels deep once aliases are expanded (an alias inside "
                                       "its own anchor?); write the values out")
        return None

    def _node(self, node: yaml.Node, loader: yaml.SafeLoader, keypath: str, depth: int) -> Any:
        line = node.start_mark.line + 1
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _TooBig(line)
        if depth > MAX_DEPTH:
            raise _TooDeep(line)
        if isinstance(node, yaml.MappingNode):
            try:
                loader.flatten_mapping(node)
            except yaml.YAMLError as exc:  # a merge key (<<) of something that is not a mapping
                self.problem(line, keypath, f"{getattr(exc, 'problem', None) or exc}; merge (<<) only mappings")
                return _Node({}, line)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(key_line, keypath, "keys must be strings, got a mapping or list; write the key as plain text")
                    continue
                key = self._scalar(key_node, loader, keypath)
                if key is INVALID:
                    continue
                sub = f"{keypath}.{key}" if keypath else str(key)
                if not isinstance(key, str):
                    hint = "; YAML reads yes/no/on/off as booleans: quote the name" if isinstance(key, bool) else ""
                    self.problem(key_line, sub, f"keys must be strings, got {type(key).__name__}{hint}")
                    continue
                if key in out:
                    self.problem(key_line, sub, "duplicate key; remove one of them")
                child = self._node(value_node, loader, sub, depth + 1)
                child.line = key_line  # messages point at the key, not the value
                out[key] = child
            return _Node(out, line)
        if isinstance(node, yaml.SequenceNode):
            return _Node([self._node(v, loader, f"{keypath}[{i}]", depth + 1) for i, v in enumerate(node.value)], line)
        value = self._scalar(node, loader, keypath)
        return _Node(None if value is INVALID else value, line)

    def _scalar(self, node: yaml.Node, loader: yaml.SafeLoader, keypath: str) -> Any:
        """A scalar's value; an impossible date (``2026-02-30``) is a problem, not a traceback."""
        try:
            return loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, TypeError) as exc:
            text = node.value if isinstance(node.value, str) else "?"
            what = "an impossible date" if node.tag == "tag:yaml.org,2002:timestamp" else "a value YAML cannot read"
            self.problem(node.start_mark.line + 1, keypath, f"{text!r} is {what} ({first_line_of(exc)}); write a real one")
            return INVALID


class _TooBig(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader composing nodes only, which notes every explicit tag (``!!python/...``,
    ``!Ref``, even ``!!str``: an input file has no use for one) and refuses deep nesting while
    composing (the composer recurses once per level)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.tags: list[tuple[str, int]] = []
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            self.tags.append((str(tag).replace("tag:yaml.org,2002:", "!!"), event.start_mark.line + 1))
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(event.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


#: libyaml's loader, when PyYAML was built with it (``_compose_clean``).
_C_LOADER: Any = getattr(yaml, "CSafeLoader", None) if getattr(yaml, "__with_libyaml__", False) else None
_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)
_START_EVENTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_END_EVENTS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _compose_clean(text: str) -> tuple[yaml.Node, Any] | None:
    """A clean file's node tree composed by libyaml (C; a fleet's inventory is read by every
    process of a run, and PyYAML's own composer takes a tenth of a second per 100 targets), and
    the loader that constructs its scalars.  None for anything but a clean file: no libyaml, a
    character PyYAML refuses, a syntax error, an explicit tag, nesting deeper than ``MAX_DEPTH``,
    no document.  ``_StrictLoader`` then reads it, and reports its problems as it always has."""
    if _C_LOADER is None or yaml.reader.Reader.NON_PRINTABLE.search(text):
        return None
    try:
        open_collections = 0
        for event in yaml.parse(text, Loader=_C_LOADER):
            if isinstance(event, _NODE_EVENTS):
                if getattr(event, "tag", None) not in (None, "!") or open_collections + 1 > MAX_DEPTH:
                    return None
                if isinstance(event, _START_EVENTS):
                    open_collections += 1
            elif isinstance(event, _END_EVENTS):
                open_collections -= 1
        loader = _C_LOADER(text)
        root = loader.get_single_node()
    except yaml.YAMLError:
        return None
    if root is None:
        loader.dispose()
        return None
    return root, loader


def _line_at(text: str, position: int | None) -> int:
    return text.count("\n", 0, position) + 1 if position is not None else 0


def first_line_of(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[-1].strip() if lines else type(exc).__name__


@dataclass
class _Node:
    value: Any
    line: int


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


# Public names of the reader's two types (governance files use them too).
YamlLoader = _Loader
YamlNode = _Node


def read_yaml(path: Path, *, what: str, missing: str, directory: str, environ: Mapping[str, str] | None = None,
              redactor: Redactor | None = None) -> tuple[_Loader, Any, bytes]:
    """Read a YAML file into ``(value, line)`` trees: ``(loader, tree, raw bytes)``.

    A missing file, a directory or non-UTF-8 text is a ``UsageError`` at once (``missing`` and
    ``directory`` say what to do); everything else, syntax errors included, is collected on
    ``loader.problems`` for ``raise_problems``.
    """
    environ = os.environ if environ is None else environ
    loader = _Loader(path.resolve(), environ, redactor if redactor is not None else Redactor())
    display = display_path(path)
    raw = read_bounded(path, display, what=what, missing=missing, directory=directory)
    if b"\0" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\0")) + 1
        raise pytest.UsageError(f"{display}:{line}: contains a NUL byte: not a text file (binary, or saved in UTF-16); "
                                f"save the {what} as UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise pytest.UsageError(f"{display}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the {what} as UTF-8") from None
    return loader, loader.parse(text), raw


#: Most problems of one file listed in the error; the count says how many there are.
MAX_PROBLEMS_SHOWN = 50


def raise_problems(loader: _Loader, what: str, display: str | None = None) -> None:
    """Raise one ``UsageError`` listing every problem collected on ``loader``, by line; nothing if none."""
    if not loader.problems:
        return
    display = display or loader.display
    lines = [f"{display}:{p.line}: {p.path + ': ' if p.path else ''}{p.message}" for p in sorted(loader.problems, key=lambda p: (p.line, p.path))]
    header = f"{len(lines)} problems in {what} {display}:\n" if len(lines) > 1 else ""
    shown = lines[:MAX_PROBLEMS_SHOWN]
    if len(lines) > MAX_PROBLEMS_SHOWN:  # a generated file with one mistake per entry: the first ones say what to fix
        shown.append(f"... and {len(lines) - MAX_PROBLEMS_SHOWN} more problems like these (lines {sorted(loader.problems, key=lambda p: p.line)[MAX_PROBLEMS_SHOWN].line} and after)")
    raise pytest.UsageError(header + "\n".join(shown))


def read_record(ld: _Loader, mapping: dict[str, Any], schema: Mapping[str, Field], keypath: str, skip: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    out: dict[str, Any] = {}
    for key, node in mapping.items():
        sub = f"{keypath}.{key}" if keypath else key
        if key.startswith("x-") or key in skip:
            continue
        spec = schema.get(key)
        if spec is None:
            known = ", ".join(sorted(schema))
            hint = closest(key, schema)
            ld.problem(node.line, sub, f"unknown key{'; did you mean ' + repr(hint) + '?' if hint else ''} (known keys: {known})")
            continue
        value = read_value(ld, node, spec, sub, secret=is_secret_key(key))
        if value is not INVALID:
            out[key] = value
    return out


INVALID = object()


def read_value(ld: _Loader, node: _Node, spec: Field, keypath: str, secret: bool) -> Any:
    raw = node.value
    kind = spec.type
    if kind == "record":
        if not isinstance(raw, dict):
            return bad(ld, node, keypath, "a mapping", raw)
        assert spec.fields is not None
        return MappingProxyType(read_record(ld, raw, spec.fields, keypath))
    if kind.startswith("map["):
        if not isinstance(raw, dict):
            return bad(ld, node, keypath, "a mapping", raw)
        inner = Field(kind[4:-1], spec.doc)
        if inner.type == "record":
            inner = Field("map[str]", spec.doc)
        out = {}
        for k, v in raw.items():
            val = read_value(ld, v, inner, f"{keypath}.{k}", secret or is_secret_key(k))
            if val is not INVALID:
                out[k] = val
        return MappingProxyType(out)
    if kind.startswith("list["):
        if not isinstance(raw, list):
            return bad(ld, node, keypath, "a list", raw)
        inner = Field(kind[5:-1], spec.doc)
        items = [read_value(ld, v, inner, f"{keypath}[{i}]", secret) for i, v in enumerate(raw)]
        return tuple(i for i in items if i is not INVALID)
    if isinstance(raw, (dict, list)):
        return bad(ld, node, keypath, _expected(kind), raw)
    interpolated = False
    if isinstance(raw, str):
        text, values = _interpolate(ld, node, keypath, raw)
        if text is None:
            return INVALID
        raw, interpolated = text, "${" in raw
        for value in values:
            if secret or len(value) >= MIN_INTERPOLATED_SECRET:
                ld.redactor.add(value)
        ld.redactor.add_url_userinfo(raw)
    if secret and isinstance(raw, str):
        ld.redactor.add(raw)
    return _scalar(ld, node, spec, keypath, raw, interpolated)


def _scalar(ld: _Loader, node: _Node, spec: Field, keypath: str, raw: Any, interpolated: bool) -> Any:
    kind = spec.type
    if kind == "value":  # a string or a number, kept as written (a sysctl value: 1, "4096 65535", ">=1024")
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            return bad(ld, node, keypath, "a string or a number", raw)
        return str(raw)
    if kind in ("str", "url", "path", "choice", "port"):
        if kind == "port" and isinstance(raw, int) and not isinstance(raw, bool):
            if not 0 < raw < 65536:
                ld.problem(node.line, keypath, f"port {raw} is out of range 1-65535")
                return INVALID
            return raw
        if not isinstance(raw, str):
            return bad(ld, node, keypath, "a string", raw)
        if kind == "url" and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw):
            ld.problem(node.line, keypath, f"expected a URL with a scheme (https://...), got {ld.redactor.redact(raw)!r}")
            return INVALID
        if kind == "url" or (kind == "str" and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw)):
            problem = url_problem(raw)
            if problem is not None:
                ld.problem(node.line, keypath, problem)
                return INVALID
        if kind == "choice" and raw not in spec.choices:
            ld.problem(node.line, keypath, f"expected one of {', '.join(spec.choices)}, got {raw!r}")
            return INVALID
        if kind == "path":
            resolved = (ld.path.parent / os.path.expanduser(raw)).resolve()
            if spec.must_exist and not resolved.exists():
                ld.problem(node.line, keypath, f"{raw}: no such file or directory (relative paths are read from the inventory's folder)")
                return INVALID
            return str(resolved)
        return raw
    if kind == "bool":
        if isinstance(raw, str) and interpolated and raw.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return raw.lower() in ("true", "yes", "1", "on")
        if not isinstance(raw, bool):
            return bad(ld, node, keypath, "true or false", raw)
        return raw
    if kind in ("int", "number"):
        if isinstance(raw, str) and interpolated:
            try:
                raw = int(raw) if kind == "int" else float(raw)
            except ValueError:
                return bad(ld, node, keypath, _expected(kind), raw)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (kind == "int" and not isinstance(raw, int)):
            return bad(ld, node, keypath, _expected(kind), raw)
        if isinstance(raw, float) and not math.isfinite(raw):
            ld.problem(node.line, keypath, f"{raw} is not a number a check can use (.nan, .inf); write a finite number")
            return INVALID
        if raw <= 0 and keypath.endswith("timeout"):
            ld.problem(node.line, keypath, f"a timeout must be greater than 0 seconds, got {raw}")
            return INVALID
        if raw > MAX_TIMEOUT_S and keypath.endswith("timeout"):
            ld.problem(node.line, keypath, f"a timeout of {raw:g} seconds is out of range: at most {MAX_TIMEOUT_S:g} "
                                           "(it bounds every network operation, and a dead target costs one timeout)")
            return INVALID
        return raw
    raise AssertionError(f"unknown field type {kind}")  # pragma: no cover - schema bug



def _interpolate(ld: _Loader, node: _Node, keypath: str, text: str) -> tuple[str | None, list[str]]:
    """The string with variables substituted (None if one is missing) and the values taken
    from the environment (defaults written in the file are not secrets)."""
    taken: list[str] = []
    failed = False
    encode = url_parts_to_encode(text)

    def replace(match: re.Match[str]) -> str:
        nonlocal failed
        if match.group(0) == "$$":
            return "$"
        var, op, default = match.group(1), match.group(2), match.group(3)
        value = ld.environ.get(var)
        if (op == ":-" and not value) or (op == "-" and value is None):
            return default or ""
        if value is None:
            failed = True
            ld.problem(node.line, keypath, f"environment variable {var} is not set; export it or write ${{{var}:-default}}")
            return ""
        taken.append(value)
        # In a URL's user information or a query value, '@ / : # ?' in a password would change
        # which host is contacted: the value is spliced in percent-encoded (clients decode it).
        return urllib.parse.quote(value, safe="") if encode(match.start()) else value

    result = _VAR.sub(replace, text)
    return (None if failed else result), taken


def bad(ld: _Loader, node: _Node, keypath: str, expected: str, got: Any) -> Any:
    ld.problem(node.line, keypath, f"expected {expected}, got {typename(got)}")
    return INVALID


def _expected(kind: str) -> str:
    return {"int": "a whole number", "number": "a number", "str": "a string", "url": "a URL", "path": "a path", "port": "a port number or addr:port", "value": "a string or a number"}.get(kind, kind)


def typename(value: Any) -> str:
    """How messages name a YAML value's type: "a mapping", "a list", "nothing (null)"..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, _Node):
        value = value.value
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def closest(key: str, known: Mapping[str, Any]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return matches[0] if matches else None
