"""DNS and mail domain: every ``dns`` target, a zone as its nameservers publish it.

The checks ask the servers the inventory lists (by address) or the system's resolver, plain
queries for names inside the zone: the records a go-live changes, the zone's version on each
server, the TTLs that decide how fast a change or a rollback reaches clients, the records that
keep others from sending mail in the domain's name (SPF, DMARC, DKIM) or getting certificates
for it (CAA), DNSSEC signatures, whether a server hands the whole zone to anyone (AXFR), and
whether the mail exchangers resolve.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import time
from typing import Any

import pytest

from pytest_deploycheck import Evidence, TargetError, not_applicable, require
from pytest_deploycheck.targets.dns import DnsTarget, Lookup

pytestmark = pytest.mark.section("dns", "DNS and mail domain")

#: SPF terms that cost the receiver a DNS lookup (RFC 7208 4.6.4: at most 10 per check).
_SPF_LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")
#: Most problems spelled out in one message; the evidence has them all.
_SHOWN = 6


def _joined(problems: list[str]) -> str:
    shown = "; ".join(problems[:_SHOWN])
    return shown + (f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else "")


def _short(name: str, zone: str) -> str:
    """``www.example.com.`` -> ``www.example.com`` (messages read names without the root dot)."""
    return name.rstrip(".") or zone


@pytest.mark.check("dns-01", "Names resolve to the expected records", severity="high",
                   refs=("RFC 1034", "RFC 2181"),
                   answers=("dns records configur|set|created|updated|correct|ready|point?", "dns configur|setup|set_up|ready|verified|updated|cutover|switch",
                            "domain|hostname|dns point|pointing|resolve|resolves|mapped load_balancer|server|ip|cdn|production?",
                            "custom domain configur|set|connected", "domain configur|connected|set_up|live|ready dns?",
                            "a|aaaa|cname|mx record", "a_record|cname_record|mx_record configur|set|created?",
                            "dns propagat", "hostname resolve|resolves"),
                   answers_unless=("coredns", "kubernetes", "internal service", "service discovery", "reverse", "ptr", "dnssec", "spf", "dkim",
                                   "dmarc", "caa", "lifetime", "transfer", "axfr", "failover", "registration|registrar|renew|expiry"))
def test_records_resolve(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """A go-live is often a DNS change, and the one a browser meets first: a name still pointing
    at the old server, a record created in the wrong zone, a typo in an address.  Passes when
    every server asked gives, for every line of ``records``, exactly the values listed (any
    value for a line without one).  With several nameservers, each is asked: a record right on
    one and stale on another answers differently from one query to the next."""
    problems: list[str] = []
    seen: dict[str, dict[str, str]] = {}
    for expected in dns_zone.expected:
        for server in dns_zone.servers:
            found = dns_zone.lookup(expected.name, expected.rdtype, server)
            seen.setdefault(str(server), {})[f"{_short(expected.name, dns_zone.zone)} {expected.rdtype}"] = found.describe()
            if expected.values is None:
                ok = found.found
                wanted = f"a {expected.rdtype} record"
            else:
                ok = found.rcode == "NOERROR" and set(found.values) == set(expected.values)
                wanted = ", ".join(sorted(expected.values))
            if not ok:
                problems.append(f"{server} gives {_short(expected.name, dns_zone.zone)} {expected.rdtype} {found.describe()}, not {wanted}")
    evidence.record(answers=seen, expected=[e.line for e in dns_zone.expected])
    require(not problems, dns_zone, _joined(problems), f"the records of dns.{dns_zone.name}.records from every server asked")


@pytest.mark.check("dns-02", "Nameservers serve the same zone version", severity="medium",
                   refs=("RFC 1996 (NOTIFY)", "RFC 1982 (serial arithmetic)"),
                   answers=("nameservers|name_server|secondary_dns|secondary consistent|sync|synchronised|agree|identical",
                            "zone serial|version identical|consistent|same", "dns propagat|propagated complete|everywhere|fully?",
                            "dns replication|secondary|slave"))
def test_nameservers_agree(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """Secondary nameservers copy the zone from the primary when notified; a secondary that
    missed the change keeps serving the old records to the share of clients that ask it, until
    its refresh or for good.  Passes when every listed server gives the same SOA serial.  It needs
    at least two servers in ``nameservers`` (the zone's authoritative ones)."""
    servers = dns_zone.servers
    if not dns_zone.listed or len(servers) < 2:
        not_applicable(f"one server asked; list the zone's authoritative servers in dns.{dns_zone.name}.nameservers to compare them",
                       unexamined=True)
    serials = {str(server): dns_zone.soa_serial(server) for server in servers}
    evidence.record(serials=serials)
    missing = [s for s, serial in serials.items() if serial is None]
    distinct = sorted({serial for serial in serials.values() if serial is not None})
    observed = "; ".join([f"{s} gives no SOA for {dns_zone.zone}" for s in missing]
                         + ([", ".join(f"{s} serial {serial}" for s, serial in serials.items() if serial is not None)] if len(distinct) > 1 else []))
    require(not missing and len(distinct) == 1, dns_zone, observed, "one SOA serial on every nameserver (a secondary that missed a change serves the old zone)")


@pytest.mark.check("dns-03", "DNS TTLs short enough to change course", severity="medium",
                   refs=("RFC 1035 3.2.1 (TTL)",),
                   answers=("dns lifetime lowered|reduced|short|low|set", "lifetime lowered|reduced before? cutover|migration|switch|launch",
                            "dns lifetime"),
                   answers_unless=("token", "session", "cache_control", "cookie", "jwt", "certificate"))
def test_ttls_bounded(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """A record's TTL is how long resolvers keep it: with a TTL of a day, a wrong answer or the
    old address after a rollback reaches clients for a day whatever is changed.  Before a
    cutover TTLs are lowered for that reason.  Passes when every expected record's TTL, on every
    server asked, is at most ``dns_max_ttl`` (default 3600 s)."""
    limit = int(dns_zone.threshold("dns_max_ttl"))
    ttls: dict[str, int] = {}
    for expected in dns_zone.expected:
        for server in dns_zone.servers:
            found = dns_zone.lookup(expected.name, expected.rdtype, server)
            if found.ttl is not None:
                key = f"{_short(expected.name, dns_zone.zone)} {expected.rdtype}"
                ttls[key] = max(ttls.get(key, 0), found.ttl)
    evidence.record(ttls=ttls, dns_max_ttl=limit)
    if not ttls:
        raise TargetError(f"{dns_zone.label}: no expected record was found to read a TTL from (dns-01 says why)")
    long = [f"{name} TTL {ttl} s" for name, ttl in sorted(ttls.items()) if ttl > limit]
    require(not long, dns_zone, _joined(long), f"at most {limit} s (dns_max_ttl)")


def _spf_records(dns_zone: DnsTarget) -> list[str]:
    return [t for t in dns_zone.txt("@") if re.match(r"(?i)v=spf1(\s|$)", t)]


@pytest.mark.check("dns-04", "SPF record published and strict", severity="medium",
                   refs=("RFC 7208 (SPF)", "M3AAWG Email Authentication Recommended Best Practices"),
                   answers=("spf record|configur|set|published|policy?", "email|emails|mail spf dkim|dmarc?", "email|mail authentication spf|configur|set_up",
                            "email spoofing|spoof protect|prevent|prevention", "mail domain authenticat|secured|protected"),
                   answers_unless=("single point", "failure", "redundan"))
def test_spf(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """SPF lists the servers that may send mail as the domain; without it, or ending in ``+all``
    or ``?all``, anyone can, and receivers cannot tell phishing from the real thing.  A domain
    that sends no mail publishes ``v=spf1 -all``.  Passes when the zone apex has exactly one SPF
    record that ends in ``-all`` or ``~all`` (or hands over with ``redirect=``) and costs a
    receiver at most 10 lookups in its own terms (includes are not followed)."""
    records = _spf_records(dns_zone)
    evidence.record(spf=records)
    apex = _short(dns_zone.zone, dns_zone.zone)
    if len(records) != 1:
        require(False, dns_zone, f"{apex} has {len(records) or 'no'} SPF record{'s' if len(records) != 1 else ''}"
                + (" (receivers treat two as an error)" if len(records) > 1 else ""),
                "one TXT record 'v=spf1 ... -all' at the apex ('v=spf1 -all' for a domain that sends no mail)")
    terms = records[0].split()[1:]
    final = next((t for t in terms if re.fullmatch(r"[-~+?]?all", t, re.I)), None)
    redirect = any(t.lower().startswith("redirect=") for t in terms)
    lookups = sum(1 for t in terms if re.match(r"[-~+?]?(include:|a\b|mx\b|ptr\b|exists:|redirect=)", t, re.I))
    problems = []
    if final is None and not redirect:
        problems.append("it has no 'all' term, so mail from any other server is neutral")
    elif final is not None and final.lstrip("+").lower() in ("all", "?all"):
        problems.append(f"it ends in '{final}', which lets any server send as {apex}")
    if lookups > 10:
        problems.append(f"its own terms cost {lookups} DNS lookups (receivers stop at 10 and fail it)")
    evidence.record(all=final, redirect=redirect, lookups=lookups)
    require(not problems, dns_zone, f"SPF '{records[0]}': {'; '.join(problems)}" if problems else "", "an SPF record ending in -all or ~all, at most 10 lookups")


def _tags(record: str) -> dict[str, str]:
    """``v=DMARC1; p=reject; pct=100`` -> ``{"v": "DMARC1", "p": "reject", "pct": "100"}``."""
    tags = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags[key.strip().lower()] = value.strip()
    return tags


@pytest.mark.check("dns-05", "DMARC policy enforced", severity="medium",
                   refs=("RFC 7489 (DMARC)", "M3AAWG Email Authentication Recommended Best Practices"),
                   answers=("dmarc record|policy|configur|set|published|enforced|reject|quarantine?", "email|emails|mail dmarc spf|dkim?", "email|mail authentication dmarc|configur|set_up",
                            "email spoofing|spoof protect|prevent|prevention"))
def test_dmarc(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """DMARC tells receivers what to do with mail that claims the domain but fails SPF and
    DKIM.  ``p=none`` only reports: the forged mail is still delivered.  Passes when
    ``_dmarc.<zone>`` has one DMARC record with ``p=quarantine`` or ``p=reject``, no weaker
    ``sp=`` for subdomains and ``pct`` 100 (or unset)."""
    name = f"_dmarc.{_short(dns_zone.zone, dns_zone.zone)}"
    records = [t for t in dns_zone.txt("_dmarc") if re.match(r"(?i)v\s*=\s*DMARC1\s*(;|$)", t)]
    evidence.record(dmarc=records)
    if len(records) != 1:
        require(False, dns_zone, f"{name} has {len(records) or 'no'} DMARC record{'s' if len(records) != 1 else ''}",
                "one TXT record 'v=DMARC1; p=reject' (or p=quarantine) at _dmarc")
    tags = _tags(records[0])
    problems = []
    policy = tags.get("p", "").lower()
    if policy not in ("quarantine", "reject"):
        problems.append(f"p={policy or '(missing)'}" + (" only reports: forged mail is still delivered" if policy == "none" else ""))
    sub = tags.get("sp", "").lower()
    if sub and sub not in ("quarantine", "reject"):
        problems.append(f"sp={sub} leaves subdomains unprotected")
    if tags.get("pct", "100") != "100":
        problems.append(f"pct={tags['pct']} applies the policy to part of the mail only")
    evidence.record(tags=tags)
    require(not problems, dns_zone, f"{name} '{records[0]}': {'; '.join(problems)}" if problems else "",
            "p=quarantine or p=reject for all mail (pct 100) and subdomains")


@pytest.mark.check("dns-06", "CAA names the certificate authorities", severity="low",
                   refs=("RFC 8659 (CAA)", "CA/Browser Forum Baseline Requirements 3.2.2.8"),
                   answers=("caa record|records|configur|set|published?", "certificate authority authorization",
                            "certificate issuance restricted|limited|locked"))
def test_caa(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """Certificate authorities must look up CAA before issuing: without it any of them may issue
    a certificate for the domain to whoever passes its validation.  Passes when the zone apex
    has CAA ``issue`` records and, when ``caa_issuers`` is set, they allow exactly those
    authorities (``issuewild`` too, when present).  Only the apex is read, not its parents."""
    import dns.rdatatype

    found = dns_zone.lookup("@", "CAA")
    rrset = next((r for r in found.response.answer if r.rdtype == dns.rdatatype.CAA), None)
    entries = [(r.tag.decode("ascii", "replace").lower(), r.value.decode("utf-8", "replace")) for r in rrset] if rrset is not None else []
    evidence.record(caa=[f"{tag} {value}" for tag, value in entries])
    apex = _short(dns_zone.zone, dns_zone.zone)

    def issuers(tag: str) -> set[str]:
        return {value.split(";")[0].strip().lower() for t, value in entries if t == tag and value.split(";")[0].strip()}

    issue = issuers("issue")
    if not any(tag == "issue" for tag, _ in entries):
        require(False, dns_zone, f"{apex} has no CAA issue record: any certificate authority may issue for it",
                "CAA issue records naming the authorities the domain uses (0 issue \"letsencrypt.org\")")
    wanted = {str(s).lower() for s in dns_zone.setting("caa_issuers") or ()}
    if not wanted:
        return
    problems = []
    if issue != wanted:
        problems.append(f"issue allows {', '.join(sorted(issue)) or 'no authority'}")
    wild = issuers("issuewild")
    if wild - wanted:
        problems.append(f"issuewild allows {', '.join(sorted(wild - wanted))}")
    require(not problems, dns_zone, f"{apex} CAA: {'; '.join(problems)}", f"exactly {', '.join(sorted(wanted))} (dns.{dns_zone.name}.caa_issuers)")


@pytest.mark.check("dns-07", "Zone transfers refused", severity="high",
                   refs=("NIST SP 800-81-2 (Secure DNS Deployment Guide)", "CWE-200"),
                   answers=("zone transfer|transfers|axfr disabled|restricted|refused|blocked|locked?", "axfr"))
def test_zone_transfer_refused(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """A zone transfer (AXFR) hands out every name of the zone: internal hosts, staging
    systems, forgotten services, a map for an attacker.  Only secondaries should get it, and
    those authenticate (TSIG) or are allowed by address.  Passes when every listed server
    refuses an AXFR from here; only the first message of an answer is read.  It needs the
    zone's authoritative servers in ``nameservers``: a resolver never hands out zones."""
    if not dns_zone.listed:
        not_applicable(f"the system's resolver was asked, not the zone's nameservers; list them in dns.{dns_zone.name}.nameservers",
                       unexamined=True)
    handed = {str(server): got for server in dns_zone.servers if (got := dns_zone.transfer(server)) is not None}
    evidence.record(transfers={str(s): handed.get(str(s), "refused") for s in dns_zone.servers})
    observed = "; ".join(f"{server} handed out the zone to this client ({got})" for server, got in handed.items())
    require(not handed, dns_zone, observed, "AXFR refused to anyone but the zone's secondaries")


def _signed(found: Lookup, zone: str, keys: Any, now: float) -> tuple[list[str], dict[str, float]]:
    """Signatures of one answer that do not verify against the zone's DNSKEYs (or are missing),
    and when the signatures over each RRset expire (epoch seconds)."""
    import dns.dnssec
    import dns.rdataclass
    import dns.rdatatype

    problems: list[str] = []
    expiry: dict[str, float] = {}
    for rrset in found.response.answer:
        if rrset.rdtype == dns.rdatatype.RRSIG:
            continue
        what = f"{_short(rrset.name.to_text(), zone)} {dns.rdatatype.to_text(rrset.rdtype)}"
        sigs = found.response.get_rrset(found.response.answer, rrset.name, dns.rdataclass.IN, dns.rdatatype.RRSIG, rrset.rdtype)
        if sigs is None:
            problems.append(f"{found.server}: {what} is not signed")
            continue
        try:
            dns.dnssec.validate(rrset, sigs, {keys[0]: keys[1]}, now=now)
        except dns.dnssec.ValidationFailure as exc:
            problems.append(f"{found.server}: the signature over {what} does not verify ({exc})")
        expiry[what] = float(max(sig.expiration for sig in sigs))
    return problems, expiry


@pytest.mark.check("dns-08", "DNSSEC signatures valid and not about to expire", severity="high",
                   refs=("RFC 4033-4035 (DNSSEC)", "NIST SP 800-81-2"),
                   answers=("dnssec enabled|configur|signed|valid|set?", "zone signed", "dns signatures|signing valid?"))
def test_dnssec(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """A signed zone whose signatures expire, because re-signing stopped, disappears for every
    validating resolver (a large share of the internet's users) while it looks fine from an
    unvalidating one.  Passes when the zone's DNSKEY set, SOA and expected records carry
    signatures that verify against the zone's keys now and stay valid at least
    ``dnssec_min_days`` (default 7), on every server asked.  An unsigned zone fails when
    ``dnssec: true``, and is n/a otherwise.  The parent's DS record (the chain of trust) is not
    read: ask the registrar or a validating resolver for it."""
    import dns.name
    import dns.rdatatype

    now = time.time()
    minimum = float(dns_zone.threshold("dnssec_min_days"))
    problems: list[str] = []
    expiring: list[str] = []
    days_left: list[float] = []
    signed_anywhere = False
    for server in dns_zone.servers:
        keyset = dns_zone.lookup("@", "DNSKEY", server, dnssec=True)
        keys = next((r for r in keyset.response.answer if r.rdtype == dns.rdatatype.DNSKEY and r.name == dns.name.from_text(dns_zone.zone)), None)
        if keys is None:
            if signed_anywhere or (dns_zone.setting("dnssec") is True):
                problems.append(f"{server} serves {_short(dns_zone.zone, dns_zone.zone)} without DNSKEY (unsigned)")
            continue
        signed_anywhere = True
        zone_key = (dns.name.from_text(dns_zone.zone), keys)
        lookups = [keyset, dns_zone.lookup("@", "SOA", server, dnssec=True)]
        lookups += [dns_zone.lookup(e.name, e.rdtype, server, dnssec=True) for e in dns_zone.expected]
        expiry: dict[str, float] = {}
        for found in lookups:
            found_problems, found_expiry = _signed(found, dns_zone.zone, zone_key, now)
            problems += [p for p in found_problems if p not in problems]
            expiry.update(found_expiry)
        days_left += [(t - now) / 86400 for t in expiry.values()]
        soon = sorted((t, what) for what, t in expiry.items() if (t - now) / 86400 < minimum)
        if soon:
            first = soon[0][0]
            until = dt.datetime.fromtimestamp(first, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            state = "have expired" if first <= now else f"expire in {(first - now) / 86400:.1f} days"
            names = [what for _, what in soon]
            expiring.append(f"{server}: signatures over {', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''} {state} ({until})")
    evidence.record(signed=signed_anywhere, soonest_expiry_days=round(min(days_left), 1) if days_left else None, dnssec_min_days=minimum)
    if not signed_anywhere and dns_zone.setting("dnssec") is not True:
        not_applicable(f"the zone is not signed and dns.{dns_zone.name}.dnssec is not true")
    require(not problems and not expiring, dns_zone, _joined(problems + expiring),
            f"every answer signed, verifying against the zone's DNSKEY and valid at least {minimum:g} days (dnssec_min_days)")


@pytest.mark.check("dns-09", "DKIM keys published for the domain's mail", severity="medium",
                   refs=("RFC 6376 (DKIM)", "RFC 8301 (key sizes)"),
                   answers=("dkim key|keys|record|records|configur|set|published|signing|enabled?", "email|emails|mail dkim spf|dmarc?", "email|mail authentication dkim|configur|set_up",
                            "email|mail signing configur|enabled"))
def test_dkim(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """Receivers verify a message's DKIM signature against the key the domain publishes at
    ``<selector>._domainkey``; a missing or revoked key makes every signed message fail, and
    DMARC with it.  Passes when each selector of ``dkim_selectors`` has a DKIM record with a
    key (RSA at least ``dkim_min_bits``, default 1024, or Ed25519).  Selectors cannot be listed
    from DNS: a domain whose SPF lets servers send mail must name them; one with
    ``v=spf1 -all`` sends none and this is n/a."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    selectors = [str(s) for s in dns_zone.setting("dkim_selectors") or ()]
    if not selectors:
        spf = _spf_records(dns_zone)
        if spf and spf[0].split()[1:] == ["-all"]:
            not_applicable(f"{_short(dns_zone.zone, dns_zone.zone)} sends no mail (SPF '{spf[0]}')")
        raise TargetError(f"{dns_zone.label}: cannot look: DKIM selectors are not listed in DNS, and the domain's SPF "
                          f"{('lets servers send mail (' + repr(spf[0]) + ')') if spf else 'is missing'}; "
                          f"name them in dns.{dns_zone.name}.dkim_selectors")
    minimum = int(dns_zone.threshold("dkim_min_bits"))
    problems: list[str] = []
    keys: dict[str, str] = {}
    for selector in selectors:
        name = f"{selector}._domainkey.{_short(dns_zone.zone, dns_zone.zone)}"
        records = [t for t in dns_zone.txt(f"{selector}._domainkey") if "p=" in t.replace(" ", "")]
        if not records:
            problems.append(f"{name} has no DKIM record")
            keys[selector] = "missing"
            continue
        tags = _tags(records[0])
        key_type = tags.get("k", "rsa").lower()
        material = re.sub(r"\s+", "", tags.get("p", ""))
        if not material:
            problems.append(f"{name} has an empty key (p=): the key is revoked")
            keys[selector] = "revoked"
            continue
        try:
            der = base64.b64decode(material, validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{name}: p= is not base64")
            keys[selector] = "unreadable"
            continue
        if key_type == "ed25519":
            keys[selector] = "ed25519"
            if len(der) != 32:
                problems.append(f"{name}: an Ed25519 key of {len(der)} bytes, not 32")
            continue
        try:
            key = load_der_public_key(der)
        except ValueError:
            problems.append(f"{name}: p= is not an RSA public key")
            keys[selector] = "unreadable"
            continue
        if not isinstance(key, rsa.RSAPublicKey):
            problems.append(f"{name}: k={key_type} but the key is not RSA")
            keys[selector] = "unreadable"
            continue
        keys[selector] = f"rsa {key.key_size} bits"
        if key.key_size < minimum:
            problems.append(f"{name}: an RSA key of {key.key_size} bits")
    evidence.record(keys=keys, dkim_min_bits=minimum)
    require(not problems, dns_zone, _joined(problems), f"a DKIM key for each selector, RSA at least {minimum} bits (dkim_min_bits) or Ed25519")


@pytest.mark.check("dns-10", "Mail exchangers resolve to addresses", severity="medium",
                   refs=("RFC 5321 5.1 (locating the target host)", "RFC 2181 10.3 (MX must not name an alias)", "RFC 7505 (null MX)"),
                   answers=("mx record|records resolve|resolves|valid", "mail_server|mail_exchanger|mx host|hostname|hosts resolv|resolves|reachable"),
                   answers_unless=("reverse", "ptr"))
def test_mx_hosts(dns_zone: DnsTarget, evidence: Evidence) -> None:
    """Mail for the domain goes to the hosts its MX records name; a name that does not resolve,
    or resolves only through an alias (CNAME, which RFC 2181 forbids for an MX target and some
    senders refuse), loses the mail or delays it until the sender gives up.  Passes when every
    MX of the apex inside the zone has an A or AAAA record of its own, or the domain publishes a
    null MX (``0 .``: it accepts no mail).  Exchangers outside the zone are listed, not asked
    (the zone's servers do not answer for other zones).  n/a without MX records."""
    import dns.rdatatype

    found = dns_zone.lookup("@", "MX")
    rrset = next((r for r in found.response.answer if r.rdtype == dns.rdatatype.MX), None)
    exchangers = sorted((int(r.preference), r.exchange.to_text()) for r in rrset) if rrset is not None else []
    if not exchangers:
        not_applicable(f"{_short(dns_zone.zone, dns_zone.zone)} has no MX record: it receives no mail")
    if exchangers == [(0, ".")]:
        evidence.record(mx=["0 ."], null_mx=True)
        return
    zone = dns_zone.zone
    problems: list[str] = []
    seen: dict[str, str] = {}
    outside = [name for _, name in exchangers if not (name == zone or name.endswith("." + zone))]
    for _, name in exchangers:
        if name in outside:
            continue
        short = _short(name, zone)
        for server in dns_zone.servers:
            v4, v6 = dns_zone.lookup(name, "A", server), dns_zone.lookup(name, "AAAA", server)
            seen[f"{short} @ {server}"] = "; ".join(x.describe() for x in (v4, v6))
            if v4.chain or v6.chain:
                problems.append(f"{server}: MX {short} is an alias (CNAME to {(v4.chain or v6.chain)[0].rstrip('.')})")
            elif not (v4.found or v6.found):
                problems.append(f"{server}: MX {short} has no address ({v4.describe()})")
    evidence.record(mx=[f"{p} {n}" for p, n in exchangers], addresses=seen, outside_the_zone=outside)
    if len(outside) == len(exchangers):
        not_applicable(f"every MX of {_short(zone, zone)} is outside the zone ({', '.join(n.rstrip('.') for n in outside)}): "
                       "ask their own zone's servers", unexamined=True)
    require(not problems, dns_zone, _joined(problems), "every MX inside the zone resolving to an address of its own (no CNAME)")
