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

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def value(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

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



def validate_dsn(key: str) -> Callable[[YamlLoader, Mapping[str, Any], Mapping[str, YamlNode], str], None]:
    """The rule for a connection string under ``key``: no password inside it."""

    def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
        value = spec[key]
        if re.search(r"://[^/@]*:[^/@]+@", value) or re.search(r"(^|\s)password\s*=", value):
            ld.problem(raw[key].line, f"{keypath}.{key}", "holds a password; move it to the password key as ${VAR} so it never sits in the file")

    return validate
