"""The ``tls`` kind: any TLS endpoint, and every ``http`` target with an https:// URL.

``TlsTarget`` (fixture ``tls_endpoint``) does real handshakes with a chosen ``ssl.SSLContext``,
reads the presented chain and, through ``tls_probe``, offers protocol versions and suites the
local OpenSSL can no longer speak, to prove the server refuses them.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import pytest_deploycheck.targets.tls_probe as tls_probe
from pytest_deploycheck.outcomes import TargetError, TargetUnreachable
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.http import url_address
from pytest_deploycheck.targets.reach import Reachability, first_line
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode


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
        except BaseException:
            raw.close()
            raise
        return tls

    def probe(self, version: int, suites: Iterable[int], *, status_request: bool = False) -> tls_probe.Answer:
        """Send one raw ClientHello offering ``version`` and ``suites``; return the server's choice
        (``Answer.accepted``, ``.version_name``, ``.cipher_name``) or its refusal.

        Unlike ``handshake`` this asks about protocols and suites the local OpenSSL no longer
        speaks (SSLv3, RC4, EXPORT); see ``tls_probe``.  An answer that is not TLS raises
        ``TargetError``; silence for the timeout marks the target unreachable.
        """
        hello = tls_probe.client_hello(version, suites, self.server_name, status_request=status_request)
        raw = self._connect()
        try:
            raw.sendall(hello)
            return tls_probe.read_answer(raw)
        except TimeoutError:
            self._silent()
        except (ConnectionResetError, BrokenPipeError):
            return tls_probe.Answer(False, refusal="connection reset")
        except tls_probe.NotTLS as exc:
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
    also={"http": _https},
    summary="""A TLS endpoint: every ``tls`` target plus every ``http`` target with an https:// URL.
    ``tls_endpoint.handshake(ssl_context)`` returns a connected ``ssl.SSLSocket``.""",
)
