"""The ``http`` kind: a web application or API, reached with read-only requests.

``HttpTarget`` (fixture ``http_endpoint``) sends GET, HEAD, OPTIONS and TRACE with the target's
timeout and CA bundle; ``login`` is the one POST a check may send, with the inventory's test
account, and ``sign_in`` does it once per run.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.cookiejar
import os
import socket
import ssl
import threading
import urllib.parse
from typing import Any, NamedTuple

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.reach import Reachability, first_line, ssl_reason


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


FIELDS: dict[str, Field] = {
    "url": Field("url", "base URL, https:// in production", required=True),
    "http_url": Field("url", "plain-HTTP URL that must redirect to HTTPS (default: url with http://)"),
    "paths": Field("map[str]", "named paths: health, ready, live, metrics, ..."),
    "ca_bundle": Field("path", "CA bundle to verify the certificate (default: system store)", must_exist=True),
    "server_name": Field("str", "host name the certificate must match (default: the URL's host)"),
    "auth": Field("record", "login and protected paths for authentication checks", fields={
        "login_path": Field("str", "POST {username, password} here to obtain a token"),
        "username": Field("str", "test account (use ${VAR})"),
        "password": Field("str", "test account password (use ${VAR})"),
        "token_field": Field("str", "JSON field of the login response holding the token (default access_token)"),
        "protected_paths": Field("list[str]", "paths that must refuse anonymous requests"),
    }),
    "admin_paths": Field("list[str]", "admin paths that must refuse anonymous requests"),
    "rate_limited_path": Field("str", "a path that must answer 429 under a burst (active probe)"),
    "websocket_path": Field("str", "a WebSocket endpoint"),
    "cors_allowed_origins": Field("list[str]", "origins CORS may allow"),
}


def address(target: Target) -> tuple[str, int] | None:
    return url_address(str(target.spec["url"]), {"https": 443, "http": 80})


def url_address(url: str, defaults: dict[str, int]) -> tuple[str, int] | None:
    """(host, port) of a URL, the scheme's default port when none is given; None without a host."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or defaults.get(parts.scheme, 0)


KIND = TargetKind(
    name="http", fixture="http_endpoint", handle=HttpTarget, fields=FIELDS, address=address,
    summary="""An ``http`` target of the inventory: ``http_endpoint.get("/health")`` sends a read-only
    request with the target's timeout and CA bundle.  Parametrized over every http target.""",
)
