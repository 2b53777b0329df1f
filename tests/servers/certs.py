"""Certificates for the test bed, made per run with ``cryptography``.

One test CA per session issues the good server certificates; the bad variants (expired, wrong
host name, self-signed, 1024-bit key) are made here too, so every TLS check has
a real certificate to fail on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pytest-deploycheck test bed"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def new_key(kind: str = "ec256") -> PrivateKey:
    """``ec256`` (default, fast), ``rsa2048`` or ``rsa1024`` (the weak one)."""
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    bits = {"rsa2048": 2048, "rsa1024": 1024}[kind]
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass(frozen=True)
class CertFiles:
    """PEM files on disk: the certificate (with chain when issued by the CA) and its key."""

    cert: Path
    key: Path
    chain: Path  # leaf followed by the issuing CA; what a server should present


@dataclass
class TestCA:
    """A throw-away certificate authority; ``ca_file`` is what clients trust."""

    key: PrivateKey
    cert: x509.Certificate
    directory: Path

    __test__ = False  # not a pytest test class

    @classmethod
    def create(cls, directory: Path, name: str = "deploycheck test CA") -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        key = new_key("ec256")
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256())
        )
        ca = cls(key, cert, directory)
        ca.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return ca

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def issue(
        self,
        stem: str,
        hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"),
        *,
        key_kind: str = "ec256",
        days_valid: int = 90,
        expired: bool = False,
        self_signed: bool = False,
    ) -> CertFiles:
        """Write ``<stem>.crt``/``<stem>.key``/``<stem>.chain.pem`` and return their paths."""
        key = new_key(key_kind)
        now = _now()
        if expired:
            not_before, not_after = now - dt.timedelta(days=60), now - dt.timedelta(days=2)
        else:
            not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=days_valid)
        sans: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        subject = _name(hostnames[0])
        issuer_key: PrivateKey = key if self_signed else self.key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject if self_signed else self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        cert = builder.sign(issuer_key, hashes.SHA256())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        files = CertFiles(self.directory / f"{stem}.crt", self.directory / f"{stem}.key", self.directory / f"{stem}.chain.pem")
        files.cert.write_bytes(cert_pem)
        files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        files.key.chmod(0o600)
        files.chain.write_bytes(cert_pem if self_signed else cert_pem + self.ca_file.read_bytes())
        return files
