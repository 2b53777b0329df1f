"""The ``postgres`` kind: a PostgreSQL server, read in a read-only session."""

from __future__ import annotations

from typing import Any

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetKind
from pytest_deploycheck.targets.reach import first_line
from pytest_deploycheck.targets.sql import SqlTarget, _auth_failure, _AuthRefused, _ConnectionLost, validate_dsn


class PostgresTarget(SqlTarget):
    """A PostgreSQL target: one read-only connection per run, with connect and statement timeouts."""

    def connect(self, **overrides: Any) -> Any:
        """A new connection (the caller closes it). ``overrides`` change DSN parameters
        (e.g. ``sslmode="disable"`` to prove the server refuses plain connections)."""
        import psycopg

        params: dict[str, Any] = {
            "connect_timeout": max(1, round(self.timeout)),
            "options": f"-c default_transaction_read_only=on -c statement_timeout={int(self.timeout * 1000)}",
            "application_name": "pytest-deploycheck",
        }
        if self.target.get("password") is not None:
            params["password"] = self.target.get("password")
        params.update(overrides)
        return psycopg.connect(str(self.target.spec["dsn"]), autocommit=True, **params)

    @property
    def conn(self) -> Any:
        import psycopg

        with self._lock:
            if self._conn is None or self._conn.closed:
                with self.reach.guard(self.target, unreachable=(psycopg.OperationalError,), unusable=(_AuthRefused,)):
                    try:
                        self._conn = self.connect()
                    except psycopg.OperationalError as exc:
                        if _auth_failure(str(exc)):
                            raise _AuthRefused(first_line(exc)) from None
                        raise
            return self._conn

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        """Rows as dicts.  Runs in a read-only transaction: a write raises.

        A lost connection marks the target unreachable; an error the server reports on a live
        connection (statement timeout, ...) ends only this check, as an error.  Errors such as
        ``psycopg.errors.InsufficientPrivilege`` reach the check, which may turn them into n/a.
        """
        import psycopg
        from psycopg.rows import dict_row

        conn = self.conn  # takes self._lock itself; psycopg connections are thread-safe
        with self.reach.guard(self.target, unreachable=(_ConnectionLost,)), conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(sql, params)
            except psycopg.OperationalError as exc:
                if conn.closed or conn.broken:
                    raise _ConnectionLost(first_line(exc)) from None
                raise TargetError(f"{self.label}: query failed: {first_line(exc)}") from None
            return list(cur.fetchall()) if cur.description else []



FIELDS: dict[str, Field] = {
    "dsn": Field("str", "libpq URL or key=value DSN, without the password", required=True),
    "password": Field("str", "the role's password (use ${VAR})"),
    "migrations": Field("record", "expected migration head", fields={
        "tool": Field("choice", "alembic, flyway, django, knex or rails", choices=("alembic", "flyway", "django", "knex", "rails")),
        "head": Field("str", "the revision/version the database must be at"),
        "table": Field("str", "the migrations table (default: the tool's)"),
    }),
    "app_role": Field("str", "the application's role, when the DSN logs in as a separate monitoring role (default: the DSN's user)"),
    "expect_replica": Field("bool", "the target is a streaming replica: pg-16 fails when it is not in recovery (default: pg-16 checks only replicas)"),
    "expect_archiving": Field("bool", "WAL archiving must be on: pg-15 fails when archive_mode is off (default: checked only where it is on)"),
}


def address(target: Target) -> tuple[str, int] | None:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(target.spec["dsn"])
    host = str(params.get("host") or params.get("hostaddr") or "")
    if not host or host.startswith("/") or "," in host:
        return None
    return host, int(params.get("port") or 5432)


KIND = TargetKind(
    name="postgres", fixture="postgres", handle=PostgresTarget, fields=FIELDS, address=address, validate=validate_dsn("dsn"),
    summary="""A ``postgres`` target: ``postgres.query(sql)`` runs in a read-only session with connect
    and statement timeouts; one connection per target for the whole run.""",
)
