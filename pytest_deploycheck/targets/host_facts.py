"""Facts about a host that several host checks share, each gathered with one command per run.

Every function takes the ``host`` handle (``HostTarget``) and memoizes on it, so the network
checks share one ``ss`` call, the capacity checks one ``df``, and so on.  Parsing is kept apart
from gathering (``parse_*`` functions) so each parser can be read against real command output.
Commands are POSIX ``sh`` and the usual Linux tools (procps, iproute2 or net-tools, coreutils);
a tool that is missing makes the check that needs it not applicable, never a crash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.outcomes import TargetError, not_applicable
from pytest_deploycheck.targets.host_parsers import (
    PSEUDO_FILESYSTEMS,
    Capacity,
    FirewallView,
    Listener,
    MemoryState,
    Mount,
    Process,
    Sockets,
    apt_security_updates,
    covers,
    exposed,
    parse_capacity,
    parse_df,
    parse_iptables,
    parse_logrotate,
    parse_memory,
    parse_netstat,
    parse_nft,
    parse_os_release,
    parse_ps,
    parse_ss,
    parse_ufw,
)

#: What checks use as ``hostfacts.X``: the facts read from a host here, and the parsers of ``host_parsers``.
__all__ = [
    "PSEUDO_FILESYSTEMS",
    "TOOLS",
    "Capacity",
    "FirewallView",
    "InitSystem",
    "Listener",
    "MemoryState",
    "Mount",
    "Process",
    "Sockets",
    "Stat",
    "apt_security_updates",
    "capacity",
    "checked",
    "container",
    "covers",
    "exposed",
    "init_system",
    "last_line",
    "memory",
    "mounts",
    "os_release",
    "parse_capacity",
    "parse_df",
    "parse_iptables",
    "parse_logrotate",
    "parse_memory",
    "parse_netstat",
    "parse_nft",
    "parse_os_release",
    "parse_ps",
    "parse_ss",
    "parse_ufw",
    "processes",
    "require_root",
    "sh",
    "sockets",
    "stat_paths",
    "tool",
    "tools",
]

#: Every tool a host check may look for, found with one command per host.
TOOLS = (
    "sshd", "ss", "netstat", "nft", "iptables", "ip6tables", "ufw", "fail2ban-client", "sshguard", "crowdsec",
    "systemctl", "timedatectl", "chronyc", "ntpq", "ntpstat", "apt-get", "apt-config", "dpkg-query", "dnf", "yum",
    "rpm", "logrotate", "ps", "df", "stat", "find",
)

_WHICH = r"""
for n in "$@"; do
  p=$(command -v "$n" 2>/dev/null)
  if [ -z "$p" ]; then
    for d in /usr/sbin /usr/local/sbin /sbin /usr/bin /bin; do
      if [ -x "$d/$n" ]; then p="$d/$n"; break; fi
    done
  fi
  printf '%s\t%s\n' "$n" "$p"
done
"""

_CONTAINER = r"""
[ -f /.dockerenv ] && echo "/.dockerenv exists"
[ -f /run/.containerenv ] && echo "/run/.containerenv exists"
c=$(tr '\000' '\n' < /proc/1/environ 2>/dev/null | sed -n 's/^container=//p')
[ -n "$c" ] && echo "PID 1 runs with container=$c"
if command -v systemd-detect-virt >/dev/null 2>&1; then
  v=$(systemd-detect-virt --container 2>/dev/null)
  [ -n "$v" ] && [ "$v" != none ] && echo "systemd-detect-virt --container: $v"
fi
grep -qaE '/(docker|kubepods|lxc|libpod)' /proc/1/cgroup 2>/dev/null && echo "/proc/1/cgroup names a container runtime"
true
"""

_INIT = r"""
c=$(cat /proc/1/comm 2>/dev/null || ps -o comm= -p 1 2>/dev/null)
printf 'pid1\t%s\n' "$c"
[ -d /run/systemd/system ] && echo 'systemd-runtime'
[ -d /run/openrc ] && echo 'openrc-runtime'
[ -d /etc/init ] && command -v initctl >/dev/null 2>&1 && echo 'upstart-config'
true
"""


def sh(host: Any, script: str, *args: str) -> Any:
    """Run a POSIX ``sh`` script with ``args`` as ``$1 ...``, whatever the login shell is.

    The answer is kept for the run (``host.memo``) and shared by every inventory entry that
    reaches the same machine as the same account: checks only read, so the same question asked
    twice (``apt-get -s dist-upgrade`` for two entries of one machine) gets the first answer.
    """
    memo = getattr(host, "memo", None)
    if memo is None:
        return host.run("sh -c %s sh" + " %s" * len(args), script, *args)
    key = "sh:" + hashlib.sha256("\0".join((script, *args)).encode()).hexdigest()
    return memo(key, lambda: host.run("sh -c %s sh" + " %s" * len(args), script, *args))


def tools(host: Any) -> dict[str, str]:
    """{tool: absolute path or ""} for every name in ``TOOLS`` (also /usr/sbin for non-root logins)."""

    def find() -> dict[str, str]:
        out = sh(host, _WHICH, *TOOLS).stdout
        found = {name: "" for name in TOOLS}
        for line in out.splitlines():
            name, _, path = line.partition("\t")
            if name in found:
                found[name] = path.strip()
        return found

    return host.memo("tools", find)  # type: ignore[no-any-return]


def tool(host: Any, name: str) -> str:
    return tools(host).get(name, "")


def container(host: Any) -> str | None:
    """Why the host is taken for a container, or None.  The inventory's ``container`` key wins
    over detection (/.dockerenv, /run/.containerenv, PID 1's ``container=``, systemd-detect-virt,
    /proc/1/cgroup)."""
    declared = host.setting("container")
    if declared is not None:
        return "declared in the inventory (container: true)" if declared else None

    def detect() -> str | None:
        lines = [line.strip() for line in sh(host, _CONTAINER).stdout.splitlines() if line.strip()]
        return "; ".join(lines) or None

    return host.memo("container", detect)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class InitSystem:
    name: str  # systemd, openrc, upstart, sysvinit, or "" when PID 1 is no service manager
    pid1: str


def init_system(host: Any) -> InitSystem:
    """The service manager, from PID 1 (a container's PID 1 is often the application or a shim)."""

    def detect() -> InitSystem:
        lines = sh(host, _INIT).stdout.splitlines()
        pid1 = next((line.split("\t", 1)[1].strip() for line in lines if line.startswith("pid1\t")), "")
        flags = set(lines)
        if pid1 == "systemd" or (pid1 == "init" and "systemd-runtime" in flags):
            return InitSystem("systemd", pid1)
        if pid1 in ("init", "openrc-init"):
            if "openrc-runtime" in flags:
                return InitSystem("openrc", pid1)
            if "upstart-config" in flags:
                return InitSystem("upstart", pid1)
            return InitSystem("sysvinit", pid1)
        return InitSystem("", pid1 or "unknown")

    return host.memo("init", detect)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- processes


_PS = "ps -ww -eo pid:10=,uid:10=,user:32=,comm:16=,args="


def processes(host: Any) -> list[Process]:
    """Every process on the host (procps ``ps``); n/a without it."""

    def gather() -> list[Process]:
        result = host.run(_PS)
        if result.rc != 0:
            not_applicable(f"{host.name}: cannot list processes with procps ps ({_last_line(result)})")
        return parse_ps(result.stdout)

    return host.memo("processes", gather)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- listening sockets


def sockets(host: Any) -> Sockets:
    """Listening TCP sockets and bound UDP sockets; n/a when neither ss nor netstat exists."""

    def gather() -> Sockets:
        low, high = 32768, 60999
        result = host.run("cat /proc/sys/net/ipv4/ip_local_port_range")
        parts = result.stdout.split()
        if result.rc == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
            low, high = int(parts[0]), int(parts[1])
        if tool(host, "ss"):
            result = host.run("%s -Htulnp", tool(host, "ss"))
            if result.rc == 0:
                return Sockets(tuple(parse_ss(result.stdout)), "ss -Htulnp", (low, high))
        if tool(host, "netstat"):
            result = host.run("%s -tulnp", tool(host, "netstat"))
            if result.rc == 0:
                return Sockets(tuple(parse_netstat(result.stdout)), "netstat -tulnp", (low, high))
        not_applicable(f"{host.name}: neither ss (iproute2) nor netstat (net-tools) is installed to list listening sockets")

    return host.memo("sockets", gather)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- mounts


#: Filesystems whose usage says nothing about capacity (memory-backed, read-only images, pseudo).


def mounts(host: Any, *, inodes: bool = False) -> list[Mount]:
    """Real filesystems with their block (or inode) usage; duplicates of one filesystem (bind
    mounts) appear once, under the shortest mount point."""
    flag = "-PTi" if inodes else "-PT"

    def gather() -> list[Mount]:
        result = host.run("df %s", flag)
        if result.rc != 0 and not result.stdout.strip():
            not_applicable(f"{host.name}: df {flag} failed ({_last_line(result)})")
        unique: dict[tuple[str, int, int], Mount] = {}
        for mount in parse_df(result.stdout):
            if mount.fstype in PSEUDO_FILESYSTEMS or mount.size == 0:
                continue
            key = (mount.source, mount.size, mount.used)
            if key not in unique or len(mount.mountpoint) < len(unique[key].mountpoint):
                unique[key] = mount
        return sorted(unique.values(), key=lambda m: m.mountpoint)

    return host.memo(f"df{flag}", gather)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Stat:
    path: str
    mode: int
    owner: str
    group: str
    kind: str  # "regular file", "directory", ...

    @property
    def octal(self) -> str:
        return f"{self.mode:04o}"


def stat_paths(host: Any, paths: list[str]) -> dict[str, Stat | None]:
    """Mode, owner, group and type of each path (following symlinks); None for a missing path."""
    found: dict[str, Stat | None] = {p: None for p in paths}
    if not paths:
        return found
    result = host.run("stat -L -c %s --" + " %s" * len(paths), "%a\t%U\t%G\t%F\t%n", *paths)
    for line in result.stdout.splitlines():
        fields = line.split("\t", 4)
        if len(fields) == 5 and fields[4] in found:
            try:
                found[fields[4]] = Stat(fields[4], int(fields[0], 8), fields[1], fields[2], fields[3])
            except ValueError:
                continue
    return found


def os_release(host: Any) -> dict[str, str]:
    """/etc/os-release (or /usr/lib/os-release) as a dict; empty when neither exists."""

    def read() -> dict[str, str]:
        return parse_os_release(host.run("cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release").stdout)

    return host.memo("os-release", read)  # type: ignore[no-any-return]


def require_root(host: Any, result: Any, what: str) -> None:
    """n/a naming the privilege when ``result`` failed for want of root."""
    text = f"{result.stderr}\n{result.stdout}".lower()
    if any(s in text for s in ("permission denied", "operation not permitted", "must be root", "you need to be root",
                               "are you root", "a password is required", "access denied")):
        not_applicable(f"{host.name}: {what} needs root; set sudo: true on the host (sudo -n, no password prompt)", unexamined=True)


def _last_line(result: Any) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.rc}"


def last_line(result: Any) -> str:
    """The last line a failed command printed, for messages."""
    return _last_line(result)


def checked(host: Any, result: Any, what: str) -> Any:
    """``result`` if the command succeeded; otherwise n/a for want of root, or an error."""
    if result.rc != 0:
        require_root(host, result, what)
        raise TargetError(f"{host.label}: {what} failed: {_last_line(result)}")
    return result


# --------------------------------------------------------------------------- capacity


_CAPACITY = r"""
printf 'nproc\t%s\n' "$(nproc 2>/dev/null)"
printf 'online\t%s\n' "$(getconf _NPROCESSORS_ONLN 2>/dev/null)"
printf 'cpumax\t%s\n' "$(cat /sys/fs/cgroup/cpu.max 2>/dev/null)"
printf 'cfs\t%s %s\n' "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null)" "$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null)"
printf 'memtotal\t%s\n' "$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB.*/\1/p' /proc/meminfo)"
printf 'memmax\t%s\n' "$(cat /sys/fs/cgroup/memory.max 2>/dev/null)"
printf 'memlimit\t%s\n' "$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null)"
printf 'loadavg\t%s\n' "$(cat /proc/loadavg 2>/dev/null)"
grep -E '^(MemTotal|MemAvailable|MemFree|Buffers|Cached|SwapTotal|SwapFree):' /proc/meminfo
sed -n 's/^oom_kill[[:space:]]*\([0-9][0-9]*\)$/vmstat_oom_kill\t\1/p' /proc/vmstat 2>/dev/null
printf 'uptime\t%s\n' "$(cut -d' ' -f1 /proc/uptime 2>/dev/null)"
if [ -r /sys/fs/cgroup/memory.max ]; then
  printf 'cg\tv2\t%s\t%s\n' "$(cat /sys/fs/cgroup/memory.max)" "$(cat /sys/fs/cgroup/memory.current 2>/dev/null)"
  sed -n 's/^inactive_file \([0-9][0-9]*\)$/cg_inactive_file\t\1/p' /sys/fs/cgroup/memory.stat 2>/dev/null
  sed -n 's/^oom_kill \([0-9][0-9]*\)$/cg_oom_kill\t\1/p' /sys/fs/cgroup/memory.events 2>/dev/null
elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  d=/sys/fs/cgroup/memory
  printf 'cg\tv1\t%s\t%s\n' "$(cat $d/memory.limit_in_bytes)" "$(cat $d/memory.usage_in_bytes 2>/dev/null)"
  sed -n 's/^total_inactive_file \([0-9][0-9]*\)$/cg_inactive_file\t\1/p' $d/memory.stat 2>/dev/null
  sed -n 's/^oom_kill \([0-9][0-9]*\)$/cg_oom_kill\t\1/p' $d/memory.oom_control 2>/dev/null
fi
true
"""


def capacity(host: Any) -> Capacity:
    """CPUs, memory (with cgroup limits) and load average, from one command (which ``memory``
    reads too)."""

    def gather() -> Capacity:
        found = parse_capacity(sh(host, _CAPACITY).stdout)
        if not found.cpus or not found.memory_bytes:
            not_applicable(f"{host.name}: cannot read CPU and memory (nproc, /proc/meminfo): not a Linux host?")
        return found

    return host.memo("capacity", gather)  # type: ignore[no-any-return]





def memory(host: Any) -> MemoryState:
    """Memory in use and OOM kills (``MemoryState``), from ``capacity``'s one command:
    /proc/meminfo, /proc/vmstat and the cgroup memory controller the login sees at
    /sys/fs/cgroup (a container's own; on a machine, the root, which has no limit)."""

    def gather() -> MemoryState:
        found = parse_memory(sh(host, _CAPACITY).stdout)  # the same command as capacity(): one read per machine
        if not found.total:
            not_applicable(f"{host.name}: no /proc/meminfo to read memory from: not a Linux host?")
        return found

    return host.memo("memory", gather)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- firewall


# --------------------------------------------------------------------------- log rotation
