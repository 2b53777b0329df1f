"""The TLS checks (checks/test_tls.py) against real servers: nginx's good site and one site per
certificate or protocol defect, plus explicit ``tls`` endpoints that are not HTTP.

nginx cannot serve what the Debian OpenSSL it links to no longer has, so the weak-suite, SHA-1
signature, long lifetime and OCSP cases run against ``weak_tls_service``: a small TLS server on
Python's own OpenSSL (a real handshake on a real port) with a SHA-1-signed, 825-day certificate
that names an OCSP responder, accepting NULL and anonymous suites.  A port that speaks plain
HTTP, one that accepts and stays silent and one where nothing listens complete the picture:
they must end as errors, and within the timeout.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.servers.base import LOOPBACK, Instance, free_port
from tests.servers.certs import TestCA
from tests.servers.inventory import CatalogRun, run_catalog

CHECK_IDS = [f"tls-{n:02d}" for n in range(1, 13)]
NGINX = ("good", "expired_cert", "wrong_host", "self_signed", "weak_key", "legacy_tls")


def _tls_target(name: str, port: int, ca_bundle: Path, timeout: float = 5) -> Instance:
    entry = {"address": f"{LOOPBACK}:{port}", "server_name": "localhost", "ca_bundle": str(ca_bundle), "timeout": timeout}
    return Instance(name=name, kind="tls", entry=entry, env={}, server=None)


def _weak_certificate(ca: TestCA, directory: Path) -> tuple[Path, Path]:
    """RSA-2048 leaf signed by the test CA with SHA-1 (cryptography refuses to sign with SHA-1,
    the openssl command does not), valid 825 days, naming an OCSP responder that never staples."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file, ca_key, csr, cert, ext = (directory / n for n in ("weak.key", "ca.key", "weak.csr", "weak.crt", "weak.ext"))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ca_key.write_bytes(ca.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                   "extendedKeyUsage=serverAuth\nauthorityInfoAccess=OCSP;URI:http://127.0.0.1:9/ocsp\n")
    for argv in (["openssl", "req", "-new", "-key", str(key_file), "-subj", "/CN=localhost", "-out", str(csr)],
                 ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.ca_file), "-CAkey", str(ca_key), "-set_serial", "4242",
                  "-sha1", "-days", "825", "-extfile", str(ext), "-out", str(cert)]):
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
    ca_key.unlink()
    return cert, key_file


class _TlsServer:
    """Completes TLS handshakes on a port and hangs up; one thread per connection."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.create_server((LOOPBACK, 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass  # probes hang up after the ServerHello; refusals end here too
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture(scope="module")
def weak_tls_service(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    cert, key = _weak_certificate(test_ca, tmp_path_factory.mktemp("weak-tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # only the certificate and suites are weak
    context.set_ciphers("ALL:eNULL:@SECLEVEL=0")  # anonymous and NULL suites; level 0 before loading lets SHA-1 in
    context.load_cert_chain(cert, key)
    server = _TlsServer(context)
    try:
        yield _tls_target("svc-weak", server.port, test_ca.ca_file)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """Accepts TCP connections (the kernel does, from the backlog) and never says a word."""
    with socket.create_server((LOOPBACK, 0), backlog=16) as listener:
        yield int(listener.getsockname()[1])


def _outcomes(run: CatalogRun, target: str) -> dict[str, str]:
    return {check: run.outcome(check, target) for check in CHECK_IDS}


def _expect(*failed: str, na: tuple[str, ...] = ("tls-12",)) -> dict[str, str]:
    return {check: "failed" if check in failed else "n/a" if check in na else "passed" for check in CHECK_IDS}


def test_tls_checks(pytester: pytest.Pytester, nginx_sites: dict[str, Instance], weak_tls_service: Instance,
                    sample_app_good: Instance, silent_port: int, test_ca: TestCA) -> None:
    good = nginx_sites["good"]
    unusable = {"svc-plain": sample_app_good.admin["port"], "svc-silent": silent_port, "svc-closed": free_port()}
    run = run_catalog(pytester, "test_tls.py", targets=[
        *(nginx_sites[name] for name in NGINX),
        _tls_target("svc-good", good.admin["https_port"], test_ca.ca_file),
        weak_tls_service,
        *(_tls_target(name, port, test_ca.ca_file, timeout=1) for name, port in unusable.items()),
    ])

    # Every check passes on the good site (also named as a tls endpoint); each bad site fails the
    # checks built for its defect and passes the rest.  No OCSP responder in the test CA: n/a.
    assert {target: _outcomes(run, target) for target in (*(f"nginx-{n}" for n in NGINX), "svc-good", "svc-weak")} == {
        "nginx-good": _expect(),
        "svc-good": _expect(),
        "nginx-expired_cert": _expect("tls-01", "tls-03", "tls-04"),  # an expired chain does not verify either
        "nginx-wrong_host": _expect("tls-02"),
        "nginx-self_signed": _expect("tls-01"),
        "nginx-weak_key": _expect("tls-01", "tls-05"),  # OpenSSL's default level refuses a 1024-bit key too
        "nginx-legacy_tls": _expect("tls-08"),
        "svc-weak": _expect("tls-01", "tls-06", "tls-10", "tls-11", "tls-12", na=()),  # SHA-1 fails verification too
    }

    # Failure messages: target, observed, expected.
    expired = "nginx-expired_cert"
    assert run.message("tls-03", expired).startswith(f"{expired} (https://127.0.0.1:")
    assert "certificate expired 2 days ago" in run.message("tls-03", expired)
    assert run.result_for("tls-03", expired).severity.value == "critical"
    assert run.message("tls-04", expired).endswith("; expected >= 14 days (cert_min_days)")
    assert "certificate has expired" in run.message("tls-01", expired)
    assert run.message("tls-02", "nginx-wrong_host").endswith(
        "certificate is for other.example, not 127.0.0.1; expected a subjectAltName matching 127.0.0.1")
    assert "self-signed certificate" in run.message("tls-01", "nginx-self_signed")
    assert run.message("tls-05", "nginx-weak_key").endswith("RSA key of 1024 bits; expected RSA >= 2048 bits")
    legacy = run.message("tls-08", "nginx-legacy_tls")
    assert "accepts TLSv1 (" in legacy
    assert "TLSv1.1 (" in legacy
    assert "ecdsa-with-SHA1" in run.message("tls-06", "svc-weak")
    weak = run.message("tls-10", "svc-weak")
    assert "NULL" in weak
    assert "anonymous" in weak
    assert weak.endswith("expected no NULL, anonymous, EXPORT, RC4 or DES/3DES suite accepted")
    assert "certificate lifetime is 825 days" in run.message("tls-11", "svc-weak")
    assert run.result_for("tls-11", "svc-weak").severity.value == "info"

    # Evidence: what was seen, good or bad.
    assert 88 <= run.evidence("tls-04", "nginx-good")["days_left"] <= 90
    assert run.evidence("tls-01", "nginx-good")["verified"] is True
    assert run.evidence("tls-01", "nginx-self_signed")["verify_error"] == "self-signed certificate"
    assert run.evidence("tls-09", "nginx-good")["protocols_offered"] == ["TLSv1.2", "TLSv1.3"]
    refused = "refused (alert protocol_version)"
    assert run.evidence("tls-08", "nginx-good") == {"TLSv1": refused, "TLSv1.1": refused}
    assert run.evidence("tls-08", "nginx-legacy_tls")["TLSv1"].startswith("accepted (TLSv1, ")
    assert run.evidence("tls-07", "nginx-legacy_tls")["sslv3"].startswith("refused")
    assert run.evidence("tls-05", "nginx-good") == {"key_type": "EC secp256r1", "key_bits": 256}
    assert run.evidence("tls-02", "svc-good")["san_dns"] == ["localhost"]
    assert dt.datetime.fromisoformat(run.evidence("tls-03", expired)["not_after"]) < dt.datetime.now(dt.timezone.utc)
    assert all(s.endswith("TLSv1.2)") for s in run.evidence("tls-10", "svc-weak")["weak_suites_accepted"])
    assert run.evidence("tls-12", "svc-weak") == {"ocsp_responders": ["http://127.0.0.1:9/ocsp"], "stapled": False}

    # A port that is not TLS, is silent or is closed: every check an error, within one timeout.
    reasons = {"svc-plain": ("not TLS", "WRONG_VERSION_NUMBER"), "svc-silent": ("no TLS answer within 1s",),
               "svc-closed": ("connection refused",)}
    for target, words in reasons.items():
        results = [run.result_for(check, target) for check in CHECK_IDS]
        assert {r.outcome.value for r in results} == {"error"}, target
        assert all(any(w in r.message for w in words) for r in results), [r.message for r in results]
        if target != "svc-plain":  # a dead port costs one attempt; every later check cites it
            assert sum("not checked, target unusable since an earlier check" not in r.message for r in results) == 1, target

    assert run.summary.verdict.level.value == "NO-GO"
