"""Network exposure: what every ``hosts`` target listens on and what filters it.

Listening sockets come from ``ss -Htulnp`` (or ``netstat -tulnp``) on the host.  Loopback
sockets are not exposure and are left out; so are bound UDP sockets in the kernel's ephemeral
port range, which are clients' reply ports.  Reading the firewall and fail2ban needs root:
without it (no ``sudo: true`` on an unprivileged login) those checks end as not applicable and
say so.  In a container the firewall and fail2ban belong to the container's host: those checks
are not applicable there (the inventory's ``container`` key overrides the detection).
"""

from __future__ import annotations

import ipaddress

import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, require
from pytest_deploycheck.targets import host_facts as hostfacts
from pytest_deploycheck.targets.host_facts import Listener

pytestmark = pytest.mark.section("net", "Network exposure")

#: Well-known database and cache ports, and the server processes that may listen elsewhere.
DATABASE_PORTS = {
    5432: "PostgreSQL", 3306: "MySQL/MariaDB", 6379: "Redis", 11211: "Memcached", 27017: "MongoDB",
    9200: "Elasticsearch/OpenSearch", 9300: "Elasticsearch transport", 5984: "CouchDB", 9042: "Cassandra",
    8086: "InfluxDB", 1433: "SQL Server", 1521: "Oracle", 26257: "CockroachDB", 2379: "etcd", 7687: "Neo4j",
    8529: "ArangoDB", 28015: "RethinkDB",
    # Message brokers: as internal as a database, and the Erlang ones run code for whoever has the cookie.
    5672: "RabbitMQ (AMQP)", 5671: "RabbitMQ (AMQPS)", 15672: "RabbitMQ management", 15671: "RabbitMQ management (TLS)",
    25672: "RabbitMQ/Erlang distribution", 4369: "Erlang port mapper (epmd)", 61613: "STOMP broker", 1883: "MQTT broker",
    9092: "Kafka", 4222: "NATS", 6650: "Pulsar",
}
DATABASE_PROCESSES = {
    "postgres": "PostgreSQL", "postmaster": "PostgreSQL", "mysqld": "MySQL", "mariadbd": "MariaDB",
    "redis-server": "Redis", "valkey-server": "Valkey", "keydb-server": "KeyDB", "memcached": "Memcached",
    "mongod": "MongoDB", "mongos": "MongoDB", "etcd": "etcd", "influxd": "InfluxDB", "cockroach": "CockroachDB",
    "epmd": "Erlang port mapper (epmd)", "nats-server": "NATS",
}

#: Brute-force blockers that count as "fail2ban or an equivalent".
FAIL2BAN_EQUIVALENTS = ("sshguard", "crowdsec")


def _allow_rule(entry: object, host) -> tuple[str | None, int]:
    """An allow-list entry: ``443`` (any address) or ``"10.0.0.5:5432"`` / ``"[::1]:53"``."""
    text = str(entry).strip()
    if text.isdigit():
        return None, int(text)
    address, _, port = text.rpartition(":")
    address = address.strip("[]")
    try:
        if not port.isdigit():
            raise ValueError(text)
        if address not in ("*", "0.0.0.0", "::"):
            ipaddress.ip_address(address)
    except ValueError:
        raise TargetError(f"{host.label}: inventory hosts.{host.name}.listen_allow: {text!r} is not a port or address:port") from None
    return address, int(port)


def _allowed(rule: tuple[str | None, int], sock: Listener) -> bool:
    address, port = rule
    if port != sock.port:
        return False
    if address is None or address == sock.address:
        return True
    return address in ("*", "0.0.0.0", "::") and sock.wildcard


@pytest.mark.check("net-01", "Listening ports limited to the allow-list", severity="high",
                   refs=("CIS Debian Linux 12: Ensure only approved services are listening on a network interface",
                         "CIS Controls v8 4.8: Uninstall or disable unnecessary services"),
                   answers=("only 443|80|22|8443 open|exposed|listen|listening|reachable|public", "port open|necessary|listen|exposed|unused|restrict|close|allow|only|scan", "listening port|service",
                            "open port"),
                   answers_unless=("database", "postgres", "mysql", "redis", "cache", "elasticsearch", "mongo"))
def test_listening_ports_allowed(host, evidence):
    """Every open port is attack surface: a forgotten debug server, an admin UI, a metrics
    endpoint bound to all interfaces.  The inventory's ``listen_allow`` lists what the host's
    role may serve (``443`` for any address, ``"10.0.0.5:5432"`` for one); a YAML anchor shares
    one list between hosts of a role.  Passes when every TCP listener and bound UDP socket
    outside loopback is on the list.  Not applicable without ``listen_allow``."""
    allow = host.setting("listen_allow")
    if not allow:
        not_applicable(f"{host.name}: no listen_allow in the inventory; list the ports this host may listen on "
                       f"(hosts.{host.name}.listen_allow)", unexamined=True)
    rules = [_allow_rule(entry, host) for entry in allow]
    socks = hostfacts.sockets(host)
    open_sockets = hostfacts.exposed(socks)
    extra = [s for s in open_sockets if not any(_allowed(rule, s) for rule in rules)]
    evidence.record(listening=[str(s) for s in open_sockets], allowed=[str(a) for a in allow], unexpected=[str(s) for s in extra],
                    tool=socks.tool)
    require(not extra, host, f"{len(extra)} socket(s) listen outside the allow-list: {', '.join(map(str, extra))}",
            f"only {', '.join(str(a) for a in allow)} (loopback aside)")


@pytest.mark.check("net-02", "Database, cache and broker ports not on public interfaces", severity="high",
                   refs=("CWE-668: Exposure of Resource to Wrong Sphere",
                         "CIS Debian Linux 12: Ensure only approved services are listening on a network interface"),
                   answers=("erlang|epmd|beam distribution? port|ports not? exposed|public|publicly|internet|open", "database|redis|cache|postgres|mysql|elasticsearch|mongo|memcached port? public|internet|exposed|external|internal|private|listen public|internet|network?", "database|redis|cache|postgres|mysql|elasticsearch|mongo|memcached port? reachable|accessible public|internet|outside|external|vpn|private|internal|vpc|subnet|subnets|network",
                            "database|redis|postgres|mysql port not? exposed|public|open",
                            "database|redis|cache|postgres|mysql|mariadb|memcached bound|bind|listen|listens|listening localhost|loopback|127.0.0.1|private|internal",
                            "rabbitmq|broker|amqp|kafka|nats|epmd management|port|ports|ui|console|listener public|internet|exposed|accessible|reachable|external|internal|private|open|localhost",
                            "rabbitmq|kafka|nats|epmd|amqp not? publicly|public|internet|exposed|accessible|reachable"),
                   answers_unless=("admin", "password"))
def test_database_ports_private(host, evidence):
    """Databases and caches are found by internet scanners within hours (unauthenticated Redis,
    MongoDB and Elasticsearch are classic breaches).  A database or cache port (PostgreSQL 5432,
    MySQL 3306, Redis 6379, Memcached 11211, MongoDB 27017, Elasticsearch 9200, ...), a message
    broker's (RabbitMQ 5672 and its management UI 15672, epmd 4369 and Erlang distribution 25672,
    Kafka 9092, NATS 4222, ...) or a database server process must listen only on loopback or private
    (RFC 1918, ULA, link-local) addresses.
    Fails on a public address or on all interfaces (0.0.0.0, ::), which includes any public one."""
    socks = hostfacts.sockets(host)
    databases = []
    for sock in socks.listeners:
        what = DATABASE_PORTS.get(sock.port) or next((DATABASE_PROCESSES[p] for p in sock.processes if p in DATABASE_PROCESSES), None)
        if what:
            databases.append((what, sock))
    exposed = [(what, sock) for what, sock in databases if sock.scope in ("public", "all interfaces")]
    evidence.record(database_sockets=[f"{what}: {sock} ({sock.scope})" for what, sock in databases], tool=socks.tool)
    require(not exposed, host,
            "database, cache or broker ports on public interfaces: " + ", ".join(f"{what} {sock} ({sock.scope})" for what, sock in exposed),
            "loopback or private addresses only (bind to 127.0.0.1 or the private network)")


def _global_ipv6(host) -> bool:
    result = host.run("cat /proc/net/if_inet6")
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[3] == "00" and fields[5] != "lo":
            return True
    return False


@pytest.mark.check("net-03", "Host firewall denies inbound by default", severity="high",
                   refs=("CIS Debian Linux 12 4.x: Ensure ufw / nftables / iptables default deny firewall policy",
                         "CIS Controls v8 4.5: Implement and manage a firewall on servers"),
                   answers=("firewall port? open? necessary?", "firewall rule|polic|configur|enabl|default|deny|isolation",
                            "security group restrict|inbound|ingress", "inbound traffic deny|block|restrict"))
def test_firewall_default_deny(host, evidence):
    """A host firewall is the last filter when a service binds where it should not or a cloud
    security group is opened too wide.  Passes when nftables (an input chain with ``policy drop``
    or ending in an unconditional drop/reject, as firewalld's does), iptables (``-P INPUT DROP``)
    or ufw (active, ``Default: deny (incoming)``) drops unmatched inbound IPv4, and IPv6 too when
    the host has a global IPv6 address.  Fails when none is installed or none denies by default.
    Not applicable in a container or without root to read the rules."""
    reason = hostfacts.container(host)
    if reason:
        not_applicable(f"{host.name}: a container ({reason}); its traffic is filtered by the container's host: check that host")
    views: list[hostfacts.FirewallView] = []
    if hostfacts.tool(host, "ufw"):
        result = host.run("%s status verbose", hostfacts.tool(host, "ufw"))
        hostfacts.checked(host, result, "ufw status")
        deny = hostfacts.parse_ufw(result.stdout)
        views.append(hostfacts.FirewallView("ufw", deny, deny, result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""))
    if hostfacts.tool(host, "nft"):
        result = hostfacts.checked(host, host.run("%s list ruleset", hostfacts.tool(host, "nft")), "nft list ruleset")
        views.append(hostfacts.parse_nft(result.stdout))
    if hostfacts.tool(host, "iptables"):
        result = hostfacts.checked(host, host.run("%s -S INPUT", hostfacts.tool(host, "iptables")), "iptables -S")
        v4 = hostfacts.parse_iptables(result.stdout)
        v6 = False
        if hostfacts.tool(host, "ip6tables"):
            result = host.run("%s -S INPUT", hostfacts.tool(host, "ip6tables"))
            v6 = result.rc == 0 and hostfacts.parse_iptables(result.stdout)
        views.append(hostfacts.FirewallView("iptables", v4, v6, f"INPUT {'denies' if v4 else 'accepts'} by default"))
    evidence.record(firewalls=[f"{v.tool}: {v.detail}" for v in views])
    if not views:
        fail(host, "no host firewall: none of nft, iptables or ufw is installed", "a default-deny inbound policy")
    ipv4 = any(v.ipv4_deny for v in views)
    require(ipv4, host, "no default-deny inbound policy (" + "; ".join(f"{v.tool}: {v.detail}" for v in views) + ")",
            "unmatched inbound traffic dropped (policy drop / -P INPUT DROP / ufw default deny)")
    has_ipv6 = _global_ipv6(host)
    evidence.record(global_ipv6=has_ipv6)
    require(not has_ipv6 or any(v.ipv6_deny for v in views), host,
            "IPv4 inbound is denied by default but IPv6 is not, and the host has a global IPv6 address",
            "a default-deny inbound policy for IPv6 as well")


@pytest.mark.check("net-04", "fail2ban (or an equivalent) guards sshd", severity="medium",
                   refs=("NIST SP 800-53 AC-7: Unsuccessful logon attempts", "CIS Controls v8 13.3"),
                   answers=("fail2ban", "intrusion prevention|detection|protection", "brute force ssh|login protect|block|ban|prevent",
                            "ban ip|address failed", "fail2ban|sshguard|crowdsec protect|guard|running|enabl|active|install ssh|login?"))
def test_fail2ban_sshd_jail(host, evidence):
    """Blocking addresses after repeated failed logins stops password spraying and keeps the
    logs readable.  Medium rather than high: with key-only sshd (ssh-01) guessing cannot succeed.
    Passes when fail2ban runs with a jail for sshd (a jail whose name contains ``ssh``), or
    sshguard or CrowdSec runs.  Fails when fail2ban is missing, stopped or has no sshd jail.
    Not applicable without sshd, in a container, or without root to ask fail2ban."""
    if not hostfacts.tool(host, "sshd"):
        not_applicable(f"{host.name}: sshd is not installed; nothing for an sshd jail to guard")
    reason = hostfacts.container(host)
    if reason:
        not_applicable(f"{host.name}: a container ({reason}); fail2ban needs the host's firewall: run it on the container's host")
    client = hostfacts.tool(host, "fail2ban-client")
    jails: list[str] | None = None
    state = "not installed"
    if client:
        result = host.run("%s status", client)
        if result.rc == 0:
            line = next((line for line in result.stdout.splitlines() if "Jail list:" in line), "")
            jails = [j.strip() for j in line.split("Jail list:", 1)[-1].split(",") if j.strip()]
            state = "running"
        else:
            hostfacts.require_root(host, result, "fail2ban-client status")
            state = f"installed but not running ({hostfacts.last_line(result)})"
    equivalents = [p for p in hostfacts.processes(host) if any(p.named(name) for name in FAIL2BAN_EQUIVALENTS)]
    ssh_jails = [jail for jail in jails or [] if "ssh" in jail]
    evidence.record(fail2ban=state, jails=jails, sshd_jails=ssh_jails, equivalents=[str(p) for p in equivalents])
    if ssh_jails or equivalents:
        return
    if jails is not None:
        fail(host, f"fail2ban runs jails {', '.join(jails) or '(none)'}, none for sshd", "an sshd jail ([sshd] enabled = true)")
    fail(host, f"fail2ban is {state} and neither sshguard nor CrowdSec runs", "fail2ban running with an sshd jail, or an equivalent")
