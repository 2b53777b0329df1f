"""Run one expectation against one target, through the target's handle, and judge the answer.

Each probe reads through the same handle a catalog check uses, so it carries the target's timeout,
the dead-target rule and the masking of secrets; what it saw goes into the evidence, and a miss
fails with ``<target>: <observed>; expected <expected>``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from pytest_deploycheck.expectations.jsonpath import lookup
from pytest_deploycheck.expectations.model import Expectation
from pytest_deploycheck.outcomes import Evidence, NotApplicable, TargetError, fail
from pytest_deploycheck.redact import Redactor

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(text: str, redactor: Redactor, environ: Mapping[str, str] | None = None) -> str:
    """``${VAR}`` and ``${VAR:-default}`` from the environment; taken values are masked everywhere."""
    env = os.environ if environ is None else environ

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        value = env.get(match.group(1))
        if value is None or (value == "" and match.group(2) is not None):
            if match.group(2) is not None:
                return match.group(2)
            raise TargetError(f"environment variable {match.group(1)} is not set; export it for this expectation")
        redactor.add(value)
        return value

    return _VAR.sub(one, text)


def run(expectation: Expectation, handle: Any, evidence: Evidence, redactor: Redactor) -> None:
    PROBES[expectation.probe](expectation, handle, evidence, redactor)


# --------------------------------------------------------------------------- comparisons


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare(value: Any, expected: Any, what: str) -> str | None:
    """None when ``value`` meets ``expected``; else "what was <value>; expected <...>".

    ``expected`` is a plain value (equal, numbers compared as numbers), ``"~regex"``, or a mapping of
    ``equals``, ``matches``, ``min``, ``max``, ``exists``."""
    if isinstance(expected, Mapping):
        for op, arg in expected.items():
            problem = _compare_one(value, op, arg, what)
            if problem:
                return problem
        return None
    if isinstance(expected, str) and expected.startswith("~"):
        return _compare_one(value, "matches", expected[1:], what)
    return _compare_one(value, "equals", expected, what)


def _compare_one(value: Any, op: str, arg: Any, what: str) -> str | None:
    shown = _show(value)
    if op == "exists":
        return None if bool(arg) == (value is not _ABSENT) else f"{what} {'is missing' if arg else 'is present'}; expected it {'present' if arg else 'absent'}"
    if value is _ABSENT:
        return f"{what} is missing; expected {op} {_show(arg)}"
    if op == "equals":
        a, b = _number(value), _number(arg)
        same = a == b if a is not None and b is not None else str(value) == str(arg)
        return None if same else f"{what} was {shown}; expected {_show(arg)}"
    if op == "matches":
        return None if re.search(str(arg), str(value)) else f"{what} was {shown}; expected to match /{arg}/"
    number = _number(value)
    if number is None:
        return f"{what} was {shown}, not a number; expected {op} {arg}"
    if op == "min" and number < float(arg):
        return f"{what} was {shown}; expected at least {arg}"
    if op == "max" and number > float(arg):
        return f"{what} was {shown}; expected at most {arg}"
    return None


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT: Any = _Absent()


def _show(value: Any, limit: int = 120) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verdict(handle: Any, problems: list[str], expectation: Expectation) -> None:
    """One problem: ``<target>: <id>: <observed>; expected <expected>``; several: each with its own expectation."""
    if len(problems) == 1:
        observed, _, expected = problems[0].partition("; expected ")
        fail(handle, f"{expectation.id}: {observed}", expected or "the expectation met")
    if problems:
        parts = []
        for problem in problems:
            observed, _, expected = problem.partition("; expected ")
            parts.append(f"{observed} (expected {expected})" if expected else observed)
        fail(handle, f"{expectation.id}: {len(problems)} mismatches: " + "; ".join(parts), f"every part of {expectation.id} met")


# --------------------------------------------------------------------------- the probes


def http(expectation: Expectation, handle: Any, evidence: Evidence, redactor: Redactor) -> None:
    spec, expect = expectation.spec, expectation.expect
    method = str(spec.get("method", "GET"))
    path = interpolate(str(spec["path"]), redactor)
    headers = {str(k): interpolate(str(v), redactor) for k, v in (spec.get("headers") or {}).items()}
    kwargs: dict[str, Any] = {"headers": headers}
    if spec.get("login"):
        response = handle.sign_in()
        field = str((handle.setting("auth") or {}).get("token_field") or "access_token")
        token = None
        try:
            token = response.json().get(field)
        except ValueError:
            token = None
        if token:
            redactor.add(str(token))
            headers["Authorization"] = f"Bearer {token}"
        elif response.cookies:
            kwargs["cookies"] = dict(response.cookies)
            for value in response.cookies.values():
                redactor.add(str(value))
        else:
            raise TargetError(f"{handle.label}: the test login answered no token ({field}) and no cookie; set auth.token_field")
    started = time.monotonic()
    response = handle.request(method, path, **kwargs)
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    evidence.record(request=f"{method} {path}" + (" (with the test login)" if spec.get("login") else ""),
                    status=response.status_code, latency_ms=elapsed_ms)
    problems: list[str] = []
    wanted = expect.get("status")
    if wanted is None:
        if not 200 <= response.status_code < 300:
            problems.append(f"{method} {path} answered {response.status_code}; expected a 2xx status")
    else:
        allowed = [int(s) for s in (wanted if isinstance(wanted, list) else [wanted])]
        if response.status_code not in allowed:
            problems.append(f"{method} {path} answered {response.status_code}; expected {' or '.join(map(str, allowed))}")
    for name, value in (expect.get("headers") or {}).items():
        actual = response.headers.get(str(name), _ABSENT)
        problem = compare(actual, value, f"header {name}")
        if problem:
            problems.append(problem)
    if expect.get("json"):
        try:
            document = response.json()
        except ValueError:
            problems.append(f"the body is not JSON ({response.headers.get('content-type', 'no content type')}); expected JSON")
            document = _ABSENT
        if document is not _ABSENT:
            for json_path, value in expect["json"].items():
                found, actual = lookup(document, str(json_path))
                problem = compare(actual if found else _ABSENT, value, str(json_path))
                if problem:
                    problems.append(problem)
    if expect.get("body") and not re.search(str(expect["body"]), response.text or ""):
        problems.append(f"the body ({len(response.text or '')} characters) does not match /{expect['body']}/; expected it to")
    ceiling = expect.get("latency_ms")
    if ceiling is not None and elapsed_ms > float(ceiling):
        problems.append(f"answered in {elapsed_ms:g} ms; expected within {ceiling} ms")
    _verdict(handle, problems, expectation)


def sql(expectation: Expectation, handle: Any, evidence: Evidence, redactor: Redactor) -> None:
    query = str(expectation.spec["query"])
    try:
        rows = handle.query(query)
    except (TargetError, NotApplicable):
        raise
    except Exception as exc:  # noqa: BLE001 - a driver's error on a live connection: this expectation could not look
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TargetError(f"{handle.label}: {expectation.id}: the query failed: {first}") from None
    value = next(iter(rows[0].values())) if rows and rows[0] else _ABSENT
    evidence.record(rows=len(rows), value=None if value is _ABSENT else _show(value))
    problems = []
    expect = expectation.expect
    if "rows" in expect:
        wanted = expect["rows"]
        problem = compare(len(rows), wanted if isinstance(wanted, Mapping) else {"equals": wanted}, "row count")
        if problem:
            problems.append(problem)
    if "value" in expect:
        problem = compare(value, expect["value"], "the first value")
        if problem:
            problems.append(problem)
    if "matches" in expect:
        problem = compare(value, {"matches": expect["matches"]}, "the first value")
        if problem:
            problems.append(problem)
    _verdict(handle, problems, expectation)


def redis(expectation: Expectation, handle: Any, evidence: Evidence, redactor: Redactor) -> None:
    words = [interpolate(w, redactor) for w in expectation.spec["command"]]
    reply = handle.command(*words)
    if words[0].upper() == "INFO":
        field = str(expectation.spec["field"])
        reply = reply.get(field, _ABSENT) if isinstance(reply, Mapping) else _ABSENT
        shown = f"INFO {field}"
    else:
        shown = " ".join(words[:2])
    evidence.record(command=shown, reply=None if reply is _ABSENT else _show(reply))
    expect = expectation.expect
    problems = []
    if "value" in expect:
        problem = compare(reply, expect["value"], shown)
        if problem:
            problems.append(problem)
    bounds = {op: expect[op] for op in ("min", "max", "matches") if op in expect}
    if bounds:
        problem = compare(reply, bounds, shown)
        if problem:
            problems.append(problem)
    _verdict(handle, problems, expectation)


def command(expectation: Expectation, handle: Any, evidence: Evidence, redactor: Redactor) -> None:
    text = interpolate(str(expectation.spec["run"]), redactor)
    result = handle.run(text)
    evidence.record(command=text, exit=result.rc, stdout=_show(result.stdout, 400))
    expect = expectation.expect
    problems = []
    wanted = int(expect.get("exit", 0))
    if result.rc != wanted:
        problems.append(f"{text!r} exited {result.rc} ({_show((result.stderr or result.stdout).strip(), 160)}); expected exit status {wanted}")
    for stream in ("stdout", "stderr"):
        if stream in expect and not re.search(str(expect[stream]), getattr(result, stream) or ""):
            problems.append(f"{stream} of {text!r} does not match /{expect[stream]}/; expected it to")
    _verdict(handle, problems, expectation)


def file(expectation: Expectation, handle: Any, evidence: Evidence, redactor: Redactor) -> None:
    path = str(expectation.spec["path"])
    info = handle.file(path)
    expect = expectation.expect
    exists = bool(info.exists)
    evidence.record(path=path, exists=exists)
    problems = []
    if "exists" in expect and bool(expect["exists"]) != exists:
        problems.append(f"{path} {'exists' if exists else 'does not exist'}; expected it {'present' if expect['exists'] else 'absent'}")
    if exists and any(k in expect for k in ("mode", "owner", "group", "contains")):
        mode = int(info.mode)
        evidence.record(mode=f"{mode:04o}", owner=info.user, group=info.group)
        if "mode" in expect:
            allowed = int(str(expect["mode"]), 8)
            if mode & ~allowed:
                problems.append(f"{path} has mode {mode:04o}; expected {allowed:04o} or stricter")
        for key, actual in (("owner", info.user), ("group", info.group)):
            if key in expect and str(actual) != str(expect[key]):
                problems.append(f"{path} is {key}ed by {actual}; expected {expect[key]}")
        if "contains" in expect and not re.search(str(expect["contains"]), info.content_string):
            problems.append(f"{path} does not contain /{expect['contains']}/; expected it to")
    elif not exists and any(k in expect for k in ("mode", "owner", "group", "contains")):
        problems.append(f"{path} does not exist; expected it present")
    _verdict(handle, problems, expectation)


def promql(expectation: Expectation, handle: Any, evidence: Evidence, redactor: Redactor) -> None:
    query = str(expectation.spec["query"])
    data = handle.api("/api/v1/query", query=query)
    result = data.get("result", []) if isinstance(data, Mapping) else []
    values: list[float] = []
    if isinstance(data, Mapping) and data.get("resultType") == "scalar":
        values = [float(result[1])]
    else:
        for series in result if isinstance(result, list) else []:
            try:
                values.append(float(series["value"][1]))
            except (KeyError, IndexError, TypeError, ValueError):
                continue
    evidence.record(query=query, series=len(values), values=[round(v, 6) for v in values[:20]])
    expect = expectation.expect
    problems = []
    if "series" in expect:
        wanted = expect["series"]
        problem = compare(len(values), wanted if isinstance(wanted, Mapping) else {"equals": wanted}, "the number of series")
        if problem:
            problems.append(problem)
    elif not values:
        problems.append(f"the query {query!r} returned no series; expected at least one (or set expect.series: 0)")
    for op in ("min", "max"):
        if op in expect:
            for v in values:
                problem = compare(v, {op: expect[op]}, "a series' value")
                if problem:
                    problems.append(problem)
                    break
    _verdict(handle, problems, expectation)


PROBES: dict[str, Callable[[Expectation, Any, Evidence, Redactor], None]] = {
    "http": http, "sql": sql, "redis": redis, "command": command, "file": file, "promql": promql,
}
