"""Bounded HTTP exchanges: one wall-clock deadline for connect, headers and body, and a body cap.

requests' ``timeout`` bounds each socket operation, not the exchange: a server that drips one
header byte a second, or sends an endless chunked body, keeps every read under the timeout and
holds the run (and its memory) for as long as it likes; urllib3's ``Timeout(total=...)`` does
not bound a header drip either.  Here every exchange runs under a ``Deadline``: the sockets it
opens or reuses are registered with it (through the connection classes of a session's pools),
and when the deadline passes a timer shuts them down, which ends any blocked read at once.  The
body is read in chunks up to a cap (1 MiB by default); the response then holds what was read
and says that it was cut (``response.deploycheck_truncated``), and the running check's evidence
says so too.

Redirects are followed here, not by requests (which reads each redirect's body whole), under
the same deadline; credentials are never sent on to another host.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import socket
import threading
import time
import urllib.parse
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from pytest_deploycheck.outcomes import note_transport

#: Most bytes of a response body read (an answer beyond it is cut, and the evidence says so).
DEFAULT_BODY_LIMIT = 1024 * 1024
#: Redirects followed in one exchange.
MAX_REDIRECTS = 10
_CHUNK = 16 * 1024
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
#: Methods sent again (once) when a kept-alive connection turns out closed (``_one``).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_local = threading.local()


class DeadlineExceeded(requests.Timeout):
    """The exchange did not complete (connect, headers and body) within its deadline."""


class ProtocolGarbage(requests.ConnectionError):
    """The peer answered something that is not HTTP, or broke off in the middle of an answer."""


class Deadline:
    """A wall-clock limit for one exchange: registered sockets are shut down when it passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._previous: Deadline | None = None
        self._seq = -1  # its place in the watchdog's queue (``_Watchdog``)

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not any(s is sock for s in self._sockets):
                self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> Deadline:
        self._previous = getattr(_local, "deadline", None)
        _local.deadline = self
        _WATCHDOG.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _WATCHDOG.remove(self)
        _local.deadline = self._previous


class _Watchdog:
    """One thread that expires every running deadline on time (a ``threading.Timer`` per exchange
    started a thread per request: a tenth of a 500-target run's time)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._live: set[int] = set()
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._wake:
            seq = next(self._seq)
            deadline._seq = seq
            heapq.heappush(self._heap, (time.monotonic() + deadline.seconds, seq, deadline))
            self._live.add(seq)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="deploycheck-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][1] == seq:
                self._wake.notify()  # the earliest deadline now: the thread must wake sooner

    def remove(self, deadline: Deadline) -> None:
        with self._wake:
            self._live.discard(deadline._seq)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._wake.wait(timeout=60.0)
                    if not self._heap:
                        self._thread = None
                        return
                    continue
                when, seq, deadline = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._wake.wait(timeout=wait)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(seq)
            deadline.expire()


_WATCHDOG = _Watchdog()


def _shut(sock: socket.socket) -> None:
    # socket.socket.shutdown on the descriptor (for an SSLSocket too: its own shutdown would drop
    # the TLS object under a reader in another thread); the blocked read returns at once.
    with contextlib.suppress(OSError, ValueError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(sock: Any) -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None and isinstance(sock, socket.socket):
        deadline.watch(sock)


class _Watched:
    """Mixed into urllib3's connection classes: new and reused sockets join the current deadline."""

    sock: Any

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]  # the TCP socket, before any TLS handshake
        _watch(sock)
        return sock  # type: ignore[no-any-return]

    def request(self, *args: Any, **kwargs: Any) -> Any:
        # Whether this exchange goes out on a kept-alive socket an earlier exchange used (see ``_one``).
        _local.reused = self.sock is not None and self.sock is getattr(self, "_used_sock", None)
        try:
            return super().request(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._used_sock = self.sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch(self.sock)  # a kept-alive connection reused for this exchange
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _watched_manager(manager: Any) -> Any:
    if isinstance(getattr(manager, "pool_classes_by_scheme", None), dict):
        manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
    return manager


class BoundedAdapter(HTTPAdapter):
    """requests' adapter whose connections register their sockets with the current deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watched_manager(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        return _watched_manager(super().proxy_manager_for(proxy, **kwargs))


class _Session(requests.Session):
    """requests' session, reading the proxy and CA settings of the environment once per origin:
    requests reads them again for every request (every variable of ``os.environ``, twice), a
    tenth of a check's time on a fleet of web targets.  A run's environment does not change."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], Any] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        parts = urllib.parse.urlsplit(str(url))
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream, verify, cert,
               self.trust_env, tuple(sorted(self.proxies.items())), self.stream, self.verify, self.cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {name: dict(value) if isinstance(value, dict) else value for name, value in settings.items()}


def bounded_session(*, user_agent: str | None = None, verify: str | bool = True) -> requests.Session:
    """A session whose connections obey the exchange's deadline; ``user_agent`` replaces requests'
    own, ``verify`` is the CA bundle (or True/False) its requests verify against."""
    session = _Session()
    if user_agent is not None:
        session.headers["User-Agent"] = user_agent
    session.verify = verify
    adapter = BoundedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def request(session: requests.Session, method: str, url: str, *, deadline: float, body_limit: int = DEFAULT_BODY_LIMIT,
            allow_redirects: bool = False, **kwargs: Any) -> requests.Response:
    """One exchange (redirects included when asked) within ``deadline`` seconds, its body read
    up to ``body_limit`` bytes.  Raises ``DeadlineExceeded`` (a ``requests.Timeout``) when the
    deadline passed, ``ProtocolGarbage`` (a ``requests.ConnectionError``) for an answer that is
    not HTTP, requests' own exceptions otherwise (``SSLError`` for the TLS handshake)."""
    kwargs["stream"] = True
    kwargs.setdefault("timeout", deadline)
    history: list[requests.Response] = []
    with Deadline(deadline) as limit:
        for _ in range(MAX_REDIRECTS + 1):
            response = _one(session, method, url, limit, body_limit, kwargs)
            if not allow_redirects or not response.is_redirect:
                break
            history.append(response)
            target = urllib.parse.urljoin(response.url, response.headers.get("location", ""))
            if urllib.parse.urlsplit(target).netloc != urllib.parse.urlsplit(url).netloc:
                headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() not in _CREDENTIAL_HEADERS}
                kwargs = {**kwargs, "headers": headers, "auth": None}
            if response.status_code == 303 and method.upper() != "HEAD":
                method = "GET"
            url = target
        else:
            raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects from {history[0].url}")
    response.history = history
    return response


def _one(session: requests.Session, method: str, url: str, limit: Deadline, body_limit: int, kwargs: dict[str, Any]) -> requests.Response:
    for attempt in (1, 2):
        _local.reused = False
        try:
            response = session.request(method, url, allow_redirects=False, **kwargs)
            break
        except requests.exceptions.SSLError:
            if limit.expired:
                raise _late(limit) from None
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if limit.expired:
                raise _late(limit) from None
            if isinstance(exc, requests.Timeout):
                raise
            if attempt == 1 and _local.reused and method.upper() in _IDEMPOTENT:
                # The server closed a kept-alive connection as this request went out on it (its
                # idle timeout, uvicorn's and Node's 5 s): no answer was read, and an idempotent
                # request is sent again once on a new connection, as curl, browsers and Go do.
                continue
            raise ProtocolGarbage(describe(exc)) from None
    try:
        _read_body(response, body_limit)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        response.close()
        if limit.expired:
            raise _late(limit) from None
        raise ProtocolGarbage(f"the answer broke off while its body was read: {describe(exc)}") from None
    if limit.expired:
        # The deadline shut the socket: what was parsed up to then (headers cut at EOF, a body
        # delimited by the close) looks complete to http.client, and is not.
        response.close()
        raise _late(limit)
    return response


def _late(limit: Deadline) -> DeadlineExceeded:
    return DeadlineExceeded(f"no complete answer within {limit.seconds:g}s (connect, headers and body together)")


def _read_body(response: requests.Response, body_limit: int) -> None:
    body = bytearray()
    truncated = False
    if response.request.method != "HEAD":
        for chunk in response.iter_content(_CHUNK):
            body += chunk
            if len(body) > body_limit:
                truncated = True
                break
    if truncated:
        del body[body_limit:]
        response.close()  # the rest stays unread: this connection is not reused
        note_transport(truncation_note(response, body_limit))
    if not truncated:
        response.close()  # releases the connection to the pool
    # requests' own cache of the body: .content, .text, .json() and iter_content() read it; a
    # caller that asked for stream=True and reads .raw gets the same bytes.
    response._content = bytes(body)
    response._content_consumed = True  # type: ignore[attr-defined]
    response.raw = _Replay(response._content)
    response.deploycheck_truncated = truncated  # type: ignore[attr-defined]


class _Replay(io.BytesIO):
    """The body already read, in place of urllib3's response for callers that read ``.raw``."""

    def read(self, amt: int | None = -1, decode_content: bool | None = None, **_: Any) -> bytes:
        return super().read(-1 if amt is None else amt)

    def stream(self, amt: int = _CHUNK, decode_content: bool | None = None) -> Any:
        while chunk := self.read(amt):
            yield chunk

    def release_conn(self) -> None:
        pass


def describe(exc: BaseException) -> str:
    """One line for a failed exchange: what the peer did, without urllib3's pool wrapping."""
    text = str(exc)
    lowered = text.lower()
    for needle, said in (("refused", "connection refused"), ("reset by peer", "connection reset by peer"),
                         ("connectionreseterror", "connection reset by peer"),
                         ("remotedisconnected", "closed the connection without an HTTP answer"),
                         ("badstatusline", "answered something that is not HTTP"),
                         ("got more than", "sent a header line or header block over the size limit"),
                         ("linetoolong", "sent a header line over the size limit"),
                         ("too many headers", "sent more than 100 headers"),
                         ("invalidchunklength", "sent a chunked body that is not valid"),
                         ("incompleteread", "closed the connection before the body was complete"),
                         ("protocolerror", "broke the HTTP exchange off")):
        if needle in lowered:
            return said
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def truncation_note(response: Any, body_limit: int) -> str:
    """The evidence line of a body cut at the cap (also replayed for a response a later check shares)."""
    return f"{response.request.method} {response.url}: body cut at {body_limit:,} bytes (the size cap); checks judged the first part only"
