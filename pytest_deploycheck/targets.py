"""What a check holds when it asks for a target, and the rule that a dead target costs one timeout.

``Reachability`` remembers the first failure to reach each target for the whole run (shared by
xdist workers through a state directory); every later check on that target ends at once as an
*error* citing it.  The handles (``HttpTarget``, ``PostgresTarget``, ...) are the only way checks
talk to targets: each operation carries the target's timeout, runs under ``guard`` and only reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.cookiejar
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from pytest_deploycheck import tlsprobe
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
        deadline = time.monotonic() + target.timeout
        try:
            addresses = resolve(host, port, target.timeout)
            last: OSError = OSError("no address")
            for family, kind, proto, _, sockaddr in addresses:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out")
                try:
                    with socket.socket(family, kind, proto) as sock:
                        sock.settimeout(remaining)
                        sock.connect(sockaddr)
                    break
                except OSError as exc:
                    last = exc
            else:
                raise last
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
        except (OSError, *unreachable) as exc:  # type: ignore[misc]  # a starred tuple of exception types
            message = describe_oserror(exc, target.timeout) if isinstance(exc, OSError) else first_line(exc)
            self.mark(target, message)
            raise TargetUnreachable(f"{target.label}: {message}") from None


def resolve(host: str, port: int, timeout: float, lookup: Callable[..., list[Any]] = socket.getaddrinfo) -> list[Any]:
    """``getaddrinfo`` within ``timeout``: the system resolver has no timeout of its own, and a
    dead DNS server must cost one target timeout like any other dead peer.  The lookup runs in
    a daemon thread, so one that never returns cannot hold up the end of the run either."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["addresses"] = list(lookup(host, port, 0, socket.SOCK_STREAM))
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"deploycheck-dns-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"name lookup of {host} timed out after {timeout:g}s")
    if "error" in outcome:
        exc = outcome["error"]
        raise OSError(f"name lookup of {host} failed: {getattr(exc, 'strerror', None) or exc}")
    return list(outcome["addresses"])


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def ssl_reason(exc: BaseException) -> str:
    """``certificate has expired`` out of requests' ``HTTPSConnectionPool(...): Max retries ... (Caused by SSLError(...))``."""
    text = str(exc)
    for marker in ("certificate verify failed: ", "] "):
        if marker in text:
            return text.split(marker, 1)[1].split(" (_ssl.c", 1)[0].split("')", 1)[0].strip()
    return first_line(exc)


def describe_oserror(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return str(exc) if str(exc).startswith("name lookup") else f"timed out after {timeout:g}s"
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

    def __str__(self) -> str:
        return self.label  # messages print the label


class HttpTarget(TargetHandle):
    """An ``http`` target: read-only requests with the target's timeout and CA bundle."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._session: Any = None
        self._lock = threading.Lock()
        self._sign_in: Any = None  # the login response, or the message of why it failed
        self._sign_in_lock = threading.Lock()

    @property
    def url(self) -> str:
        return str(self.target.spec["url"]).rstrip("/")

    @property
    def http_url(self) -> str:
        """The plain-HTTP URL that must redirect to HTTPS: ``http_url``, else ``url`` on http:// and port 80."""
        if self.target.get("http_url"):
            return str(self.target.get("http_url")).rstrip("/")
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == "http":
            return self.url
        host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else str(parts.hostname or "")
        return urllib.parse.urlunsplit(("http", host, parts.path, parts.query, "")).rstrip("/")

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
                # Every request is anonymous: cookies a response sets (a login's session cookie)
                # are read from the response, never stored and sent by a later check.
                session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
                self._session = session
            return self._session

    def request(self, method: str, path: str = "/", *, allow_redirects: bool = False, **kwargs: Any) -> Any:
        """Send one request; only GET, HEAD, OPTIONS and TRACE (checks never write)."""
        import requests

        method = method.upper()
        if method not in self.SAFE_METHODS:
            raise ValueError(f"{method} is not a read-only method; use login() for the one POST a check may send")
        kwargs.setdefault("timeout", self.timeout)
        # Per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify.
        kwargs.setdefault("verify", self.verify)
        with self.reach.guard(self.target, unreachable=(requests.ConnectionError, requests.Timeout)):
            try:
                return self.session.request(method, self.url_for(path), allow_redirects=allow_redirects, **kwargs)
            except requests.exceptions.SSLError as exc:
                # A certificate problem is the TLS checks' finding, not a dead target.
                raise TargetError(f"{self.label}: TLS verification failed ({ssl_reason(exc)}); see the tls checks") from None

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
        kwargs.setdefault("verify", self.verify)
        with self.reach.guard(self.target, unreachable=(requests.ConnectionError, requests.Timeout)):
            try:
                return self.session.post(self.url_for(path), json=payload, allow_redirects=False, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise TargetError(f"{self.label}: TLS verification failed ({ssl_reason(exc)}); see the tls checks") from None

    def sign_in(self) -> Any:
        """Log in with the inventory's test account (``auth.login_path``, ``auth.username``,
        ``auth.password``), once per run, and return the response.

        Every later call returns the same response, or ends the same way (error for a refused
        login, not applicable without ``auth``), without sending anything: repeated logins
        could lock the account.  The response holds a live token; never put it in a message::

            token = http_endpoint.sign_in().json()["access_token"]
        """
        from pytest_deploycheck.outcomes import not_applicable

        auth = self.target.get("auth") or {}
        missing = [key for key in ("login_path", "username", "password") if not auth.get(key)]
        if missing:
            not_applicable(f"{self.target.name}: no test login in the inventory "
                           f"(http.{self.target.name}.auth.{', auth.'.join(missing)})")
        with self._sign_in_lock:
            if self._sign_in is None:
                response = self.login(str(auth["login_path"]), {"username": auth["username"], "password": auth["password"]})
                if 200 <= response.status_code < 300:
                    self._sign_in = response
                else:
                    self._sign_in = (f"{self.label}: login at {auth['login_path']} as the inventory's test account answered "
                                     f"HTTP {response.status_code}; check auth.username and auth.password")
        if isinstance(self._sign_in, str):
            raise TargetError(self._sign_in)
        return self._sign_in

    def websocket_handshake(self, path: str) -> WebSocketHandshake:
        """Open ``path`` as a WebSocket (the RFC 6455 opening handshake) and close it at once.

        One GET with ``Upgrade: websocket`` over a new connection (TLS for https://, verified
        with the target's CA bundle), bounded by the timeout; on ``101`` a Close frame follows
        and no message is sent.  ``accept_ok`` says the server answered this handshake's key.
        """
        import base64

        url = urllib.parse.urlsplit(self.url_for(path))
        host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
        netloc = url.netloc.rsplit("@", 1)[-1]
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {url.path or '/'}{'?' + url.query if url.query else ''} HTTP/1.1\r\nHost: {netloc}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   f"Origin: {url.scheme}://{netloc}\r\nUser-Agent: pytest-deploycheck\r\n\r\n")
        head = b""
        with self.reach.guard(self.target, unreachable=(socket.timeout,)):
            sock: socket.socket = socket.create_connection((host, port), timeout=self.timeout)
            try:
                if url.scheme == "https":
                    context = ssl.create_default_context(cafile=self.verify if isinstance(self.verify, str) else None)
                    try:
                        sock = context.wrap_socket(sock, server_hostname=host)
                    except ssl.SSLCertVerificationError as exc:
                        raise TargetError(f"{self.label}: TLS verification failed ({first_line(exc)}); see the tls checks") from None
                sock.sendall(request.encode())
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                status_line, *lines = head.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1").split("\r\n")
                parts = status_line.split(" ", 2)
                status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
                if status == 101:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # Close 1000, masked (with a zero key) as clients must
            finally:
                sock.close()
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if ":" in line)}
        expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        return WebSocketHandshake(status, parts[2] if len(parts) > 2 else "", headers, headers.get("sec-websocket-accept") == expected)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class WebSocketHandshake(NamedTuple):
    """The answer to ``HttpTarget.websocket_handshake``: status (0 if not HTTP), reason, headers
    (lower-case names) and whether ``Sec-WebSocket-Accept`` matched the key sent."""

    status: int
    reason: str
    headers: dict[str, str]
    accept_ok: bool


class TlsTarget(TargetHandle):
    """A TLS endpoint: a ``tls`` target, or an ``http`` target with an https:// URL."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._certificates: list[bytes] | None = None

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

        Socket failures, and a handshake left unanswered for the timeout (a port that does not
        speak TLS), mark the target unreachable; ``ssl.SSLError`` and certificate verification
        errors propagate, since they are what TLS checks examine.
        """
        raw = self._connect()
        try:
            tls = context.wrap_socket(raw, server_hostname=server_name or self.server_name)
        except TimeoutError:
            raw.close()
            self._silent()
        except BaseException:
            raw.close()
            raise
        return tls

    def probe(self, version: int, suites: Iterable[int], *, status_request: bool = False) -> tlsprobe.Answer:
        """Send one raw ClientHello offering ``version`` and ``suites``; return the server's choice
        (``Answer.accepted``, ``.version_name``, ``.cipher_name``) or its refusal.

        Unlike ``handshake`` this asks about protocols and suites the local OpenSSL no longer
        speaks (SSLv3, RC4, EXPORT); see ``tlsprobe``.  An answer that is not TLS raises
        ``TargetError``; silence for the timeout marks the target unreachable.
        """
        hello = tlsprobe.client_hello(version, suites, self.server_name, status_request=status_request)
        raw = self._connect()
        try:
            raw.sendall(hello)
            return tlsprobe.read_answer(raw)
        except TimeoutError:
            self._silent()
        except (ConnectionResetError, BrokenPipeError):
            return tlsprobe.Answer(False, refusal="connection reset")
        except tlsprobe.NotTLS as exc:
            raise TargetError(f"{self.label}: no TLS on {self.host}:{self.port}: {exc}") from None
        finally:
            raw.close()

    def peer_certificates(self) -> list[bytes]:
        """The DER certificates the server presents (leaf first), read once per run by a handshake
        that verifies nothing, so the certificate checks can inspect an expired or untrusted one.

        Python before 3.13 exposes only the leaf; from 3.13 the whole chain sent is returned.
        """
        if self._certificates is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_ciphers("ALL:@SECLEVEL=0")  # a 1024-bit key or legacy-only server must still answer
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # reaching TLS 1.0-only servers is the point
                context.minimum_version = ssl.TLSVersion.TLSv1
            try:
                with self.handshake(context) as tls:
                    chain = getattr(tls, "get_unverified_chain", None)  # Python 3.13+: DER bytes, leaf first
                    certificates = [c for c in (chain() or []) if isinstance(c, bytes)] if chain else []
                    leaf = tls.getpeercert(binary_form=True)
            except ssl.SSLError as exc:
                raise TargetError(f"{self.label}: no TLS handshake on {self.host}:{self.port} ({first_line(exc)})") from None
            if not certificates and leaf:
                certificates = [leaf]
            if not certificates:
                raise TargetError(f"{self.label}: the server presented no certificate")
            self._certificates = certificates
        return self._certificates

    def _connect(self) -> socket.socket:
        with self.reach.guard(self.target, unreachable=(socket.timeout,)):
            return socket.create_connection((self.host, self.port), timeout=self.timeout)

    def _silent(self) -> NoReturn:
        message = f"no TLS answer within {self.timeout:g}s on {self.host}:{self.port} (does this port speak TLS?)"
        self.reach.mark(self.target, message)
        raise TargetUnreachable(f"{self.label}: {message}")


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
            "password": self.target.get("password") or "",
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

    def permitted(self, *args: Any) -> Any:
        """``command(*args)``; a command this login may not run (or the server does not know)
        ends the check as not applicable, naming the ACL permission to grant (``+config|get``)."""
        import redis

        try:
            return self.command(*args)
        except redis.exceptions.NoPermissionError as exc:
            text = str(exc)
            permission = text.split("run the '", 1)[1].split("'", 1)[0] if "run the '" in text else str(args[0]).lower()
            raise NotApplicable(f"{self.label}: user {self.user} may not run {' '.join(map(str, args[:2]))} (ACL permission "
                                f"+{permission}); grant it to the user deploycheck logs in as, or check this by hand") from None
        except redis.exceptions.ResponseError as exc:
            if "unknown command" in str(exc).lower() or "unknown subcommand" in str(exc).lower():
                raise NotApplicable(f"{self.label}: the server does not know {' '.join(map(str, args[:2]))} ({first_line(exc)})") from None
            raise

    def anonymous(self, *args: str) -> str:
        """Send one command on a new connection that presents no credentials; return the reply
        line (``+PONG``, ``-NOAUTH Authentication required.``): whether anyone who reaches the
        server gets in.  TLS (verified with ``ca_bundle``) for rediss:// URLs."""
        address = host_port(self.target)
        if address is None:
            raise TargetError(f"{self.label}: the URL names no host and port")
        payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        reply = b""
        with self.reach.guard(self.target, unreachable=(socket.timeout,)):
            sock: socket.socket = socket.create_connection(address, timeout=self.timeout)
            try:
                if str(self.target.spec["url"]).startswith("rediss://"):
                    ca_bundle = self.target.get("ca_bundle")
                    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
                    sock = context.wrap_socket(sock, server_hostname=address[0])
                sock.sendall(payload)
                while b"\r\n" not in reply and len(reply) < 4096:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            finally:
                sock.close()
        return reply.split(b"\r\n", 1)[0].decode(errors="replace")

    @property
    def user(self) -> str:
        """The ACL user the checks log in as: ``username``, else the URL's, else ``default``."""
        from_url = urllib.parse.urlsplit(str(self.target.spec["url"])).username
        return str(self.target.get("username") or (urllib.parse.unquote(from_url) if from_url else "default"))

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


class _ConnectionLost(Exception):
    """Raised inside a guard when a database connection broke during a query."""


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
