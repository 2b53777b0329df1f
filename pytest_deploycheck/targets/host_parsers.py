"""What a host's tools print, parsed: ``ps``, ``ss``/``netstat``, ``df``, ``/etc/os-release``, the
capacity script, apt's list of upgradable packages, ``nft``/``iptables``/``ufw`` and logrotate's configuration.

Pure functions of text: ``host_facts.py`` runs the commands on a host (once per machine and run)
and hands their output here; tests feed real-format output straight in.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.targets import logrotate


@dataclass(frozen=True)
class Process:
    pid: int
    uid: int
    user: str
    comm: str
    args: str

    @property
    def argv0(self) -> str:
        first = self.args.split(" ", 1)[0] if self.args else ""
        return first.rsplit("/", 1)[-1]

    def named(self, name: str) -> bool:
        """Whether this process is ``name``: its kernel name (15 characters) or its argv[0]."""
        return self.comm == name[:15] or self.argv0 == name or self.argv0.rstrip(":") == name

    def __str__(self) -> str:
        args = self.args if len(self.args) <= 80 else self.args[:77] + "..."
        return f"pid {self.pid} ({self.user}): {args}"


def parse_ps(text: str) -> list[Process]:
    """Fixed-width ``ps -eo pid:10=,uid:10=,user:32=,comm:16=,args=`` (names may hold spaces)."""
    found = []
    for line in text.splitlines():
        if len(line) < 72 or not line[:10].strip().isdigit():
            continue
        try:
            found.append(Process(pid=int(line[0:10]), uid=int(line[11:21]), user=line[22:54].strip(),
                                 comm=line[55:71].strip(), args=line[72:].strip()))
        except ValueError:
            continue
    return found


@dataclass(frozen=True)
class Listener:
    proto: str  # tcp | udp
    address: str  # "0.0.0.0", "::", "*", "127.0.0.1", "10.0.0.5", ...
    port: int
    processes: tuple[str, ...] = ()

    @property
    def wildcard(self) -> bool:
        return self.address in ("*", "0.0.0.0", "::")

    @property
    def scope(self) -> str:
        """``loopback``, ``private`` (RFC 1918, ULA, link-local), ``public`` or ``all interfaces``."""
        if self.wildcard:
            return "all interfaces"
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            return "public"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback:
            return "loopback"
        if ip.is_private or ip.is_link_local:
            return "private"
        return "public"

    def __str__(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        who = f" ({', '.join(self.processes)})" if self.processes else ""
        return f"{self.proto} {address}:{self.port}{who}"


def _split_address(text: str) -> tuple[str, int] | None:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        return None
    host = host.split("%", 1)[0].strip("[]")  # 127.0.0.53%lo, [::]
    return host or "*", int(port)


def parse_ss(text: str) -> list[Listener]:
    """``ss -Htulnp``: ``tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))``."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ("tcp", "udp"):
            continue
        address = _split_address(fields[4])
        if address is None:
            continue
        names = tuple(dict.fromkeys(re.findall(r'\("([^"]+)"', line)))
        found.append(Listener(fields[0], address[0], address[1], names))
    return found


def parse_netstat(text: str) -> list[Listener]:
    """``netstat -tulnp``: ``tcp 0 0 0.0.0.0:22 0.0.0.0:* LISTEN 812/sshd``."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].startswith(("tcp", "udp")):
            continue
        address = _split_address(fields[3])
        if address is None:
            continue
        proto = "tcp" if fields[0].startswith("tcp") else "udp"
        if proto == "tcp" and "LISTEN" not in fields:
            continue
        last = fields[-1]
        names = (last.split("/", 1)[1],) if "/" in last and last.split("/", 1)[0].isdigit() else ()
        found.append(Listener(proto, address[0], address[1], names))
    return found


@dataclass(frozen=True)
class Sockets:
    listeners: tuple[Listener, ...]
    tool: str  # the command that listed them
    ephemeral: tuple[int, int]  # the local port range clients get ports from


def exposed(socks: Sockets) -> list[Listener]:
    """Sockets that other machines could reach: not loopback, and no UDP socket in the ephemeral
    range (those are clients' reply ports, which come and go)."""
    low, high = socks.ephemeral
    seen: dict[tuple[str, str, int], Listener] = {}
    for sock in socks.listeners:
        if sock.scope == "loopback":
            continue
        if sock.proto == "udp" and low <= sock.port <= high:
            continue
        seen.setdefault((sock.proto, sock.address, sock.port), sock)
    return sorted(seen.values(), key=lambda s: (s.port, s.proto, s.address))


@dataclass(frozen=True)
class Mount:
    source: str
    fstype: str
    size: int
    used: int
    available: int
    mountpoint: str

    @property
    def percent(self) -> float:
        """Used share as df computes it: used / (used + available), so reserved blocks count as full."""
        total = self.used + self.available
        return 100.0 * self.used / total if total else 0.0


PSEUDO_FILESYSTEMS = frozenset({
    "tmpfs", "devtmpfs", "squashfs", "iso9660", "udf", "ramfs", "efivarfs", "proc", "sysfs", "nsfs", "cgroup", "cgroup2",
    "devpts", "mqueue", "debugfs", "tracefs", "securityfs", "pstore", "bpf", "configfs", "fusectl", "autofs", "binfmt_misc",
    "hugetlbfs", "fuse.lxcfs", "fuse.snapfuse", "fuse.gvfsd-fuse", "fuse.portal", "overlay-ro",
})


def parse_df(text: str) -> list[Mount]:
    """``df -PT`` or ``df -PTi``: Filesystem Type Size Used Avail Capacity Mounted-on."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 7:
            continue
        try:
            size, used, available = int(fields[2]), int(fields[3]), int(fields[4])
        except ValueError:
            continue  # "-" for filesystems without inodes
        found.append(Mount(fields[0], fields[1], size, used, available, " ".join(fields[6:])))
    return found


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` / ``KEY="quoted value"`` lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            try:
                parts = shlex.split(value)
            except ValueError:
                parts = [value.strip('"')]
            values[key.strip()] = parts[0] if parts else ""
    return values


@dataclass(frozen=True)
class Capacity:
    cpus: int  # CPUs this host's processes may use (nproc: affinity and cpuset)
    online: int  # CPUs the kernel runs (the load average counts against these)
    cpu_quota: float | None  # cgroup CPU quota in CPUs, when one is set
    memory_bytes: int  # MemTotal
    memory_limit: int | None  # cgroup memory limit, when one is set below MemTotal
    load: tuple[float, float, float]

    @property
    def effective_cpus(self) -> float:
        return min(float(self.cpus), self.cpu_quota) if self.cpu_quota else float(self.cpus)

    @property
    def effective_memory(self) -> int:
        return min(self.memory_bytes, self.memory_limit) if self.memory_limit else self.memory_bytes


def parse_capacity(text: str) -> Capacity:
    raw = {}
    for line in text.splitlines():
        key, _, value = line.partition("\t")
        raw[key] = value.strip()

    def integer(key: str) -> int | None:
        value = raw.get(key, "")
        return int(value) if value.isdigit() else None

    cpus = integer("nproc") or integer("online") or 0
    online = integer("online") or cpus
    quota: float | None = None
    cpumax = raw.get("cpumax", "").split()
    if len(cpumax) == 2 and cpumax[0].isdigit() and cpumax[1].isdigit() and int(cpumax[1]):
        quota = int(cpumax[0]) / int(cpumax[1])
    cfs = raw.get("cfs", "").split()
    if quota is None and len(cfs) == 2 and cfs[0].lstrip("-").isdigit() and cfs[1].isdigit() and int(cfs[0]) > 0 and int(cfs[1]):
        quota = int(cfs[0]) / int(cfs[1])
    memory = (integer("memtotal") or 0) * 1024
    limit = integer("memmax") or integer("memlimit")
    if limit is not None and limit >= memory:
        limit = None  # "unlimited" is a huge number in cgroup v1
    load_fields = raw.get("loadavg", "").split()
    try:
        load = (float(load_fields[0]), float(load_fields[1]), float(load_fields[2]))
    except (IndexError, ValueError):
        load = (0.0, 0.0, 0.0)
    return Capacity(cpus, online, quota, memory, limit, load)


@dataclass(frozen=True)
class MemoryState:
    """A host's memory in use and the out-of-memory kills counted so far.

    Inside a cgroup memory limit below MemTotal (a container) what counts is the cgroup's: its
    working set (usage less inactive file pages, as ``kubectl top`` and cAdvisor count it)
    against its limit, and its own OOM kills.  Otherwise the machine's: MemTotal less
    MemAvailable (the kernel's estimate of what can be had without swapping; MemFree + Buffers
    + Cached on kernels before 3.14), and the kernel's OOM kills since boot."""

    total: int  # bytes: MemTotal
    available: int  # bytes: MemAvailable, or its estimate
    estimated: bool  # MemAvailable missing: available estimated
    swap_total: int
    swap_free: int
    cgroup: str | None  # "v1" or "v2" when a cgroup limit below MemTotal applies
    limit: int | None  # that limit, bytes
    working_set: int | None  # the cgroup's usage less inactive file pages, bytes
    oom_kills: int | None  # the cgroup's when limited, else the kernel's since boot; None when not counted
    uptime_s: float | None

    @property
    def used_pct(self) -> float:
        if self.limit and self.working_set is not None:
            return 100.0 * self.working_set / self.limit
        return 100.0 * (self.total - self.available) / self.total if self.total else 0.0

    @property
    def oom_scope(self) -> str:
        return f"this cgroup ({self.cgroup})" if self.limit else "the kernel, since boot"


def parse_memory(text: str) -> MemoryState:
    """``MemoryState`` from ``host_facts._MEMORY``'s output: /proc/meminfo lines, ``vmstat_oom_kill``,
    ``uptime`` and, when a cgroup memory controller is visible, ``cg`` (version, limit, usage),
    ``cg_inactive_file`` and ``cg_oom_kill``."""
    meminfo: dict[str, int] = {}
    raw: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s+(\d+) kB", line)
        if m:
            meminfo[m.group(1)] = int(m.group(2)) * 1024
            continue
        key, *values = line.split("\t")
        raw[key] = [v.strip() for v in values]

    def integer(key: str, position: int = 0) -> int | None:
        values = raw.get(key, [])
        return int(values[position]) if len(values) > position and values[position].isdigit() else None

    total = meminfo.get("MemTotal", 0)
    estimated = "MemAvailable" not in meminfo
    available = meminfo.get("MemAvailable", meminfo.get("MemFree", 0) + meminfo.get("Buffers", 0) + meminfo.get("Cached", 0))
    cgroup, limit, working_set = None, None, None
    version, cg_limit, cg_usage = [*raw.get("cg", []), "", "", ""][:3]
    if cg_limit.isdigit() and cg_usage.isdigit() and 0 < int(cg_limit) < total:  # "max" or a huge number: no limit
        cgroup, limit = version, int(cg_limit)
        working_set = max(0, int(cg_usage) - (integer("cg_inactive_file") or 0))
    oom = integer("cg_oom_kill") if limit else integer("vmstat_oom_kill")
    uptime = raw.get("uptime", [""])[0]
    return MemoryState(total, min(available, total), estimated, meminfo.get("SwapTotal", 0), meminfo.get("SwapFree", 0),
                       cgroup, limit, working_set, oom, float(uptime) if re.fullmatch(r"\d+(\.\d+)?", uptime) else None)


@dataclass(frozen=True)
class FirewallView:
    """What one firewall tool says about inbound traffic not matched by any rule."""

    tool: str
    ipv4_deny: bool
    ipv6_deny: bool
    detail: str


_UNCONDITIONAL_VERDICT = re.compile(r"^(counter(\s+packets\s+\d+\s+bytes\s+\d+)?\s+)?(log\b.*?\s+)?(drop|reject\b.*)$")


def parse_nft(ruleset: str) -> FirewallView:
    """``nft list ruleset``: an input hook chain with ``policy drop``, or ending in an
    unconditional drop/reject (firewalld's pattern), denies by default for its family."""
    v4 = v6 = False
    found: list[str] = []
    depth = 0
    family = table = ""
    chain: dict[str, Any] | None = None
    for raw_line in ruleset.splitlines():
        line = raw_line.strip()
        opens, closes = line.count("{"), line.count("}")
        if depth == 0 and line.startswith("table "):
            parts = line.split()
            family, table = (parts[1], parts[2]) if len(parts) >= 4 else ("ip", parts[1] if len(parts) > 1 else "")
        elif depth == 1 and line.startswith("chain "):
            chain = {"name": line.split()[1], "input": False, "policy": "accept", "rules": []}
        elif depth == 2 and chain is not None and line and line != "}":
            if line.startswith("type ") and "hook input" in line:
                chain["input"] = True
                match = re.search(r"policy (\w+)", line)
                chain["policy"] = match.group(1) if match else "accept"
            elif not line.startswith(("type ", "policy ", "comment ")):
                chain["rules"].append(line)
        depth += opens - closes
        if chain is not None and depth <= 1:
            if chain["input"]:
                last = chain["rules"][-1] if chain["rules"] else ""
                deny = chain["policy"] == "drop" or bool(_UNCONDITIONAL_VERDICT.match(last))
                how = f"policy {chain['policy']}" + (f", ends with '{last}'" if last and deny and chain["policy"] != "drop" else "")
                found.append(f"{family} {table} {chain['name']}: {how}")
                if deny:
                    v4 = v4 or family in ("inet", "ip")
                    v6 = v6 or family in ("inet", "ip6")
            chain = None
    return FirewallView("nftables", v4, v6, "; ".join(found) or "no chain on the input hook")


def parse_iptables(rules: str, tool: str = "iptables") -> bool:
    """``iptables -S INPUT``: policy DROP, or a last rule that drops/rejects everything."""
    lines = [line.strip() for line in rules.splitlines() if line.strip()]
    if "-P INPUT DROP" in lines:
        return True
    appended = [line for line in lines if line.startswith("-A INPUT ")]
    if not appended:
        return False
    last = appended[-1].split()[2:]
    return len(last) >= 2 and last[0] == "-j" and last[1] in ("DROP", "REJECT") and all(
        token.startswith("--reject-with") or not token.startswith("-") for token in last[2:])


def parse_ufw(status: str) -> bool:
    """``ufw status verbose``: active with ``Default: deny (incoming)`` (or reject)."""
    active = re.search(r"^Status:\s*active", status, re.MULTILINE) is not None
    default = re.search(r"^Default:\s*(deny|reject)\s*\(incoming\)", status, re.MULTILINE) is not None
    return active and default


def parse_logrotate(text: str) -> tuple[list[list[str]], list[str]]:
    """(path patterns of each stanza, include targets) of one logrotate configuration file
    (``logrotate.parse``, which also reads the directives that decide retention)."""
    stanzas, _, includes = logrotate.parse(text, "")
    return [list(stanza.patterns) for stanza in stanzas], includes


def covers(pattern: str, folder: str) -> bool:
    """Whether a logrotate path pattern rotates files directly in ``folder``."""
    import fnmatch
    import posixpath

    folder = posixpath.normpath(folder)
    return fnmatch.fnmatchcase(folder, posixpath.normpath(posixpath.dirname(pattern)))


def apt_security_updates(method: str, out: str) -> tuple[list[str], int]:
    """(packages whose candidate comes from a security archive, all upgradable packages) from
    ``apt list --upgradable`` (``name/suite[,suite] version arch [upgradable from: old]``) or
    ``apt-get -s dist-upgrade`` (``Inst name [old] (version Label:suite [arch])``)."""
    if method.startswith("apt list"):
        rows = re.findall(r"^([^/\s]+)/(\S+) \S+ \S+ \[upgradable from: [^]]+\]", out, re.MULTILINE)
        security = {name for name, suites in rows if any("security" in s.lower() for s in suites.split(","))}
        return sorted(security), len({name for name, _ in rows})
    rows = re.findall(r"^Inst (\S+) .*\(([^)]*)\)", out, re.MULTILINE)
    return sorted({name for name, origin in rows if "security" in origin.lower()}), len({name for name, _ in rows})
