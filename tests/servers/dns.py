"""NSD for the test bed: authoritative nameservers for a good and a bad zone on 127.0.0.1.

``good`` (zone ``good.test``): one NSD answering on two ports, so the zone's two "nameservers"
serve the same version; the zone is signed (ECDSA P-256, signatures valid four weeks), TTLs are
5 minutes, SPF ends in ``-all``, DMARC rejects, CAA allows one authority, the DKIM selector has a
2048-bit key, and zone transfers are refused.

``bad`` (zone ``bad.test``): two NSD processes that disagree: the secondary still serves last
version's serial and address, and a record on it was changed after signing.  TTLs are a day,
SPF ends in ``+all``, DMARC only reports (``p=none``), there is no CAA, the DKIM key is revoked,
both hand the zone to anyone (``provide-xfr: 0.0.0.0/0 NOKEY``) and the signatures expire in
two days.

Names and addresses are reserved for documentation (``.test``, 192.0.2.0/24, 2001:db8::/32):
nothing here is looked up anywhere but at these servers.
"""

from __future__ import annotations

import base64
import datetime as dt
import textwrap
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.servers.base import (
    LOOPBACK,
    Instance,
    ServerProcess,
    connectable,
    find_binary,
    free_port,
    make_tempdir,
    run,
)

Variant = Literal["good", "bad"]

#: The records every inventory entry expects, relative to its zone.
EXPECTED = ("@ A 192.0.2.10", "www CNAME @", "@ MX 10 mail", "mail A 192.0.2.25", "api AAAA 2001:db8::10")
SELECTOR = "mail2026"
CA = "letsencrypt.org"
#: The serial and address the bad zone's secondary still serves.
STALE_SERIAL, CURRENT_SERIAL = 2026112901, 2026113001
STALE_ADDRESS = "198.51.100.7"


class DnsInstance(Instance):
    """An Instance of one or more NSD processes (the bad zone's primary and secondary)."""

    servers: list[ServerProcess]

    def stop(self) -> None:
        for server in getattr(self, "servers", []):
            server.stop()


def _dkim_record(bits: int | None) -> str:
    """A DKIM TXT record in zone-file syntax: a real RSA key of ``bits``, or revoked (None)."""
    if bits is None:
        return '"v=DKIM1; k=rsa; p="'
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    text = "v=DKIM1; k=rsa; p=" + base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()
    return "( " + " ".join(f'"{part}"' for part in textwrap.wrap(text, 200, break_on_hyphens=False, drop_whitespace=False)) + " )"


def _zone_text(zone: str, variant: Variant, serial: int, address: str) -> str:
    ttl = 300 if variant == "good" else 86400
    mail = {
        "good": ['@ IN TXT "v=spf1 mx -all"', '_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"', f'@ IN CAA 0 issue "{CA}"',
                 f"{SELECTOR}._domainkey IN TXT {_dkim_record(2048)}",
                 "nomail IN A 192.0.2.30", "nomail IN MX 0 ."],  # a host that accepts no mail, and says so (RFC 7505)
        "bad": ['@ IN TXT "v=spf1 mx +all"', '_dmarc IN TXT "v=DMARC1; p=none"', f"{SELECTOR}._domainkey IN TXT {_dkim_record(None)}",
                "@ IN MX 20 backup-mx", "@ IN MX 30 relay", "relay IN CNAME mail"],  # an MX without address, one naming an alias
    }[variant]
    return "\n".join([
        f"$ORIGIN {zone}.", f"$TTL {ttl}",
        f"@ IN SOA ns1.{zone}. hostmaster.{zone}. ( {serial} 3600 600 1209600 300 )",
        f"@ IN NS ns1.{zone}.", f"@ IN NS ns2.{zone}.", f"ns1 IN A {LOOPBACK}", f"ns2 IN A {LOOPBACK}",
        f"@ IN A {address}", "www IN CNAME @", "@ IN MX 10 mail", "mail IN A 192.0.2.25", "api IN AAAA 2001:db8::10",
        "internal-admin IN A 10.0.0.8",  # what a zone transfer would give away
        *mail, "",
    ])


def _sign(workdir: Path, zone: str, zonefile: Path, expires: dt.datetime) -> Path:
    """Sign ``zonefile`` with a fresh KSK and ZSK (ldns-signzone), signatures valid until ``expires``."""
    keygen, signzone = find_binary("ldns-keygen"), find_binary("ldns-signzone")
    ksk = run([keygen, "-a", "ECDSAP256SHA256", "-k", zone], cwd=workdir).stdout.decode().strip()
    zsk = run([keygen, "-a", "ECDSAP256SHA256", zone], cwd=workdir).stdout.decode().strip()
    inception = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).strftime("%Y%m%d%H%M%S")
    run([signzone, "-i", inception, "-e", expires.strftime("%Y%m%d%H%M%S"), "-f", str(zonefile) + ".signed", str(zonefile),
         str(workdir / ksk), str(workdir / zsk)], cwd=workdir)
    return Path(str(zonefile) + ".signed")


def _nsd(name: str, workdir: Path, zone: str, zonefile: Path, ports: list[int], open_transfers: bool) -> ServerProcess:
    config = workdir / "nsd.conf"
    listen = "".join(f"  ip-address: {LOOPBACK}@{port}\n" for port in ports)
    transfers = "  provide-xfr: 0.0.0.0/0 NOKEY\n  provide-xfr: ::0/0 NOKEY\n" if open_transfers else ""
    config.write_text(
        "server:\n" + listen
        + f'  username: ""\n  chroot: ""\n  zonesdir: "{workdir}"\n  database: ""\n  zonelistfile: "{workdir}/zone.list"\n'
        f'  xfrdfile: "{workdir}/xfrd.state"\n  xfrdir: "{workdir}"\n  pidfile: "{workdir}/nsd.pid"\n  logfile: "{workdir}/nsd.log"\n'
        "  server-count: 1\n  verbosity: 1\n  hide-version: yes\n"
        "remote-control:\n  control-enable: no\n"
        f"zone:\n  name: {zone}\n  zonefile: {zonefile.name}\n{transfers}"
    )
    server = ServerProcess(name=name, argv=[find_binary("nsd"), "-d", "-c", str(config)], workdir=workdir, log=workdir / "server.log")

    return server.start(lambda: all(connectable(LOOPBACK, port) for port in ports), timeout=30)


def launch_dns(variant: Variant, name: str | None = None) -> Instance:
    """Start the nameservers of ``variant`` (see the module docstring); the entry expects
    ``EXPECTED`` with ``dkim_selectors: [mail2026]``, ``caa_issuers: [letsencrypt.org]``,
    ``dnssec: true``.  ``admin``: ``zone``, ``ports``."""
    name = name or f"dns-{variant}"
    zone = f"{variant}.test"
    now = dt.datetime.now(dt.timezone.utc)
    processes: list[ServerProcess] = []
    ports: list[int] = []
    try:
        if variant == "good":
            workdir = make_tempdir(f"nsd-{variant}")
            zonefile = workdir / f"{zone}.zone"
            zonefile.write_text(_zone_text(zone, variant, CURRENT_SERIAL, "192.0.2.10"))
            signed = _sign(workdir, zone, zonefile, now + dt.timedelta(days=28))
            ports = [free_port(), free_port()]
            processes.append(_nsd(name, workdir, zone, signed, ports, open_transfers=False))
        else:
            for role, serial, address in (("primary", CURRENT_SERIAL, "192.0.2.10"), ("secondary", STALE_SERIAL, STALE_ADDRESS)):
                workdir = make_tempdir(f"nsd-{variant}-{role}")
                zonefile = workdir / f"{zone}.zone"
                zonefile.write_text(_zone_text(zone, variant, serial, address))
                signed = _sign(workdir, zone, zonefile, now + dt.timedelta(days=2))
                if role == "secondary":  # changed by hand after signing: its signature no longer verifies
                    text = signed.read_text()
                    signed.write_text(text.replace("192.0.2.25", "192.0.2.26"))
                port = free_port()
                ports.append(port)
                processes.append(_nsd(f"{name}-{role}", workdir, zone, signed, [port], open_transfers=True))
    except BaseException:
        for process in processes:
            process.stop()
        raise
    instance = DnsInstance(
        name=name, kind="dns",
        entry={"zone": zone, "records": list(EXPECTED), "nameservers": [f"{LOOPBACK}:{port}" for port in ports],
               "dkim_selectors": [SELECTOR], "caa_issuers": [CA], "dnssec": True},
        env={}, server=None, admin={"zone": zone, "ports": ports},
    )
    instance.servers = processes
    return instance
