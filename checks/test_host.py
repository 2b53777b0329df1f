"""Host: the application's services, processes, files and logs on every ``hosts`` target.

What to look at comes from the host's inventory entry: ``services``, ``app_process``,
``app_user``, ``app_dir``, ``secret_files``, ``directories``, ``log_dir``; a check whose key is
missing is not applicable and names the key.  Services are asked of the host's service manager
(systemd, OpenRC, SysV); where PID 1 is no service manager (a container running its
application directly) a service counts as running when a process of that name runs, and
"enabled" cannot be judged (the evidence says so).
"""

from __future__ import annotations

import posixpath
import re

import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, require
from pytest_deploycheck.targets import host_facts as hostfacts
from pytest_deploycheck.targets import log_shippers, logrotate

pytestmark = pytest.mark.section("host", "Host: services, files and logs")

#: ``systemctl is-enabled`` answers that mean the unit starts at boot (or as a dependency).
ENABLED = ("enabled", "static", "alias", "indirect", "generated")

_SYSTEMD_UNITS = r"""
for s in "$@"; do
  printf '%s\t%s\t%s\n' "$s" "$(systemctl is-active "$s" 2>/dev/null)" "$(systemctl is-enabled "$s" 2>/dev/null)"
done
"""

_WORLD_WRITABLE = r"""
[ -d "$1" ] || { echo "__missing__"; exit 0; }
find "$1" -xdev ! -type l -perm -0002 -print 2>/dev/null | head -n 101
"""

#: The configuration files that paths, globs and folders (one level) name, each cut at 256 KiB:
#: ``\001path`` then its text, or ``\002path`` for a file this login may not read.
_READ_CONFIGS = r"""
IFS='
'
emit() { if [ -r "$1" ]; then printf '\001%s\n' "$1"; head -c 262144 "$1"; echo; else printf '\002%s\n' "$1"; fi; }
for p in "$@"; do
  for f in $p; do
    if [ -d "$f" ]; then
      for g in "$f"/*; do [ -f "$g" ] && emit "$g"; done
    elif [ -f "$f" ]; then
      emit "$f"
    fi
  done
done
true
"""

_LOGROTATE_SCHEDULE = r"""
[ -e /etc/cron.daily/logrotate ] && echo "cron: /etc/cron.daily/logrotate"
ls /etc/cron.d 2>/dev/null | grep -q logrotate && echo "cron: /etc/cron.d"
command -v systemctl >/dev/null 2>&1 && s=$(systemctl is-enabled logrotate.timer 2>/dev/null) && echo "timer: logrotate.timer $s"
true
"""


def _setting(host, key: str, what: str):
    value = host.setting(key)
    if not value:
        not_applicable(f"{host.name}: no {key} in the inventory (hosts.{host.name}.{key}: {what})", unexamined=True)
    return value


def _absolute(host, path: str) -> str:
    if path.startswith("/"):
        return posixpath.normpath(path)
    app_dir = host.setting("app_dir")
    if not app_dir:
        raise TargetError(f"{host.label}: {path!r} is relative and the inventory names no app_dir for it to be relative to")
    return posixpath.normpath(posixpath.join(str(app_dir), path))


@pytest.mark.check("host-01", "Named services running and enabled", severity="high",
                   refs=("CIS Controls v8 4.1: Establish and maintain a secure configuration process",),
                   answers=("service|daemon|unit|systemd|process running|active|enabl|start|boot|reboot|up",
                            "service|daemon start on? boot|reboot", "systemd unit|service enabl|active",
                            "app|application start|starts on? boot|reboot"),
                   answers_unless=("worker", "celery", "queue", "job", "sidekiq", "background", "external", "third"))
def test_services_running(host, evidence):
    """A service that is down at go-live breaks the application; one that is running but not
    enabled is down after the next reboot.  Passes when every service in ``services`` is active
    and enabled (systemd: ``is-active`` active, ``is-enabled`` enabled/static; OpenRC and SysV
    through their scripts).  Without a service manager (PID 1 is the application or a shim) a
    service is running when a process of that name runs; enabled is not judged."""
    services = [str(s) for s in _setting(host, "services", "services that must run")]
    init = hostfacts.init_system(host)
    states: dict[str, dict[str, object]] = {}
    if init.name == "systemd":
        for line in hostfacts.sh(host, _SYSTEMD_UNITS, *services).stdout.splitlines():
            name, _, rest = line.partition("\t")
            active, _, enabled = rest.partition("\t")
            states[name] = {"running": active.strip() == "active", "active": active.strip() or "unknown",
                            "enabled": enabled.strip() in ENABLED, "is_enabled": enabled.strip() or "not-found"}
    elif init.name:
        for name in services:
            service = host.service(name)
            states[name] = {"running": bool(service.is_running), "enabled": bool(service.is_enabled)}
    else:
        procs = hostfacts.processes(host)
        for name in services:
            matches = [p for p in procs if p.named(name)]
            states[name] = {"running": bool(matches), "enabled": None, "processes": [str(p) for p in matches[:5]]}
    evidence.record(service_manager=init.name or f"none (PID 1 is {init.pid1})", services=states)
    down = [n for n in services if not states.get(n, {}).get("running")]
    disabled = [n for n in services if states.get(n, {}).get("enabled") is False]
    problems = []
    if down:
        detail = [f"{n} ({states[n]['active']})" if "active" in states.get(n, {}) else n for n in down]
        problems.append(f"not running: {', '.join(detail)}")
    if disabled:
        detail = [f"{n} ({states[n]['is_enabled']})" if "is_enabled" in states.get(n, {}) else n for n in disabled]
        problems.append(f"not enabled at boot: {', '.join(detail)}")
    note = "" if init.name else f" (no service manager: PID 1 is {init.pid1}; a service runs when a process of that name runs)"
    require(not problems, host, "; ".join(problems) + note, f"{', '.join(services)} running and enabled")


@pytest.mark.check("host-02", "Application processes not running as root", severity="high",
                   refs=("CWE-250: Execution with Unnecessary Privileges", "OWASP ASVS 4.0 14.1.1"),
                   answers=("as_root not|no|never|avoid", "non_root|unprivileged|dedicated user|account process|app|application|service?",
                            "root process|user not|no|never"),
                   answers_unless=("ssh", "login", "database", "postgres", "mysql", "docker", "container", "dockerfile", "image", "pod"))
def test_app_not_root(host, evidence):
    """An application running as root turns any code execution bug into a full host compromise.
    Finds the processes whose command line matches ``app_process`` (a regular expression, as
    ``pgrep -f``: make it specific, an admin's ``tail -f /var/log/app.log`` matches ``app`` too).
    Passes when none runs as root, and all run as ``app_user`` when it is set.  An error when no
    process matches (the application is not running); not applicable without ``app_process``."""
    procs = _app_processes(host)
    app_user = host.setting("app_user")
    evidence.record(processes=[str(p) for p in procs[:20]], app_user=app_user)
    wrong = [p for p in procs if p.uid == 0 or (app_user and p.user != app_user)]
    require(not wrong, host, f"{len(wrong)} of {len(procs)} application process(es) run as "
            + ", ".join(sorted({p.user for p in wrong})) + ": " + "; ".join(str(p) for p in wrong[:5]),
            f"every process as {app_user}" if app_user else "no process as root")


def _app_processes(host):
    """The processes ``app_process`` matches (not this check's own ``ps``, not kernel threads); an
    error when none does, not applicable without ``app_process``."""
    pattern = str(_setting(host, "app_process", "a pgrep -f pattern for the application's processes"))
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise TargetError(f"{host.label}: inventory hosts.{host.name}.app_process {pattern!r} is not a regular expression: {exc}") from None
    procs = [p for p in hostfacts.processes(host)
             if regex.search(p.args) and not p.args.startswith("[") and "ps -ww -eo pid:10=" not in p.args]
    if not procs:
        raise TargetError(f"{host.label}: no process matches app_process {pattern!r}; is the application running?")
    return procs


#: Reads each PID's open-file limits (soft, hard) from /proc/<pid>/limits, readable by any user.
_OPEN_FILES = r"""
for p in "$@"; do
  [ -d "/proc/$p" ] || { printf '%s gone\n' "$p"; continue; }
  l=$(awk '/^Max open files/ {print $4 " " $5}' "/proc/$p/limits" 2>/dev/null)
  printf '%s %s\n' "$p" "${l:-?}"
done
"""


@pytest.mark.check("host-07", "Application's open-file limit high enough", severity="medium",
                   refs=("systemd.exec(5): LimitNOFILE=", "getrlimit(2): RLIMIT_NOFILE", "nginx docs: worker_rlimit_nofile"),
                   answers=("ulimit|nofile|limitnofile|file_descriptor|file_descriptors|open_files limit|limits|raise|raised|increas|set|high|enough?",
                            "file descriptor|descriptors limit|limits|raise|raised|increas|ulimit?", "max open files", "ulimit"),
                   answers_unless=("docker", "container", "pod", "kubernetes", "nproc", "process limit", "core dump"))
def test_open_files_limit(host, evidence):
    """A busy service holds a socket per connection and a file per log, upload and library; at
    the limit it refuses connections with "Too many open files" while the host looks idle.
    systemd starts services with a soft limit of 1024 unless the unit sets ``LimitNOFILE=``.
    Reads the soft limit of every process ``app_process`` matches from ``/proc/<pid>/limits``;
    passes when each is at least ``open_files_min`` (or unlimited).  An error when no process
    matches; not applicable without ``app_process``."""
    procs = _app_processes(host)[:50]
    minimum = host.threshold("open_files_min")
    result = hostfacts.sh(host, _OPEN_FILES, *(str(p.pid) for p in procs))
    limits: dict[str, str] = {}
    low = []
    for line in result.stdout.splitlines():
        pid, _, value = line.partition(" ")
        proc = next((p for p in procs if str(p.pid) == pid), None)
        if proc is None or value == "gone":  # ended since the process list was read (a short-lived child)
            continue
        soft = value.split(" ")[0]
        limits[str(proc)] = value.replace(" ", " soft, ", 1) + " hard" if soft != "?" else "unreadable"
        if soft != "unlimited" and soft.isdigit() and int(soft) < minimum:
            low.append(f"{proc} ({soft})")
    evidence.record(limits=limits, minimum=minimum)
    unread = [name for name, value in limits.items() if value == "unreadable"]
    if unread or not limits:
        raise TargetError(f"{host.label}: cannot read /proc/<pid>/limits of {', '.join(unread) or 'the application processes'} "
                          "(they ended, or /proc is hidden)")
    require(not low, host, f"{len(low)} of {len(limits)} application process(es) may open too few files: {'; '.join(low[:5])}",
            f"a soft open-file limit of at least {minimum} (LimitNOFILE= in the unit, or ulimit -n)")


@pytest.mark.check("host-03", "Secret files mode 600 or stricter, owned by the service user", severity="high",
                   refs=("CWE-732: Incorrect Permission Assignment for Critical Resource", "OWASP ASVS 4.0 14.3"),
                   answers=("php|config|configur|yml|yaml|json|ini|conf|env|key|file|files not? worldreadable", "secret_file|private_key|env_file|key_file|credential_file permission|mode|600|chmod|readable|owner|protect",
                            "secret|credential|key file permission|mode|600|chmod|readable"))
def test_secret_files(host, evidence):
    """Environment files and private keys readable by other local users leak database passwords,
    signing keys and API tokens to every process on the host.  Each file in ``secret_files``
    (relative paths from ``app_dir``) must exist, be a regular file with no group or other
    permission and no execute bit (0600, 0400 or stricter), and be owned by ``app_user`` when it
    is set.  Not applicable without ``secret_files``."""
    files = [_absolute(host, str(f)) for f in _setting(host, "secret_files", "files holding secrets")]
    app_user = host.setting("app_user")
    stats = hostfacts.stat_paths(host, files)
    problems = []
    for path in files:
        st = stats[path]
        if st is None:
            problems.append(f"{path} does not exist (or cannot be read)")
            continue
        if not st.kind.startswith("regular"):
            problems.append(f"{path} is a {st.kind}")
        if st.mode & 0o177:
            problems.append(f"{path} has mode {st.octal}")
        if app_user and st.owner != app_user:
            problems.append(f"{path} is owned by {st.owner}")
    evidence.record(files={p: (f"{s.octal} {s.owner}:{s.group}" if s else "missing") for p, s in stats.items()}, app_user=app_user)
    require(not problems, host, "; ".join(problems), "mode 0600 or stricter" + (f", owner {app_user}" if app_user else ""))


@pytest.mark.check("host-04", "No world-writable files under the application directory", severity="high",
                   refs=("CWE-732: Incorrect Permission Assignment for Critical Resource",
                         "CIS Debian Linux 12 7.1.11: Ensure world writable files and directories are secured"),
                   answers=("world_writable", "writable by others|everyone", "no? world_writable file|files|dir|dirs|directory|directories|path|paths"))
def test_no_world_writable(host, evidence):
    """A world-writable file in the application's tree lets any local account (a compromised
    service, a shell user) change code or configuration that the application then runs.  Passes
    when ``find <app_dir> -xdev ! -type l -perm -0002`` finds nothing (symbolic links, always
    777, aside).  Fails when ``app_dir`` does not exist.  Not applicable without ``app_dir``."""
    app_dir = str(_setting(host, "app_dir", "the application's directory"))
    lines = [line for line in hostfacts.sh(host, _WORLD_WRITABLE, app_dir).stdout.splitlines() if line]
    if lines == ["__missing__"]:
        fail(host, f"app_dir {app_dir} does not exist", "the application's directory")
    shown = lines[:20]
    count = f"{len(lines)}" if len(lines) <= 100 else "more than 100"
    evidence.record(app_dir=app_dir, world_writable=shown)
    require(not lines, host, f"{count} world-writable path(s) under {app_dir}: {', '.join(shown)}", "none (chmod o-w)")


def _mode(host, path: str, value: object) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"0?[0-7]{3,4}", text):
        raise TargetError(f"{host.label}: inventory hosts.{host.name}.directories.{path}.mode {text!r} is not an octal mode like '0750'")
    return int(text, 8)


@pytest.mark.check("host-05", "Named directories have the expected mode and owner", severity="medium",
                   refs=("CWE-732: Incorrect Permission Assignment for Critical Resource",),
                   answers=("directory|folder|dir permission|mode|owner|ownership|chmod|chown|755|750|700 upload|uploads|log|logs|data|export|import|static|media|tmp|release|app?",
                            "file_permissions owner? 755|750|700? upload|uploads|log|logs|data|export|import|static|media|tmp|release|app?"))
def test_directories(host, evidence):
    """Deploy tools and hand fixes drift permissions: a release directory left group-writable, an
    upload directory owned by root so the application cannot write.  Each path in
    ``directories`` must be a directory with exactly the given ``mode`` (a string such as
    ``'0750'``) and, where given, ``owner`` and ``group``.  Not applicable without
    ``directories``."""
    wanted = dict(_setting(host, "directories", "path: {mode: '0750', owner: app}"))
    paths = [_absolute(host, str(p)) for p in wanted]
    specs = {}
    for raw, path in zip(wanted, paths, strict=True):
        spec = dict(wanted[raw] or {})
        unknown = sorted(set(spec) - {"mode", "owner", "group"})
        if unknown:
            raise TargetError(f"{host.label}: inventory hosts.{host.name}.directories.{raw}: unknown key(s) {', '.join(unknown)} "
                              "(known: mode, owner, group)")
        if "mode" in spec:
            spec["mode"] = _mode(host, raw, spec["mode"])
        specs[path] = spec
    stats = hostfacts.stat_paths(host, paths)
    problems = []
    for path, spec in specs.items():
        st = stats[path]
        if st is None:
            problems.append(f"{path} does not exist")
            continue
        if st.kind != "directory":
            problems.append(f"{path} is a {st.kind}")
        if "mode" in spec and st.mode != spec["mode"]:
            problems.append(f"{path} has mode {st.octal}, not {spec['mode']:04o}")
        if "owner" in spec and st.owner != str(spec["owner"]):
            problems.append(f"{path} is owned by {st.owner}, not {spec['owner']}")
        if "group" in spec and st.group != str(spec["group"]):
            problems.append(f"{path} has group {st.group}, not {spec['group']}")
    evidence.record(directories={p: (f"{s.octal} {s.owner}:{s.group}" if s else "missing") for p, s in stats.items()})
    require(not problems, host, "; ".join(problems), "each directory as the inventory describes it")


def _read_configs(host, paths: list[str]) -> tuple[dict[str, str], list[str]]:
    """({file: text}, files that could not be read) for the paths and globs given."""
    out = hostfacts.sh(host, _READ_CONFIGS, *paths).stdout
    files: dict[str, str] = {}
    unreadable: list[str] = []
    for chunk in re.split(r"(?=[\x01\x02])", out):
        if not chunk or chunk[0] not in "\x01\x02":
            continue
        name, _, text = chunk[1:].partition("\n")
        if chunk[0] == "\x01":
            files[name] = text
        else:
            unreadable.append(name)
    return files, unreadable


def _logrotate_configs(host) -> dict[str, str]:
    """logrotate.conf, the application's own configuration files (``logrotate_config``) and
    everything they include: {file: text}."""

    def read(*paths: str) -> dict[str, str]:
        files, unreadable = _read_configs(host, list(paths))
        return {**files, **dict.fromkeys(unreadable, "")}  # one this login may not read holds no stanza it could judge

    own = [posixpath.normpath(p) for p in host.setting("logrotate_config") or []]
    files = read("/etc/logrotate.conf", "/etc/logrotate.d", *own)
    seen = {"/etc/logrotate.d", "/etc/logrotate.conf", *own}
    pending = [inc for text in files.values() for inc in hostfacts.parse_logrotate(text)[1]]
    while pending:
        extra = [p for p in dict.fromkeys(pending) if posixpath.normpath(p) not in seen]
        if not extra:
            break
        seen.update(posixpath.normpath(p) for p in extra)
        more = read(*extra)
        files.update(more)
        pending = [inc for text in more.values() for inc in hostfacts.parse_logrotate(text)[1]]
    return files


@pytest.mark.check("host-06", "Log rotation covers the application's logs", severity="medium",
                   refs=("CIS Debian Linux 12: Ensure logrotate is configured", "CIS Controls v8 8.3: Ensure adequate audit log storage"),
                   answers=("log_rotation log|logs", "log_rotation configur|enabl|set|setup|active|place?", "log cleanup|purg|prun|truncat|rotat", "logs fill disk"))
def test_log_rotation(host, evidence):
    """Unrotated logs fill the disk, and a full disk stops the application (and its database).
    Passes when logrotate is installed, something runs it (cron or logrotate.timer), and a
    stanza in logrotate.conf or an included file rotates files directly in ``log_dir`` (a
    pattern such as ``/var/log/app/*.log``).  An application that rotates its own logs (or logs
    only to journald) should waive this item.  Not applicable without ``log_dir``."""
    log_dir = posixpath.normpath(str(_setting(host, "log_dir", "the application's log directory")))
    binary = hostfacts.tool(host, "logrotate")
    files = _logrotate_configs(host)
    covering = [f"{name}: {pattern}" for name, text in files.items() for stanza in hostfacts.parse_logrotate(text)[0]
                for pattern in stanza if hostfacts.covers(pattern, log_dir)]
    schedule = [line for line in hostfacts.sh(host, _LOGROTATE_SCHEDULE).stdout.splitlines()
                if line.strip() and not line.endswith(("disabled", "masked"))]
    evidence.record(logrotate=binary or "not installed", covered_by=covering, scheduled_by=schedule, configs=sorted(files))
    problems = []
    if not binary:
        problems.append("logrotate is not installed")
    if not covering:
        problems.append(f"no logrotate stanza rotates {log_dir}/* (read {len(files)} configuration file(s))")
    if binary and not schedule:
        problems.append("nothing runs logrotate (no /etc/cron.daily/logrotate, no enabled logrotate.timer)")
    require(not problems, host, "; ".join(problems), f"logrotate installed, scheduled and rotating {log_dir}/*")


def _rotations(host, files: dict[str, str]) -> list[logrotate.Rotation]:
    """Every stanza of the files read, each with the directives in force: a file logrotate.conf
    includes inherits its global ones; the application's own configuration files do not (another
    logrotate run reads them)."""
    own = {posixpath.normpath(p) for p in host.setting("logrotate_config") or []}
    stanzas, inherited = logrotate.rotations(files.get("/etc/logrotate.conf", ""), "/etc/logrotate.conf")
    for name, text in files.items():
        if name != "/etc/logrotate.conf":
            stanzas += logrotate.rotations(text, name, None if name in own else inherited)[0]
    return stanzas


@pytest.mark.check("host-08", "Logs kept long enough", severity="medium",
                   refs=("logrotate(8): rotate, maxage, size", "CIS Controls v8 8.10: Retain audit logs (at least 90 days)",
                         "PCI DSS v4.0 10.5.1: retain audit log history for at least 12 months"),
                   answers=("log|logs retention|retained|kept|keep|history|stored day|days|week|weeks|month|months|year",
                            "log|logs retention|retained|kept|keep|history period|policy? days?",
                            "logrotate rotate|retention|keep count|days|weeks?",
                            "log_rotation keep|kept|retain|retained|retention|history day|days|week|weeks|month|months|year"),
                   answers_unless=("backup", "backups", "prometheus", "metric", "metrics", "elk|elasticsearch|loki|splunk|datadog|cloudwatch|central|s3|bucket|archive|archived|glacier|siem|audit"))
def test_log_retention(host, evidence):
    """An incident is investigated from the logs of the days before it was noticed, often weeks;
    logrotate deletes them as it rotates.  Reads the logrotate stanza that rotates ``log_dir`` (in
    /etc/logrotate.conf, what it includes, and the application's own ``logrotate_config``) and
    passes when it keeps at least ``log_retention_days`` of history: ``rotate N`` times the period
    (daily, weekly, monthly), capped by ``maxage``.  A stanza that rotates by ``size`` alone keeps
    a number of logs, not of days, and fails.  Logs shipped to a central store are kept there:
    set ``log_retention_days: 0`` for such a host (then not applicable) and attest that store's
    retention.  Not applicable without ``log_dir``."""
    log_dir = posixpath.normpath(str(_setting(host, "log_dir", "the application's log directory")))
    wanted = host.threshold("log_retention_days")
    if not wanted:
        not_applicable(f"{host.label}: log_retention_days is 0 (logs are kept elsewhere)")
    files = _logrotate_configs(host)
    missing = [p for p in host.setting("logrotate_config") or [] if posixpath.normpath(p) not in files]
    if missing:
        raise TargetError(f"{host.label}: cannot read logrotate_config {', '.join(missing)} (missing, or not a readable file)")
    covering = [(r, pattern) for r in _rotations(host, files) for pattern in r.patterns if hostfacts.covers(pattern, log_dir)]
    evidence.record(stanzas=[f"{r.file}: {pattern}: {r.describe()}" for r, pattern in covering], minimum_days=wanted,
                    configs=sorted(files))
    if not covering:
        fail(host, f"no logrotate stanza rotates {log_dir}/* (read {len(files)} configuration file(s)), "
             "so nothing here says how long its logs are kept", f"a stanza keeping >= {wanted} days")
    rotation, pattern = covering[0]  # logrotate refuses a second stanza for the same file
    days = rotation.days()
    where = f"{rotation.file}: {pattern} ({rotation.describe()})"
    if days is None:
        fail(host, f"{where} rotates by size alone, so how many days {rotation.settings.get('rotate', '0')} old "
             "log(s) hold depends on the traffic", f"a period (daily, weekly) with rotate x period >= {wanted} days")
    evidence.record(days=days)
    early = "; fewer if a log outgrows maxsize" if "maxsize" in rotation.settings else ""
    require(days >= wanted, host, f"{where} keeps {days:g} days of history{early}", f">= {wanted} days (log_retention_days)")


#: Where cron and systemd keep what runs on a schedule.  Each crontab file is printed after a
#: \001 line naming it; a periodic script as \002<folder> <name>; an active timer as \003<timer> <unit>;
#: a source that exists but cannot be read as \004<path>.
_SCHEDULES = r"""
for f in /etc/crontab /etc/cron.d /var/spool/cron/crontabs /var/spool/cron "$@"; do
  if [ -d "$f" ]; then
    [ -r "$f" ] && [ -x "$f" ] || { printf '\004%s\n' "$f"; continue; }
    for g in "$f"/*; do
      [ -f "$g" ] || continue
      if [ -r "$g" ]; then printf '\001%s\n' "$g"; cat "$g"; echo; else printf '\004%s\n' "$g"; fi
    done
  elif [ -f "$f" ]; then
    if [ -r "$f" ]; then printf '\001%s\n' "$f"; cat "$f"; echo; else printf '\004%s\n' "$f"; fi
  fi
done
for d in /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly; do
  for g in "$d"/*; do [ -f "$g" ] && [ -x "$g" ] && printf '\002%s %s\n' "$d" "${g##*/}"; done
done
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl list-timers --no-legend --plain 2>/dev/null | awk '{print "\003" $(NF-1) " " $NF}'
fi
true
"""
_CRON_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def scheduled_jobs(output: str) -> tuple[list[str], list[str], list[str]]:
    """(the jobs ``_SCHEDULES`` found, each ``<where>: <line>``; the crontab files it read; the
    sources it could not read).  Comments, blank lines and variable assignments are not jobs."""
    jobs: list[str] = []
    read: list[str] = []
    unreadable: list[str] = []
    source = ""
    for line in output.splitlines():
        if line.startswith("\001"):
            source = line[1:]
            read.append(source)
        elif line.startswith("\002"):
            folder, _, name = line[1:].partition(" ")
            jobs.append(f"{folder}: {name}")
        elif line.startswith("\003"):
            timer, _, unit = line[1:].partition(" ")
            jobs.append(f"systemd timer {timer}: {unit}")
        elif line.startswith("\004"):
            unreadable.append(line[1:])
        elif source and line.strip() and not line.lstrip().startswith("#") and not _CRON_ENV.match(line.strip()):
            jobs.append(f"{source}: {line.strip()}")
    return jobs, read, unreadable


@pytest.mark.check("host-09", "Scheduled jobs in place", severity="medium",
                   refs=("crontab(5)", "systemd.timer(5)"),
                   # "cron" and "scheduler" read as "schedule": a job or task must be named too, so that an
                   # on-call schedule or "one scheduler running" stays out.
                   answers=("schedule job|jobs|task|tasks|entry|entries", "cronrunning", "schedule|cronjob|cronjobs job|jobs|task|tasks|entry|entries configur|scheduled|schedule|set_up|in_place|running|created|installed|added|active|present",
                            "systemd timer|timers configur|active|enabled|set_up"),
                   answers_unless=("migrated|migrate|migrating|migration|moved|transferred", "duplicat|duplicate|duplicated", "celery", "beat", "sidekiq", "bullmq", "kubernetes", "airflow", "on call", "rota"))
def test_scheduled_jobs(host, evidence):
    """Backups, certificate renewal, cleanups and reports run from cron or systemd timers; a job
    left out of the new server, or commented out during the migration, fails silently until its
    output is missed.  Reads /etc/crontab, /etc/cron.d, the users' crontabs, the executables in
    /etc/cron.{hourly,daily,weekly,monthly}, the active systemd timers and the application's own
    ``cron_files``.  Passes when each pattern of ``scheduled_jobs`` (a regular expression) matches
    a job; a commented-out line is no job.  Not applicable without ``scheduled_jobs``."""
    patterns = [str(p) for p in _setting(host, "scheduled_jobs", "patterns of the jobs that must be scheduled")]
    own = [posixpath.normpath(p) for p in host.setting("cron_files") or []]
    jobs, read, unreadable = scheduled_jobs(hostfacts.sh(host, _SCHEDULES, *own).stdout)
    missing = [p for p in own if p not in read and p not in unreadable]
    if missing:
        raise TargetError(f"{host.label}: cron_files names {', '.join(missing)}, which is not a file on the host")
    matched = {p: [j for j in jobs if re.search(p, j, re.I)] for p in patterns}
    evidence.record(jobs=jobs[:100], jobs_read=len(jobs), crontabs=read, unreadable=unreadable, matched={p: m[:5] for p, m in matched.items()})
    absent = [p for p, found in matched.items() if not found]
    if absent and unreadable:
        raise TargetError(f"{host.label}: no readable job matches {', '.join(repr(p) for p in absent)}, and "
                          f"{', '.join(unreadable)} cannot be read (set sudo: true on the host to read them)")
    require(not absent, host, f"no scheduled job matches {', '.join(repr(p) for p in absent)} "
            f"(read {len(jobs)} cron lines, periodic scripts and active timers)",
            "each pattern of scheduled_jobs matching an active cron line, periodic script or systemd timer")



def _shipping(host, shipper: log_shippers.Running) -> tuple[log_shippers.Shipping, list[str]]:
    """What a running shipper's configuration (and what it includes, two levels deep) says, and
    the files read."""
    spec = shipper.spec
    candidates = [shipper.config] if shipper.config else list(spec.defaults)
    candidates = [c if c.startswith("/") else posixpath.join(posixpath.dirname(spec.defaults[0]), c) for c in candidates]
    files, unreadable = _read_configs(host, candidates)
    if shipper.config is None and files:  # the first default that exists is the one read
        first = next(c for c in candidates if c in files)
        files = {first: files[first]}
    includes, parse = log_shippers.PARSERS.get(spec.name, (None, None))
    if includes is not None:
        pending = [inc for name, text in files.items() for inc in includes(text, posixpath.dirname(name))]
        for _ in range(2):
            extra = [p for p in dict.fromkeys(pending) if p not in files]
            if not extra:
                break
            more, cannot = _read_configs(host, extra)
            files.update(more)
            unreadable += cannot
            pending = [inc for name, text in more.items() for inc in includes(text, posixpath.dirname(name))]
    if spec.name == "systemd-journal-upload":
        shipping = log_shippers.parse_journal_upload(files, shipper.url)
    elif parse is not None:
        shipping = parse(files)
    else:
        shipping = log_shippers.Shipping()
    if not files and not unreadable and not shipping.outputs:
        shipping.problems.append(f"its configuration ({', '.join(candidates)}) is not there")
    shipping.problems += [f"{name} cannot be read" for name in unreadable]
    return shipping, sorted(files)


@pytest.mark.check("host-10", "Application logs shipped off the host", severity="medium",
                   refs=("CIS Controls v8 8.9: Centralize audit logs", "NIST SP 800-92: Guide to Computer Security Log Management",
                         "OWASP Logging Cheat Sheet: log storage"),
                   answers=("log|logs aggregat|aggregation|aggregator configur|setup|service|system?",
                            "central|centraliz|centralized|centralised logging|log|logs|log_management",
                            "log|logs ship|shipped|shipping|forward|forwarded|forwarding|sent|send|stream|streamed|collect|collected|shipper|collector",
                            "elk|loki|graylog|splunk|papertrail|logstash|elasticsearch|opensearch|datadog|cloudwatch logging|logs|log receiv|configur|setup|ship|shipped|set_up",
                            "remote syslog|rsyslog forward|forwarding|remote|configur?"),
                   answers_unless=("retention|retained|kept|keep|archiv", "audit trail", "query|slow", "error tracking|tracker",
                                   "metric|metrics", "alert|alerts|alerting", "level|verbosity", "rotation|rotate|logrotate", "performance|perf|latency",
                                   "pii|personal|card|password|secret|sensitive|mask|redact"),
                   answers_accepts=("monitor",))  # under an "Observability" heading, shipping logs is still a state
def test_logs_shipped(host, evidence):
    """Logs kept only on the host are gone with it (a terminated instance, a full disk, an
    attacker cleaning up), and nobody can search them across servers during an incident.
    Passes when a log shipper runs on the host whose configuration tails files in ``log_dir``
    and sends them over the network: rsyslog (``imfile`` inputs; ``omfwd``, ``omrelp``,
    ``omelasticsearch``, ``omhttp``, ``omkafka`` or ``@@host`` forwarding), Filebeat (inputs'
    ``paths``; an Elasticsearch, Logstash, Kafka or Redis output), Fluent Bit (``tail`` inputs; a
    network output), Vector (``file`` sources; a sink that is not console, file or blackhole) or
    Promtail (``__path__``; a Loki client).  The configuration is the one the running process was
    started with (``-f``, ``-c``, ``--config``) or the default.  A shipper whose configuration
    deploycheck does not read (Fluentd, Logstash, the Datadog, OpenTelemetry or Grafana agents,
    ...) cannot be judged: the result says so.  Not applicable without ``log_dir``; an
    application that logs only to journald is judged by hand (or ships with
    systemd-journal-upload, which this check does not tie to ``log_dir``)."""
    log_dir = posixpath.normpath(str(_setting(host, "log_dir", "the application's log directory")))
    shippers = log_shippers.running(hostfacts.processes(host))
    seen, shipped, unread, findings = [], [], [], []
    for shipper in shippers:
        if not shipper.spec.read:
            unread.append(f"{shipper.spec.name} (pid {shipper.pid})")
            continue
        shipping, read = _shipping(host, shipper)
        tails = [g for g in shipping.files if log_shippers.reads(g, log_dir)]
        entry = {"shipper": shipper.spec.name, "pid": shipper.pid, "config": read, "tails": shipping.files,
                 "system_log": shipping.system_log, "outputs": shipping.outputs, "local_outputs": shipping.local,
                 "problems": shipping.problems}
        seen.append(entry)
        name = f"{shipper.spec.name} ({', '.join(read) or 'no configuration read'})"
        if tails and shipping.outputs:
            shipped.append(f"{name} tails {', '.join(tails)} and sends to {', '.join(shipping.outputs[:3])}")
        elif tails:
            findings.append(f"{name} tails {', '.join(tails)} but sends nowhere off the host "
                           f"({'outputs: ' + ', '.join(shipping.local) if shipping.local else 'no output'})")
        elif shipping.problems:
            findings.append(f"{name}: {'; '.join(shipping.problems)}")
        else:
            what = ", ".join(shipping.files[:3]) or ("the system log" if shipping.system_log else "no files")
            findings.append(f"{name} reads {what}, not {log_dir}")
    evidence.record(log_dir=log_dir, shippers=seen, shipped_by=shipped, not_read=unread)
    if shipped:
        return
    if not shippers:
        fail(host, f"no log shipper runs (looked for {log_shippers.NAMES})", f"a log shipper sending {log_dir}/* to a central store")
    problems = [e for e in seen if e["problems"]]
    if unread or problems:
        why = "; ".join([*(f"{u} runs, and deploycheck does not read its configuration" for u in unread), *findings])
        not_applicable(f"{host.name}: {why}: whether {log_dir} is shipped cannot be judged here (set sudo: true to read root-only "
                       "configurations, or attest the item)", unexamined=True)
    fail(host, "; ".join(findings), f"a log shipper sending {log_dir}/* to a central store")
