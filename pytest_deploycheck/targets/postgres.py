"""The ``postgres`` kind: a PostgreSQL server, read in a read-only session."""

from __future__ import annotations

from typing import Any

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetKind
from pytest_deploycheck.targets.migrations import MIGRATIONS_FIELD
from pytest_deploycheck.targets.reach import first_line
from pytest_deploycheck.targets.sql import SqlTarget, _auth_failure, _AuthRefused, _ConnectionLost, chain, connection_rules, validate_dsn


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
        with self._lock:
            return libpq_session(self)

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
    "dsn": Field("str", "libpq URL or key=value DSN; a password in it only from the environment (dsn: ${DATABASE_URL})", required=True),
    "password": Field("str", "the role's password (use ${VAR})"),
    "migrations": MIGRATIONS_FIELD,
    "app_role": Field("str", "the application's role, when the DSN logs in as a separate monitoring role (default: the DSN's user)"),
    "expect_replica": Field("bool", "the target is a streaming replica: pg-16 fails when it is not in recovery (default: pg-16 checks only replicas)"),
    "expect_archiving": Field("bool", "WAL archiving must be on: pg-15 fails when archive_mode is off (default: checked only where it is on)"),
    "schema_file": Field("path", "the plain SQL schema file the team applies (no migration tool): pg-24 compares the live tables, columns and indexes with it", must_exist=True),
    "app_config": Field("str", "name of the files target holding the application's configuration: pg-25 reads its connection pool settings"),
    "timezone": Field("str", "the time zone the server must run in (default UTC; an IANA name; any: not judged)"),
    "app_instances": Field("int", "how many instances of the application connect (processes x hosts) for pg-25 (default 1)"),
    "password_storage": Field("record", "the application's users table: its password hashes are classified in SQL (scheme and cost only)", fields={
        "table": Field("str", "table of the application's accounts, schema-qualified if needed (app.users)"),
        "column": Field("str", "column holding each account's password hash"),
    }),
}


def address(target: Target) -> tuple[str, int] | None:
    return libpq_address(str(target.spec["dsn"]), 5432)


def libpq_address(dsn: str, default_port: int) -> tuple[str, int] | None:
    """The TCP host and port a libpq DSN reaches (``default_port`` when it names none); None for a
    Unix socket directory or a list of hosts, which the reachability probe cannot try as one."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or params.get("hostaddr") or "")
    if not host or host.startswith("/") or "," in host:
        return None
    return host, int(params.get("port") or default_port)


def libpq_session(handle: SqlTarget) -> Any:
    """The handle's one psycopg connection, opened through ``handle.connect()`` on first use or
    after it closed (postgres and pgbouncer).  Not locked here: the caller holds ``handle._lock``
    (pgbouncer's query keeps it across the whole exchange, so taking it again would deadlock).
    A refused login marks the target unusable, any other failure to connect unreachable."""
    import psycopg

    if handle._conn is None or handle._conn.closed:
        with handle.reach.guard(handle.target, unreachable=(psycopg.OperationalError,), unusable=(_AuthRefused,)):
            try:
                handle._conn = handle.connect()
            except psycopg.OperationalError as exc:
                if _auth_failure(str(exc)):
                    raise _AuthRefused(first_line(exc)) from None
                raise
    return handle._conn


#: libpq's sslmode values.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _dsn_parameters(dsn: str) -> str | None:
    """What libpq would refuse in the DSN, said now (file and line) instead of at connect time."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except Exception as exc:  # noqa: BLE001 - libpq's parser says what is wrong
        return f"not a libpq connection string ({first_line(exc)}); write postgresql://user@host:port/db or host=... dbname=..."
    mode = params.get("sslmode")
    if mode is not None and str(mode) not in SSL_MODES:
        return f"sslmode={mode} is not one libpq knows; use one of {', '.join(SSL_MODES)}"
    port = params.get("port")
    if port is not None and not all(p.isdigit() and 0 < int(p) < 65536 for p in str(port).split(",")):
        return f"port {port} is out of range 1-65535"
    return None


KIND = TargetKind(
    name="postgres", fixture="postgres", handle=PostgresTarget, fields=FIELDS, address=address,
    validate=chain(validate_dsn("dsn"), connection_rules("dsn", ("postgresql", "postgres"), query=_dsn_parameters)),
    summary="""A ``postgres`` target: ``postgres.query(sql)`` runs in a read-only session with connect
    and statement timeouts; one connection per target for the whole run.""",
)
