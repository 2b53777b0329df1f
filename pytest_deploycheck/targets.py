"""What a check holds when it asks for a target, and the rule that a dead target costs one timeout.

``Reachability`` remembers the first failure to reach each target for the whole run (shared by
xdist workers through a state directory); every later check on that target ends at once as an
*error* citing it.  The handles (``HttpTarget``, ``PostgresTarget``, ...) are the only way checks
talk to targets: each operation carries the target's timeout, runs under ``guard`` and only reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pytest_deploycheck.inventory import Target, host_port
from pytest_deploycheck.outcomes import NotApplicable, TargetError, TargetUnreachable

#: fixture name -> inventory kinds it is parametrized over.
TARGET_FIXTURES: dict[str, tuple[str, ...]] = {
    "host": ("hosts",),
    "http_endpoint": ("http",),
    "tls_endpoint": ("tls", "http"),  # http targets with an https:// URL count as TLS endpoints
    "postgres": ("postgres",),
    "mysql": ("mysql",),
    "redis": ("redis",),
    "files": ("files",),
}


def applies(fixture: str, target: Target) -> bool:
    if fixture == "tls_endpoint" and target.kind == "http":
        return str(target.spec["url"]).startswith("https://")
    return True


class Reachability:
    """First connection failure per target, for the run.

    In a serial run the memory is this object; under xdist the controller hands every worker the
    same ``state_dir`` and a failure is also written there, so a target found dead by one worker
    costs the others nothing.
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = state_dir
        self._failures: dict[str, str] = {}
        self._checked: set[str] = set()
        self._lock = threading.Lock()
        self.connect_attempts: dict[str, int] = {}

    @staticmethod
    def _key(target: Target) -> str:
        return f"{target.kind}.{target.name}"

    def _file(self, target: Target) -> Path | None:
        if self.state_dir is None:
            return None
        return self.state_dir / (hashlib.sha256(self._key(target).encode()).hexdigest()[:24] + ".json")

    def failure(self, target: Target) -> str | None:
        key = self._key(target)
        if key in self._failures:
            return self._failures[key]
        path = self._file(target)
        if path is not None and path.exists():
            with contextlib.suppress(OSError, ValueError):
                message = str(json.loads(path.read_text())["message"])
                self._failures[key] = message
                return message
        return None

    def mark(self, target: Target, message: str) -> None:
        key = self._key(target)
        with self._lock:
            self._failures.setdefault(key, message)
        path = self._file(target)
        if path is not None and not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with contextlib.suppress(OSError):
                tmp.write_text(json.dumps({"message": message}))
                os.replace(tmp, path)

    def raise_if_failed(self, target: Target) -> None:
        message = self.failure(target)
        if message is not None:
            raise TargetUnreachable(f"{target.label}: not checked, target unusable since an earlier check: {message}")

    def preflight(self, target: Target) -> None:
        """Once per target and process: a TCP connect within the target's timeout."""
        self.raise_if_failed(target)
        key = self._key(target)
        if key in self._checked:
            return
        address = host_port(target)
        if address is None:
            self._checked.add(key)
            return
        host, port = address
        self.connect_attempts[key] = self.connect_attempts.get(key, 0) + 1
        try:
            with socket.create_connection((host, port), timeout=target.timeout):
                pass
        except OSError as exc:
            message = f"cannot connect to {host}:{port}: {describe_oserror(exc, target.timeout)}"
            self.mark(target, message)
            raise TargetUnreachable(f"{target.label}: {message}") from None
        self._checked.add(key)

    @contextlib.contextmanager
    def guard(self, target: Target, unreachable: tuple[type[BaseException], ...] = (), unusable: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
        """Turn connection failures into ``TargetUnreachable`` and remember them.

        ``unreachable`` adds a client library's connection/timeout errors to ``OSError``;
        ``unusable`` lists errors (refused authentication) after which no further check should
        try again: repeated failed logins can lock an account or trip fail2ban.
        """
        self.raise_if_failed(target)
        try:
            yield
        except (TargetError, NotApplicable):
            raise
        except unusable as exc:
            message = f"authentication refused: {first_line(exc)}"
            self.mark(target, message)
            raise TargetError(f"{target.label}: {message}") from None
        except (OSError, *unreachable) as exc:
            message = describe_oserror(exc, target.timeout) if isinstance(exc, OSError) else first_line(exc)
            self.mark(target, message)
            raise TargetUnreachable(f"{target.label}: {message}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def describe_oserror(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return first_line(exc)


# --------------------------------------------------------------------------- handles


class TargetHandle:
    """Base of every handle: the inventory record plus the run's reachability memory."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        self.target = target
        self.reach = reach

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def label(self) -> str:
        return self.target.label

    @property
    def timeout(self) -> float:
        return self.target.timeout

    def threshold(self, name: str) -> Any:
        return self.target.threshold(name)

    def setting(self, key: str, default: Any = None) -> Any:
        """An inventory key of this target (``http_endpoint.setting("auth")``)."""
        return self.target.get(key, default)

    def close(self) -> None:
        """Release connections; called once at the end of the run."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.target.label}>"

    __str__ = lambda self: self.label  # noqa: E731 - messages print the label


class HttpTarget(TargetHandle):
    """An ``http`` target: read-only requests with the target's timeout and CA bundle."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return str(self.target.spec["url"]).rstrip("/")

    @property
    def verify(self) -> str | bool:
        return str(self.target.get("ca_bundle")) if self.target.get("ca_bundle") else True

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.url + "/" + path.lstrip("/")

    def path(self, name: str) -> str:
        """The inventory's named path (``paths: {health: /health}``) or not applicable."""
        paths = self.target.get("paths") or {}
        if name not in paths:
            from pytest_deploycheck.outcomes import not_applicable

            not_applicable(f"{self.target.name}: no '{name}' path in the inventory (http.{self.target.name}.paths.{name})")
        return str(paths[name])

    @property
    def session(self) -> Any:
        import requests

        with self._lock:
            if self._session is None:
                session = requests.Session()
                session.headers["User-Agent"] = "pytest-deploycheck"
                session.verify = self.verify
                self._session = session
            return self._session

    def request(self, method: str, path: str = "/", *, allow_redirects: bool = False, **kwargs: Any) -> Any:
        """Send one request; only GET, HEAD, OPTIONS and TRACE (checks never write)."""
        import requests

        method = method.upper()
        if method not in self.SAFE_METHODS:
            raise ValueError(f"{method} is not a read-only method; use login() for the one POST a check may send")
        kwargs.setdefault("timeout", self.timeout)
        with self.reach.guard(self.target, unreachable=(requests.ConnectionError, requests.Timeout)):
            try:
                return self.session.request(method, self.url_for(path), allow_redirects=allow_redirects, **kwargs)
            except requests.exceptions.SSLError as exc:
                # A certificate problem is the TLS checks' finding, not a dead target.
                raise TargetError(f"{self.label}: TLS verification failed ({first_line(exc)}); see the tls checks") from None

    def get(self, path: str = "/", **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def head(self, path: str = "/", **kwargs: Any) -> Any:
        return self.request("HEAD", path, **kwargs)

    def options(self, path: str = "/", **kwargs: Any) -> Any:
        return self.request("OPTIONS", path, **kwargs)

    def login(self, path: str, payload: dict[str, Any], **kwargs: Any) -> Any:
        """The one POST a check may send: a login with the inventory's test credentials."""
        import requests

        kwargs.setdefault("timeout", self.timeout)
        with self.reach.guard(self.target, unreachable=(requests.ConnectionError, requests.Timeout)):
            return self.session.post(self.url_for(path), json=payload, allow_redirects=False, **kwargs)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class TlsTarget(TargetHandle):
    """A TLS endpoint: a ``tls`` target, or an ``http`` target with an https:// URL."""

    @property
    def host(self) -> str:
        return self._address()[0]

    @property
    def port(self) -> int:
        return self._address()[1]

    def _address(self) -> tuple[str, int]:
        address = host_port(self.target)
        assert address is not None
        return address

    @property
    def server_name(self) -> str:
        return str(self.target.get("server_name") or self.host)

    @property
    def ca_bundle(self) -> str | None:
        value = self.target.get("ca_bundle")
        return str(value) if value else None

    def handshake(self, context: ssl.SSLContext, *, server_name: str | None = None) -> ssl.SSLSocket:
        """Open a TCP connection and complete a TLS handshake with ``context``.

        Socket failures mark the target unreachable; ``ssl.SSLError`` and certificate
        verification errors propagate, since they are what TLS checks examine.
        """
        with self.reach.guard(self.target, unreachable=(socket.timeout,)):
            raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            tls = context.wrap_socket(raw, server_hostname=server_name or self.server_name)
        except BaseException:
            raw.close()
            raise
        return tls


class PostgresTarget(TargetHandle):
    """A PostgreSQL target: one read-only connection per run, with connect and statement timeouts."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._conn: Any = None
        self._lock = threading.Lock()

    def connect(self, **overrides: Any) -> Any:
        """A new connection (the caller closes it). ``overrides`` change DSN parameters
        (e.g. ``sslmode="disable"`` to prove the server refuses plain connections)."""
        import psycopg

        params: dict[str, Any] = {
            "connect_timeout": max(1, int(round(self.timeout))),
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
        """Rows as dicts.  Runs in a read-only transaction: a write raises."""
        import psycopg
        from psycopg.rows import dict_row

        with self._lock:
            conn = self.conn
        with self.reach.guard(self.target, unreachable=(psycopg.OperationalError,)), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def value(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()


class MysqlTarget(TargetHandle):
    """A MySQL/MariaDB target through PyMySQL: one read-only session per run."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._conn: Any = None
        self._lock = threading.Lock()

    def connect_args(self, **overrides: Any) -> dict[str, Any]:
        parts = urllib.parse.urlsplit(str(self.target.spec["dsn"]))
        args: dict[str, Any] = {
            "host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
            "user": urllib.parse.unquote(parts.username or ""),
            "password": self.target.get("password") or "",
            "database": parts.path.lstrip("/") or None,
            "connect_timeout": self.timeout, "read_timeout": self.timeout, "write_timeout": self.timeout,
            "autocommit": True,
        }
        if self.target.get("ca_bundle"):
            args["ssl"] = {"ca": str(self.target.get("ca_bundle"))}
        args.update(overrides)
        return args

    def connect(self, **overrides: Any) -> Any:
        import pymysql

        conn = pymysql.connect(**self.connect_args(**overrides))
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
        return conn

    @property
    def conn(self) -> Any:
        import pymysql

        if self._conn is None:
            with self.reach.guard(self.target, unreachable=(pymysql.err.OperationalError,), unusable=(_AuthRefused,)):
                try:
                    self._conn = self.connect()
                except pymysql.err.OperationalError as exc:
                    if exc.args and exc.args[0] in (1044, 1045, 1698):
                        raise _AuthRefused(str(exc.args[1] if len(exc.args) > 1 else exc)) from None
                    raise
        return self._conn

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        import pymysql

        with self._lock:
            conn = self.conn
            with self.reach.guard(self.target, unreachable=(pymysql.err.OperationalError,)), conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())

    def value(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()


class RedisTarget(TargetHandle):
    """A Redis target through redis-py, with socket and connect timeouts."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._client: Any = None

    def client(self, **overrides: Any) -> Any:
        import redis

        if self._client is None or overrides:
            kwargs: dict[str, Any] = {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout, "decode_responses": True}
            if self.target.get("username"):
                kwargs["username"] = self.target.get("username")
            if self.target.get("password") is not None:
                kwargs["password"] = self.target.get("password")
            if self.target.get("ca_bundle"):
                kwargs["ssl_ca_certs"] = str(self.target.get("ca_bundle"))
            kwargs.update(overrides)
            client = redis.Redis.from_url(str(self.target.spec["url"]), **kwargs)
            if overrides:
                return client
            self._client = client
        return self._client

    def command(self, *args: Any) -> Any:
        """Run one (read-only) command, e.g. ``command("CONFIG", "GET", "maxmemory")``."""
        import redis

        with self.reach.guard(self.target, unreachable=(redis.ConnectionError, redis.TimeoutError), unusable=(redis.AuthenticationError,)):
            return self.client().execute_command(*args)

    @property
    def role(self) -> str:
        return str(self.target.get("role") or "cache")

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()


class FilesTarget(TargetHandle):
    """A local folder holding the deployed application's source or configuration."""

    @property
    def path(self) -> Path:
        return Path(str(self.target.spec["path"]))

    def find(self, *names: str) -> Path | None:
        """The first of ``names`` (case-insensitive, at the top or under docs/) that exists."""
        wanted = {n.lower() for n in names}
        for folder in (self.path, self.path / "docs", self.path / "doc"):
            if folder.is_dir():
                for entry in sorted(folder.iterdir()):
                    if entry.name.lower() in wanted:
                        return entry
        return None


class _AuthRefused(Exception):
    """Raised inside a guard to mark the target unusable after a refused login."""


def _auth_failure(message: str) -> bool:
    return "password authentication failed" in message or "no password supplied" in message or "authentication failed" in message


HANDLES: dict[str, Callable[[Target, Reachability], TargetHandle]] = {
    "http_endpoint": HttpTarget,
    "tls_endpoint": TlsTarget,
    "postgres": PostgresTarget,
    "mysql": MysqlTarget,
    "redis": RedisTarget,
    "files": FilesTarget,
}


class TargetPool:
    """One handle per (fixture, target) for the run, closed at the end."""

    def __init__(self, reach: Reachability) -> None:
        self.reach = reach
        self._handles: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def handle(self, fixture: str, target: Target, factory: Callable[[Target, Reachability], Any] | None = None) -> Any:
        key = (fixture, target.kind, target.name)
        with self._lock:
            if key not in self._handles:
                self._handles[key] = (factory or HANDLES[fixture])(target, self.reach)
            return self._handles[key]

    def close(self) -> None:
        for handle in self._handles.values():
            with contextlib.suppress(Exception):
                handle.close()
        self._handles.clear()
