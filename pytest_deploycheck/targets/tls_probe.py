"""Raw TLS ClientHello probes: which protocol versions and cipher suites a server accepts.

Proving that a server *refuses* SSLv3 or RC4 needs a client that still offers them, and the
OpenSSL 3 that Python links to has neither (Debian builds it without SSLv3, RC4, DES, 3DES and
EXPORT suites).  A server commits to a protocol version and a cipher suite in its ServerHello,
so one hand-built ClientHello and the first answer are enough: a ServerHello means accepted
(with the version and suite chosen), an alert or a closed connection means refused.  Nothing
further is negotiated and no key is exchanged, so the probe works for any suite code point.

Only the wire format lives here; ``TlsTarget.probe`` sends the hello with the target's timeout.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

SSL3, TLS10, TLS11, TLS12, TLS13 = 0x0300, 0x0301, 0x0302, 0x0303, 0x0304

VERSION_NAMES = {SSL3: "SSLv3", TLS10: "TLSv1", TLS11: "TLSv1.1", TLS12: "TLSv1.2", TLS13: "TLSv1.3"}

#: Cipher suites by IANA code point, with their OpenSSL names (what ``ssl_ciphers`` takes).
SUITES: dict[int, str] = {
    # forward-secret AEAD and CBC suites
    0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256", 0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384", 0xC030: "ECDHE-RSA-AES256-GCM-SHA384",
    0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305", 0xCCA8: "ECDHE-RSA-CHACHA20-POLY1305",
    0x009E: "DHE-RSA-AES128-GCM-SHA256", 0x009F: "DHE-RSA-AES256-GCM-SHA384", 0xCCAA: "DHE-RSA-CHACHA20-POLY1305",
    0xC023: "ECDHE-ECDSA-AES128-SHA256", 0xC027: "ECDHE-RSA-AES128-SHA256",
    0xC024: "ECDHE-ECDSA-AES256-SHA384", 0xC028: "ECDHE-RSA-AES256-SHA384",
    0xC009: "ECDHE-ECDSA-AES128-SHA", 0xC013: "ECDHE-RSA-AES128-SHA",
    0xC00A: "ECDHE-ECDSA-AES256-SHA", 0xC014: "ECDHE-RSA-AES256-SHA",
    0x0067: "DHE-RSA-AES128-SHA256", 0x006B: "DHE-RSA-AES256-SHA256",
    0x0033: "DHE-RSA-AES128-SHA", 0x0039: "DHE-RSA-AES256-SHA",
    # RSA key exchange
    0x009C: "AES128-GCM-SHA256", 0x009D: "AES256-GCM-SHA384", 0x003C: "AES128-SHA256", 0x003D: "AES256-SHA256",
    0x002F: "AES128-SHA", 0x0035: "AES256-SHA", 0x0041: "CAMELLIA128-SHA", 0x0084: "CAMELLIA256-SHA",
    # NULL encryption
    0x0001: "NULL-MD5", 0x0002: "NULL-SHA", 0x003B: "NULL-SHA256", 0xC006: "ECDHE-ECDSA-NULL-SHA", 0xC010: "ECDHE-RSA-NULL-SHA",
    # EXPORT grade (40/56-bit)
    0x0003: "EXP-RC4-MD5", 0x0006: "EXP-RC2-CBC-MD5", 0x0008: "EXP-DES-CBC-SHA", 0x0011: "EXP-DHE-DSS-DES-CBC-SHA",
    0x0014: "EXP-DHE-RSA-DES-CBC-SHA", 0x0062: "EXP1024-DES-CBC-SHA", 0x0064: "EXP1024-RC4-SHA",
    # RC4
    0x0004: "RC4-MD5", 0x0005: "RC4-SHA", 0xC007: "ECDHE-ECDSA-RC4-SHA", 0xC011: "ECDHE-RSA-RC4-SHA",
    # single DES and 3DES
    0x0009: "DES-CBC-SHA", 0x0015: "DHE-RSA-DES-CBC-SHA",
    0x000A: "DES-CBC3-SHA", 0x0013: "DHE-DSS-DES-CBC3-SHA", 0x0016: "DHE-RSA-DES-CBC3-SHA",
    0xC008: "ECDHE-ECDSA-DES-CBC3-SHA", 0xC012: "ECDHE-RSA-DES-CBC3-SHA",
    # anonymous (no authentication of the server at all)
    0x0018: "ADH-RC4-MD5", 0x001B: "ADH-DES-CBC3-SHA", 0x0034: "ADH-AES128-SHA", 0x003A: "ADH-AES256-SHA",
    0x006C: "ADH-AES128-SHA256", 0x006D: "ADH-AES256-SHA256", 0x00A6: "ADH-AES128-GCM-SHA256", 0x00A7: "ADH-AES256-GCM-SHA384",
    0xC015: "AECDH-NULL-SHA", 0xC016: "AECDH-RC4-SHA", 0xC017: "AECDH-DES-CBC3-SHA", 0xC018: "AECDH-AES128-SHA", 0xC019: "AECDH-AES256-SHA",
}

#: Every suite above: a protocol probe offers them all, so a server that speaks the version at all
#: finds something it is configured to accept.
ALL_SUITES: tuple[int, ...] = tuple(SUITES)

_ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure", 42: "bad_certificate",
    47: "illegal_parameter", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
    110: "unsupported_extension", 112: "unrecognized_name",
}

EXT_STATUS_REQUEST = 5
_EXT_SUPPORTED_VERSIONS = 43


class NotTLS(Exception):
    """The peer answered a ClientHello with something that is not TLS."""


@dataclass(frozen=True)
class Answer:
    """A server's answer to one ClientHello."""

    accepted: bool
    version: int | None = None
    cipher: int | None = None
    refusal: str = ""  # "alert protocol_version", "connection closed", ...
    extensions: frozenset[int] = frozenset()

    @property
    def version_name(self) -> str:
        return VERSION_NAMES.get(self.version or 0, f"0x{self.version or 0:04x}")

    @property
    def cipher_name(self) -> str:
        return suite_name(self.cipher or 0)

    def describe(self) -> str:
        if self.accepted:
            return f"accepted ({self.version_name}, {self.cipher_name})"
        return f"refused ({self.refusal})"


def suite_name(code: int) -> str:
    return SUITES.get(code, f"0x{code:04X}")


def client_hello(version: int, suites: Iterable[int], server_name: str | None = None, *, status_request: bool = False) -> bytes:
    """One TLS record holding a ClientHello that offers at most ``version`` and exactly ``suites``.

    SSLv3 hellos carry no extensions (SSLv3 has none); TLS hellos carry SNI (for a DNS name),
    the usual groups and point formats, signature algorithms (TLS 1.2) and, if asked, an OCSP
    status request.  The renegotiation SCSV is offered; the fallback SCSV is not (it would make
    a server refuse the lower version for another reason).
    """
    codes = [*suites, 0x00FF]
    body = struct.pack("!H", version) + os.urandom(32) + b"\x00"
    body += struct.pack("!H", 2 * len(codes)) + b"".join(struct.pack("!H", c) for c in codes) + b"\x01\x00"
    if version >= TLS10:
        extensions = b""
        if server_name and not _is_ip(server_name):
            name = server_name.encode("idna")
            entry = b"\x00" + struct.pack("!H", len(name)) + name
            extensions += _extension(0, struct.pack("!H", len(entry)) + entry)
        groups = (0x001D, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101)
        extensions += _extension(10, struct.pack("!H", 2 * len(groups)) + b"".join(struct.pack("!H", g) for g in groups))
        extensions += _extension(11, b"\x01\x00")
        if version >= TLS12:
            schemes = (0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201)
            extensions += _extension(13, struct.pack("!H", 2 * len(schemes)) + b"".join(struct.pack("!H", s) for s in schemes))
        if status_request:
            extensions += _extension(EXT_STATUS_REQUEST, b"\x01\x00\x00\x00\x00")
        body += struct.pack("!H", len(extensions)) + extensions
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    record_version = SSL3 if version == SSL3 else TLS10  # what clients put in the first record
    return b"\x16" + struct.pack("!HH", record_version, len(handshake)) + handshake


def read_answer(sock: socket.socket) -> Answer:
    """Read records until the ServerHello or a fatal alert; a closed or reset connection is a refusal.

    Socket timeouts propagate (the caller decides what silence means).
    """
    handshake = b""
    while True:
        try:
            header = _recv_exactly(sock, 5)
        except (ConnectionResetError, BrokenPipeError):
            return Answer(False, refusal="connection reset")
        if header is None:
            return Answer(False, refusal="connection closed")
        kind, major, length = header[0], header[1], struct.unpack("!H", header[3:5])[0]
        if kind not in (21, 22) or major != 3:
            raise NotTLS(_not_tls(header))
        try:
            payload = _recv_exactly(sock, length)
        except (ConnectionResetError, BrokenPipeError):
            return Answer(False, refusal="connection reset")
        if payload is None:
            return Answer(False, refusal="connection closed")
        if kind == 21:
            level, description = payload[0], payload[1] if len(payload) > 1 else 0
            if level == 1 and description != 0:
                continue  # a warning (unrecognized_name) may precede the ServerHello
            return Answer(False, refusal=f"alert {_ALERTS.get(description, description)}")
        handshake += payload
        if len(handshake) >= 4:
            needed = 4 + int.from_bytes(handshake[1:4], "big")
            if len(handshake) >= needed:
                if handshake[0] != 2:
                    raise NotTLS(f"expected a ServerHello, got handshake message type {handshake[0]}")
                return _server_hello(handshake[4:needed])


def _server_hello(body: bytes) -> Answer:
    try:
        version = struct.unpack("!H", body[0:2])[0]
        offset = 2 + 32
        offset += 1 + body[offset]
        cipher = struct.unpack("!H", body[offset:offset + 2])[0]
        offset += 3  # suite and compression method
        found: set[int] = set()
        if offset + 2 <= len(body):
            end = offset + 2 + struct.unpack("!H", body[offset:offset + 2])[0]
            offset += 2
            while offset + 4 <= end:
                ext_type, ext_len = struct.unpack("!HH", body[offset:offset + 4])
                if ext_type == _EXT_SUPPORTED_VERSIONS and ext_len == 2:
                    version = struct.unpack("!H", body[offset + 4:offset + 6])[0]
                found.add(ext_type)
                offset += 4 + ext_len
    except (IndexError, struct.error):
        raise NotTLS("malformed ServerHello") from None
    return Answer(True, version=version, cipher=cipher, extensions=frozenset(found))


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _not_tls(first: bytes) -> str:
    if first[:4] in (b"HTTP", b"<htm", b"<!DO"):
        return "the port answered with plain HTTP, not TLS"
    printable = first.decode("ascii", "replace")
    if printable.isprintable():
        return f"the port answered {printable!r}..., not TLS"
    return f"the port answered bytes {first.hex()}, not a TLS record"


def _extension(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True
