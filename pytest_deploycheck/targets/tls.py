"""The ``tls`` kind: any TLS endpoint, every ``http`` target with an https:// URL and every ``smtp``
target (after STARTTLS for ``smtp://``, as ``testssl.sh --starttls smtp`` does).

``TlsTarget`` (fixture ``tls_endpoint``) does real handshakes with a chosen ``ssl.SSLContext``,
reads the presented chain and, through ``tls_probe``, offers protocol versions and suites the
local OpenSSL can no longer speak, to prove the server refuses them.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import pytest_deploycheck.targets.tls_probe as tls_probe
from pytest_deploycheck.outcomes import TargetError, TargetUnreachable
from pytest_deploycheck.targets import smtp_session
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.http import url_address
from pytest_deploycheck.targets.reach import Reachability, first_line
from pytest_deploycheck.targets.smtp import helo_name, starttls
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode


class TlsTarget(TargetHandle):
    """A TLS endpoint: a ``tls`` target, or an ``http`` target with an https:// URL."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._certificates: list[bytes] | None = None
        self._speaks_tls = False  # proven once per run by a handshake (or a TLS alert)

    @property
    def host(self) -> str:
        return self._address()[0]

    @property
    def port(self) -> int:
        return self._address()[1]

    def _address(self) -> tuple[str, int]:
        address = self.target.endpoint
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
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLEOFError):
            raw.close()
            # A server that hangs up on this context may refuse what it offers (legacy TLS), or
            # may speak no TLS at all: only the first is a finding.
            self.require_tls()
            raise
        except ssl.SSLError as exc:
            raw.close()
            if not isinstance(exc, ssl.SSLCertVerificationError) and "ALERT" not in str(getattr(exc, "reason", "") or ""):
                self.require_tls()  # an answer that is not TLS at all ("wrong version number"): unusable once
            raise
        except BaseException:
            raw.close()
            raise
        self._speaks_tls = True
        return tls

    def chain_verification(self) -> tuple[str, str] | ssl.SSLCertVerificationError:
        """One handshake that verifies the chain as a current OpenSSL client does (not the name:
        that is tls-02's), against ``ca_bundle`` or else the system trust store; once per run, so it
        can be read ahead.  Returns the protocol and cipher agreed, or the verification error;
        any other ``ssl.SSLError`` (a handshake that breaks before the chain is judged) is raised."""

        def verify() -> tuple[str, str] | ssl.SSLCertVerificationError:
            context = ssl.create_default_context(cafile=self.ca_bundle)
            context.check_hostname = False
            try:
                with self.handshake(context) as tls:
                    return str(tls.version()), (tls.cipher() or ("?",))[0]
            except ssl.SSLCertVerificationError as exc:
                return exc.with_traceback(None)  # kept for the run: not the frames it passed through

        return self.remember(("chain-verification",), verify)

    def require_tls(self) -> None:
        """Prove, once per run, that the server speaks TLS: a refusal (a reset, a closed
        connection) is evidence about a protocol or suite only from a server that completes a
        handshake otherwise.  A server that resets every connection or answers no TLS is marked
        unusable: every TLS check on it ends as an error citing this."""
        if not self._speaks_tls:
            self.peer_certificates()

    def warm(self) -> None:
        self.peer_certificates()

    def probe(self, version: int, suites: Iterable[int], *, status_request: bool = False) -> tls_probe.Answer:
        """Send one raw ClientHello offering ``version`` and ``suites``; return the server's choice
        (``Answer.accepted``, ``.version_name``, ``.cipher_name``) or its refusal.

        Unlike ``handshake`` this asks about protocols and suites the local OpenSSL no longer
        speaks (SSLv3, RC4, EXPORT); see ``tls_probe``.  An answer that is not TLS raises
        ``TargetError``; silence for the timeout marks the target unreachable.  The same hello
        is sent once per run: a second call gets the first answer.
        """
        suites = tuple(suites)
        return self.remember(("probe", version, suites, status_request), lambda: self._probe(version, suites, status_request))

    def _probe(self, version: int, suites: tuple[int, ...], status_request: bool) -> tls_probe.Answer:
        hello = tls_probe.client_hello(version, suites, self.server_name, status_request=status_request)
        raw = self._connect()
        try:
            raw.sendall(hello)
            answer = tls_probe.read_answer(raw)
        except TimeoutError:
            self._silent()
        except (ConnectionResetError, BrokenPipeError):
            answer = tls_probe.Answer(False, refusal="connection reset")
        except tls_probe.NotTLS as exc:
            raw.close()
            self.require_tls()  # marks the target unusable when no handshake completes either
            raise TargetError(f"{self.label}: no TLS on {self.host}:{self.port}: {exc}") from None
        finally:
            raw.close()
        if answer.accepted or answer.refusal.startswith("alert"):
            self._speaks_tls = True  # a ServerHello or a TLS alert is TLS
        else:
            self.require_tls()  # a hang-up proves a refusal only from a server that speaks TLS
        return answer

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
            self._speaks_tls = True  # for this handshake's own hang-up, handshake() must not ask again
            try:
                with self.handshake(context) as tls:
                    chain = getattr(tls, "get_unverified_chain", None)  # Python 3.13+: DER bytes, leaf first
                    certificates = [c for c in (chain() or []) if isinstance(c, bytes)] if chain else []
                    leaf = tls.getpeercert(binary_form=True)
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLEOFError) as exc:
                self._speaks_tls = False
                self._no_tls(f"no TLS handshake on {self.host}:{self.port}: the server hung up ({_why(exc)})")
            except ssl.SSLError as exc:
                if "ALERT" not in str(getattr(exc, "reason", "") or ""):  # not even a TLS alert: no TLS here
                    self._speaks_tls = False
                    self._no_tls(f"no TLS handshake on {self.host}:{self.port}: the answer is not TLS ({_why(exc)})")
                raise TargetError(f"{self.label}: no TLS handshake on {self.host}:{self.port} ({first_line(exc)})") from None
            if not certificates and leaf:
                certificates = [leaf]
            if not certificates:
                raise TargetError(f"{self.label}: the server presented no certificate")
            self._certificates = certificates
        return self._certificates

    def _connect(self) -> socket.socket:
        """A TCP connection ready for a ClientHello: for an ``smtp://`` target, after the greeting,
        EHLO and STARTTLS (every handshake and probe opens its own)."""
        with self.reach.guard(self.target, unreachable=(socket.timeout,)):
            raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if not starttls(self.target):
            return raw
        try:
            smtp_session.start_tls_on(raw, time.monotonic() + self.timeout, helo_name(self.target))
        except smtp_session.NoStartTls as exc:
            raw.close()
            raise TargetError(f"{self.label}: no TLS to examine: {exc} (smtp-01)") from None
        except smtp_session.NotSmtp as exc:
            raw.close()
            raise TargetError(f"{self.label}: before STARTTLS: {exc}") from None
        except TimeoutError:
            raw.close()
            self._silent()
        except OSError as exc:
            raw.close()
            raise TargetError(f"{self.label}: the connection failed before STARTTLS ({first_line(exc)})") from None
        raw.settimeout(self.timeout)
        return raw

    def _no_tls(self, message: str) -> NoReturn:
        self.reach.mark(self.target, message)
        raise TargetUnreachable(f"{self.label}: {message}")

    def _silent(self) -> NoReturn:
        message = f"no TLS answer within {self.timeout:g}s on {self.host}:{self.port} (does this port speak TLS?)"
        self.reach.mark(self.target, message)
        raise TargetUnreachable(f"{self.label}: {message}")



def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return "connection closed during the handshake"
    return str(reason).lower().replace("_", " ") if reason else first_line(exc)


FIELDS: dict[str, Field] = {
    "address": Field("str", "host:port of a TLS endpoint that is not HTTP", required=True),
    "server_name": Field("str", "SNI and the name the certificate must match (default: the host)"),
    "ca_bundle": Field("path", "CA bundle to verify the certificate (default: system store)", must_exist=True),
}


def address(target: Target) -> tuple[str, int] | None:
    if target.kind == "http":
        return url_address(str(target.spec["url"]), {"https": 443, "http": 80})
    host, _, port = str(target.spec["address"]).rpartition(":")
    return host.strip("[]"), int(port)


def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    host, _, port = spec["address"].rpartition(":")
    if not host or not port.isdigit():
        ld.problem(raw["address"].line, f"{keypath}.address", f"expected host:port, got {spec['address']!r}")


def _https(target: Target) -> bool:
    return str(target.spec["url"]).startswith("https://")


KIND = TargetKind(
    name="tls", fixture="tls_endpoint", handle=TlsTarget, fields=FIELDS, address=address, validate=validate,
    also={"http": _https, "smtp": lambda target: True},
    summary="""A TLS endpoint: every ``tls`` target plus every ``http`` target with an https:// URL and
    every ``smtp`` target (after STARTTLS for ``smtp://``).
    ``tls_endpoint.handshake(ssl_context)`` returns a connected ``ssl.SSLSocket``.""",
)
