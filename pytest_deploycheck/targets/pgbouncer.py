"""The ``pgbouncer`` kind: a PgBouncer connection pooler, read through its admin console.

The console (database ``pgbouncer``) speaks only the simple query protocol and knows only its
own commands; a ``stats_users`` login may run ``SHOW`` and nothing else, which is what an
inventory should name.  The handle sends ``SHOW <word>`` and nothing else, bounded by the
target's timeout: libpq's connect timeout, and a watchdog that shuts the socket down when an
answer does not arrive in time (libpq has no read timeout of its own).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from typing import Any

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetKind
from pytest_deploycheck.targets.postgres import _dsn_parameters, libpq_address, libpq_session
from pytest_deploycheck.targets.reach import first_line
from pytest_deploycheck.targets.sql import SqlTarget, _ConnectionLost, chain, connection_rules, validate_dsn

#: Most rows one SHOW returns to a check (SHOW POOLS of a pooler with thousands of databases).
MAX_ROWS = 5000


class PgbouncerTarget(SqlTarget):
    """A PgBouncer admin console: ``pgbouncer.show("POOLS")`` -> rows as dicts."""

    def connect(self, **overrides: Any) -> Any:
        """A new console connection (the caller closes it).  No ``options`` startup parameter:
        PgBouncer refuses parameters it does not know unless told to ignore them."""
        import psycopg

        params: dict[str, Any] = {"connect_timeout": max(1, round(self.timeout)), "application_name": "pytest-deploycheck"}
        if self.target.get("password") is not None:
            params["password"] = self.target.get("password")
        params.update(overrides)
        return psycopg.connect(str(self.target.spec["dsn"]), autocommit=True, cursor_factory=psycopg.ClientCursor, **params)

    @property
    def conn(self) -> Any:
        # Unlocked: query() holds self._lock while it reads this and for the whole exchange.
        return libpq_session(self)

    def show(self, what: str) -> list[dict[str, Any]]:
        """``SHOW <what>`` (``POOLS``, ``CONFIG``, ``DATABASES``, ...) as rows of dicts; the only
        statement this handle sends, so the console can only be read."""
        if not re.fullmatch(r"[A-Za-z_]+", what):
            raise ValueError(f"not a SHOW command: {what!r}")
        return self.query(f"SHOW {what.upper()}")

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        """One console command (SHOW only: ``show()`` is the way in); a console error such as
        ``admin access needed`` reaches the check as ``psycopg.Error``."""
        import psycopg
        from psycopg.rows import dict_row

        if not sql.upper().startswith("SHOW "):
            raise ValueError("the PgBouncer handle sends SHOW commands only")
        with self._lock:
            conn = self.conn
            fired = threading.Event()
            timer = threading.Timer(self.timeout, _shut_down, (conn, fired))
            timer.daemon = True
            with self.reach.guard(self.target, unreachable=(_ConnectionLost,)), conn.cursor(row_factory=dict_row) as cur:
                timer.start()
                try:
                    cur.execute(sql)
                    return list(cur.fetchmany(MAX_ROWS)) if cur.description else []
                except psycopg.OperationalError as exc:
                    if conn.closed or conn.broken:
                        reason = f"no answer within {self.timeout:g}s" if fired.is_set() else first_line(exc)
                        raise _ConnectionLost(reason) from None
                    raise TargetError(f"{self.label}: {sql} failed: {first_line(exc)}") from None
                finally:
                    timer.cancel()

    def settings(self) -> dict[str, str]:
        """``SHOW CONFIG`` as ``{key: value}``."""
        return {str(row["key"]): str(row["value"]) for row in self.show("CONFIG")}


def _shut_down(conn: Any, fired: threading.Event) -> None:
    """Shut the connection's socket down from the watchdog thread: the blocked read returns at
    once and libpq reports the connection lost (closing it from here would race libpq)."""
    fired.set()
    with contextlib.suppress(Exception):  # the connection may be gone already: nothing left to stop
        duplicate = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        finally:
            duplicate.close()


FIELDS: dict[str, Field] = {
    "dsn": Field("str", "libpq URL of the admin console, database pgbouncer, as a stats_users login (a password in it only from the environment)", required=True),
    "password": Field("str", "the console user's password (use ${VAR})"),
    "pool_mode": Field("choice", "the pool mode the application is built for (default: transaction)",
                       choices=("session", "transaction", "statement")),
}


def address(target: Target) -> tuple[str, int] | None:
    return libpq_address(str(target.spec["dsn"]), 6432)


KIND = TargetKind(
    name="pgbouncer", fixture="pgbouncer", handle=PgbouncerTarget, fields=FIELDS, address=address,
    # The console is reached with libpq like postgres: the same scheme and parameter rules, said at load time.
    validate=chain(validate_dsn("dsn"), connection_rules("dsn", ("postgresql", "postgres"), query=_dsn_parameters)),
    summary="""A ``pgbouncer`` target: ``pgbouncer.show("POOLS")`` reads the admin console (SHOW only),
    ``pgbouncer.settings()`` is SHOW CONFIG as a dict; one connection per run, with the target's timeout.""",
)
