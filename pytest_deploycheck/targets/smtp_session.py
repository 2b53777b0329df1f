"""One bounded SMTP conversation (RFC 5321): the greeting, EHLO, STARTTLS (RFC 3207), AUTH
(RFC 4954) and the envelope commands of the relay probe.

Every read has the conversation's deadline and every reply a size cap: a server that drips its
greeting byte by byte, or sends continuation lines for ever, costs one timeout and at most
``MAX_REPLY_BYTES``.  Nothing here sends DATA: no message is ever submitted.  The credentials of
AUTH are never part of an exception or a reply shown to the caller.
"""

from __future__ import annotations

import base64
import re
import socket
import ssl
import time
from dataclasses import dataclass

#: A reply longer than this (all its lines together), or with more lines, is not one a mail server sends.
MAX_REPLY_BYTES = 64 * 1024
MAX_REPLY_LINES = 200
_REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -])(.*)$")


class NotSmtp(Exception):
    """The peer's answer is not SMTP, or breaks a limit: what it sent is in the message (cut short)."""


class NoStartTls(Exception):
    """EHLO did not offer STARTTLS, or STARTTLS was refused."""


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """``535 5.7.8 Authentication credentials invalid`` (the lines joined, cut at 200 characters)."""
        joined = " / ".join(line for line in self.lines if line) or ""
        shown = f"{self.code} {joined}".strip()
        return shown if len(shown) <= 200 else shown[:197] + "..."

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400


class Conversation:
    """An SMTP client conversation on a connected socket, every read bounded by ``deadline``
    (a ``time.monotonic()`` value)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self._buffer = b""

    def _recv(self) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete SMTP reply in time")
        self.sock.settimeout(left)
        chunk = self.sock.recv(8192)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        return chunk

    def reply(self) -> Reply:
        """One reply, all its lines (``250-...`` continuation lines, then ``250 ...``)."""
        lines: list[str] = []
        size = 0
        code = 0
        while True:
            while b"\n" not in self._buffer:
                if len(self._buffer) > MAX_REPLY_BYTES:
                    raise NotSmtp(f"a reply line longer than {MAX_REPLY_BYTES} bytes")
                self._buffer += self._recv()
            raw, self._buffer = self._buffer.split(b"\n", 1)
            raw = raw.rstrip(b"\r")
            size += len(raw)
            match = _REPLY_LINE.match(raw) or (re.match(rb"^([2-5][0-9][0-9])()$", raw))
            if match is None:
                shown = raw[:80].decode("ascii", errors="replace")
                raise NotSmtp(f"the answer is not SMTP: {shown!r}")
            if lines and int(match.group(1)) != code:
                raise NotSmtp("a reply whose lines carry different codes")
            code = int(match.group(1))
            lines.append(match.group(3).decode("utf-8", errors="replace").strip())
            if match.group(2) != b"-":
                return Reply(code, tuple(lines))
            if len(lines) >= MAX_REPLY_LINES or size > MAX_REPLY_BYTES:
                raise NotSmtp(f"a reply of more than {MAX_REPLY_LINES} lines or {MAX_REPLY_BYTES} bytes")

    def command(self, line: str) -> Reply:
        if "\r" in line or "\n" in line:
            raise ValueError("an SMTP command is one line")
        self.sock.sendall(line.encode("utf-8") + b"\r\n")
        return self.reply()

    def greeting(self) -> Reply:
        """The server's first reply; anything but 220 ends the conversation (RFC 5321 3.1)."""
        reply = self.reply()
        if reply.code != 220:
            raise NotSmtp(f"the server greets with {reply.text} instead of 220")
        return reply

    def ehlo(self, name: str) -> dict[str, str]:
        """EHLO's extensions: keyword (upper case) -> its parameters (``AUTH`` -> ``PLAIN LOGIN``)."""
        reply = self.command(f"EHLO {name}")
        if reply.code != 250:
            raise NotSmtp(f"EHLO answered {reply.text}")
        extensions: dict[str, str] = {}
        for line in reply.lines[1:]:
            keyword, _, params = line.partition(" ")
            extensions[keyword.upper()] = params.strip()
        return extensions

    def starttls(self) -> None:
        """STARTTLS, after which the socket is ready for the TLS handshake."""
        reply = self.command("STARTTLS")
        if reply.code != 220:
            raise NoStartTls(f"STARTTLS answered {reply.text}")
        if self._buffer:  # anything sent before the handshake could be injected into it (CVE-2011-0411)
            raise NotSmtp("the server sent data after accepting STARTTLS, before the TLS handshake")

    def wrap(self, context: ssl.SSLContext, server_name: str) -> None:
        """Continue the conversation over TLS (after ``starttls``, or at once for implicit TLS)."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no time left for the TLS handshake")
        self.sock.settimeout(left)
        self.sock = context.wrap_socket(self.sock, server_hostname=server_name)
        self._buffer = b""

    def auth(self, mechanisms: str, username: str, password: str) -> Reply:
        """AUTH PLAIN (or LOGIN when the server offers only that) with these credentials; the
        final reply (235 accepted, 535 refused).  The credentials never appear in what is raised
        or returned: a server that echoes them (in clear or base64) has them masked."""
        reply = self._auth(mechanisms, username, password)
        secrets = [password, base64.b64encode(password.encode()).decode(),
                   base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode()]
        lines = []
        for line in reply.lines:
            for secret in secrets:
                if secret:
                    line = line.replace(secret, "***")
            lines.append(line)
        return Reply(reply.code, tuple(lines))

    def _auth(self, mechanisms: str, username: str, password: str) -> Reply:
        offered = set(mechanisms.upper().split())
        if "PLAIN" in offered or not offered & {"LOGIN"}:
            token = base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode()
            self.sock.sendall(b"AUTH PLAIN " + token.encode() + b"\r\n")
            reply = self.reply()
            if reply.code == 334:  # a server that wants the response on its own line
                self.sock.sendall(token.encode() + b"\r\n")
                reply = self.reply()
            return reply
        reply = self.command("AUTH LOGIN")
        for value in (username, password):
            if reply.code != 334:
                return reply
            self.sock.sendall(base64.b64encode(value.encode()) + b"\r\n")
            reply = self.reply()
        return reply

    def quit(self) -> None:
        """QUIT, politely and without waiting long; the caller closes the socket."""
        try:
            self.sock.settimeout(min(1.0, max(0.01, self.deadline - time.monotonic())))
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, NotSmtp, ValueError):
            pass


def start_tls_on(sock: socket.socket, deadline: float, helo: str) -> dict[str, str]:
    """Greeting, EHLO and STARTTLS on a fresh connection: the socket is then ready for a TLS
    handshake (the ``tls`` checks of a ``smtp://`` target).  Returns EHLO's extensions."""
    talk = Conversation(sock, deadline)
    talk.greeting()
    extensions = talk.ehlo(helo)
    if "STARTTLS" not in extensions:
        raise NoStartTls("EHLO does not offer STARTTLS")
    talk.starttls()
    return extensions
