"""TLS and certificates: every ``http`` target with an https:// URL and every ``tls`` target
(a TLS endpoint that is not HTTP: SMTPS, LDAPS, a database proxy...).

Handshakes go through Python's ``ssl`` and certificates are read with ``cryptography``.  What a
server *refuses* (SSLv3, TLS 1.0/1.1, weak suites) is asked with raw ClientHellos, since the
local OpenSSL 3 can no longer offer those itself (see ``pytest_deploycheck.tlsprobe``).
The certificate checks read the certificate through a handshake that verifies nothing, so an
expired or untrusted certificate is still inspected: it fails, it does not end in an error.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

from pytest_deploycheck import Evidence, TargetError, fail, not_applicable, read_ahead, require
from pytest_deploycheck.targets import tls_probe as tlsprobe
from pytest_deploycheck.targets.reach import first_line
from pytest_deploycheck.targets.tls import TlsTarget

pytestmark = pytest.mark.section("tls", "TLS and certificates")

MOZILLA_TLS = "Mozilla Server Side TLS (intermediate)"

#: Signature algorithms no client should accept in a certificate chain, by OID.
WEAK_SIGNATURES = {
    "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
    "1.2.840.113549.1.1.3": "md4WithRSAEncryption",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.3.14.3.2.29": "sha1WithRSASignature",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10040.4.3": "dsa-with-SHA1",
}

#: Cipher suites that give no confidentiality, no authentication, or broken ciphers.
WEAK_SUITES: dict[str, tuple[int, ...]] = {
    "NULL": (0x0001, 0x0002, 0x003B, 0xC006, 0xC010, 0xC015),
    "EXPORT": (0x0003, 0x0006, 0x0008, 0x0011, 0x0014, 0x0062, 0x0064),
    "RC4": (0x0004, 0x0005, 0xC007, 0xC011, 0x0018, 0xC016),
    "DES/3DES": (0x0009, 0x0015, 0x000A, 0x0013, 0x0016, 0xC008, 0xC012, 0x001B, 0xC017),
    "anonymous": (0x0018, 0x001B, 0x0034, 0x003A, 0x006C, 0x006D, 0x00A6, 0x00A7, 0xC015, 0xC016, 0xC017, 0xC018, 0xC019),
}


# --------------------------------------------------------------------------- helpers


def _chain(tls_endpoint: TlsTarget) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(der) for der in tls_endpoint.peer_certificates()]


def _leaf(tls_endpoint: TlsTarget) -> x509.Certificate:
    return _chain(tls_endpoint)[0]


def _subject_alt_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def _name_matches(name: str, dns_names: list[str], ip_addresses: list[str]) -> bool:
    """RFC 6125 as browsers apply it: subjectAltName only (never the CN), one leftmost wildcard label."""
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        return any(ipaddress.ip_address(ip) == address for ip in ip_addresses)
    wanted = name.lower().rstrip(".")
    for pattern in (p.lower().rstrip(".") for p in dns_names):
        if pattern == wanted:
            return True
        label, _, rest = wanted.partition(".")
        if pattern.startswith("*.") and label and rest and pattern[2:] == rest:
            return True
    return False


def _validity(cert: x509.Certificate) -> tuple[dt.datetime, dt.datetime, int]:
    """not_before, not_after and whole days left (negative once expired)."""
    not_after = cert.not_valid_after_utc
    seconds = (not_after - dt.datetime.now(dt.timezone.utc)).total_seconds()
    return cert.not_valid_before_utc, not_after, int(seconds / 86400)


def _days(days: int, not_after: dt.datetime) -> str:
    if days < 0 or not_after <= dt.datetime.now(dt.timezone.utc):
        return f"certificate expired {abs(days)} days ago ({not_after:%Y-%m-%d})"
    return f"certificate expires in {days} days ({not_after:%Y-%m-%d})"


def _offers(tls_endpoint: TlsTarget, version: ssl.TLSVersion) -> str | None:
    """The cipher negotiated when only ``version`` is allowed, or None when the server refuses it."""
    return tls_endpoint.remember(("offers", version), lambda: _negotiate(tls_endpoint, version))


def _negotiate(tls_endpoint: TlsTarget, version: ssl.TLSVersion) -> str | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # which protocols are offered, whatever the certificate
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = context.maximum_version = version
    try:
        with tls_endpoint.handshake(context) as tls:
            cipher = tls.cipher()
    except (ssl.SSLError, ConnectionResetError):
        return None
    return cipher[0] if cipher else "?"


# --------------------------------------------------------------------------- certificate


@pytest.mark.check("tls-01", "Certificate chain is trusted", severity="critical",
                   refs=(MOZILLA_TLS, "CIS NGINX Benchmark 4.1.2"),
                   answers=("tls|ssl|https valid|ok|okay|working|good|correct", "tls|https|server|web? certificate letsencrypt? valid|install|configur|deploy|trusted|issued|working|place|ready|setup|obtain|provision?",
                            "certificate_chain|intermediate_certificate|fullchain complete|valid|install|trusted?",
                            "certificate trusted|ca|authority|chain|self signed",
                            "full|complete|entire certificate_chain served|sent|included|present|installed?",
                            "intermediate_certificate|intermediate include|included|served|sent|present|installed|missing", "letsencrypt tls|https|certificate?",
                            "https|tls enabl|ready|configur|setup|working|everywhere|on production?", "https tls",
                            "domain|site|website|hostname https|tls valid|configur|enabl|working|setup|has|with",
                            "site|website|domain|url|app reachable|accessible|served|serve|load https|tls certificate?",
                            "tls|https"),
                   answers_unless=("client certificate", "apns|push|fcm", "mtls", "mutual", "pinning", "database", "postgres", "mysql", "redis", "broker", "rabbitmq|amqp|amqps|kafka|celery",
                                   "ssh", "internal ca", "load_balancer termination", "termination", "renew", "alert", "monitor"))
@read_ahead(lambda tls_endpoint: tls_endpoint.chain_verification())
def test_chain_trusted(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """A client that cannot build a chain from the server's certificate to a CA it trusts refuses
    the connection (or, worse, teaches users to click through warnings).  The chain is verified
    as a current OpenSSL client does, against the inventory's ``ca_bundle`` or else the system
    trust store: an unknown or self-signed issuer, an expired certificate, or a key or signature
    too weak for the default security level all fail.  The host name is tls-02's business.
    """
    store = tls_endpoint.ca_bundle or "the system trust store"
    evidence.record(trust_store=store)
    try:
        verified = tls_endpoint.chain_verification()  # the chain only: tls-02 judges the name, so each finding has one check
    except ssl.SSLError as exc:
        raise TargetError(f"{tls_endpoint.label}: TLS handshake failed before the chain could be verified "
                          f"({first_line(exc)}); see tls-08/tls-09 for the protocols it speaks") from None
    problem = None
    if isinstance(verified, ssl.SSLCertVerificationError):
        problem = str(verified.verify_message)
        evidence.record(verify_error=problem, verify_code=verified.verify_code)
    else:
        evidence.record(protocol=verified[0], cipher=verified[1])
    leaf = _leaf(tls_endpoint)
    evidence.record(verified=problem is None, subject=leaf.subject.rfc4514_string(), issuer=leaf.issuer.rfc4514_string())
    if problem is not None:
        fail(tls_endpoint, f"certificate chain does not verify against {store}: {problem} "
                           f"(issuer {leaf.issuer.rfc4514_string()})", "a chain to a trusted CA")


@pytest.mark.check("tls-02", "Certificate matches the host name", severity="critical",
                   refs=("RFC 6125 section 6", "CIS NGINX Benchmark 4.1.2"),
                   answers=("tls|ssl|https valid|ok|okay|working|good|correct", "tls|https|server|web? certificate letsencrypt? valid|install|configur|deploy|trusted|issued|working|place|ready|setup|obtain|provision?",
                            "certificate hostname|domain|name|san|cn match|cover|valid|correct?",
                            "certificate wildcard|domain|domains|subdomain cover|match|valid?",
                            "tls|https"),
                   answers_unless=("client certificate", "apns|push|fcm", "mtls", "mutual", "pinning", "database", "postgres", "mysql", "redis", "broker", "rabbitmq|amqp|amqps|kafka|celery",
                                   "ssh", "internal ca", "termination", "renew", "alert", "monitor"))
def test_host_name(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """Clients check that the certificate names the host they asked for; a mismatch fails every
    connection.  The name is the target's ``server_name`` (default: the URL's or address's
    host), matched as browsers do: against the subjectAltName DNS and IP entries only (the
    subject CN is ignored), with a wildcard covering exactly one leftmost label.
    """
    cert = _leaf(tls_endpoint)
    name = tls_endpoint.server_name
    dns_names, ip_addresses = _subject_alt_names(cert)
    evidence.record(server_name=name, san_dns=dns_names, san_ip=ip_addresses)
    names = ", ".join(dns_names + ip_addresses) or "no subjectAltName (clients ignore the subject CN)"
    require(_name_matches(name, dns_names, ip_addresses), tls_endpoint,
            f"certificate is for {names}, not {name}", f"a subjectAltName matching {name}")


@pytest.mark.check("tls-03", "Certificate has not expired", severity="critical",
                   refs=("RFC 5280 section 4.1.2.5",),
                   answers=("tls|ssl|https valid|ok|okay|working|good|correct", "tls|https|server|web? certificate letsencrypt? valid|install|configur|deploy|trusted|issued|working|place|ready|setup|obtain|provision?",
                            "certificate expiry not? valid? date?", "ssl|tls|cert expiry|expiration checked|check|date|ok|valid|fine|monitored?", "certificate not expiry|expired|invalid",
                            "certificate validity|valid period|date|dates",
                            "tls|https"),
                   answers_unless=("client certificate", "apns|push|fcm", "mtls", "mutual", "database", "postgres", "mysql", "redis", "ssh",
                                   "renew process", "alert", "monitor", "process"))
def test_not_expired(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """An expired (or not yet valid) certificate stops every client at once: an outage, not a
    risk.  Passes while now lies between notBefore and notAfter; tls-04 warns ahead of time.
    """
    not_before, not_after, days = _validity(_leaf(tls_endpoint))
    evidence.record(not_before=not_before.isoformat(), not_after=not_after.isoformat(), days_left=days)
    now = dt.datetime.now(dt.timezone.utc)
    require(now < not_after, tls_endpoint, _days(days, not_after), "a certificate that has not expired")
    require(now >= not_before, tls_endpoint, f"certificate is not valid before {not_before:%Y-%m-%d %H:%M} UTC",
            "a certificate that is already valid")


@pytest.mark.check("tls-04", "Certificate valid for long enough", severity="high",
                   refs=("RFC 5280 section 4.1.2.5",),
                   answers=("certificate expiry|renew day|days|margin|remaining|soon|week|month|automatic?",
                            "ssl|tls|cert expiry|expiration day|days|margin|remaining|soon|week|weeks|month|months",
                            "certificate validity day|days|remaining|margin|left",
                            "certificate valid more|over|least|beyond day|days|week|weeks|month|months",
                            "certificate automatic renew letsencrypt?",
                            "certificate renew|renewal configur|automatic|working|test|cron|timer|schedul|verif letsencrypt?",
                            "letsencrypt renew|automatic|cron|timer"),
                   answers_unless=("client certificate", "apns|push|fcm", "mtls", "database", "postgres", "mysql", "redis", "ssh"))
def test_expiry_margin(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """A go-live should not be followed within days by a certificate outage: renewal must have
    happened, or be proven to work, before the margin runs out.  Passes when the certificate
    stays valid for at least ``cert_min_days`` (default 14) more days.
    """
    _, not_after, days = _validity(_leaf(tls_endpoint))
    minimum = tls_endpoint.threshold("cert_min_days")
    evidence.record(days_left=days, not_after=not_after.isoformat(), cert_min_days=minimum)
    require(days >= minimum, tls_endpoint, _days(days, not_after), f">= {minimum} days (cert_min_days)")


@pytest.mark.check("tls-05", "Certificate key is strong enough", severity="high",
                   refs=(MOZILLA_TLS, "NIST SP 800-131A Rev. 2", "CA/Browser Forum Baseline Requirements 6.1.5"),
                   answers=("cryptographic|crypto|private? key|keys 2048|3072|4096|256|bit|bits", "certificate|tls key_size|key_length|key_strength|2048|4096|rsa|ecdsa|bit bits?",
                            "key_size|key_length 2048|4096|bit|bits|strong?"),
                   answers_unless=("ssh|jwt|signing|gpg|pgp|backup|backups",)
)
def test_key_strength(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """A short key can be factored or broken, and current clients refuse it.  Passes for RSA
    (and DSA) keys of at least 2048 bits, EC keys on curves of at least 256 bits, Ed25519 and
    Ed448; fails for anything smaller.
    """
    key = _leaf(tls_endpoint).public_key()
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)):
        kind, bits, minimum = ("RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"), key.key_size, 2048
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind, bits, minimum = f"EC {key.curve.name}", key.key_size, 256
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        evidence.record(key_type=type(key).__name__.removesuffix("PublicKey"))
        return
    else:
        fail(tls_endpoint, f"certificate key of unknown type {type(key).__name__}", "RSA >= 2048, EC >= 256 bits or EdDSA")
    evidence.record(key_type=kind, key_bits=bits)
    require(bits >= minimum, tls_endpoint, f"{kind} key of {bits} bits", f"{kind.split()[0]} >= {minimum} bits")


@pytest.mark.check("tls-06", "No SHA-1 or MD5 signatures in the chain", severity="high",
                   refs=("CA/Browser Forum Baseline Requirements 7.1.3", "NIST SP 800-131A Rev. 2"),
                   answers=("sha_1|sha1|md5 signature|certificate|chain", "certificate signature algorithm|sha256|strong|weak"))
def test_signature_algorithm(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """Collisions make SHA-1 and MD5 signatures forgeable, and browsers reject them.  Every
    certificate the server sends is checked, except a self-signed root (its signature is never
    relied on).  Python before 3.13 exposes only the leaf certificate.
    """
    chain = _chain(tls_endpoint)
    seen, weak = [], []
    for position, cert in enumerate(chain):
        if position and cert.issuer == cert.subject:
            continue
        oid = cert.signature_algorithm_oid.dotted_string
        digest = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else "none (EdDSA)"
        seen.append({"subject": cert.subject.rfc4514_string(), "signature_hash": WEAK_SIGNATURES.get(oid, digest)})
        if oid in WEAK_SIGNATURES:
            weak.append(f"{cert.subject.rfc4514_string()} is signed with {WEAK_SIGNATURES[oid]}")
    evidence.record(certificates=seen)
    require(not weak, tls_endpoint, "; ".join(weak), "SHA-256 or stronger signatures")


# --------------------------------------------------------------------------- protocols and suites


@pytest.mark.check("tls-07", "SSLv3 refused", severity="high",
                   refs=("dev-sec ssl-baseline: ssl3", "RFC 7568", "CIS NGINX Benchmark 4.1.4"),
                   answers=("sslv3|sslv2 disabl|refus|off|no?", "ssl v3|3 disabl|refus|off"))
@read_ahead(lambda tls_endpoint: tls_endpoint.probe(tlsprobe.SSL3, tlsprobe.ALL_SUITES))
def test_sslv3_refused(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """SSLv3 is broken (POODLE) and prohibited by RFC 7568; a server that still accepts it lets
    an attacker downgrade old clients.  A ClientHello offering at most SSLv3 must be refused.
    """
    answer = tls_endpoint.probe(tlsprobe.SSL3, tlsprobe.ALL_SUITES)
    evidence.record(sslv3=answer.describe())
    require(not (answer.accepted and answer.version == tlsprobe.SSL3), tls_endpoint,
            f"SSLv3 {answer.describe()}", "SSLv3 refused")


@pytest.mark.check("tls-08", "TLS 1.0 and 1.1 refused", severity="medium",
                   refs=("dev-sec ssl-baseline: tls1.0, tls1.1", "RFC 8996", "CIS NGINX Benchmark 4.1.4", MOZILLA_TLS),
                   answers=("old_tls|tls_1_0|tls_1_1|tlsv1_0|tlsv1_1 disabl|refus|off|no|deprecat?",
                            "modern_tls|tls_1_2|tlsv1_2|tls_1_3 only|min|minimum|plus|above|enforc",
                            "tls version old|legacy|deprecat|weak|insecure disabl|refus?",
                            "weak|legacy|old|insecure protocol|protocols disabl|refus?", "tls harden|hardening|grade|rating|score",
                            "ssl_labs|ssllabs|testssl grade|rating|score|a?"))
@read_ahead(lambda tls_endpoint: [tls_endpoint.probe(v, tlsprobe.ALL_SUITES) for v in (tlsprobe.TLS10, tlsprobe.TLS11)])
def test_legacy_tls_refused(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """TLS 1.0 and 1.1 are deprecated (RFC 8996): CBC and SHA-1 constructions only, excluded by
    PCI DSS, and refused by every current browser, so accepting them serves no client worth
    having while keeping downgrade paths open.  Hellos offering at most TLS 1.0, then at most
    TLS 1.1, must both be refused.
    """
    accepted = []
    for version in (tlsprobe.TLS10, tlsprobe.TLS11):
        answer = tls_endpoint.probe(version, tlsprobe.ALL_SUITES)
        evidence.record(**{tlsprobe.VERSION_NAMES[version]: answer.describe()})
        if answer.accepted and answer.version == version:
            accepted.append(f"{answer.version_name} ({answer.cipher_name})")
    require(not accepted, tls_endpoint, f"accepts {', '.join(accepted)}", "TLS 1.0 and 1.1 refused (TLS 1.2+ only)")


@pytest.mark.check("tls-09", "TLS 1.2 or 1.3 offered", severity="high",
                   refs=("dev-sec ssl-baseline: tls1.2", MOZILLA_TLS),
                   answers=("modern_tls|tls_1_2|tls_1_3|tlsv1_2|tlsv1_3 enabl|support|offer|on?",
                            "tls_version|protocol_version modern|current|supported|min|minimum?",
                            "https|tls enabl|ready|configur|setup|working|everywhere|on production?", "https tls",
                            "domain|site|website|hostname https|tls valid|configur|enabl|working|setup|has|with",
                            "tls harden|hardening|grade|rating|score", "ssl_labs|ssllabs|testssl grade|rating|score|a?"),
                   answers_unless=("database", "postgres", "mysql", "redis", "broker", "rabbitmq|amqp|amqps|kafka|celery", "ssh", "load_balancer termination", "termination",
                                   "renew", "client certificate", "mtls", "mutual", "alert", "monitor", "certificate"))
@read_ahead(lambda tls_endpoint: [_offers(tls_endpoint, v) for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)])
def test_modern_tls_offered(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """Current clients speak only TLS 1.2 and 1.3; a server offering neither cannot be reached
    safely.  Passes when a handshake limited to TLS 1.2, or to TLS 1.3, completes.
    """
    offered = {name: _offers(tls_endpoint, version)
               for name, version in (("TLSv1.2", ssl.TLSVersion.TLSv1_2), ("TLSv1.3", ssl.TLSVersion.TLSv1_3))}
    evidence.record(protocols_offered=[name for name, cipher in offered.items() if cipher], ciphers=offered)
    if not any(offered.values()):
        answer = tls_endpoint.probe(tlsprobe.TLS12, tlsprobe.ALL_SUITES)  # a port that is not TLS at all is an error
        fail(tls_endpoint, f"neither TLS 1.2 nor TLS 1.3 completes a handshake (TLS 1.2 hello {answer.describe()})",
             "TLS 1.2 or 1.3 offered")


@pytest.mark.check("tls-10", "No weak cipher suites accepted", severity="high",
                   refs=("dev-sec ssl-baseline: rc4", "RFC 7465", "CIS NGINX Benchmark 4.1.5", MOZILLA_TLS),
                   answers=("tls|https? cipher weak|strong|modern|secure|disabl|insecure|allowed|suite|only|list",
                            "rc4|3des|des cipher? disabl|refus|off?", "export|null cipher|ciphers|suite|suites", "tls harden|hardening|grade|rating|score",
                            "ssl_labs|ssllabs|testssl grade|rating|score|a?"),
                   answers_unless=("ssh",))
@read_ahead(lambda tls_endpoint: _weak_accepted(tls_endpoint))
def test_no_weak_suites(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """NULL suites encrypt nothing, anonymous suites authenticate no one (a man in the middle
    walks in), EXPORT suites are 40/56-bit, RC4 is broken (RFC 7465) and DES/3DES have 64-bit
    blocks (SWEET32).  Hellos offering only those suites, at TLS 1.2 and again at TLS 1.0
    (where EXPORT lived), must be refused; each suite a server picks is removed and the hello
    sent again, so the evidence lists every weak suite accepted.
    """
    weak = _weak_suites()
    accepted = _weak_accepted(tls_endpoint)
    evidence.record(weak_suites_accepted=accepted, weak_suites_offered=len(weak))
    require(not accepted, tls_endpoint, f"accepts {', '.join(accepted)}", "no NULL, anonymous, EXPORT, RC4 or DES/3DES suite accepted")


def _weak_suites() -> list[int]:
    return sorted({code for codes in WEAK_SUITES.values() for code in codes})


def _weak_accepted(tls_endpoint: TlsTarget) -> list[str]:
    """Every weak suite the server picks, at TLS 1.2 and at TLS 1.0: each one picked is removed
    and the hello sent again (the same hellos each time: ``probe`` answers a repeat from memory)."""
    accepted: list[str] = []
    for version in (tlsprobe.TLS12, tlsprobe.TLS10):
        offered = _weak_suites()
        while offered:  # at most one round trip per weak suite
            answer = tls_endpoint.probe(version, offered)
            if not answer.accepted or answer.cipher not in offered:
                break
            offered.remove(answer.cipher or 0)
            families = [family for family, codes in WEAK_SUITES.items() if answer.cipher in codes]
            accepted.append(f"{answer.cipher_name} ({'/'.join(families)}, {answer.version_name})")
    return accepted


# --------------------------------------------------------------------------- information


@pytest.mark.check("tls-11", "Certificate lifetime", severity="info",
                   refs=("CA/Browser Forum Baseline Requirements 6.3.2",),
                   answers=("certificate lifetime|validity period|398 day|days?",))
def test_certificate_lifetime(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """Publicly trusted certificates may not be valid for more than 398 days; a longer one is
    either from a private CA (fine, if intended) or a sign of manual renewal that will be
    forgotten.  Information: fails when the lifetime exceeds ``cert_max_lifetime_days``.
    """
    not_before, not_after, _ = _validity(_leaf(tls_endpoint))
    lifetime = (not_after - not_before).days
    maximum = tls_endpoint.threshold("cert_max_lifetime_days")
    evidence.record(lifetime_days=lifetime, not_before=not_before.isoformat(), not_after=not_after.isoformat())
    require(lifetime <= maximum, tls_endpoint, f"certificate lifetime is {lifetime} days "
            f"({not_before:%Y-%m-%d} to {not_after:%Y-%m-%d})", f"<= {maximum} days (cert_max_lifetime_days)")


@pytest.mark.check("tls-12", "OCSP stapling", severity="info",
                   refs=("RFC 6066 section 8", "CIS NGINX Benchmark 4.1.7"),
                   answers=("ocsp stapling?", "certificate revocation|revoked check|stapling"))
@read_ahead(lambda tls_endpoint: tls_endpoint.probe(tlsprobe.TLS12, tlsprobe.ALL_SUITES, status_request=True))
def test_ocsp_stapling(tls_endpoint: TlsTarget, evidence: Evidence) -> None:
    """A stapled OCSP response spares clients a query to the CA (privacy, latency) and lets
    them see a revocation.  Not applicable when the certificate names no OCSP responder (many
    CAs, Let's Encrypt among them, have dropped OCSP).  Information: fails when the server does
    not acknowledge a TLS 1.2 status request.
    """
    try:
        access = _leaf(tls_endpoint).extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        access = x509.AuthorityInformationAccess([])
    responders = [d.access_location.value for d in access if d.access_method == AuthorityInformationAccessOID.OCSP]
    if not responders:
        not_applicable(f"{tls_endpoint.name}: the certificate names no OCSP responder; there is nothing to staple")
    answer = tls_endpoint.probe(tlsprobe.TLS12, tlsprobe.ALL_SUITES, status_request=True)
    if not answer.accepted:
        not_applicable(f"{tls_endpoint.name}: TLS 1.2 {answer.describe()}; a TLS 1.3 staple travels encrypted and is not observed")
    stapled = tlsprobe.EXT_STATUS_REQUEST in answer.extensions
    evidence.record(ocsp_responders=responders, stapled=stapled)
    require(stapled, tls_endpoint, "no OCSP response stapled (status_request not acknowledged)",
            "an OCSP response stapled to the handshake")
