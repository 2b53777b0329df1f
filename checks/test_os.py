"""Operating system: patching, time, release support and capacity of every ``hosts`` target.

Patching is read from the package manager without changing anything (``apt-get -s``, ``dnf -C``:
simulation and cache only, so the count is as fresh as the host's own package lists).  In a
container, automatic updates and time synchronisation are not applicable: an image is patched
by rebuilding it, and the clock is the container host's kernel clock.  Capacity counts what the
host's processes may use: CPUs after affinity and cgroup quota, memory after a cgroup limit.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, read_ahead, require
from pytest_deploycheck.targets import host_facts as hostfacts
from pytest_deploycheck.targets.timezones import same_zone

pytestmark = pytest.mark.section("os", "Operating system: patching, time and capacity")

GB = 10**9  # thresholds are decimal gigabytes: a "4 GB" machine's MemTotal (~3.8 GiB) still passes

#: End of security support per release (including the distribution's own LTS, excluding paid
#: extended support), from endoflife.date and the distributions' lifecycle pages.  Releases not
#: listed end as not applicable: the table names what it knows.
OS_EOL: dict[tuple[str, str], dt.date] = {
    ("debian", "10"): dt.date(2024, 6, 30),
    ("debian", "11"): dt.date(2026, 8, 31),
    ("debian", "12"): dt.date(2028, 6, 30),
    ("debian", "13"): dt.date(2030, 6, 30),
    ("ubuntu", "18.04"): dt.date(2023, 5, 31),
    ("ubuntu", "20.04"): dt.date(2025, 5, 31),
    ("ubuntu", "22.04"): dt.date(2027, 4, 30),
    ("ubuntu", "24.04"): dt.date(2029, 4, 30),
    ("ubuntu", "24.10"): dt.date(2025, 7, 10),
    ("ubuntu", "25.04"): dt.date(2026, 1, 15),
    ("ubuntu", "25.10"): dt.date(2026, 7, 31),
    **{(rhel, "7"): dt.date(2024, 6, 30) for rhel in ("rhel", "centos", "ol")},
    **{(rhel, "8"): dt.date(2029, 5, 31) for rhel in ("rhel", "rocky", "almalinux", "ol")},
    **{(rhel, "9"): dt.date(2032, 5, 31) for rhel in ("rhel", "rocky", "almalinux", "ol")},
    **{(rhel, "10"): dt.date(2035, 5, 31) for rhel in ("rhel", "rocky", "almalinux", "ol")},
    ("centos", "8"): dt.date(2024, 5, 31),  # CentOS Stream 8
    ("centos", "9"): dt.date(2027, 5, 31),  # CentOS Stream 9
    ("amzn", "2"): dt.date(2026, 6, 30),
    ("amzn", "2023"): dt.date(2029, 6, 30),
    ("alpine", "3.19"): dt.date(2025, 11, 1),
    ("alpine", "3.20"): dt.date(2026, 4, 1),
    ("alpine", "3.21"): dt.date(2026, 11, 1),
    ("alpine", "3.22"): dt.date(2027, 5, 1),
    ("fedora", "41"): dt.date(2025, 12, 15),
    ("fedora", "42"): dt.date(2026, 5, 13),
}
EOL_SOURCE = "endoflife.date"

_APT_AUTO = r"""
printf 'status\t%s\n' "$(dpkg-query -W -f='${Status}' unattended-upgrades 2>/dev/null)"
apt-config shell UU APT::Periodic::Unattended-Upgrade LISTS APT::Periodic::Update-Package-Lists 2>/dev/null
[ -e /etc/cron.daily/apt-compat ] && printf 'cron\t/etc/cron.daily/apt-compat\n'
command -v systemctl >/dev/null 2>&1 && printf 'timer\t%s\n' "$(systemctl is-enabled apt-daily-upgrade.timer 2>/dev/null)"
true
"""

_DNF_AUTO = r"""
for p in dnf-automatic dnf5-plugin-automatic yum-cron; do rpm -q "$p" >/dev/null 2>&1 && printf 'package\t%s\n' "$p"; done
for t in dnf-automatic-install.timer dnf-automatic.timer dnf5-automatic.timer yum-cron.service; do
  printf 'unit\t%s\t%s\n' "$t" "$(systemctl is-enabled "$t" 2>/dev/null)"
done
sed -n 's/^[[:space:]]*\(apply_updates\|upgrade_type\)[[:space:]]*=[[:space:]]*\(.*\)$/conf\t\1\t\2/p' /etc/dnf/automatic.conf 2>/dev/null
true
"""

# ``apt list --upgradable`` reads the package cache without running the resolver: about a third
# of ``apt-get -s dist-upgrade``'s CPU on the host, and it still lists a held package whose fix
# waits.  Debian 10 and older name their security suite "buster/updates" (no "security" in it):
# there the simulation's origin label (Debian-Security) is what tells.
_APT_PENDING = r"""
LISTS=/var/lib/apt/lists/
eval "$(apt-config shell LISTS Dir::State::lists/d 2>/dev/null)"
printf 'lists\t%s\n' "$(ls "$LISTS" 2>/dev/null | grep -c '_Packages')"
printf 'updated\t%s\n' "$(stat -c %Y "$LISTS"*_Packages* 2>/dev/null | sort -n | tail -n 1)"
printf 'now\t%s\n' "$(date +%s)"
legacy=$(. /etc/os-release 2>/dev/null; case "$ID:$VERSION_ID" in debian:[0-9]|debian:[0-9].*|debian:10|debian:10.*) echo 1;; esac)
if [ -z "$legacy" ] && command -v apt >/dev/null 2>&1; then
  printf 'method\tapt list --upgradable\n'
  LC_ALL=C apt list --upgradable 2>&1
else
  printf 'method\tapt-get -s dist-upgrade\n'
  LC_ALL=C apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1
fi
"""

ENABLED = ("enabled", "static", "alias", "indirect", "generated", "enabled-runtime")


@pytest.mark.check("os-01", "Automatic security updates enabled", severity="medium",
                   refs=("CIS Controls v8 7.3: Perform automated operating system patch management",
                         "CIS Debian Linux 12 1.2.2.1: Ensure updates, patches, and additional security software are installed"),
                   answers=("automatic|unattended security_update|update|patch enabl?", "auto_update|unattended_upgrades",
                            "security_update automatic|schedul|daily"))
def test_automatic_updates(host, evidence):
    """Security fixes that wait for a person are applied weeks late.  On Debian and Ubuntu
    passes when ``unattended-upgrades`` is installed, ``APT::Periodic::Unattended-Upgrade`` and
    ``Update-Package-Lists`` are on and something runs them (apt-daily-upgrade.timer under
    systemd, /etc/cron.daily/apt-compat otherwise).  On RHEL-family hosts passes when
    dnf-automatic's install timer is enabled, or its timer with ``apply_updates = yes``.
    Not applicable in a container (rebuild the image instead) or on other package managers."""
    reason = hostfacts.container(host)
    if reason:
        not_applicable(f"{host.name}: a container ({reason}); images are patched by rebuilding them, not in place")
    if hostfacts.tool(host, "apt-get"):
        lines = hostfacts.sh(host, _APT_AUTO).stdout.splitlines()
        fields = dict(line.split("\t", 1) for line in lines if "\t" in line)
        periodic = dict(re.findall(r"^(UU|LISTS)='([^']*)'", "\n".join(lines), re.MULTILINE))
        installed = "install ok installed" in fields.get("status", "")
        systemd = hostfacts.init_system(host).name == "systemd"
        scheduled = fields.get("timer", "") in ENABLED if systemd else bool(fields.get("cron"))
        evidence.record(unattended_upgrades=fields.get("status") or "not installed", unattended_upgrade=periodic.get("UU", "unset"),
                        update_package_lists=periodic.get("LISTS", "unset"),
                        scheduler=fields.get("timer") if systemd else fields.get("cron"))
        problems = []
        if not installed:
            problems.append("unattended-upgrades is not installed")
        for key, name in (("UU", "APT::Periodic::Unattended-Upgrade"), ("LISTS", "APT::Periodic::Update-Package-Lists")):
            if periodic.get(key, "0") in ("0", "", "false", "no"):
                problems.append(f"{name} is {periodic.get(key, 'unset')}")
        if installed and not scheduled:
            problems.append("apt-daily-upgrade.timer is not enabled" if systemd else "no /etc/cron.daily/apt-compat runs it")
        require(not problems, host, "; ".join(problems),
                'unattended-upgrades installed, APT::Periodic::Unattended-Upgrade "1" and scheduled')
        return
    if hostfacts.tool(host, "dnf") or hostfacts.tool(host, "yum"):
        lines = hostfacts.sh(host, _DNF_AUTO).stdout.splitlines()
        packages = [line.split("\t", 1)[1] for line in lines if line.startswith("package\t")]
        units = {p[1]: p[2] for p in (line.split("\t") for line in lines if line.startswith("unit\t")) if len(p) == 3}
        conf = {p[1]: p[2].strip() for p in (line.split("\t") for line in lines if line.startswith("conf\t")) if len(p) == 3}
        evidence.record(packages=packages, units=units, automatic_conf=conf)
        applying = (units.get("dnf-automatic-install.timer") in ENABLED
                    or (units.get("dnf-automatic.timer") in ENABLED and conf.get("apply_updates", "no").lower() in ("yes", "true", "1"))
                    or units.get("dnf5-automatic.timer") in ENABLED or units.get("yum-cron.service") in ENABLED)
        require(packages and applying, host,
                "dnf-automatic is not installed" if not packages else "no enabled timer applies updates automatically",
                "dnf-automatic with dnf-automatic-install.timer enabled (or apply_updates = yes)")
        return
    release = hostfacts.os_release(host).get("PRETTY_NAME", "this system")
    not_applicable(f"{host.name}: automatic updates are checked for apt and dnf/yum systems; {release} has neither", unexamined=True)


def _apt_pending(host, evidence) -> tuple[int, list[str]]:
    result = hostfacts.sh(host, _APT_PENDING)
    out = result.stdout
    fields = dict(line.split("\t", 1) for line in out.splitlines()[:4] if "\t" in line)
    if fields.get("lists", "0").strip() in ("", "0"):
        raise TargetError(f"{host.label}: the apt package lists are empty (apt-get update never ran); pending updates cannot be counted")
    method = fields.get("method", "apt-get -s dist-upgrade").strip()
    errors = [line for line in out.splitlines() if line.startswith("E: ")]
    if result.rc != 0 or errors:
        raise TargetError(f"{host.label}: {method} failed (exit {result.rc}: {(errors or [hostfacts.last_line(result)])[0][:300]}); "
                          "pending updates cannot be counted until apt works on this host")
    updated, now = fields.get("updated", "").strip(), fields.get("now", "").strip()
    if updated.isdigit() and now.isdigit():
        evidence.record(package_lists_age_hours=round((int(now) - int(updated)) / 3600, 1))
    security, upgradable = hostfacts.apt_security_updates(method, out)
    evidence.record(method=method, upgradable_packages=upgradable)
    return len(security), security


def _dnf_pending(host, evidence) -> tuple[int, list[str]]:
    manager = hostfacts.tool(host, "dnf") or hostfacts.tool(host, "yum")
    result = host.run("%s -q -C updateinfo list --security --available", manager)
    if result.rc != 0:
        raise TargetError(f"{host.label}: {manager} updateinfo failed ({hostfacts.last_line(result)}); "
                          "the host's package metadata cache may be empty")
    packages = sorted({line.split()[-1] for line in result.stdout.splitlines() if len(line.split()) >= 3})
    return len(packages), packages


@pytest.mark.check("os-02", "No pending security updates", severity="high",
                   refs=("CIS Controls v8 7.3, 7.4: automated operating system and application patch management",
                         "CIS Debian Linux 12 1.2.2.1: Ensure updates, patches, and additional security software are installed"),
                   answers=("securityupdate", "target? server|servers|host|hosts|machines patched current|latest baseline|level", "securityupdate old|age|within|applied|current|recent", "security_update|update pending|outstanding|applied|install|current|latest|missing",
                            "os|host|server|system|kernel|package|packages update|patch applied|install|current|latest|pending|date?",
                            "fully patch|updat server|host|system|os?", "kernel|package|packages|os up date",
                            "app? server|servers|host|hosts|system|systems|os patched|updated within|recently|current|last last? days?"),
                   answers_unless=("automatic", "dependency", "dependencies", "npm", "pip", "library", "libraries", "schedul"))
@read_ahead(lambda host: hostfacts.tool(host, "apt-get") and hostfacts.sh(host, _APT_PENDING))
def test_pending_security_updates(host, evidence):
    """A pending security update is a published vulnerability still present.  Counts packages
    whose candidate comes from a security archive (``apt list --upgradable``: a ``*-security``
    suite; ``apt-get -s dist-upgrade``'s Debian-Security label on Debian 10 and older) or a
    security advisory (``dnf updateinfo --security``), from the host's package lists as they
    are: nothing is refreshed.  A held package whose fix waits counts.  apt failing (a
    corrupt list, a broken dependency state) is an error, never zero.  Passes when the count is at most
    ``pending_security_updates_max`` (default 0).  Not applicable without apt or dnf/yum."""
    if hostfacts.tool(host, "apt-get"):
        count, packages = _apt_pending(host, evidence)
    elif hostfacts.tool(host, "dnf") or hostfacts.tool(host, "yum"):
        count, packages = _dnf_pending(host, evidence)
    else:
        release = hostfacts.os_release(host).get("PRETTY_NAME", "this system")
        not_applicable(f"{host.name}: pending updates are counted with apt or dnf/yum; {release} has neither", unexamined=True)
    limit = host.threshold("pending_security_updates_max")
    evidence.record(pending_security_updates=count, packages=packages[:50], limit=limit)
    shown = ", ".join(packages[:10]) + (f" and {count - 10} more" if count > 10 else "")
    require(count <= limit, host, f"{count} pending security update(s): {shown}", f"at most {limit}")


@pytest.mark.check("os-03", "Clock synchronised", severity="medium",
                   refs=("CIS Controls v8 8.4: Standardize time synchronization",
                         "CIS Debian Linux 12 2.3.1.1: Ensure a single time synchronization daemon is in use"),
                   answers=("time_sync sync|synchron|synced", "time_sync|clock", "time sync|synchroniz|ntp"))
def test_time_synchronised(host, evidence):
    """Certificates, tokens (exp, nbf), TOTP, Kerberos and log correlation all need the right
    time.  Passes when the kernel clock is synchronised: ``timedatectl`` (systemd-timesyncd or
    any NTP daemon), ``chronyc tracking`` (Leap status Normal) or ``ntpq -p`` (a selected peer).
    Fails when none of them reports a synchronised clock.  Not applicable in a container, whose
    clock is the container host's kernel clock."""
    reason = hostfacts.container(host)
    if reason:
        not_applicable(f"{host.name}: a container ({reason}); its clock is the container host's kernel clock: check that host")
    observed = []
    if hostfacts.init_system(host).name == "systemd" and hostfacts.tool(host, "timedatectl"):
        result = host.run("%s show -p NTPSynchronized -p NTP", hostfacts.tool(host, "timedatectl"))
        values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        evidence.record(timedatectl=values)
        if values.get("NTPSynchronized") == "yes":
            return
        observed.append(f"timedatectl: NTPSynchronized={values.get('NTPSynchronized', '?')}, NTP service={values.get('NTP', '?')}")
    if hostfacts.tool(host, "chronyc"):
        result = host.run("%s -n tracking", hostfacts.tool(host, "chronyc"))
        leap = re.search(r"^Leap status\s*:\s*(.+)$", result.stdout, re.MULTILINE)
        evidence.record(chrony=leap.group(1).strip() if leap else hostfacts.last_line(result))
        if result.rc == 0 and leap and leap.group(1).strip() == "Normal":
            return
        observed.append(f"chronyc tracking: {leap.group(1).strip() if leap else hostfacts.last_line(result)}")
    if hostfacts.tool(host, "ntpq"):
        result = host.run("%s -pn", hostfacts.tool(host, "ntpq"))
        peers = [line for line in result.stdout.splitlines() if line.startswith("*")]
        evidence.record(ntp_system_peer=peers[0].split()[0] if peers else None)
        if result.rc == 0 and peers:
            return
        observed.append(f"ntpq -p: {'no selected peer' if result.rc == 0 else hostfacts.last_line(result)}")
    fail(host, "; ".join(observed) or "no time synchronisation: none of systemd-timesyncd, chrony or ntpd is present",
         "a synchronised clock (systemd-timesyncd, chrony or ntpd)")


def _release_key(release: dict[str, str]) -> tuple[str, str]:
    os_id = release.get("ID", "").lower()
    version = release.get("VERSION_ID", "")
    if os_id in ("rhel", "centos", "rocky", "almalinux", "ol", "debian"):
        version = version.split(".", 1)[0]
    elif os_id == "alpine":
        version = ".".join(version.split(".")[:2])
    return os_id, version


@pytest.mark.check("os-04", "OS release still supported", severity="high",
                   refs=("CIS Controls v8 2.2: Ensure authorized software is currently supported", "endoflife.date"),
                   answers=("os|operating_system|distribution|distro|ubuntu|debian|rhel|kernel eol|support|supported|lts|version|release",
                            "os release|version support|eol|lts"))
def test_os_release_supported(host, evidence):
    """A release past its end of life gets no security fixes: every new vulnerability stays.
    Passes while today is before the end of security support of the host's release (Debian and
    Ubuntu LTS, RHEL and rebuilds, Amazon Linux, Alpine, Fedora; distribution LTS included, paid
    extended support not).  Not applicable for a release the table does not know."""
    release = hostfacts.os_release(host)
    if not release:
        not_applicable(f"{host.name}: no /etc/os-release; the release cannot be identified", unexamined=True)
    key = _release_key(release)
    name = release.get("PRETTY_NAME") or " ".join(key)
    eol = OS_EOL.get(key)
    evidence.record(release=name, id=key[0], version=key[1], end_of_life=eol.isoformat() if eol else None, source=EOL_SOURCE)
    if eol is None:
        not_applicable(f"{host.name}: no end-of-life date known for {name} ({key[0]} {key[1]}); check {EOL_SOURCE}", unexamined=True)
    days = (eol - dt.date.today()).days
    evidence.record(days_left=days)
    require(days >= 0, host, f"{name} reached end of life on {eol.isoformat()} ({-days} days ago)", "a supported release")


@pytest.mark.check("os-05", "CPU cores at the minimum", severity="high",
                   answers=("cpu core|count|min|minimum|sufficient|enough|size|sizing|spec|requirement",))
def test_cpu_minimum(host, evidence):
    """Below the minimum the service stalls under ordinary load (one core also serialises the
    application with its own housekeeping).  Counts the CPUs the host's processes may use
    (``nproc``: affinity and cpuset) and a cgroup CPU quota when one is set.  Passes when at
    least ``min_cpu_cores`` (default 2)."""
    cap = hostfacts.capacity(host)
    minimum = host.threshold("min_cpu_cores")
    evidence.record(cpus=cap.cpus, online=cap.online, cgroup_cpu_quota=cap.cpu_quota, effective=cap.effective_cpus, minimum=minimum)
    quota = f" (cgroup quota {cap.cpu_quota:g})" if cap.cpu_quota else ""
    require(cap.effective_cpus >= minimum, host, f"{cap.effective_cpus:g} CPU core(s){quota}", f">= {minimum}")


@pytest.mark.check("os-06", "Memory at the minimum", severity="high",
                   answers=("memory|ram gb|size|minimum|min|sufficient|enough|capacity|requirement|spec",),
                   answers_unless=("limit", "usage", "leak", "redis", "alert"))
def test_memory_minimum(host, evidence):
    """Below the minimum the application swaps or is killed by the OOM killer under load.
    Memory is MemTotal, or a lower cgroup limit, in decimal GB (10^9 bytes), so a "4 GB"
    machine whose kernel reserves some (MemTotal about 3.8 GiB) still counts as 4.  Passes when
    at least ``min_memory_gb`` (default 4)."""
    cap = hostfacts.capacity(host)
    minimum = host.threshold("min_memory_gb")
    gb = cap.effective_memory / GB
    evidence.record(memtotal_gb=round(cap.memory_bytes / GB, 2),
                    cgroup_limit_gb=round(cap.memory_limit / GB, 2) if cap.memory_limit else None,
                    effective_gb=round(gb, 2), minimum_gb=minimum)
    limit = " (cgroup limit)" if cap.memory_limit else ""
    require(gb >= minimum, host, f"{gb:.1f} GB memory{limit}", f">= {minimum:g} GB")


@pytest.mark.check("os-07", "CPU and memory at the recommended size", severity="info",
                   answers=("recommended size|spec|hardware|sizing|requirement",
                            "hardware|server|host|instance size|sizing|spec|requirement met?", "capacity sizing|requirement"))
def test_recommended_size(host, evidence):
    """Reported, never blocking: the minimum runs the service, the recommended size leaves room
    for peaks, deploys and a neighbour's failure.  Passes at ``recommended_cpu_cores`` (default 4)
    and ``recommended_memory_gb`` (default 8)."""
    cap = hostfacts.capacity(host)
    cores, memory = host.threshold("recommended_cpu_cores"), host.threshold("recommended_memory_gb")
    gb = cap.effective_memory / GB
    evidence.record(cpus=cap.effective_cpus, memory_gb=round(gb, 2), recommended_cpus=cores, recommended_memory_gb=memory)
    require(cap.effective_cpus >= cores and gb >= memory, host, f"{cap.effective_cpus:g} CPU core(s), {gb:.1f} GB memory",
            f">= {cores} cores and >= {memory:g} GB (recommended)")


def _usage(host, evidence, *, inodes: bool) -> None:
    what, threshold = ("inodes", "inode_usage_max_pct") if inodes else ("space", "disk_usage_max_pct")
    limit = host.threshold(threshold)
    found = hostfacts.mounts(host, inodes=inodes)
    if not found:
        not_applicable(f"{host.name}: df lists no filesystem with {what} to measure", unexamined=True)
    full = [m for m in found if m.percent > limit]
    evidence.record(mounts={m.mountpoint: round(m.percent, 1) for m in found}, limit_pct=limit)
    require(not full, host, ", ".join(f"{m.mountpoint} ({m.source}) {what} {m.percent:.0f}% used" for m in full),
            f"every mount at most {limit:g}% {what} used")


@pytest.mark.check("os-08", "Disk space below the threshold on every mount", severity="medium",
                   answers=("disk|disk_space|storage|volume below|under|above|over|less", "disk|disk_space|storage usage|utilization|use below|under|less|max|maximum|percent", "disk_space|disk_usage|free_space|disk_full below|under|threshold|headroom|sufficient|enough|check|available|percent|above|free|left|remaining?",
                            "disk|disk_space|disk_usage|storage cpu? memory? usage|utilization? within|under|below limit|limits|threshold|thresholds|normal|range|budget",
                            "disk|volume|filesystem|partition space|usage|full|free|capacity", "disk space"),
                   answers_unless=("quota", "io", "i/o", "throughput", "iops", "latency", "performance",
                                   "rabbitmq|broker|erlang|elasticsearch|opensearch limit|watermark|alarm"))  # a service's own disk alarm setting
def test_disk_usage(host, evidence):
    """A full filesystem stops databases, logs and uploads at once, and a go-live adds data.
    Passes when every real filesystem (tmpfs, squashfs and pseudo filesystems aside; bind mounts
    once) is at most ``disk_usage_max_pct`` (default 80%) used, counting root-reserved blocks as
    used, as df does.  Disk alerts belong to monitoring; this checks the state at go-live."""
    _usage(host, evidence, inodes=False)


@pytest.mark.check("os-09", "Inode use below the threshold on every mount", severity="medium",
                   answers=("inode usage|exhaustion|free|limit?",))
def test_inode_usage(host, evidence):
    """Running out of inodes (many small cache, session or mail files) fails writes with free
    space left.  Passes when every filesystem with inodes is at most ``inode_usage_max_pct``
    (default 80%) used; filesystems without a fixed inode table (btrfs, vfat) are skipped."""
    _usage(host, evidence, inodes=True)


@pytest.mark.check("os-10", "Load below the core count", severity="medium",
                   answers=("load_average|system_load below|normal|headroom|acceptable|threshold?",
                            "cpu|load disk? memory? usage|utilization? within|under|below limit|limits|threshold|thresholds|normal|range|budget",
                            "cpu_usage|cpu_load headroom|below|low|normal|idle|threshold|acceptable|baseline"))
def test_load(host, evidence):
    """A host already saturated before go-live has no headroom for real traffic.  Compares the
    5-minute load average with the online CPUs (the load counts the whole kernel, also in a
    container).  Passes when load / CPUs is at most ``load_per_core_max`` (default 1.0)."""
    cap = hostfacts.capacity(host)
    ratio = host.threshold("load_per_core_max")
    load5 = cap.load[1]
    evidence.record(load=list(cap.load), online_cpus=cap.online, max_per_core=ratio)
    if cap.online <= 0:
        fail(host, "cannot count online CPUs", "a CPU count")
    require(load5 <= cap.online * ratio, host, f"5-minute load {load5:.2f} on {cap.online} CPU(s)",
            f"at most {cap.online * ratio:g} ({ratio:g} per CPU)")


def _gb(value: int) -> str:
    return f"{value / GB:.1f} GB"


@pytest.mark.check("os-11", "Memory in use below the threshold", severity="medium",
                   refs=("Linux kernel: /proc/meminfo MemAvailable (Documentation/filesystems/proc.rst)",
                         "Linux kernel: cgroup v2 memory.current, memory.stat (Documentation/admin-guide/cgroup-v2.rst)"),
                   answers=("memory headroom|pressure|free|spare below|under|threshold|ok|healthy|acceptable|normal|headroom?",
                            "memory|memusage|ram disk? cpu? usage|utilization? within|under|below limit|limits|threshold|thresholds|normal|range|budget",
                            "memusage below|under|threshold|ok|healthy|acceptable|normal|headroom|low?", "free memory", "memory headroom"),
                   # "memory limits set" is a container's limit; "memory within limits" is this check
                   answers_unless=("alert", "limit|limits set|configured|defined|specified|container|containers|pod|pods|docker|service|services",
                                   "leak", "redis", "profil", "pattern", "trend", "graph", "dashboard", "jvm", "heap"))
def test_memory_headroom(host, evidence):
    """A host that already uses most of its memory at go-live has nothing left for a traffic
    peak, a deploy that runs old and new side by side, or a cache warming up: the next step is
    swapping or the OOM killer.  Memory in use is MemTotal less MemAvailable (what the kernel
    can hand out without swapping: free memory plus reclaimable cache); inside a container
    with a memory limit, the container's working set (usage less inactive file pages, as
    ``kubectl top`` counts it) against that limit.  Passes when at most
    ``memory_usage_max_pct`` (default 85%) is in use.  Swap in use is shown beside it."""
    mem = hostfacts.memory(host)
    limit = host.threshold("memory_usage_max_pct")
    base = mem.limit or mem.total
    left = (mem.limit - (mem.working_set or 0)) if mem.limit else mem.available
    evidence.record(total_gb=round(mem.total / GB, 2), available_gb=round(mem.available / GB, 2),
                    used_pct=round(mem.used_pct, 1), limit_pct=limit, available_estimated=mem.estimated,
                    cgroup=mem.cgroup, cgroup_limit_gb=round(mem.limit / GB, 2) if mem.limit else None,
                    working_set_gb=round(mem.working_set / GB, 2) if mem.working_set is not None and mem.limit else None,
                    swap_total_gb=round(mem.swap_total / GB, 2), swap_used_gb=round((mem.swap_total - mem.swap_free) / GB, 2))
    where = f"of its cgroup {mem.cgroup} limit {_gb(base)}" if mem.limit else f"of {_gb(base)}"
    swap = f"; swap {_gb(mem.swap_total - mem.swap_free)} of {_gb(mem.swap_total)} in use" if mem.swap_total else ""
    require(mem.used_pct <= limit, host, f"{mem.used_pct:.0f}% memory in use, {_gb(left)} left {where}{swap}",
            f"at most {limit:g}% in use")


@pytest.mark.check("os-12", "No out-of-memory kills", severity="medium",
                   refs=("Linux kernel: /proc/vmstat oom_kill (4.13+)",
                         "Linux kernel: cgroup v2 memory.events oom_kill (Documentation/admin-guide/cgroup-v2.rst)"),
                   answers=("oom kill|killer|kills|error|event|crash?", "oom", "memory kill|killer|exhaustion|exhausted|crash"),
                   answers_unless=("alert", "limit", "redis", "jvm", "heap", "score", "pod"))
def test_no_oom_kills(host, evidence):
    """An out-of-memory kill means the kernel already ran out and chose a process to end (often
    the largest: the database or the application).  Counts the kernel's OOM kills since boot
    (``oom_kill`` in /proc/vmstat, Linux 4.13+); inside a container with a memory limit, the
    container's own (``oom_kill`` in memory.events, or memory.oom_control under cgroup v1).
    Passes when at most ``oom_kills_max`` (default 0).  The count is since boot: a kill before
    this release's sizing still counts, and a reboot or a waiver is the way to accept it.  A
    kernel that does not count them is an error, not a pass."""
    mem = hostfacts.memory(host)
    limit = host.threshold("oom_kills_max")
    uptime = f"{mem.uptime_s / 86400:.1f} days" if mem.uptime_s is not None else "unknown"
    evidence.record(oom_kills=mem.oom_kills, counted_by=mem.oom_scope, uptime=uptime, limit=limit)
    if mem.oom_kills is None:
        raise TargetError(f"{host.label}: this kernel does not count out-of-memory kills ({'memory.events' if mem.limit else '/proc/vmstat oom_kill'}"
                          " is missing; Linux 4.13+ has it); look for 'Out of memory: Killed process' in the kernel log")
    require(mem.oom_kills <= limit, host, f"{mem.oom_kills} out-of-memory kill(s) counted by {mem.oom_scope} (up {uptime})",
            f"at most {limit}")


@pytest.mark.check("os-13", "Swap as the host's role needs it", severity="medium",
                   refs=("Kubernetes docs: kubelet failSwapOn (swap off on nodes unless NodeSwap is configured)",
                         "Redis docs: latency (swapping)", "Elasticsearch docs: disable swapping",
                         "Linux kernel: /proc/meminfo SwapTotal, SwapFree"),
                   answers=("swap disabl|off|no|none|turned|enabl|configur|set|on|size|partition|file|space?", "swapoff", "no swap"),
                   answers_unless=("alert", "monitor", "usage"))
def test_swap_policy(host, evidence):
    """Swap is a choice of role.  A Kubernetes node refuses to run with it (kubelet's failSwapOn)
    and Redis or Elasticsearch stall when the kernel pages them out; a small VM without it meets a
    memory spike with the OOM killer instead of slowness.  The inventory says which this host is
    (``swap: off`` or ``swap: on``); the check reads SwapTotal and SwapFree from /proc/meminfo and
    passes when swap is absent for ``off``, present for ``on``.  Not applicable without ``swap``,
    or in a container, whose swap is its host's."""
    policy = host.setting("swap")
    if not policy:
        not_applicable(f"{host.name}: no swap policy in the inventory (hosts.{host.name}.swap: off or on)", unexamined=True)
    reason = hostfacts.container(host)
    if reason:
        not_applicable(f"{host.name}: a container ({reason}); its swap is its host's: judge that host")
    mem = hostfacts.memory(host)
    used = mem.swap_total - mem.swap_free
    evidence.record(policy=policy, swap_total_gb=round(mem.swap_total / GB, 2), swap_used_gb=round(used / GB, 2))
    if policy == "off":
        require(mem.swap_total == 0, host, f"{_gb(mem.swap_total)} of swap enabled ({_gb(used)} in use)",
                f"no swap (hosts.{host.name}.swap: off; swapoff -a and remove it from /etc/fstab)")
    else:
        require(mem.swap_total > 0, host, "no swap configured", f"swap present (hosts.{host.name}.swap: on)")


#: The host's time zone: systemd's view, else /etc/timezone, else where /etc/localtime points; and
#: what ``date`` says (abbreviation, UTC offset), for a zone file copied rather than linked.
_TIMEZONE = r"""
tz=""
if command -v timedatectl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then tz=$(timedatectl show -p Timezone --value 2>/dev/null); fi
[ -z "$tz" ] && [ -r /etc/timezone ] && tz=$(head -n 1 /etc/timezone)
[ -z "$tz" ] && [ -L /etc/localtime ] && tz=$(readlink /etc/localtime)
[ -z "$tz" ] && [ ! -e /etc/localtime ] && tz="none"
printf 'zone\t%s\n' "$tz"
printf 'date\t%s\t%s\n' "$(date +%Z)" "$(date +%z)"
true
"""
def timezone_name(output: str) -> tuple[str, str, str]:
    """(zone name as the host names it, ``date`` abbreviation, UTC offset) from ``_TIMEZONE``'s output;
    a path into the zoneinfo folder is read as the zone it names (``/usr/share/zoneinfo/Etc/UTC`` -> ``Etc/UTC``)."""
    zone = abbr = offset = ""
    for line in output.splitlines():
        fields = line.split("\t")
        if fields[0] == "zone" and len(fields) > 1:
            zone = re.sub(r"^.*?zoneinfo/(?:posix/|right/)?", "", fields[1].strip())
        elif fields[0] == "date" and len(fields) > 2:
            abbr, offset = fields[1].strip(), fields[2].strip()
    return zone, abbr, offset


@pytest.mark.check("os-14", "System clock in the expected time zone", severity="low",
                   refs=("RFC 3339 (timestamps)", "Google SRE workbook: use UTC everywhere in logs and schedules"),
                   answers=("timezone|time_zone|tz utc|set|configur|correct|consistent", "server|system|host|clock utc|gmt time?",
                            "utc time|timezone|clock"),
                   answers_unless=("database", "postgres", "mysql", "application", "app", "log format", "user", "users", "display",
                                   "stored|store|storage|column|columns|field|fields|timestamps"))
def test_timezone(host, evidence):
    """Cron schedules, log timestamps and the times an incident timeline is pieced together from
    follow the system's time zone; a host left in its image's local zone, or one of several set
    differently, shifts jobs by hours and makes logs disagree.  Reads the zone (timedatectl,
    /etc/timezone or the /etc/localtime link) and passes when it is ``timezone`` (default UTC;
    Etc/UTC, Universal and the other names of UTC count).  ``timezone: any`` leaves it unjudged."""
    wanted = str(host.setting("timezone") or "UTC")
    if wanted.lower() == "any":
        not_applicable(f"{host.name}: timezone: any (the host's time zone is not judged)")
    zone, abbr, offset = timezone_name(hostfacts.sh(host, _TIMEZONE).stdout)
    evidence.record(zone=zone or None, date=f"{abbr} {offset}".strip(), expected=wanted)
    if not zone and not abbr:
        raise TargetError(f"{host.label}: the time zone could not be read (no timedatectl, /etc/timezone or /etc/localtime link, no date)")
    shown = zone if zone and zone != "none" else "a zone file without a name" if zone != "none" else "no zone (/etc/localtime missing)"
    require(same_zone(zone, wanted, abbr, offset), host, f"the system clock is in {shown} ({abbr} {offset})", f"{wanted} (hosts.{host.name}.timezone)")


#: One line per name: the name, a tab, its value (tabs inside become spaces) or __missing__.
_SYSCTL = r"""
for name in "$@"; do
  p=/proc/sys/$(printf '%s' "$name" | tr . /)
  if [ -r "$p" ] && [ -f "$p" ]; then printf '%s\t%s\n' "$name" "$(head -c 4096 "$p" | tr '\t\n' '  ')"; else printf '%s\t__missing__\n' "$name"; fi
done
"""


def sysctl_problem(observed: str | None, wanted: str) -> str | None:
    """Why ``observed`` (a kernel parameter's value; None when it does not exist) is not ``wanted``
    (a value, or a bound ``>=N`` / ``<=N``); None when it is."""
    if observed is None:
        return "does not exist on this kernel"
    seen = " ".join(observed.split())
    if wanted.startswith((">=", "<=")):
        bound = int(wanted[2:])
        try:
            value = int(seen)
        except ValueError:
            return f"is {seen!r}, not a number"
        ok = value >= bound if wanted.startswith(">=") else value <= bound
        return None if ok else f"is {value}"
    return None if seen == " ".join(wanted.split()) else f"is {seen!r}"


@pytest.mark.check("os-15", "Kernel parameters as the host's role needs them", severity="medium",
                   refs=("sysctl(8)", "Linux kernel docs: /proc/sys", "Redis docs: administration (vm.overcommit_memory)",
                         "PostgreSQL docs: Linux memory overcommit"),
                   answers=("sysctl|sysctls", "kernel parameter|parameters|setting|settings|tuning|tunables|params",
                            "vm|net|fs|kernel|core|ipv4? swappiness|somaxconn|overcommit_memory|overcommit|file_max|max_map_count|ip_local_port_range|tcp_tw_reuse"),
                   answers_unless=("patch|update|upgrade|version|reboot",))
def test_kernel_parameters(host, evidence):
    """Servers are tuned through kernel parameters: ``vm.overcommit_memory=1`` so a Redis fork
    for a snapshot does not fail, low ``vm.swappiness`` on database hosts, a longer listen
    backlog (``net.core.somaxconn``) for a busy web server, ``vm.max_map_count`` for
    Elasticsearch.  A value set by hand and lost at the next reboot, or never set on the new
    machine, shows only under load.  Reads each parameter the inventory names (``sysctl``) from
    /proc/sys and passes when every one has its value (or meets its ``>=N`` / ``<=N`` bound).
    n/a when the inventory names none."""
    wanted = dict(host.setting("sysctl") or {})
    if not wanted:
        not_applicable(f"{host.name}: no sysctl in the inventory (hosts.{host.name}.sysctl: the kernel parameters its role needs)",
                       unexamined=True)
    observed: dict[str, str | None] = {}
    for line in hostfacts.sh(host, _SYSCTL, *wanted).stdout.splitlines():
        name, sep, value = line.partition("\t")
        if sep and name in wanted:
            observed[name] = None if value == "__missing__" else value.strip()
    if set(observed) != set(wanted):
        raise TargetError(f"{host.label}: the kernel parameters could not be read ({', '.join(sorted(set(wanted) - set(observed)))})")
    evidence.record(observed=observed, expected=wanted)
    problems = [f"{name} {problem}" for name, want in wanted.items() if (problem := sysctl_problem(observed[name], want))]
    require(not problems, host, "; ".join(problems),
            ", ".join(f"{name} = {want}" for name, want in wanted.items()) + f" (hosts.{host.name}.sysctl)")
