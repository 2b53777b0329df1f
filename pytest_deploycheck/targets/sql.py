"""What the two SQL kinds share: one read-only session per run, rows as dicts, a password check.

``SqlTarget`` is the base of ``PostgresTarget`` and ``MysqlTarget``; ``validate_dsn`` refuses a
password written into a DSN or URL (it belongs in the ``password`` key, as ``${VAR}``).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pytest_deploycheck.targets.base import Target, TargetHandle
from pytest_deploycheck.targets.reach import Reachability
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode


class SqlTarget(TargetHandle):
    """What the two database handles share: one session per run, rows as dicts, a scalar."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._conn: Any = None
        self._lock = threading.Lock()

    def connect(self, **overrides: Any) -> Any:
        """A new connection (the caller closes it); ``overrides`` change connection parameters."""
        raise NotImplementedError

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def value(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def warm(self) -> None:
        self.conn  # noqa: B018 - the property opens the run's session (TLS, login)

    @property
    def conn(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()


class _AuthRefused(Exception):
    """Raised inside a guard to mark the target unusable after a refused login."""


class _ConnectionLost(Exception):
    """Raised inside a guard when a database connection broke during a query."""


def _auth_failure(message: str) -> bool:
    return "password authentication failed" in message or "no password supplied" in message or "authentication failed" in message



_URL_PASSWORD = re.compile(r"://[^/@\s]*?:([^/@\s]+)@")
_KV_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-[^}]*)?\}")


def _passwords(text: str) -> list[str]:
    """The password parts of a connection string: a URL's userinfo and libpq's ``password=``."""
    return [m.group(1) for m in _URL_PASSWORD.finditer(text)] + [m.group(1).strip("'") for m in _KV_PASSWORD.finditer(text)]


def validate_dsn(key: str) -> Callable[[YamlLoader, Mapping[str, Any], Mapping[str, YamlNode], str], None]:
    """The rule for a connection string under ``key``: a password inside it must come from the
    environment, never be written in the file.

    ``dsn: ${DATABASE_URL}`` (the whole value from one variable, as applications keep it) and
    ``postgresql://app:${PG_PASSWORD}@db/app`` are accepted; the password part is registered
    with the redactor (URL passwords already are, by the reader; libpq's ``password=`` here).
    """

    def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
        written = raw[key].value if isinstance(raw[key].value, str) else ""
        literal = [p for p in _passwords(_VARIABLE.sub("", written.replace("$$", ""))) if p]
        literal += [p for m in _VARIABLE.finditer(written) for p in _passwords(m.group(0)[2:-1].partition("-")[2])]
        if literal:
            ld.problem(raw[key].line, f"{keypath}.{key}", "holds a password written in the file; take the whole value from the "
                       f"environment ({key}: ${{VAR}}) or move the password to the password key as ${{VAR}}")
            return
        for password in _passwords(str(spec[key])):
            ld.redactor.add(password)

    return validate


Validate = Callable[[YamlLoader, Mapping[str, Any], Mapping[str, YamlNode], str], None]


def connection_rules(key: str, schemes: tuple[str, ...], *, url_only: bool = False, query: Callable[[str], str | None] | None = None) -> Validate:
    """What a client would misread in the connection string under ``key``, said at load time:
    control characters (a CR/LF ends a protocol line early), a URL scheme the kind cannot use
    (``mysql://`` for postgres; ``url_only``: it must be a URL), and ``query`` for the kind's
    own parameters (an ``sslmode`` libpq does not know), which returns what is wrong or None."""

    def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
        value = str(spec[key])
        where, line = f"{keypath}.{key}", raw[key].line
        control = re.search(r"[\x00-\x1f\x7f]", value)
        if control is not None:
            ld.problem(line, where, f"holds control character {ord(control.group()):#04x} (a CR or LF?) at position {control.start()}; "
                                    "remove it (check the environment variable it comes from)")
            return
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", value)
        if (scheme is not None or url_only) and (scheme is None or scheme.group(1).lower() not in schemes):
            got = f"{scheme.group(1)}://" if scheme else "no URL scheme"
            ld.problem(line, where, f"a {keypath.split('.', 1)[0]} target is reached over {' or '.join(s + '://' for s in schemes)}, "
                                    f"not {got}; fix the URL")
            return
        problem = query(value) if query is not None else None
        if problem is not None:
            ld.problem(line, where, problem)

    return validate


def chain(*validators: Validate) -> Validate:
    """Several rules as one ``validate``: each one reports its own problems."""

    def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
        for rule in validators:
            rule(ld, spec, raw, keypath)

    return validate
