"""The ``dns`` kind: a DNS zone as its nameservers publish it, read with plain queries.

A target names a zone (``example.com``) and the servers to ask, by address: the zone's
authoritative servers (what the world is told) or a resolver (what clients get); without
``nameservers``, the system's resolver from ``/etc/resolv.conf``.  A nameserver named by host name
is refused at load time: resolving it would itself go through the system's resolver.

Every query goes to one of those servers only, for a name inside the zone, over UDP (TCP when
the answer is truncated), with the target's timeout; a DNS message is at most 64 KiB.  A zone
transfer request (``dns-07``) reads only the first message of the answer and closes the
connection.  Answers are kept for the run: one query per (server, name, type).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.reach import first_line
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode

#: Record types an expectation may name: what a go-live changes and clients look up.
EXPECTABLE_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "CAA", "SRV")
#: CNAME links followed inside one answer before giving up (a loop or a very long chain).
MAX_CHAIN = 8


@dataclass(frozen=True)
class Server:
    """A nameserver by address: ``Server("192.0.2.53", 53)``."""

    ip: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return host if self.port == 53 else f"{host}:{self.port}"


@dataclass(frozen=True)
class Expected:
    """One expectation of ``records``: ``name`` (absolute), ``rdtype`` and the values (canonical
    text) the answer must hold, or None when any value will do (``www A``)."""

    name: str
    rdtype: str
    values: frozenset[str] | None
    line: str  # as written, for messages


@dataclass(frozen=True)
class Lookup:
    """What one server answered for (name, type): ``rcode`` (NOERROR, NXDOMAIN, ...), the values
    (canonical text, empty when the name has no such record), their TTL, the CNAME links that led
    there, the RRSIG records over the answer (when asked with DNSSEC) and whether the server
    answered with authority."""

    server: Server
    name: str
    rdtype: str
    rcode: str
    values: tuple[str, ...]
    ttl: int | None
    chain: tuple[str, ...]
    authoritative: bool
    response: Any  # the dns.message.Message, for DNSSEC validation

    @property
    def found(self) -> bool:
        return self.rcode == "NOERROR" and bool(self.values)

    def describe(self) -> str:
        """``192.0.2.10, 192.0.2.11`` / ``no A record`` / ``NXDOMAIN``, with the CNAME links."""
        via = f" (via CNAME {' -> '.join(self.chain)})" if self.chain else ""
        if self.rcode == "NXDOMAIN":
            return "NXDOMAIN (no such name)"
        if not self.values:
            return f"no {self.rdtype} record{via}"
        return ", ".join(self.values) + via


def parse_server(text: str) -> Server:
    """``192.0.2.53``, ``192.0.2.53:5353``, ``2001:db8::53``, ``[2001:db8::53]:5353`` -> Server;
    ValueError for anything else (a host name included)."""
    text = text.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", text)
    if match:
        ip, port = match.group(1), match.group(2)
    elif text.count(":") == 1:
        ip, port = text.split(":")
    else:
        ip, port = text, None
    address = ipaddress.ip_address(ip)  # ValueError for a host name
    number = int(port) if port is not None else 53
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is out of range 1-65535")
    return Server(str(address), number)


def parse_expectations(zone: str, lines: tuple[str, ...]) -> tuple[Expected, ...]:
    """The ``records`` lines (``www CNAME example.com.``) as expectations, grouped by (name, type);
    ValueError naming the line for one DNS would not accept or a name outside the zone."""
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    origin = dns.name.from_text(zone)
    grouped: dict[tuple[str, str], tuple[set[str] | None, list[str]]] = {}
    for line in lines:
        parts = line.split(None, 2)
        if len(parts) < 2:
            raise ValueError(f"{line!r}: write a name, a type and the value, as in a zone file ('www CNAME example.com.', '@ A 192.0.2.10')")
        owner, rdtype, value = parts[0], parts[1].upper(), (parts[2].strip() if len(parts) > 2 else "")
        if rdtype not in EXPECTABLE_TYPES:
            raise ValueError(f"{line!r}: record type {parts[1]} is not one a check compares; use one of {', '.join(EXPECTABLE_TYPES)}")
        try:
            name = origin if owner == "@" else dns.name.from_text(owner, origin=origin)
            rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), value, origin=origin, relativize=False) if value else None
        except (dns.exception.DNSException, ValueError) as exc:
            raise ValueError(f"{line!r}: {first_line(exc) or type(exc).__name__}") from None
        if not name.is_subdomain(origin):
            raise ValueError(f"{line!r}: {name} is not inside the zone {origin}; a dns target asks its servers about its own zone only")
        key = (name.to_text(), rdtype)
        values, written = grouped.setdefault(key, (set() if rdata is not None else None, []))
        if rdata is not None:
            if values is None:
                values = set()
                grouped[key] = (values, written)
            values.add(rdata.to_text())
        written.append(line)
    return tuple(Expected(name, rdtype, frozenset(values) if values is not None else None, "; ".join(written))
                 for (name, rdtype), (values, written) in grouped.items())


class _NoAnswer(Exception):
    """A server that did not answer within the target's timeout."""


class DnsTarget(TargetHandle):
    """A zone: ``dns_zone.lookup("www.example.com.", "A")`` asks the first server,
    ``dns_zone.lookup(name, "A", server)`` a given one; ``dns_zone.servers``, ``.expected``,
    ``.txt(name)``, ``.soa_serial(server)``, ``.transfer(server)``."""

    @property
    def zone(self) -> str:
        """The zone's name, absolute (``example.com.``)."""
        zone = str(self.target.spec["zone"])
        return zone if zone.endswith(".") else zone + "."

    @property
    def servers(self) -> tuple[Server, ...]:
        """The servers asked: ``nameservers`` in order, else the system resolver's."""
        listed = self.target.get("nameservers")
        if listed:
            return tuple(parse_server(str(s)) for s in listed)
        return self.remember("system-resolvers", self._system_resolvers)

    @property
    def listed(self) -> bool:
        """Whether the inventory names the servers (else the system's resolver is asked)."""
        return bool(self.target.get("nameservers"))

    def _system_resolvers(self) -> tuple[Server, ...]:
        import dns.resolver

        try:
            found = dns.resolver.Resolver(configure=True).nameservers
        except (OSError, dns.resolver.NoResolverConfiguration) as exc:
            raise TargetError(f"{self.label}: no nameservers listed and the system's resolver is not configured ({first_line(exc)}); "
                              f"list the servers to ask in dns.{self.name}.nameservers") from None
        servers = []
        for entry in found:
            try:
                servers.append(parse_server(str(entry)))
            except ValueError:
                continue  # a DNS-over-HTTPS URL in a custom configuration: not asked
        if not servers:
            raise TargetError(f"{self.label}: no nameservers listed and /etc/resolv.conf names none; list them in dns.{self.name}.nameservers")
        return tuple(servers)

    @property
    def expected(self) -> tuple[Expected, ...]:
        return parse_expectations(self.zone, tuple(str(line) for line in self.target.get("records") or ()))

    def absolute(self, name: str) -> str:
        """``@`` -> the zone; ``_dmarc`` -> ``_dmarc.example.com.``; an absolute name as is."""
        if name == "@":
            return self.zone
        return name if name.endswith(".") else f"{name}.{self.zone}"

    def lookup(self, name: str, rdtype: str, server: Server | None = None, *, dnssec: bool = False) -> Lookup:
        """What ``server`` (default: the first) answers for ``name`` ``rdtype``, kept for the run.
        NXDOMAIN and an empty answer are answers; a server that refuses or fails the query is a
        ``TargetError`` (nothing was learnt), one that does not answer makes the target unreachable."""
        server = server or self.servers[0]
        name = self.absolute(name)
        return self.remember(("lookup", server, name, rdtype, dnssec), lambda: self._lookup(server, name, rdtype, dnssec))

    def _lookup(self, server: Server, name: str, rdtype: str, dnssec: bool) -> Lookup:
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype

        query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        query.flags |= dns.flags.RD  # a resolver answers for the world; an authoritative server ignores it
        response = self._exchange(server, query, f"{name} {rdtype}")
        rcode = dns.rcode.to_text(response.rcode())
        if rcode not in ("NOERROR", "NXDOMAIN"):
            raise TargetError(f"{self.label}: {server} answered {rcode} for {name} {rdtype}; "
                              f"expected an answer (is it authoritative for {self.zone} or a resolver that may recurse?)")
        wanted = dns.rdatatype.from_text(rdtype)
        current = _name(name)
        chain: list[str] = []
        values: tuple[str, ...] = ()
        ttl: int | None = None
        for _ in range(MAX_CHAIN):
            rrset = _find(response, current, wanted)
            if rrset is not None:
                values, ttl = tuple(sorted(r.to_text() for r in rrset)), rrset.ttl
                break
            link = _find(response, current, dns.rdatatype.CNAME) if wanted != dns.rdatatype.CNAME else None
            if link is None:
                break
            current = link[0].target
            chain.append(current.to_text())
        return Lookup(server=server, name=name, rdtype=rdtype, rcode=rcode, values=values, ttl=ttl, chain=tuple(chain),
                      authoritative=bool(response.flags & dns.flags.AA), response=response)

    def _exchange(self, server: Server, query: Any, what: str) -> Any:
        import dns.exception
        import dns.query

        with self.reach.guard(self.target, unreachable=(_NoAnswer,)):
            try:
                response, _tcp = dns.query.udp_with_fallback(query, server.ip, timeout=self.timeout, port=server.port)
            except dns.exception.Timeout:
                raise _NoAnswer(f"no answer from {server} within {self.timeout:g}s") from None
            except (dns.exception.FormError, dns.query.BadResponse, dns.query.UnexpectedSource, EOFError) as exc:
                raise TargetError(f"{self.label}: {server} answered {what} with a malformed message: {first_line(exc) or type(exc).__name__}") from None
        return response

    def txt(self, name: str, server: Server | None = None) -> list[str]:
        """The TXT records of ``name``, each one string (its parts joined, as SPF and DMARC read them)."""
        found = self.lookup(name, "TXT", server)
        rrset = _find(found.response, _name(found.name), _rdtype("TXT"))
        if rrset is None:
            return []
        return [b"".join(r.strings).decode("utf-8", "replace") for r in rrset]

    def soa_serial(self, server: Server) -> int | None:
        """The zone's SOA serial as ``server`` gives it (None: no SOA at the apex)."""
        found = self.lookup(self.zone, "SOA", server)
        rrset = _find(found.response, _name(self.zone), _rdtype("SOA"))
        return int(rrset[0].serial) if rrset is not None else None

    def transfer(self, server: Server) -> str | None:
        """Ask ``server`` for a full zone transfer (AXFR over TCP) and read its first message only:
        None when refused, else what it handed out (``"12 records, first message"``)."""
        return self.remember(("axfr", server), lambda: self._transfer(server))

    def _transfer(self, server: Server) -> str | None:
        import dns.exception
        import dns.query
        import dns.xfr

        with self.reach.guard(self.target, unreachable=(_NoAnswer,)):
            messages = dns.query.xfr(server.ip, self.zone, port=server.port, timeout=self.timeout, lifetime=self.timeout, relativize=False)
            try:
                first = next(messages)
            except dns.xfr.TransferError:
                return None  # REFUSED, NOTAUTH, ...: the answer a zone should give
            except StopIteration:
                return None
            except (ConnectionResetError, EOFError):
                return None  # closed without an answer: not handed out either
            except dns.exception.Timeout:
                raise _NoAnswer(f"no answer from {server} to a zone transfer request within {self.timeout:g}s") from None
            except dns.exception.FormError as exc:
                raise TargetError(f"{self.label}: {server} answered AXFR {self.zone} with a malformed message: {first_line(exc)}") from None
            finally:
                messages.close()  # the rest of the zone is not read
        records = sum(len(rrset) for rrset in first.answer)
        return f"{records} record{'s' if records != 1 else ''} in the first message" if records else None

    @classmethod
    def reads_beside_checks(cls, target: Target) -> bool:
        return True  # every query is a message of its own; answers are kept with remember()


def _find(response: Any, name: Any, rdtype: Any) -> Any:
    """The answer section's RRset for (name, type), or None."""
    import dns.rdataclass

    name = _name(name) if isinstance(name, str) else name
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN:
            return rrset
    return None


def _name(text: str) -> Any:
    import dns.name

    return dns.name.from_text(text)


def _rdtype(text: str) -> Any:
    import dns.rdatatype

    return dns.rdatatype.from_text(text)


FIELDS: dict[str, Field] = {
    "zone": Field("str", "the zone (domain) the target is about: example.com", required=True),
    "records": Field("list[str]", "what its names must resolve to, one record per line as in a zone file, names relative to the zone: "
                     "'@ A 203.0.113.10', 'www CNAME example.com.', '@ MX 10 mail.example.com.'; 'api A' without a value: any address",
                     required=True),
    "nameservers": Field("list[str]", "the servers to ask, by IP address (ip or ip:port): the zone's authoritative servers, "
                         "or a resolver (default: the system's resolver from /etc/resolv.conf)"),
    "dkim_selectors": Field("list[str]", "the DKIM selectors the domain signs mail with (selector._domainkey.<zone>)"),
    "caa_issuers": Field("list[str]", "the certificate authorities CAA must allow, by their CAA domain (letsencrypt.org), and no other"),
    "dnssec": Field("bool", "whether the zone must be signed (DNSSEC); unset: its signatures are checked when it is signed"),
}


def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    """The zone a valid domain name; the servers by address; every record line one DNS accepts."""
    import dns.exception
    import dns.name

    zone = spec.get("zone")
    if isinstance(zone, str):
        try:
            name = dns.name.from_text(zone)
        except dns.exception.DNSException as exc:
            ld.problem(raw["zone"].line, f"{keypath}.zone", f"{zone!r} is not a domain name ({first_line(exc)}); write it as example.com")
            return
        if len(name.labels) < 2 or " " in zone:
            ld.problem(raw["zone"].line, f"{keypath}.zone", f"{zone!r} is not a domain name; write it as example.com")
            return
        try:
            parse_expectations(zone, tuple(str(line) for line in spec.get("records") or ()))
        except ValueError as exc:
            ld.problem(raw["records"].line, f"{keypath}.records", f"{exc}")
        if "records" in raw and not spec.get("records"):
            ld.problem(raw["records"].line, f"{keypath}.records", "no record listed; name at least one a check can compare ('@ A 203.0.113.10')")
    for index, server in enumerate(spec.get("nameservers") or ()):
        try:
            parse_server(str(server))
        except ValueError:
            ld.problem(raw["nameservers"].line, f"{keypath}.nameservers[{index}]",
                       f"{server!r} is not an IP address (ip or ip:port); name a nameserver by its address, "
                       "a host name would itself be looked up through the system's resolver")


def address(target: Target) -> tuple[str, int] | None:
    """The first listed nameserver (DNS servers answer on TCP too, RFC 7766); None for the system's resolver."""
    listed = target.get("nameservers")
    if not listed:
        return None
    server = parse_server(str(listed[0]))
    return server.ip, server.port


KIND = TargetKind(
    name="dns", fixture="dns_zone", handle=DnsTarget, fields=FIELDS, address=address, validate=validate,
    summary="""A ``dns`` target: ``dns_zone.lookup("www", "A")`` asks the zone's first nameserver (``server=`` another),
    ``dns_zone.txt("_dmarc")``, ``.soa_serial(server)``, ``.transfer(server)``; plain queries with the target's timeout,
    kept for the run.""",
)
