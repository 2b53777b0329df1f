"""The DNS catalog (checks/test_dns.py) against real nameservers of the test bed (NSD).

``dns_good`` serves a signed ``good.test`` on two ports, with strict mail records and transfers
refused; ``dns_bad`` serves ``bad.test`` from a primary and a stale secondary that hand the zone
to anyone, with permissive mail records and signatures about to expire.  See ``tests/servers/dns.py``.
"""

from __future__ import annotations

import contextlib
import re
import socket
from pathlib import Path

import pytest

from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.targets.dns import DnsTarget, parse_expectations, parse_server
from pytest_deploycheck.targets.reach import Reachability
from tests.servers.base import LOOPBACK, Instance, SilentListener, free_port
from tests.servers.dns import CURRENT_SERIAL, STALE_ADDRESS, STALE_SERIAL
from tests.servers.inventory import run_catalog, write_inventory

CATALOG = "test_dns.py"
CHECK_IDS = [f"dns-{n:02d}" for n in range(1, 11)]


def test_catalog_passes_good_and_fails_bad(pytester: pytest.Pytester, dns_good: Instance, dns_bad: Instance) -> None:
    run = run_catalog(pytester, CATALOG, targets=[dns_good, dns_bad])
    assert {c: run.outcome(c, "dns-good") for c in CHECK_IDS} == dict.fromkeys(CHECK_IDS, "passed")
    assert {c: run.outcome(c, "dns-bad") for c in CHECK_IDS} == dict.fromkeys(CHECK_IDS, "failed")
    primary, secondary = (f"{LOOPBACK}:{port}" for port in dns_bad.admin["ports"])
    expected = {
        "dns-01": rf"{secondary} gives bad\.test A {re.escape(STALE_ADDRESS)}, not 192\.0\.2\.10; .*expected the records of dns\.dns-bad\.records",
        "dns-02": rf"{primary} serial {CURRENT_SERIAL}, {secondary} serial {STALE_SERIAL}; expected one SOA serial on every nameserver",
        "dns-03": r"bad\.test A TTL 86400 s; .*expected at most 3600 s \(dns_max_ttl\)$",
        "dns-04": r"SPF 'v=spf1 mx \+all': it ends in '\+all', which lets any server send as bad\.test; expected",
        "dns-05": r"_dmarc\.bad\.test 'v=DMARC1; p=none': p=none only reports: forged mail is still delivered; expected",
        "dns-06": r"bad\.test has no CAA issue record: any certificate authority may issue for it; expected",
        "dns-07": rf"{primary} handed out the zone to this client \(\d+ records in the first message\); {secondary} handed out",
        "dns-08": rf"^dns-bad \(bad\.test\): {secondary}: the signature over mail\.bad\.test A does not verify \(.*\); "
                  rf"{primary}: signatures over api\.bad\.test AAAA, bad\.test A, bad\.test DNSKEY and \d more expire in \d\.\d days \(.* UTC\); "
                  rf"{secondary}: signatures over .* expire in",
        "dns-09": r"mail2026\._domainkey\.bad\.test has an empty key \(p=\): the key is revoked; expected a DKIM key for each selector",
        "dns-10": rf"{primary}: MX backup-mx\.bad\.test has no address \(NXDOMAIN \(no such name\)\); .*"
                  rf"{primary}: MX relay\.bad\.test is an alias \(CNAME to mail\.bad\.test\);",
    }
    for check_id, pattern in expected.items():
        message = run.message(check_id, "dns-bad")
        assert message.startswith("dns-bad (bad.test): "), message
        assert re.search(pattern, message), f"{check_id}: {message}"
    assert run.evidence("dns-02", "dns-good")["serials"] == dict.fromkeys(dns_good.entry["nameservers"], CURRENT_SERIAL)
    assert run.evidence("dns-04", "dns-good")["spf"] == ["v=spf1 mx -all"]
    assert run.evidence("dns-07", "dns-good")["transfers"] == dict.fromkeys(dns_good.entry["nameservers"], "refused")
    assert run.evidence("dns-08", "dns-good")["soonest_expiry_days"] > 20
    assert run.evidence("dns-09", "dns-good")["keys"] == {"mail2026": "rsa 2048 bits"}


def test_what_the_inventory_does_not_ask_is_not_applicable(pytester: pytest.Pytester, dns_good: Instance) -> None:
    """One server listed: nothing to compare (dns-02).  Unsigned and DNSSEC not required: n/a;
    DNSSEC required of an unsigned zone fails (its own test below)."""
    one = Instance(name="dns-one", kind="dns", entry={**dns_good.entry, "nameservers": dns_good.entry["nameservers"][:1]}, env={}, server=None)
    run = run_catalog(pytester, CATALOG, targets=[one], args=["-k", "dns-02 or dns-01"])
    assert run.outcome("dns-02", "dns-one") == "n/a"
    assert [r.unexamined for r in run.summary.results if r.check_id == "dns-02"] == [True]  # looked at nothing: a team's item is an error
    assert "list the zone's authoritative servers in dns.dns-one.nameservers" in run.message("dns-02", "dns-one")
    assert run.outcome("dns-01", "dns-one") == "passed"


def test_null_mx_passes_and_no_mx_is_not_applicable(pytester: pytest.Pytester, dns_good: Instance) -> None:
    """A name publishing ``MX 0 .`` accepts no mail on purpose (RFC 7505); one without MX receives none."""
    targets = [Instance(name=name, kind="dns", entry={**dns_good.entry, "zone": zone, "records": records}, env={}, server=None)
               for name, zone, records in (("null-mx", "nomail.good.test", ["@ A 192.0.2.30"]),
                                           ("no-mx", "api.good.test", ["@ AAAA 2001:db8::10"]))]
    run = run_catalog(pytester, CATALOG, targets=targets, args=["-k", "dns-10"])
    assert (run.outcome("dns-10", "null-mx"), run.outcome("dns-10", "no-mx")) == ("passed", "n/a")
    assert run.evidence("dns-10", "null-mx")["null_mx"] is True
    assert "api.good.test has no MX record: it receives no mail" in run.message("dns-10", "no-mx")


def test_expectations_are_compared_exactly(pytester: pytest.Pytester, dns_good: Instance) -> None:
    """A value missing from the answer fails as surely as a wrong one; a name that does not exist
    is NXDOMAIN; a line without a value asks only that the record exists."""
    entry = {**dns_good.entry, "records": ["@ A 192.0.2.10", "@ A 192.0.2.11", "shop CNAME @", "www A", "api MX"]}
    target = Instance(name="dns-exact", kind="dns", entry=entry, env={}, server=None)
    run = run_catalog(pytester, CATALOG, targets=[target], args=["-k", "dns-01"])
    message = run.message("dns-01", "dns-exact")
    assert "gives good.test A 192.0.2.10, not 192.0.2.10, 192.0.2.11" in message, message
    assert "gives shop.good.test CNAME NXDOMAIN (no such name), not good.test." in message, message
    assert "gives api.good.test MX no MX record, not a MX record" in message, message
    assert "www.good.test A" not in message  # found through the CNAME: any address will do


def test_unreachable_and_silent_nameservers_end_as_errors(pytester: pytest.Pytester) -> None:
    """Nothing on the port: refused at once.  A server that takes the packets and never answers
    (UDP bound, TCP accepting): one timeout, then every other check of the zone says so at once."""
    with SilentListener() as silent, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind((LOOPBACK, silent.port))
        targets = [
            Instance(name=name, kind="dns", entry={"zone": "dead.test", "records": ["@ A 192.0.2.1"], "nameservers": [f"{LOOPBACK}:{port}"]},
                     env={}, server=None)
            for name, port in (("dns-refused", free_port()), ("dns-silent", silent.port))
        ]
        run = run_catalog(pytester, CATALOG, targets=targets, timeout=1)
        queries = 0
        mute.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while mute.recv(512):
                queries += 1
    for name in ("dns-refused", "dns-silent"):
        outcomes = {c: run.outcome(c, name) for c in CHECK_IDS}
        assert set(outcomes.values()) <= {"error", "n/a"}, outcomes
        assert outcomes["dns-01"] == "error"
    assert "connection refused" in run.message("dns-01", "dns-refused")
    assert f"no answer from {LOOPBACK}:{silent.port} within 1s" in run.message("dns-01", "dns-silent")
    later = [c for c in CHECK_IDS[1:] if run.outcome(c, "dns-silent") == "error"]
    assert later and all("not checked, target unusable since an earlier check" in run.message(c, "dns-silent") for c in later)
    assert queries <= 2, queries  # the first query (and dnspython's one retry at most), not one per check


def test_handle_asks_only_the_listed_servers_and_keeps_answers(dns_good: Instance, tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "inventory.yml", [dns_good])
    target = load_inventory(inventory).get("dns", "dns-good")
    handle = DnsTarget(target, Reachability())
    first = handle.lookup("www", "A")
    assert first.chain == ("good.test.",) and first.values == ("192.0.2.10",)
    assert handle.lookup("www", "A") is first  # one query per (server, name, type) and run
    assert str(handle.servers[1]) == dns_good.entry["nameservers"][1]
    assert handle.transfer(handle.servers[0]) is None


@pytest.mark.parametrize(("text", "server"), [
    ("192.0.2.53", ("192.0.2.53", 53)),
    ("192.0.2.53:5353", ("192.0.2.53", 5353)),
    ("2001:db8::53", ("2001:db8::53", 53)),
    ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
])
def test_nameserver_addresses(text: str, server: tuple[str, int]) -> None:
    parsed = parse_server(text)
    assert (parsed.ip, parsed.port) == server


def test_expectations_parse_like_a_zone_file() -> None:
    parsed = {(e.name, e.rdtype): e.values for e in parse_expectations("example.com", ("@ A 192.0.2.1", "www CNAME @", "@ MX 10 mx1",
                                                                                     "@ MX 20 mx2.example.com.", "api AAAA"))}
    assert parsed[("example.com.", "A")] == {"192.0.2.1"}
    assert parsed[("www.example.com.", "CNAME")] == {"example.com."}
    assert parsed[("example.com.", "MX")] == {"10 mx1.example.com.", "20 mx2.example.com."}
    assert parsed[("api.example.com.", "AAAA")] is None


@pytest.mark.parametrize(("entry", "fragment"), [
    ("{zone: example.com, records: ['@ A 192.0.2.1'], nameservers: [ns1.example.com]}",
     "dns.zone.nameservers[0]: 'ns1.example.com' is not an IP address (ip or ip:port); name a nameserver by its address"),
    ("{zone: example.com, records: ['@ A not-an-address']}", "dns.zone.records: '@ A not-an-address':"),
    ("{zone: example.com, records: ['www.other.org. A 192.0.2.1']}", "is not inside the zone example.com."),
    ("{zone: example.com, records: ['@ HINFO x y']}", "record type HINFO is not one a check compares"),
    ("{zone: example.com, records: ['@']}", "write a name, a type and the value"),
    ("{zone: 'not a zone', records: ['@ A 192.0.2.1']}", "dns.zone.zone: 'not a zone' is not a domain name"),
    ("{zone: example.com, records: []}", "dns.zone.records: no record listed"),
    ("{zone: example.com}", "dns.zone.records: required key missing"),
])
def test_bad_entries_are_usage_errors(tmp_path: Path, entry: str, fragment: str) -> None:
    """A nameserver by host name would be looked up through the system's resolver; a record line
    DNS would not accept would fail every run the same way: both said at load time, with the line."""
    path = tmp_path / "inv.yml"
    path.write_text(f"dns:\n  zone: {entry}\n")
    with pytest.raises(pytest.UsageError) as raised:
        load_inventory(path, environ={})
    message = str(raised.value)
    assert any(fragment in line and ":2: " in line for line in message.splitlines()), message
