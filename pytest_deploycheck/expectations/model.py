"""The team's own checks, declared in YAML: read and validated before anything runs.

::

    version: 1
    section: Our application            # optional: how reports title these checks
    expectations:
      acme.orders-api:                  # <namespace>.<name>: never the shape of a catalog id (area-NN)
        title: Orders API answers
        severity: critical
        rationale: The storefront calls it on every page.
        targets: api                    # a target name, {role: web}, {tag: x}, or a list of those
        answers: [orders api responding]  # optional: checklist wording, for the matcher
        http:
          path: /api/orders
          login: true
          expect: {status: 200, json: {"$.status": ok}, latency_ms: 500}

One probe per expectation: ``http``, ``sql``, ``redis``, ``command``, ``file`` or ``promql``; each is
checked here for what it may do (a GET, a single SELECT, a read command from the allow-list ...), so a
write never reaches a server.  Every problem of the file is one usage error line: file:line, key, fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deploycheck.expectations.jsonpath import JsonPathError, parse_path
from pytest_deploycheck.expectations.readonly import REDIS_READ_COMMANDS, sql_problem
from pytest_deploycheck.markers import ID_RE, Severity
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode, closest, raise_problems, read_yaml, typename

#: The team's id: a namespace and a name joined by a dot (``acme.orders-api``); a catalog id never has a dot.
TEAM_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_.-]{0,62}$")

#: probe -> the inventory kinds its targets may be.
PROBE_KINDS: dict[str, tuple[str, ...]] = {
    "http": ("http",), "sql": ("postgres", "mysql"), "redis": ("redis",), "command": ("hosts",), "file": ("hosts",),
    "promql": ("prometheus",),
}

TOP = {"version": "1", "section": "how reports title these checks", "expectations": "id: {title, severity, targets, <probe>}"}
COMMON = {"title": "a short title", "severity": "critical, high, medium, low or info", "rationale": "why it matters",
          "targets": "a target name, {role: R}, {tag: T}, or a list of those", "answers": "checklist wording it answers",
          "refs": "references", "active_probe": "true: the probe may send what a read cannot (needs active_probes on the target)",
          **{probe: f"the {probe} probe" for probe in PROBE_KINDS}}
EXPECT_KEYS: dict[str, dict[str, str]] = {
    "http": {"status": "status code or list of codes", "headers": "header: value or ~regex", "json": "JSON path: value / {exists|matches|equals|min|max}",
             "body": "a regex the body must match", "latency_ms": "ceiling in milliseconds"},
    "sql": {"rows": "row count: a number or {min, max}", "value": "the first column of the first row: value / {equals|matches|min|max}",
            "matches": "a regex the first value must match"},
    "redis": {"value": "the reply: a value or {equals|matches|min|max}", "min": "lower bound", "max": "upper bound", "matches": "regex"},
    "command": {"exit": "exit status (default 0)", "stdout": "a regex stdout must match", "stderr": "a regex stderr must match"},
    "file": {"exists": "true or false", "mode": "octal, e.g. '0640' (at most this permissive)", "owner": "user name",
             "group": "group name", "contains": "a regex the content must match"},
    "promql": {"min": "lower bound of every series' value", "max": "upper bound", "series": "number of series: a number or {min, max}"},
}
PROBE_KEYS: dict[str, dict[str, str]] = {
    "http": {"path": "the path (or a full URL on the target's host)", "method": "GET (default) or HEAD; others need active_probe",
             "headers": "request headers (values may be ${VAR})", "login": "true: send the inventory's test login", "expect": "what to expect"},
    "sql": {"query": "one SELECT, WITH or SHOW statement", "expect": "what to expect"},
    "redis": {"command": "a read command and its arguments, e.g. [LLEN, queue]", "field": "for INFO: the field to read", "expect": "what to expect"},
    "command": {"run": "the command, run as written on the host: it must only read", "expect": "what to expect"},
    "file": {"path": "absolute path on the host", "expect": "what to expect"},
    "promql": {"query": "an instant PromQL query", "expect": "what to expect"},
}
HTTP_READ_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class TargetSelector:
    name: str | None = None
    role: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class Expectation:
    """One expectation, validated: the probe's settings in ``probe``/``spec``, what to expect in ``expect``."""

    id: str
    title: str
    severity: Severity
    rationale: str
    targets: tuple[TargetSelector, ...]
    probe: str
    spec: Mapping[str, Any]
    expect: Mapping[str, Any]
    source: str  # "expectations.yml:12"
    section: str
    answers: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    active_probe: bool = False


@dataclass
class ExpectationsFile:
    path: Path
    section: str
    expectations: list[Expectation] = field(default_factory=list)


def load_expectations(path: Path, default_section: str = "Your expectations") -> ExpectationsFile:
    ld, tree, _ = read_yaml(path, what="expectations file", missing="expectations file not found; check --deploycheck-expectations",
                            directory="is a directory; --deploycheck-expectations takes a YAML file")
    out = ExpectationsFile(path, default_section)
    if tree is None:
        ld.problem(1, "", "the file is empty; write 'version: 1' and 'expectations:' (README: Your own checks)")
    elif not isinstance(tree.value, dict):
        ld.problem(tree.line, "", f"expected a mapping with 'version: 1' and 'expectations:', got {typename(tree.value)}")
    else:
        top: dict[str, YamlNode] = tree.value
        _unknown(ld, top, TOP, "")
        version = top.get("version")
        if version is not None and version.value != 1:
            ld.problem(version.line, "version", f"unsupported version {version.value!r}; this plugin reads version 1")
        if top.get("section") is not None and isinstance(top["section"].value, str):
            out.section = top["section"].value.strip() or default_section
        node = top.get("expectations")
        if node is None or not isinstance(node.value, dict):
            ld.problem(node.line if node else tree.line, "expectations", "expected a mapping of ids to expectations; add 'expectations:'")
        else:
            for eid, sub in node.value.items():
                found = _expectation(ld, eid, sub, f"{ld.display}:{sub.line}", out.section)
                if found is not None:
                    out.expectations.append(found)
    raise_problems(ld, "expectations file")
    return out


def _expectation(ld: YamlLoader, eid: str, node: YamlNode, source: str, section: str) -> Expectation | None:
    where = f"expectations.{eid}"
    if not TEAM_ID_RE.match(eid) or ID_RE.match(eid):
        ld.problem(node.line, where, "an expectation id is <namespace>.<name> in lower case (acme.orders-api): it can never "
                                     "be a catalog id (area-NN); rename it")
        return None
    if not isinstance(node.value, dict):
        ld.problem(node.line, where, f"expected a mapping (title, severity, targets and one probe), got {typename(node.value)}")
        return None
    body: dict[str, YamlNode] = node.value
    _unknown(ld, body, COMMON, where)
    title = _text(ld, body, "title", where, node.line, required=True)
    severity = _severity(ld, body.get("severity"), f"{where}.severity", node.line)
    probes = [p for p in PROBE_KINDS if p in body]
    if len(probes) != 1:
        ld.problem(node.line, where, f"give exactly one probe ({', '.join(PROBE_KINDS)}); found {', '.join(probes) or 'none'}")
        return None
    probe = probes[0]
    active = body.get("active_probe")
    active_probe = bool(active is not None and active.value is True)
    spec, expect = _probe(ld, probe, body[probe], f"{where}.{probe}", active_probe)
    targets = _targets(ld, body.get("targets"), f"{where}.targets", node.line)
    if title is None or severity is None or spec is None or expect is None or targets is None:
        return None
    return Expectation(id=eid, title=title, severity=severity, rationale=_text(ld, body, "rationale", where, node.line) or title,
                       targets=targets, probe=probe, spec=spec, expect=expect, source=source, section=section,
                       answers=_strings(ld, body.get("answers"), f"{where}.answers"), refs=_strings(ld, body.get("refs"), f"{where}.refs"),
                       active_probe=active_probe)


def _probe(ld: YamlLoader, probe: str, node: YamlNode, where: str, active: bool) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if not isinstance(node.value, dict):
        ld.problem(node.line, where, f"expected a mapping ({', '.join(PROBE_KEYS[probe])}), got {typename(node.value)}")
        return None, None
    raw: dict[str, YamlNode] = node.value
    _unknown(ld, raw, PROBE_KEYS[probe], where)
    spec = {k: _plain(v) for k, v in raw.items() if k != "expect" and k in PROBE_KEYS[probe]}
    ok = True
    if probe == "http":
        method = str(spec.get("method", "GET")).upper()
        spec["method"] = method
        if method not in HTTP_READ_METHODS and not active:
            ld.problem(raw["method"].line, f"{where}.method", f"{method} is not a read; use GET or HEAD, or mark the expectation "
                                                              "active_probe: true (it then runs only where the inventory allows active probes)")
            ok = False
        if not isinstance(spec.get("path"), str) or not spec["path"]:
            ld.problem(node.line, f"{where}.path", "required: the path to request, e.g. /health")
            ok = False
        elif any(c in spec["path"] for c in "\r\n"):
            ld.problem(raw["path"].line, f"{where}.path", "holds a line break; write the path on one line")
            ok = False
    elif probe == "sql":
        query = spec.get("query")
        problem = sql_problem(query) if isinstance(query, str) else "required: one SELECT, WITH or SHOW statement"
        if problem:
            ld.problem(raw.get("query", node).line, f"{where}.query", problem)
            ok = False
    elif probe == "redis":
        command = spec.get("command")
        words = [command] if isinstance(command, str) else command
        if not isinstance(words, list) or not words or not all(isinstance(w, (str, int)) for w in words):
            ld.problem(raw.get("command", node).line, f"{where}.command", "expected a command and its arguments, e.g. [LLEN, celery]")
            ok = False
        elif str(words[0]).upper() not in REDIS_READ_COMMANDS:
            ld.problem(raw["command"].line, f"{where}.command", f"{words[0]!r} is not on the read-only allow-list "
                                                                f"({', '.join(sorted(REDIS_READ_COMMANDS))})")
            ok = False
        else:
            spec["command"] = [str(w) for w in words]
            if str(words[0]).upper() == "INFO" and not spec.get("field"):
                ld.problem(node.line, f"{where}.field", "INFO needs the field to read, e.g. field: connected_clients")
                ok = False
    elif probe in ("command", "promql", "file"):
        key = {"command": "run", "promql": "query", "file": "path"}[probe]
        value = spec.get(key)
        if not isinstance(value, str) or not value.strip():
            ld.problem(raw.get(key, node).line, f"{where}.{key}", f"required: {PROBE_KEYS[probe][key]}")
            ok = False
        elif probe == "file" and not value.startswith("/"):
            ld.problem(raw[key].line, f"{where}.{key}", "expected an absolute path on the host")
            ok = False
    expect = _expect(ld, probe, raw.get("expect"), f"{where}.expect", node.line)
    return (spec if ok else None), expect


def _expect(ld: YamlLoader, probe: str, node: YamlNode | None, where: str, line: int) -> dict[str, Any] | None:
    if node is None:
        if probe in ("http", "command"):
            return {}  # a 2xx answer, exit status 0
        ld.problem(line, where, f"required: what to expect ({', '.join(EXPECT_KEYS[probe])})")
        return None
    if not isinstance(node.value, dict):
        ld.problem(node.line, where, f"expected a mapping ({', '.join(EXPECT_KEYS[probe])}), got {typename(node.value)}")
        return None
    _unknown(ld, node.value, EXPECT_KEYS[probe], where)
    expect = {k: _plain(v) for k, v in node.value.items() if k in EXPECT_KEYS[probe]}
    before = len(ld.problems)
    for key, value in expect.items():
        sub = node.value[key]
        _validate_value(ld, key, value, f"{where}.{key}", sub.line)
    if probe == "http" and isinstance(expect.get("json"), dict):
        for path in expect["json"]:
            try:
                parse_path(str(path))
            except JsonPathError as exc:
                ld.problem(node.value["json"].line, f"{where}.json", f"{path!r}: {exc}")
    return expect if len(ld.problems) == before else None


_REGEX_KEYS = {"body", "stdout", "stderr", "contains", "matches"}


def _validate_value(ld: YamlLoader, key: str, value: Any, where: str, line: int) -> None:
    """Regexes compile, numbers are numbers, modes are octal: checked before anything runs."""
    if key in _REGEX_KEYS:
        _regex(ld, value, where, line)
    elif key in ("min", "max", "latency_ms") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        ld.problem(line, where, f"expected a number, got {typename(value)}")
    elif key == "mode" and not (isinstance(value, str) and re.fullmatch(r"0?[0-7]{3,4}", value)):
        ld.problem(line, where, f"expected an octal mode as a quoted string, e.g. '0640', got {value!r}")
    elif key in ("headers", "json") and not isinstance(value, dict):
        ld.problem(line, where, f"expected a mapping, got {typename(value)}")
    if isinstance(value, dict):
        for sub, inner in value.items():
            if key in ("headers", "json", "value", "rows", "series") and isinstance(inner, str) and inner.startswith("~"):
                _regex(ld, inner[1:], f"{where}.{sub}", line)
            if isinstance(inner, dict):
                for op, arg in inner.items():
                    if op == "matches":
                        _regex(ld, arg, f"{where}.{sub}.matches", line)
                    elif op in ("min", "max") and (isinstance(arg, bool) or not isinstance(arg, (int, float))):
                        ld.problem(line, f"{where}.{sub}.{op}", f"expected a number, got {typename(arg)}")
                    elif op not in ("equals", "matches", "min", "max", "exists"):
                        ld.problem(line, f"{where}.{sub}", f"unknown comparison {op!r}; use equals, matches, min, max or exists")
            if key in ("value", "rows", "series") and sub in ("min", "max") and (isinstance(inner, bool) or not isinstance(inner, (int, float))):
                ld.problem(line, f"{where}.{sub}", f"expected a number, got {typename(inner)}")


def _regex(ld: YamlLoader, value: Any, where: str, line: int) -> None:
    if not isinstance(value, str):
        ld.problem(line, where, f"expected a regular expression as a string, got {typename(value)}")
        return
    try:
        re.compile(value)
    except re.error as exc:
        ld.problem(line, where, f"not a valid regular expression ({exc}); fix it (Python re syntax)")


def _targets(ld: YamlLoader, node: YamlNode | None, where: str, line: int) -> tuple[TargetSelector, ...] | None:
    if node is None:
        ld.problem(line, where, "required: the target(s) to run on, by name, {role: R} or {tag: T}")
        return None
    raw = node.value if isinstance(node.value, list) else [node]
    out: list[TargetSelector] = []
    for child in raw:
        value = child.value if isinstance(child, YamlNode) else child
        if isinstance(value, str) and value.strip():
            out.append(TargetSelector(name=value.strip()))
        elif isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("role", "tag"):
            key, inner = next(iter(value.items()))
            text = inner.value if isinstance(inner, YamlNode) else inner
            out.append(TargetSelector(role=str(text)) if key == "role" else TargetSelector(tag=str(text)))
        else:
            ld.problem(getattr(child, "line", node.line), where, f"expected a target name, {{role: R}} or {{tag: T}}, got {typename(value)}")
            return None
    return tuple(out)


def _text(ld: YamlLoader, body: Mapping[str, YamlNode], key: str, where: str, line: int, required: bool = False) -> str | None:
    node = body.get(key)
    if node is None or node.value is None:
        if required:
            ld.problem(line, f"{where}.{key}", f"required: {COMMON[key]}")
        return None
    if not isinstance(node.value, (str, int, float)) or isinstance(node.value, bool):
        ld.problem(node.line, f"{where}.{key}", f"expected text, got {typename(node.value)}")
        return None
    return str(node.value).strip() or None


def _severity(ld: YamlLoader, node: YamlNode | None, where: str, line: int) -> Severity | None:
    if node is None:
        ld.problem(line, where, "required: critical, high, medium, low or info (a deliberate choice: not everything is critical)")
        return None
    try:
        return Severity.parse(str(node.value))
    except ValueError as exc:
        ld.problem(node.line, where, str(exc))
        return None


def _strings(ld: YamlLoader, node: YamlNode | None, where: str) -> tuple[str, ...]:
    if node is None or node.value is None:
        return ()
    raw = node.value if isinstance(node.value, list) else [node]
    out = []
    for child in raw:
        value = child.value if isinstance(child, YamlNode) else child
        if not isinstance(value, str):
            ld.problem(getattr(child, "line", node.line), where, f"expected text, got {typename(value)}")
            continue
        out.append(value)
    return tuple(out)


def _unknown(ld: YamlLoader, mapping: Mapping[str, YamlNode], known: Mapping[str, str], where: str) -> None:
    for key, node in mapping.items():
        if key in known or str(key).startswith("x-"):
            continue
        hint = closest(str(key), known)
        sub = f"{where}.{key}" if where else str(key)
        ld.problem(node.line, sub, f"unknown key{'; did you mean ' + repr(hint) + '?' if hint else ''} (known: {', '.join(known)}); fix or delete it")


def _plain(node: Any) -> Any:
    """A YamlNode tree as plain Python values."""
    if isinstance(node, YamlNode):
        return _plain(node.value)
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
