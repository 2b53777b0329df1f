"""The ``http`` kind: a web application or API, reached with read-only requests.

``HttpTarget`` (fixture ``http_endpoint``) sends GET, HEAD, OPTIONS and TRACE with the target's
timeout and CA bundle; ``login`` is the one POST a check may send, with an inventory login (the
test account, or the optional low-privilege one), and ``sign_in`` does it once per run.  An
active probe (logout, refresh rotation, a cross-site form post) may also ``probe_post``.

Every exchange is bounded (``http_transport``): one deadline, the target's timeout, covers
connect, headers and body, and a body is read up to ``http_body_max_bytes`` (1 MiB).  When the
certificate is the only problem, requests without credentials are answered over a connection
that does not verify it (the evidence says so, and the TLS checks report the certificate);
requests with credentials are not sent, and end as blocked by the certificate.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar

from pytest_deploycheck.outcomes import TargetError, note_blocked, note_transport
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.reach import Reachability, first_line, ssl_reason
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode


class ProbeCheck(Protocol):
    """What ``probe_post`` needs of the running check (``CheckMeta`` has it)."""

    @property
    def id(self) -> str: ...

    @property
    def active_probe(self) -> bool: ...


T = TypeVar("T")

#: Inventory logins a check may sign in with: account -> where its keys are under ``auth``.
ACCOUNTS = {"test": "auth", "low_privilege": "auth.low_privilege"}


class HttpTarget(TargetHandle):
    """An ``http`` target: read-only requests with the target's timeout and CA bundle."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
    #: Backstop for a run: POSTs active probes may send to one target (each probe bounds its own).
    PROBE_POST_LIMIT = 24

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._session: Any = None
        self._lock = threading.Lock()
        # (account, path) -> the login response, or the message of why it failed
        self._sign_in: dict[tuple[str, str], Any] = {}
        self._sign_in_lock = threading.Lock()
        self._probe_posts = 0
        self._certificate_problem: str | None = None  # why verification failed, once seen: later requests do not retry it

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

            not_applicable(f"{self.target.name}: no '{name}' path in the inventory (http.{self.target.name}.paths.{name})", unexamined=True)
        return str(paths[name])

    @property
    def body_limit(self) -> int:
        """Most bytes of a response body read (threshold ``http_body_max_bytes``)."""
        return int(self.target.threshold("http_body_max_bytes"))

    @property
    def session(self) -> Any:
        from pytest_deploycheck.targets import http_transport

        with self._lock:
            if self._session is None:
                session = http_transport.bounded_session(user_agent="pytest-deploycheck", verify=self.verify)
                # Every request is anonymous: cookies a response sets (a login's session cookie)
                # are read from the response, never stored and sent by a later check.
                import http.cookiejar  # here, not at import: it pulls in urllib.request (a run without http targets never needs it)

                session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
                self._session = session
            return self._session

    def request(self, method: str, path: str = "/", *, allow_redirects: bool = False, **kwargs: Any) -> Any:
        """Send one request; only GET, HEAD, OPTIONS and TRACE (checks never write).

        Bounded: one deadline (the timeout) for connect, headers and body; the body read up to
        ``body_limit`` bytes (``response.deploycheck_truncated`` says it was cut).  A reset, an
        answer that is not HTTP or a missed deadline marks the target unusable for the run.
        """
        method = method.upper()
        if method not in self.SAFE_METHODS:
            raise ValueError(f"{method} is not a read-only method; use login() for the one POST a check may send")
        return self._exchange(method, path, allow_redirects=allow_redirects, may_skip_verify=True, **kwargs)

    def _exchange(self, method: str, path: str, *, allow_redirects: bool, may_skip_verify: bool, **kwargs: Any) -> Any:
        import requests

        from pytest_deploycheck.targets import http_transport

        kwargs.setdefault("timeout", self.timeout)
        # Per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify.
        kwargs.setdefault("verify", self.verify)
        url = self.url_for(path)
        with self.reach.guard(self.target, unreachable=(requests.ConnectionError, requests.Timeout)):
            if self._certificate_problem is not None and kwargs["verify"] is not False and url.startswith("https://"):
                return self._unverified(method, url, allow_redirects, may_skip_verify, kwargs)
            try:
                return http_transport.request(self.session, method, url, deadline=self.timeout, body_limit=self.body_limit,
                                              allow_redirects=allow_redirects, **kwargs)
            except requests.exceptions.SSLError as exc:
                if not certificate_failure(exc):  # not TLS, or a handshake that broke: nothing can be read here
                    raise requests.ConnectionError(f"TLS handshake failed: {ssl_reason(exc)}") from None
                self._certificate_problem = ssl_reason(exc)
                return self._unverified(method, url, allow_redirects, may_skip_verify, kwargs)

    def _unverified(self, method: str, url: str, allow_redirects: bool, may_skip_verify: bool, kwargs: dict[str, Any]) -> Any:
        """The certificate cannot be verified: the TLS checks report that.  What the server sends
        is still judged, as testssl.sh does, over a connection that does not verify, unless the
        request carries credentials (a login, a token, a cookie): those are never sent there."""
        import urllib3

        from pytest_deploycheck.targets import http_transport

        reason = self._certificate_problem or "certificate not verified"
        if not may_skip_verify or carries_credentials(kwargs):
            note_blocked(self.target.name, "certificate", f"certificate not verified ({reason})")
            raise TargetError(f"{self.label}: not sent: the certificate cannot be verified ({reason}) and the request carries "
                              "credentials, which are never sent over an unverified connection; see the tls checks")
        note_transport(f"answer read over a connection that does not verify the certificate ({reason}); "
                       "the tls checks report the certificate")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return http_transport.request(self.session, method, url, deadline=self.timeout, body_limit=self.body_limit,
                                          allow_redirects=allow_redirects, **{**kwargs, "verify": False})

    def fetch_elsewhere(self, url: str, method: str = "GET") -> Any:
        """One bounded request to another address of the same service (its plain-HTTP port),
        outside the dead-target rule: a failure there says nothing about the target, and
        reaches the caller as requests' exception (``http_transport.ProtocolGarbage`` for an
        answer that is not HTTP, ``DeadlineExceeded`` for a missed deadline)."""
        from pytest_deploycheck.targets import http_transport

        method = method.upper()
        if method not in self.SAFE_METHODS:
            raise ValueError(f"{method} is not a read-only method")
        return http_transport.request(self.session, method, url, deadline=self.timeout, body_limit=self.body_limit,
                                      timeout=self.timeout, verify=self.verify)

    def get(self, path: str = "/", **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def page(self, path: str = "/", headers: Mapping[str, str] | None = None) -> Any:
        """``GET path`` once per run, the answer shared by every check that judges what the page
        itself says (its headers, its policies), as a browser loading it once would see it.  Each
        check's evidence still says how the answer was read (an unverified connection, a body cut
        at the cap).  ``headers``: a request of its own, kept under them (a forged Host), so that
        it too can be read ahead.  Probes that must send their own request each time (a burst, a
        login) use ``get``."""
        from pytest_deploycheck.targets import http_transport

        extra = dict(headers or {})
        response, fresh = self.shared(("page", path, *sorted(extra.items())),
                                      lambda: self.get(path, headers=extra) if extra else self.get(path), path)
        if not fresh and getattr(response, "deploycheck_truncated", False):
            note_transport(http_transport.truncation_note(response, self.body_limit))
        return response

    def shared(self, key: Any, read: Callable[[], T], path: str = "/") -> tuple[T, bool]:
        """``read()`` once per run under ``key`` (``remember``), and whether this call read it.  An
        answer read earlier (by another check, or ahead) leaves in this check's evidence the note its
        own request would have left: a connection that did not verify the certificate.  A failure is
        not kept: the next check asks again (the dead-target rule applies)."""
        fresh: list[bool] = []

        def once() -> T:
            fresh.append(True)
            return read()

        answer = self.remember(key, once)
        if not fresh:
            self.reach.raise_if_failed(self.target)
            if self._certificate_problem is not None and self.url_for(path).startswith("https://"):
                note_transport(f"answer read over a connection that does not verify the certificate ({self._certificate_problem}); "
                               "the tls checks report the certificate")
        return answer, bool(fresh)

    def head(self, path: str = "/", **kwargs: Any) -> Any:
        return self.request("HEAD", path, **kwargs)

    def options(self, path: str = "/", **kwargs: Any) -> Any:
        return self.request("OPTIONS", path, **kwargs)

    def login(self, path: str, payload: dict[str, Any], **kwargs: Any) -> Any:
        """The one POST a check may send: a login with the inventory's credentials."""
        return self._post(path, json=payload, **kwargs)

    def _post(self, path: str, **kwargs: Any) -> Any:
        # A POST carries a login or a token: never over a connection that does not verify.
        return self._exchange("POST", path, allow_redirects=False, may_skip_verify=False, **kwargs)

    def probe_post(self, check: ProbeCheck, path: str, *, json: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        """One POST for an active probe (a logout, a refresh, a cross-site form post); refused
        unless ``check`` (the ``check`` fixture) is an ``@pytest.mark.active_probe`` and the
        target allows active probes, and after ``PROBE_POST_LIMIT`` of them on this target.
        The probe says in its evidence what it sent::

            response = http_endpoint.probe_post(check, "/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
        """
        if not check.active_probe or not self.target.active_probes:
            raise ValueError(f"{check.id}: probe_post is for active probes on targets that allow them; "
                             "mark the check @pytest.mark.active_probe")
        with self._lock:
            if self._probe_posts >= self.PROBE_POST_LIMIT:
                raise TargetError(f"{self.label}: {check.id} not sent: {self.PROBE_POST_LIMIT} probe POSTs already sent "
                                  "to this target in this run (the run's limit)")
            self._probe_posts += 1
        return self._post(path, json=json, headers=dict(headers or {}))

    def credentials(self, account: str = "test", *, login_path: bool = False) -> dict[str, str]:
        """``{"username", "password"}`` of an inventory login: ``test`` (``auth.username``,
        ``auth.password``) or ``low_privilege`` (``auth.low_privilege.username``/``password``);
        not applicable, naming the missing keys, when the inventory has none (or, with
        ``login_path``, no ``auth.login_path`` to send them to)."""
        from pytest_deploycheck.outcomes import not_applicable

        if account not in ACCOUNTS:
            raise ValueError(f"unknown account {account!r}; one of {', '.join(ACCOUNTS)}")
        auth = self.target.get("auth") or {}
        source = auth if account == "test" else auth.get("low_privilege") or {}
        missing = ["auth.login_path"] if login_path and not auth.get("login_path") else []
        missing += [f"{ACCOUNTS[account]}.{key}" for key in ("username", "password") if not source.get(key)]
        if missing:
            what = "test login" if account == "test" else "low-privilege login"
            not_applicable(f"{self.target.name}: no {what} in the inventory (http.{self.target.name}.{', '.join(missing)})", unexamined=True)
        return {"username": str(source["username"]), "password": str(source["password"])}

    def sign_in(self, account: str = "test", *, path: str | None = None) -> Any:
        """Log in with an inventory login (``account``: ``test`` or ``low_privilege``, see
        ``credentials``) at ``path`` (default ``auth.login_path``), once per run, and return
        the response.

        Every later call returns the same response, or ends the same way (error for a refused
        login, not applicable without the login in the inventory), without sending anything:
        repeated logins could lock the account.  The response holds a live token; never put it
        in a message::

            token = http_endpoint.sign_in().json()["access_token"]
        """
        credentials = self.credentials(account, login_path=path is None)
        path = path or str((self.target.get("auth") or {})["login_path"])
        key = (account, path)
        with self._sign_in_lock:
            if key not in self._sign_in:
                response = self.login(path, credentials)
                if 200 <= response.status_code < 300:
                    self._sign_in[key] = response
                else:
                    who = "the inventory's test account" if account == "test" else "the inventory's low-privilege account"
                    keys = ACCOUNTS[account]
                    self._sign_in[key] = (f"{self.label}: login at {path} as {who} answered "
                                          f"HTTP {response.status_code}; check {keys}.username and {keys}.password")
        outcome = self._sign_in[key]
        if isinstance(outcome, str):
            raise TargetError(outcome)
        return outcome

    def alpn(self, offered: tuple[str, ...] = ("h2", "http/1.1")) -> str | None:
        """The application protocol the server picks from ``offered`` in a TLS handshake (ALPN),
        None when it picks none; once per run.  Nothing is sent after the handshake, and the
        certificate is not judged here (the tls checks do), as a browser's first handshake would
        reach the same choice."""

        def read() -> str | None:
            url = urllib.parse.urlsplit(self.url)
            host, port = url.hostname or "", url.port or 443
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.set_alpn_protocols(list(offered))
            sni = str(self.target.get("server_name") or host)
            with (self.reach.guard(self.target, unreachable=(socket.timeout,)),
                  socket.create_connection((host, port), timeout=self.timeout) as raw,
                  context.wrap_socket(raw, server_hostname=sni) as tls):
                return tls.selected_alpn_protocol()

        return self.remember(("alpn", offered), read)

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
        deadline = time.monotonic() + self.timeout  # one deadline for the whole handshake, as for every exchange
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
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no complete handshake answer within {self.timeout:g}s")
                    sock.settimeout(left)
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
        "protected_paths": Field("list[str]", "paths that must refuse anonymous requests and serve the test login (2xx)"),
        "low_privilege": Field("record", "a second test account without admin rights: refused every admin path", fields={
            "username": Field("str", "low-privilege account (use ${VAR})"),
            "password": Field("str", "low-privilege account password (use ${VAR})"),
        }),
        "other_user_path": Field("str", "a path to an object of a user neither test login owns, e.g. /api/users/3: must be refused"),
        "signing_algorithm": Field("str", "the JWT alg the app must sign with, e.g. RS256 (pinned: any other fails)"),
        "refresh_path": Field("str", "POST {<refresh_field>: token} here for a new token pair (rotation probe)"),
        "refresh_field": Field("str", "JSON field of the login response and refresh request holding the refresh token (default refresh_token)"),
        "logout_path": Field("str", "POST here with the token to log out (revocation probe)"),
    }),
    "admin_paths": Field("list[str]", "admin paths that must refuse anonymous requests and the low-privilege login"),
    "session": Field("record", "a cookie session: the login that starts it and where it reports its timeouts", fields={
        "login_path": Field("str", "POST {username, password} (the test login) here to start a cookie session"),
        "cookie": Field("str", "name of the session cookie that login sets"),
        "info_path": Field("str", "GET with the session cookie: JSON reporting the session's idle timeout in seconds"),
        "idle_timeout_field": Field("str", "JSON field of info_path holding the idle timeout, dotted for nesting (default idle_timeout_s)"),
    }),
    "csrf": Field("record", "a state-changing form or endpoint the CSRF probe posts to (active probe)", fields={
        "path": Field("str", "POST here, logged in, once with the app's own Origin and once with a foreign one"),
        "body": Field("map[str]", "JSON body both posts send (harmless values: the same-origin post must succeed)"),
    }),
    "openapi_path": Field("str", "the app's OpenAPI (or Swagger 2) document, JSON or YAML: its GET operations are smoke-tested"),
    "rate_limited_path": Field("str", "a path that must answer 429 under a burst (active probe)"),
    "websocket_path": Field("str", "a WebSocket endpoint"),
    "indexable": Field("bool", "whether search engines may index the site (default true; false for staging, preview and admin sites)"),
    "cors_allowed_origins": Field("list[str]", "origins CORS may allow"),
    "required_metrics": Field("list[str]", "metric names, or regular expressions matching whole names, that paths.metrics must expose"),
}


def address(target: Target) -> tuple[str, int] | None:
    return url_address(str(target.spec["url"]), {"https": 443, "http": 80})


def certificate_failure(exc: BaseException) -> bool:
    """Whether a TLS error is the certificate not verifying (expired, untrusted, wrong name),
    as opposed to no TLS at all or a handshake that broke off."""
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower() or "hostname mismatch" in text.lower()


def carries_credentials(kwargs: Mapping[str, Any]) -> bool:
    headers = {str(k).lower() for k in (kwargs.get("headers") or {})}
    return bool(kwargs.get("auth") or kwargs.get("cookies") or kwargs.get("json") or kwargs.get("data")
                or headers & {"authorization", "cookie", "proxy-authorization", "x-api-key"})


def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    """An http target is reached over http:// or https:// only, at a URL that names a host."""
    for key in ("url", "http_url"):
        value = spec.get(key)
        if value is None:
            continue
        scheme = str(value).split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            ld.problem(raw[key].line, f"{keypath}.{key}", f"an http target is reached over http:// or https://, not {scheme}://; "
                                                          "fix the URL (a database or cache is its own kind)")
        elif not urllib.parse.urlsplit(str(value)).hostname:
            ld.problem(raw[key].line, f"{keypath}.{key}", "the URL names no host; write https://host[:port]/")
        elif re.search(r"[\s]", str(value)):
            ld.problem(raw[key].line, f"{keypath}.{key}", "the URL holds white space; percent-encode it")


def url_address(url: str, defaults: dict[str, int]) -> tuple[str, int] | None:
    """(host, port) of a URL, the scheme's default port when none is given; None without a host."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or defaults.get(parts.scheme, 0)


KIND = TargetKind(
    name="http", fixture="http_endpoint", handle=HttpTarget, fields=FIELDS, address=address, validate=validate,
    summary="""An ``http`` target of the inventory: ``http_endpoint.get("/health")`` sends a read-only
    request with the target's timeout and CA bundle.  Parametrized over every http target.""",
)
