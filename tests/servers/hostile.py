"""Hostile servers: small socket servers on 127.0.0.1 that misbehave in one way each.

The matrix the plugin must survive without hanging, growing memory or printing a traceback:
a black hole (connections never complete), accept-and-silence, a reset on every connection, a
TLS stall after the ClientHello, a 1 byte at a time header drip, an endless chunked body, a
huge header, an SSH banner that never comes, a PostgreSQL server that stalls after the startup
message, a Redis that never answers, and protocol garbage.  Each server runs in daemon threads,
counts the connections it accepted (``connections``) and the bytes it sent (``sent``), so a
test can prove "one connection, then the target was left alone" without timing anything, and
stops when the ``with`` block ends.  Nothing here waits unbounded: every handler gives up after
``linger`` seconds, and ``stop()`` closes every socket it holds.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.servers.base import LOOPBACK, Instance

#: What each behaviour does with an accepted connection.
Behaviour = Callable[["HostileServer", socket.socket], None]

GARBAGE = b"\x00\xff\xfeNOT-A-PROTOCOL\r\n\x1b[31m\x00" * 8


class HostileServer:
    """One TCP port on 127.0.0.1 with one misbehaviour; a context manager."""

    def __init__(self, behaviour: Behaviour, *, linger: float = 20.0, name: str = "hostile") -> None:
        self.behaviour = behaviour
        self.linger = linger  # no handler outlives this many seconds
        self.name = name
        self.connections = 0
        self.sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name=f"hostile-{name}", daemon=True)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        with contextlib.suppress(OSError):
            self.behaviour(self, conn)
        with contextlib.suppress(OSError):
            conn.close()

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent += len(data)

    def read_some(self, conn: socket.socket, limit: int = 65536) -> bytes:
        """What the client sent first (its request, ClientHello, startup message), or b"" on silence."""
        try:
            return conn.recv(limit)
        except (TimeoutError, OSError):
            return b""

    def idle(self, conn: socket.socket) -> None:
        """Hold the connection open and silent until the client leaves or the server stops."""
        deadline = time.monotonic() + self.linger
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if conn.recv(65536) == b"":
                    return
            except TimeoutError:
                continue

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.close()
        self._thread.join(5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def instance(self, kind: str, name: str, entry: dict[str, Any] | None = None) -> Instance:
        """An inventory target of ``kind`` pointing here (``Instance.entry`` is its inventory entry)."""
        address = f"{LOOPBACK}:{self.port}"
        default = {
            "http": {"url": f"http://{address}", "http_url": f"http://{address}"},
            "https": {"url": f"https://{address}", "http_url": f"http://{address}"},
            "tls": {"address": address},
            "postgres": {"dsn": f"postgresql://app@{address}/app", "password": "${HOSTILE_PW}"},
            "mysql": {"dsn": f"mysql://app@{address}/app", "password": "${HOSTILE_PW}"},
            "redis": {"url": f"redis://{address}/0"},
            "hosts": {"backend": f"paramiko://deploy@{address}", "ssh_host_key_checking": False},
        }[kind]
        section = "http" if kind == "https" else kind
        return Instance(name=name, kind=section, entry={**default, **(entry or {}), "timeout": 1},
                        env={"HOSTILE_PW": "not-a-real-password-1"}, server=None)


# --------------------------------------------------------------------------- behaviours


def silence(server: HostileServer, conn: socket.socket) -> None:
    """Accept, read, never answer (also: a TLS stall after the ClientHello, a Redis that never
    answers, an SSH server that never sends its banner)."""
    server.idle(conn)


def reset(server: HostileServer, conn: socket.socket) -> None:
    """Reset every connection at once (SO_LINGER 0: the close sends RST)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    server.read_some(conn)


def stale_keep_alive(server: HostileServer, conn: socket.socket) -> None:
    """Answer a connection's first request (200, kept alive), then reset it when the next one
    arrives: a server whose idle timeout closed the connection as the client reused it."""
    conn.settimeout(5.0)  # a loaded test run may take a while to send
    if server.read_some(conn):
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
        server.read_some(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def garbage(server: HostileServer, conn: socket.socket) -> None:
    """Answer anything with bytes that are no protocol at all, then hang up."""
    server.read_some(conn)
    server.send(conn, GARBAGE)


def header_drip(server: HostileServer, conn: socket.socket) -> None:
    """An HTTP status line, then one header byte every 50 ms: each read finishes well within
    any per-read timeout, the headers never end."""
    server.read_some(conn)
    server.send(conn, b"HTTP/1.1 200 OK\r\n")
    deadline = time.monotonic() + server.linger
    while not server.stopped and time.monotonic() < deadline:
        server.send(conn, b"X")
        time.sleep(0.05)


def endless_body(server: HostileServer, conn: socket.socket) -> None:
    """A 200 with a chunked body that never ends, sent as fast as the client reads."""
    server.read_some(conn)
    server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"4000\r\n" + b"A" * 0x4000 + b"\r\n"
    conn.settimeout(2.0)
    deadline = time.monotonic() + server.linger
    while not server.stopped and time.monotonic() < deadline:
        server.send(conn, chunk)


def huge_header(server: HostileServer, conn: socket.socket) -> None:
    """A 200 whose one header line is 256 KiB long."""
    server.read_some(conn)
    server.send(conn, b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * (256 * 1024) + b"\r\n\r\nok")


def ssh_banner_stall(server: HostileServer, conn: socket.socket) -> None:
    """Half an SSH banner (no line end), then nothing."""
    server.send(conn, b"SSH-2.0-")
    server.idle(conn)


def postgres_stall(server: HostileServer, conn: socket.socket) -> None:
    """Refuse SSL (``N``) to an SSLRequest, read the startup message, then never answer."""
    first = server.read_some(conn)
    if first[4:8] == b"\x04\xd2\x16\x2f":  # SSLRequest: say no, the client sends its startup message next
        server.send(conn, b"N")
        server.read_some(conn)
    server.idle(conn)


def black_hole() -> tuple[socket.socket, list[socket.socket]]:
    """A port whose connections never complete: a listener with a zero backlog whose queue is
    already full, so the kernel drops every further SYN.  Returns the listener and the
    connections that fill it (close all of them when done)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(0)
    fillers: list[socket.socket] = []
    for _ in range(8):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError, OSError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    return listener, fillers
