"""The ``mysql`` kind: a MySQL or MariaDB server through PyMySQL, read in a read-only session."""

from __future__ import annotations

import ssl
import struct
import urllib.parse
from typing import Any

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetKind
from pytest_deploycheck.targets.http import url_address
from pytest_deploycheck.targets.migrations import MIGRATIONS_FIELD
from pytest_deploycheck.targets.reach import first_line
from pytest_deploycheck.targets.sql import SqlTarget, _AuthRefused, _ConnectionLost, chain, connection_rules, validate_dsn


class MysqlTarget(SqlTarget):
    """A MySQL/MariaDB target through PyMySQL: one read-only session per run."""

    #: ``?ssl-mode=`` values of the DSN, as MySQL's own client names them.
    SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")

    def connect_args(self, **overrides: Any) -> dict[str, Any]:
        """PyMySQL arguments: TLS as the DSN's ``?ssl-mode=`` asks; without it VERIFY_IDENTITY
        when the target has a ``ca_bundle`` and PREFERRED (PyMySQL's default) otherwise."""
        parts = urllib.parse.urlsplit(str(self.target.spec["dsn"]))
        query = {k.lower().replace("_", "-"): v for k, v in urllib.parse.parse_qsl(parts.query)}
        ca_bundle = str(self.target.get("ca_bundle")) if self.target.get("ca_bundle") else None
        mode = (query.get("ssl-mode") or ("VERIFY_IDENTITY" if ca_bundle else "PREFERRED")).upper()
        if mode not in self.SSL_MODES:
            raise TargetError(f"{self.label}: unknown ssl-mode {mode!r} in the DSN; use one of {', '.join(self.SSL_MODES)}")
        args: dict[str, Any] = {
            "host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
            "user": urllib.parse.unquote(parts.username or ""),
            "password": self.target.get("password") or urllib.parse.unquote(parts.password or ""),  # dsn: ${DATABASE_URL} carries it
            "database": parts.path.lstrip("/") or None,
            "connect_timeout": self.timeout, "read_timeout": self.timeout, "write_timeout": self.timeout,
            "autocommit": True,
        }
        if mode == "DISABLED":
            args["ssl_disabled"] = True
        elif mode != "PREFERRED":
            context = ssl.create_default_context(cafile=ca_bundle)
            context.check_hostname = mode == "VERIFY_IDENTITY"
            if mode == "REQUIRED":  # encrypted, unauthenticated: what MySQL's client means by it
                context.verify_mode = ssl.CERT_NONE
            args["ssl"] = context
        args.update(overrides)
        return args

    def connect(self, **overrides: Any) -> Any:
        """A new read-only session with a server-side statement timeout (the caller closes it)."""
        import pymysql

        conn = pymysql.connect(**self.connect_args(**overrides))
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                # MariaDB bounds every statement (seconds); MySQL bounds SELECTs (milliseconds).
                if "mariadb" in conn.get_server_info().lower():
                    cur.execute("SET SESSION max_statement_time = %s", (float(self.timeout),))
                else:
                    cur.execute("SET SESSION max_execution_time = %s", (int(self.timeout * 1000),))
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def conn(self) -> Any:
        import pymysql

        if self._conn is None:
            with self.reach.guard(self.target, unreachable=(pymysql.err.OperationalError, _ConnectionLost), unusable=(_AuthRefused,)):
                try:
                    self._conn = self.connect()
                except pymysql.err.OperationalError as exc:
                    if exc.args and exc.args[0] in (1044, 1045, 1698):
                        raise _AuthRefused(str(exc.args[1] if len(exc.args) > 1 else exc)) from None
                    raise
                except (pymysql.err.InternalError, pymysql.err.InterfaceError, struct.error, IndexError, ValueError) as exc:
                    # The handshake read something that is not MySQL's protocol (garbage, another service).
                    raise _ConnectionLost(f"the answer is not the MySQL protocol ({first_line(exc)})") from None
        return self._conn

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        import pymysql

        with self._lock:  # a PyMySQL connection is not thread-safe
            conn = self.conn
            with self.reach.guard(self.target, unreachable=(_ConnectionLost,)), conn.cursor(pymysql.cursors.DictCursor) as cur:
                try:
                    cur.execute(sql, params)
                except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
                    # Client errors (2000-2999: lost connection, timeout) mean the target is gone;
                    # a server error (1142 SELECT denied, ...) reaches the check with its errno.
                    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
                    if isinstance(exc, pymysql.err.InterfaceError) or 2000 <= code < 3000:
                        raise _ConnectionLost(first_line(exc)) from None
                    raise
                return list(cur.fetchall())



FIELDS: dict[str, Field] = {
    "dsn": Field("url", "mysql://user@host:port/db (a password in it only from the environment: ${DATABASE_URL}); ?ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY", required=True),
    "password": Field("str", "the user's password (use ${VAR})"),
    "ca_bundle": Field("path", "CA bundle to verify the server certificate", must_exist=True),
    "timezone": Field("str", "the time zone the server must run in (default UTC; an IANA name; any: not judged)"),
    "app_user": Field("str", "the application's account as user@host, when the DSN logs in as a separate audit account (default: the DSN's account)"),
    "migrations": MIGRATIONS_FIELD,
    "expect_replica": Field("bool", "the target is a replica: mysql-20 fails when it replicates from no primary (default: mysql-20 checks only replicas)"),
    "password_storage": Field("record", "the application's users table: its password hashes are classified in SQL (scheme and cost only)", fields={
        "table": Field("str", "table of the application's accounts, schema-qualified if needed (app.users)"),
        "column": Field("str", "column holding each account's password hash"),
    }),
}


def address(target: Target) -> tuple[str, int] | None:
    return url_address(str(target.spec["dsn"]), {"mysql": 3306})


def _dsn_parameters(dsn: str) -> str | None:
    """``?ssl-mode=`` must be one MySQL's client knows (SOMETIMES is not)."""
    query = {k.lower().replace("_", "-"): v for k, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(dsn).query)}
    mode = query.get("ssl-mode")
    if mode is not None and mode.upper() not in MysqlTarget.SSL_MODES:
        return f"ssl-mode={mode} is not one MySQL knows; use one of {', '.join(MysqlTarget.SSL_MODES)}"
    return None


KIND = TargetKind(
    name="mysql", fixture="mysql", handle=MysqlTarget, fields=FIELDS, address=address,
    validate=chain(validate_dsn("dsn"), connection_rules("dsn", ("mysql",), url_only=True, query=_dsn_parameters)),
    summary="""A ``mysql`` (MySQL or MariaDB) target: ``mysql.query(sql)`` in a read-only session.""",
)
