"""The ``smtp`` kind: a mail submission or relay server, spoken to in SMTP (``smtp_session``).

``smtp://host:587`` is reached in plain text and upgraded with STARTTLS; ``smtps://host:465``
speaks TLS from the first byte.  Every ``smtp`` target is also a ``tls`` target: the certificate
and protocol checks run on it after STARTTLS, as they do on an https:// site.

Nothing is ever submitted: the checks read EHLO's extensions, log in (over verified TLS only), and
the relay probe (an active probe) stops after RCPT TO, before DATA.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.outcomes import NotApplicable, TargetError
from pytest_deploycheck.targets import smtp_session
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.http import url_address
from pytest_deploycheck.targets.reach import first_line, ssl_reason
from pytest_deploycheck.targets.sql import chain, connection_rules
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
#: Reserved for documentation (RFC 2606): no server delivers to them, so an accepted RCPT TO is
#: a relay that would have carried the message, and nothing is ever sent to anyone.
RELAY_FROM, RELAY_TO = "deploycheck-probe@example.com", "deploycheck-probe@example.net"


@dataclass(frozen=True)
class Greeting:
    """What a server says before any credentials: its greeting and EHLO's extensions, before TLS
    (``smtp://``) or over it (``smtps://``)."""

    banner: str
    extensions: Mapping[str, str]
    implicit_tls: bool


@dataclass(frozen=True)
class RelayAnswer:
    """The relay probe: the replies to MAIL FROM and RCPT TO of a stranger's message."""

    mail: str
    rcpt: str
    accepted: bool


class SmtpTarget(TargetHandle):
    """A mail server: ``greeting()`` (read once), ``login()`` and ``relay_probe()``."""

    @property
    def url(self) -> urllib.parse.SplitResult:
        return urllib.parse.urlsplit(str(self.target.spec["url"]))

    @property
    def implicit_tls(self) -> bool:
        return self.url.scheme == "smtps"

    @property
    def helo(self) -> str:
        return helo_name(self.target)

    @property
    def server_name(self) -> str:
        return str(self.target.get("server_name") or self.url.hostname or "")

    def _context(self) -> ssl.SSLContext:
        """A verifying context: credentials go only over TLS whose certificate checks out."""
        ca_bundle = self.target.get("ca_bundle")
        return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)

    @contextlib.contextmanager
    def _talk(self, *, tls: bool, verify: bool = True) -> Any:
        """A conversation after the greeting: over TLS when ``tls`` (its certificate verified unless
        ``verify`` is False: only where no credentials are sent), else as the URL says (plain text
        for ``smtp://``).  Yields ``(conversation, extensions, banner)``."""
        address = self.target.endpoint
        if address is None:
            raise TargetError(f"{self.label}: the URL names no host")
        deadline = time.monotonic() + self.timeout
        with self.reach.guard(self.target, unreachable=(socket.timeout,)):
            sock = socket.create_connection(address, timeout=self.timeout)
        talk = smtp_session.Conversation(sock, deadline)
        try:
            try:
                if self.implicit_tls:
                    talk.wrap(self._context() if tls and verify else _unverified(), self.server_name)
                banner = talk.greeting()
                extensions = talk.ehlo(self.helo)
                if tls and not self.implicit_tls:
                    if "STARTTLS" not in extensions:
                        raise TargetError(f"{self.label}: EHLO offers no STARTTLS, so there is no TLS to log in over (smtp-01)")
                    talk.starttls()
                    talk.wrap(self._context() if verify else _unverified(), self.server_name)
                    extensions = talk.ehlo(self.helo)  # RFC 3207: forget what was said in plain text
            except ssl.SSLCertVerificationError as exc:
                raise TargetError(f"{self.label}: the certificate does not verify ({ssl_reason(exc)}; see the tls checks): "
                                  "credentials are not sent over a connection that could be intercepted") from None
            except smtp_session.NotSmtp as exc:
                raise TargetError(f"{self.label}: {exc}") from None
            except smtp_session.NoStartTls as exc:
                raise TargetError(f"{self.label}: {exc}") from None
            except TimeoutError:
                message = f"no complete SMTP answer within {self.timeout:g}s"
                self.reach.mark(self.target, message)
                raise TargetError(f"{self.label}: {message}") from None
            except (ssl.SSLError, ConnectionError) as exc:
                raise TargetError(f"{self.label}: the connection failed during the conversation ({first_line(exc)})") from None
            yield talk, extensions, banner
        finally:
            talk.quit()
            talk.sock.close()

    def greeting(self) -> Greeting:
        """The greeting and EHLO's extensions, as anyone connecting sees them (read once per run)."""
        def read() -> Greeting:
            with self._talk(tls=False) as (_, extensions, banner):
                return Greeting(banner.text, dict(extensions), self.implicit_tls)
        return self.remember("greeting", read)

    def warm(self) -> None:
        self.greeting()

    def login(self) -> smtp_session.Reply:
        """AUTH with the target's credentials over verified TLS: the server's final reply (read
        once per run, so a refused login is never retried: repeated failures lock accounts)."""
        username, password = self.target.get("username"), self.target.get("password")
        if not username or password is None:
            raise NotApplicable(f"{self.name}: no username and password in the inventory (smtp.{self.name}.username, "
                                "password: ${VAR})", unexamined=True)

        def read() -> smtp_session.Reply:
            with self._talk(tls=True) as (talk, extensions, _):
                if "AUTH" not in extensions:
                    raise TargetError(f"{self.label}: EHLO over TLS offers no AUTH, so the credentials cannot be tried")
                try:
                    reply: smtp_session.Reply = talk.auth(extensions["AUTH"], str(username), str(password))
                    return reply
                except smtp_session.NotSmtp as exc:
                    raise TargetError(f"{self.label}: {exc}") from None
                except TimeoutError:
                    raise TargetError(f"{self.label}: no answer to AUTH within {self.timeout:g}s") from None
        return self.remember("login", read)

    def relay_probe(self) -> RelayAnswer:
        """Without logging in, offer a message from one stranger to another (both RFC 2606
        documentation domains) up to RCPT TO, then RSET: whether the server would relay it.
        Nothing is sent: the conversation ends before DATA."""
        def read() -> RelayAnswer:
            # Over TLS when offered (a server may refuse MAIL before STARTTLS, which proves less),
            # unverified: the probe sends no credentials, and the tls checks judge the certificate.
            tls = self.implicit_tls or "STARTTLS" in self.greeting().extensions
            with self._talk(tls=tls, verify=False) as (talk, _, _banner):
                try:
                    mail = talk.command(f"MAIL FROM:<{RELAY_FROM}>")
                    rcpt = talk.command(f"RCPT TO:<{RELAY_TO}>") if mail.ok else None
                    with contextlib.suppress(smtp_session.NotSmtp, OSError):
                        talk.command("RSET")
                except smtp_session.NotSmtp as exc:
                    raise TargetError(f"{self.label}: {exc}") from None
                except TimeoutError:
                    raise TargetError(f"{self.label}: no answer to the envelope within {self.timeout:g}s") from None
            return RelayAnswer(mail.text, rcpt.text if rcpt else "", bool(rcpt and rcpt.ok))
        return self.remember("relay", read)

    @classmethod
    def reads_beside_checks(cls, target: Target) -> bool:
        return True  # remember() waits for a read in progress; every read opens its own connection


def _unverified() -> ssl.SSLContext:
    """For conversations that send no credentials (the greeting, the relay probe): the tls checks
    judge the certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


FIELDS: dict[str, Field] = {
    "url": Field("url", "smtp://host[:port] (STARTTLS; default port 587) or smtps://host[:port] (TLS from the start; default 465)",
                 required=True),
    "username": Field("str", "login for the credentials check (AUTH over verified TLS only)"),
    "password": Field("str", "password (use ${VAR})"),
    "server_name": Field("str", "the name the certificate must match (default: the URL's host)"),
    "ca_bundle": Field("path", "CA bundle to verify the certificate (default: system store)", must_exist=True),
    "helo": Field("str", "the name deploycheck gives in EHLO (default: localhost)"),
}


def address(target: Target) -> tuple[str, int] | None:
    return url_address(str(target.spec["url"]), DEFAULT_PORTS)


def helo_name(target: Target) -> str:
    """The name deploycheck gives in EHLO to this target's server."""
    return str(target.get("helo") or "localhost")


def starttls(target: Target) -> bool:
    """Whether TLS on this target begins with STARTTLS (``smtp://``), not at once (``smtps://``)."""
    return target.kind == "smtp" and str(target.spec["url"]).lower().startswith("smtp://")


def _no_userinfo(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    parts = urllib.parse.urlsplit(str(spec["url"]))
    if parts.username is not None or parts.password is not None:
        ld.problem(raw["url"].line, f"{keypath}.url", "holds a login; give it as username and password (password: ${VAR})")
    elif not parts.hostname:
        ld.problem(raw["url"].line, f"{keypath}.url", "names no host; write smtp://host:587 or smtps://host:465")
    elif parts.path not in ("", "/") or parts.query:
        ld.problem(raw["url"].line, f"{keypath}.url", "has a path or query, which SMTP has no use for; write smtp://host:port")


KIND = TargetKind(
    name="smtp", fixture="smtp_server", handle=SmtpTarget, fields=FIELDS, address=address,
    validate=chain(connection_rules("url", ("smtp", "smtps"), url_only=True), _no_userinfo),
    summary="""A mail server (``smtp``): ``smtp_server.greeting().extensions`` (EHLO's, before TLS),
    ``smtp_server.login()``, ``smtp_server.relay_probe()``; also a ``tls`` target.""",
)
