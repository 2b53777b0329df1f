"""The host catalog (checks/test_host.py, test_network.py, test_os.py) on this machine.

A good and a bad application tree, application processes and a stray listening socket are set
up here, then examined through every way in: ``local://`` and, over the test bed's hardened
sshd, ``ssh://`` and ``paramiko://`` (the same machine, so the same answers).  What needs
packages or a service manager this machine lacks (a firewall, fail2ban, logrotate, systemd) is
shown where it must fail or be not applicable; the parsers behind those checks are read against
real command output further down.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import re
import resource
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.targets import host_facts as hostfacts
from tests.servers.base import Instance
from tests.servers.inventory import environment
from tests.test_checks_ssh import host_entry, results_for, run_hosts

NOBODY = "nobody"
NOGROUP = grp.getgrgid(pwd.getpwnam(NOBODY).pw_gid).gr_name
FIREWALLS = ("nft", "iptables", "ufw")


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def _systemd() -> bool:
    return Path("/proc/1/comm").read_text().strip() == "systemd"


def local(name: str, **settings: Any) -> Instance:
    return Instance(name=name, kind="hosts", entry={"backend": "local://", **settings}, env={}, server=None)


def public_ports() -> list[int]:
    """Ports this machine exposes right now (what a fair allow-list for it contains)."""
    out = subprocess.run(["ss", "-Htulnp"], capture_output=True, text=True, check=True).stdout
    return sorted({s.port for s in hostfacts.exposed(hostfacts.Sockets(tuple(hostfacts.parse_ss(out)), "ss", (32768, 60999)))})


# --------------------------------------------------------------------------- the application


#: host-07's threshold for the test bed's processes: above systemd's 1024, within this machine's hard limit.
OPEN_FILES_MIN = 8192


def _open_files(soft: int) -> None:
    """In the child before exec: the soft open-file limit a unit's LimitNOFILE= (the good server,
    16384) or systemd's default (the bad one, 1024) would give.  A machine whose hard limit is lower
    (20000 here, so not the shipped 65535) keeps that."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard), hard))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two application trees, a service process and two application processes (one as root)."""
    token = secrets.token_hex(3)
    base = tmp_path_factory.mktemp("apps")
    nobody = pwd.getpwnam(NOBODY)
    good, bad = base / "good", base / "bad"
    (good / "keys").mkdir(parents=True)
    (good / "app.py").write_text("print('hello')\n")
    (good / ".env").write_text("DATABASE_PASSWORD=s3cret\n")
    (good / "keys" / "signing.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (good / "current").symlink_to("/tmp")  # a symbolic link is 777 by nature: not a finding
    for path, mode in ((good, 0o750), (good / "keys", 0o700), (good / "app.py", 0o644), (good / ".env", 0o600),
                       (good / "keys" / "signing.pem", 0o400)):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
        path.chmod(mode)
    (bad / "uploads").mkdir(parents=True)
    bad.chmod(0o700)
    (bad / ".env").write_text("DATABASE_PASSWORD=s3cret\n")
    (bad / ".env").chmod(0o644)
    (bad / "uploads").chmod(0o777)
    (bad / "uploads" / "evil.txt").write_text("")
    (bad / "uploads" / "evil.txt").chmod(0o666)
    sleep = shutil.which("sleep")
    assert sleep is not None
    service = f"dcsvc{token}"
    procs = [
        subprocess.Popen([service, "600"], executable=sleep),
        subprocess.Popen([f"/srv/dcapp-{token}/good-server", "600"], executable=sleep, user=NOBODY, group=NOGROUP,
                         preexec_fn=lambda: _open_files(16384)),
        subprocess.Popen([f"/srv/dcapp-{token}/bad-server", "600"], executable=sleep, preexec_fn=lambda: _open_files(1024)),
    ]
    try:
        yield {"token": token, "good": good, "bad": bad, "service": service}
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def listening(address: str = "0.0.0.0", port: int = 0) -> Iterator[int]:
    """A stray listening socket, one at a time across the suite's xdist workers: another
    worker's stray, opened between this one's baseline and its run, would fail net-01 on the
    host that allows exactly the baseline and this stray."""
    with open(Path(tempfile.gettempdir()) / "deploycheck-tests-stray-port.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _stray(address, port) as bound:
            yield bound


@contextlib.contextmanager
def _stray(address: str, port: int) -> Iterator[int]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(1)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def app_settings(app: dict[str, Any], which: str, allow: list[int]) -> dict[str, Any]:
    token = app["token"]
    if which == "good":
        return {
            "services": [app["service"]], "app_process": f"dcapp-{token}/good-server", "app_user": NOBODY,
            "app_dir": str(app["good"]), "secret_files": [".env", "keys/signing.pem"],
            "directories": {str(app["good"]): {"mode": "0750", "owner": NOBODY, "group": NOGROUP},
                            str(app["good"] / "keys"): {"mode": "0700", "owner": NOBODY}},
            "listen_allow": allow, "thresholds": {"open_files_min": OPEN_FILES_MIN},
        }
    return {
        "services": [app["service"], "dc-missing-svc"], "app_process": f"dcapp-{token}/bad-server", "app_user": NOBODY,
        "app_dir": str(app["bad"]), "secret_files": [".env"],
        "directories": {str(app["bad"]): {"mode": "0750", "owner": NOBODY}},
        "listen_allow": allow, "thresholds": {"open_files_min": OPEN_FILES_MIN},
    }


@pytest.mark.parametrize("backend", ["local", "ssh", "paramiko"])
def test_application_good_and_bad(pytester: pytest.Pytester, app: dict[str, Any], sshd_hardened: Instance, backend: str) -> None:
    """World-writable files, a 644 secret, a missing service, a root process, a wrong directory
    mode and a port outside the allow-list fail; the good tree passes, through every backend."""
    with listening() as stray:
        baseline = [p for p in public_ports() if p != stray]
        settings = {"good": app_settings(app, "good", [*baseline, stray]), "bad": app_settings(app, "bad", baseline)}
        if backend == "local":
            targets = [local(f"{which}-{backend}", **settings[which]) for which in ("good", "bad")]
        else:
            targets = [host_entry(sshd_hardened, f"{which}-{backend}", backend=backend, **settings[which]) for which in ("good", "bad")]
        run = run_hosts(pytester, "test_host.py", "test_network.py", targets=targets)[0]
    good, bad = f"good-{backend}", f"bad-{backend}"
    checks = ["host-02", "host-03", "host-04", "host-05", "host-07", "net-01"] + ([] if _systemd() else ["host-01"])
    for check_id in checks:
        assert run.outcome(check_id, good) == "passed", (check_id, run.message(check_id, good))
        assert run.outcome(check_id, bad) == "failed", (check_id, run.message(check_id, bad))
    label = f"{bad} ("
    if not _systemd():
        assert run.message("host-01", bad).startswith(label)
        assert "not running: dc-missing-svc" in run.message("host-01", bad)
        assert "no service manager" in run.message("host-01", bad)
    assert "run as root" in run.message("host-02", bad)
    assert "bad-server" in run.message("host-02", bad)
    assert f"{app['bad']}/.env has mode 0644" in run.message("host-03", bad)
    assert f"{app['bad']}/.env is owned by root" in run.message("host-03", bad)
    assert run.evidence("host-03", good)["files"][f"{app['good']}/.env"] == f"0600 {NOBODY}:{NOGROUP}"
    assert f"{app['bad']}/uploads/evil.txt" in run.message("host-04", bad)
    assert "2 world-writable path(s)" in run.message("host-04", bad)
    assert f"{app['bad']} has mode 0700, not 0750" in run.message("host-05", bad)
    assert f"{app['bad']} is owned by root, not {NOBODY}" in run.message("host-05", bad)
    assert f"tcp 0.0.0.0:{stray}" in run.message("net-01", bad)
    assert "1 of 1 application process(es) may open too few files: " in run.message("host-07", bad)
    assert run.message("host-07", bad).endswith(f"bad-server 600 (1024); expected a soft open-file limit of at least {OPEN_FILES_MIN} "
                                                 "(LimitNOFILE= in the unit, or ulimit -n)")
    [limit] = run.evidence("host-07", good)["limits"].values()
    assert limit.startswith("16384 soft, ")
    assert run.outcome("host-06", bad) == "n/a"
    assert "no log_dir" in run.message("host-06", bad)


DATABASE_PORT_CANDIDATES = (27017, 11211, 5984, 9200, 26257)


def _free(port: int) -> bool:
    try:
        with listening("0.0.0.0", port):
            return True
    except OSError:
        return False


def test_database_port_on_all_interfaces(pytester: pytest.Pytester) -> None:
    """A database port bound to 0.0.0.0 fails; on loopback it passes."""
    host = local("db-host")
    port = next((p for p in DATABASE_PORT_CANDIDATES if _free(p)), None)
    if port is None:
        pytest.skip("no well-known database port is free on this machine")
    with listening("0.0.0.0", port):
        run = run_hosts(pytester, "test_network.py", targets=[host])[0]
    assert run.outcome("net-02", "db-host") == "failed"
    assert f"0.0.0.0:{port}" in run.message("net-02", "db-host")
    assert "(all interfaces)" in run.message("net-02", "db-host")
    with listening("127.0.0.1", port):
        run = run_hosts(pytester, "test_network.py", targets=[host])[0]
    # This machine's own services (a developer's RabbitMQ on all interfaces) may fail net-02 too:
    # what this test owns is that the loopback listener is seen and not counted against it.
    assert run.outcome("net-02", "db-host") in ("passed", "failed"), run.message("net-02", "db-host")
    assert f"127.0.0.1:{port}" not in run.message("net-02", "db-host")
    assert any(f"127.0.0.1:{port}" in s for s in run.evidence("net-02", "db-host")["database_sockets"])


def test_broker_port_on_all_interfaces(pytester: pytest.Pytester) -> None:
    """A message broker's port (RabbitMQ's management UI, epmd, Kafka) on 0.0.0.0 fails net-02 too."""
    port = next((p for p in (15672, 4369, 9092, 4222) if _free(p)), None)
    if port is None:
        pytest.skip("no well-known broker port is free on this machine")
    with listening("0.0.0.0", port):
        run = run_hosts(pytester, "test_network.py", targets=[local("broker-host")], args=["-k", "database_ports"])[0]
    assert run.outcome("net-02", "broker-host") == "failed"
    assert "database, cache or broker ports on public interfaces: " in run.message("net-02", "broker-host")
    assert re.search(rf"0\.0\.0\.0:{port} \(\w+\) \(all interfaces\)", run.message("net-02", "broker-host"))


def test_listen_allow_entries(pytester: pytest.Pytester) -> None:
    """``addr:port`` allows that address only; a bad entry is an error naming the inventory key."""
    with listening() as stray:
        baseline = [p for p in public_ports() if p != stray]
        targets = [local("by-port", listen_allow=[*baseline, stray]), local("by-wildcard", listen_allow=[*baseline, f"0.0.0.0:{stray}"]),
                   local("by-other-address", listen_allow=[*baseline, f"10.0.0.5:{stray}"]), local("garbled", listen_allow=["web"])]
        run = run_hosts(pytester, "test_network.py", targets=targets)[0]
    assert run.outcome("net-01", "by-port") == "passed"
    assert run.outcome("net-01", "by-wildcard") == "passed"
    assert run.outcome("net-01", "by-other-address") == "failed"
    assert run.outcome("net-01", "garbled") == "error"
    assert "hosts.garbled.listen_allow: 'web' is not a port or address:port" in run.message("net-01", "garbled")


# --------------------------------------------------------------------------- what this machine lacks


def test_container_declared_or_not(pytester: pytest.Pytester) -> None:
    """``container: true``: firewall, fail2ban, automatic updates and time sync are n/a with the
    reason; ``container: false``: they are examined, and fail where the machine lacks them."""
    targets = [local("declared-container", container=True), local("declared-vm", container=False)]
    run = run_hosts(pytester, "test_network.py", "test_os.py", targets=targets, args=["-k", "not pending"])[0]
    for check_id in ("net-03", "net-04", "os-01", "os-03"):
        assert run.outcome(check_id, "declared-container") == "n/a"
        assert "declared in the inventory (container: true)" in run.message(check_id, "declared-container")
        assert "a container" not in run.message(check_id, "declared-vm")
    if not any(_which(t) for t in FIREWALLS):
        assert run.outcome("net-03", "declared-vm") == "failed"
        assert "no host firewall: none of nft, iptables or ufw is installed" in run.message("net-03", "declared-vm")
    if _which("sshd") and not any(_which(t) for t in ("fail2ban-client", "sshguard", "crowdsec")):
        assert run.outcome("net-04", "declared-vm") == "failed"
        assert "fail2ban is not installed and neither sshguard nor CrowdSec runs" in run.message("net-04", "declared-vm")
    if _which("apt-get") and not Path("/usr/bin/unattended-upgrade").exists():
        assert run.outcome("os-01", "declared-vm") == "failed"
        assert "unattended-upgrades is not installed" in run.message("os-01", "declared-vm")
    if not _systemd() and not any(_which(t) for t in ("chronyc", "ntpq")):
        assert run.outcome("os-03", "declared-vm") == "failed"
        assert "no time synchronisation" in run.message("os-03", "declared-vm")


def test_log_rotation(pytester: pytest.Pytester, tmp_path: Path) -> None:
    targets = [local("stray-logs", log_dir=str(tmp_path)), local("nginx-logs", log_dir="/var/log/nginx/")]
    run = run_hosts(pytester, "test_host.py", targets=targets)[0]
    assert run.outcome("host-06", "stray-logs") == "failed"
    assert f"no logrotate stanza rotates {tmp_path}/*" in run.message("host-06", "stray-logs")
    if Path("/etc/logrotate.d/nginx").exists():
        assert any(c.startswith("/etc/logrotate.d/nginx: /var/log/nginx/") for c in run.evidence("host-06", "nginx-logs")["covered_by"])
        assert "no logrotate stanza" not in run.message("host-06", "nginx-logs")
    if not _which("logrotate"):
        assert "logrotate is not installed" in run.message("host-06", "nginx-logs")


def test_log_retention(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """host-08 reads the stanza that rotates log_dir, in the application's own logrotate files
    here (a real machine's /etc/logrotate.d/nginx too, where nginx is installed)."""

    def app(name: str, config: str | None, **settings: Any) -> Instance:
        folder = tmp_path / name
        folder.mkdir()
        extra: dict[str, Any] = {}
        if config is not None:
            (tmp_path / f"{name}.conf").write_text(config.replace("DIR", str(folder)))
            extra["logrotate_config"] = [str(tmp_path / f"{name}.conf")]
        return local(name, log_dir=str(folder), **extra, **settings)

    script = "    postrotate\n        kill -HUP $(cat /run/app.pid) # {not a brace}\n    endscript\n"
    targets = [
        app("kept", "DIR/*.log {\n    daily\n    rotate 30\n" + script + "}\n"),
        app("inherited", "weekly\nrotate 8\n\nDIR/*.log {\n    missingok\n}\n"),  # the file's own globals: 8 weeks
        app("short", "DIR/*.log {\n    weekly\n    rotate 2\n}\n"),
        app("capped", "DIR/*.log {\n    daily\n    rotate 90\n    maxage 7\n}\n"),
        app("sized", "DIR/*.log {\n    daily\n    size 100M\n    rotate 5\n}\n"),  # size after daily: by size alone
        app("unrotated", None),
        app("elsewhere", None, thresholds={"log_retention_days": 0}),
        local("unreadable", log_dir=str(tmp_path), logrotate_config=[str(tmp_path / "nope.conf")]),
    ]
    nginx = Path("/etc/logrotate.d/nginx").exists()
    if nginx:
        targets.append(local("nginx-logs", log_dir="/var/log/nginx", thresholds={"log_retention_days": 14}))
    run = run_hosts(pytester, "test_host.py", targets=targets, args=["-k", "log_retention"])[0]
    assert run.outcome("host-08", "kept") == "passed", run.message("host-08", "kept")
    assert run.evidence("host-08", "kept")["days"] == 30
    assert run.outcome("host-08", "inherited") == "passed", run.message("host-08", "inherited")
    assert run.evidence("host-08", "inherited")["days"] == 56
    assert run.outcome("host-08", "short") == "failed"
    assert (f"short (local://): {tmp_path}/short.conf: {tmp_path}/short/*.log (weekly, rotate 2) keeps 14 days of history; "
            "expected >= 30 days (log_retention_days)") in run.message("host-08", "short")
    assert run.outcome("host-08", "capped") == "failed"
    assert "(daily, rotate 90, maxage 7) keeps 7 days" in run.message("host-08", "capped")
    assert run.outcome("host-08", "sized") == "failed"
    assert "(size 100M, rotate 5) rotates by size alone" in run.message("host-08", "sized")
    assert run.outcome("host-08", "unrotated") == "failed"
    assert f"no logrotate stanza rotates {tmp_path}/unrotated/*" in run.message("host-08", "unrotated")
    assert run.outcome("host-08", "elsewhere") == "n/a"
    assert run.outcome("host-08", "unreadable") == "error"
    assert f"cannot read logrotate_config {tmp_path}/nope.conf" in run.message("host-08", "unreadable")
    if nginx:  # Debian's stanza: daily, rotate 14
        assert run.outcome("host-08", "nginx-logs") == "passed", run.message("host-08", "nginx-logs")


def test_scheduled_jobs(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """host-09 reads the machine's crontabs, periodic scripts and timers and the application's own
    crontab: a job there passes, a commented-out one is no job, a crontab that is not there is an error."""
    crontab = tmp_path / "app.cron"
    crontab.write_text("MAILTO=ops@example.com\n"
                       "0 2 * * * postgres pg_dump -Fc app > /backups/app.dump\n"
                       "#30 3 * * * root /usr/local/bin/cleanup-uploads\n")
    own = [str(crontab)]
    targets = [
        local("scheduled", cron_files=own, scheduled_jobs=["pg_dump -Fc app"]),
        local("commented", cron_files=own, scheduled_jobs=["pg_dump", "cleanup-uploads", "ops@example"]),
        local("missing-file", cron_files=[str(tmp_path / "nope.cron")], scheduled_jobs=["pg_dump"]),
        local("unset", cron_files=own),
    ]
    run = run_hosts(pytester, "test_host.py", targets=targets, args=["-k", "scheduled_jobs"])[0]
    assert {t.name: run.outcome("host-09", t.name) for t in targets} == {
        "scheduled": "passed", "commented": "failed", "missing-file": "error", "unset": "n/a"}
    assert run.evidence("host-09", "scheduled")["matched"] == {"pg_dump -Fc app": [f"{crontab}: 0 2 * * * postgres pg_dump -Fc app > /backups/app.dump"]}
    assert run.message("host-09", "commented").startswith(
        "commented (local://): no scheduled job matches 'cleanup-uploads', 'ops@example' (read ")
    assert f"cron_files names {tmp_path}/nope.cron, which is not a file on the host" in run.message("host-09", "missing-file")
    assert "no scheduled_jobs in the inventory" in run.message("host-09", "unset")


def test_scheduled_jobs_parser() -> None:
    """What the host's answer holds: crontab lines (not comments or variables), periodic scripts,
    active timers, and the sources that could not be read."""
    from checks.test_host import scheduled_jobs

    answer = ("\001/etc/crontab\nSHELL=/bin/sh\n# m h dom mon dow user command\n17 * * * * root run-parts /etc/cron.hourly\n\n"
              "\002/etc/cron.daily logrotate\n\003certbot.timer certbot.service\n\004/var/spool/cron/crontabs\n")
    assert scheduled_jobs(answer) == (
        ["/etc/crontab: 17 * * * * root run-parts /etc/cron.hourly", "/etc/cron.daily: logrotate", "systemd timer certbot.timer: certbot.service"],
        ["/etc/crontab"], ["/var/spool/cron/crontabs"])


# --------------------------------------------------------------------------- operating system


def test_swap_policy(pytester: pytest.Pytester) -> None:
    """os-13 against this machine's real swap: the policy that matches it passes, the other fails."""
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    swap_kb = int(meminfo["SwapTotal"].split()[0])
    # Declared a machine: a CI runner may be a container, and this test is about the policy.
    targets = [local("swap-off", swap="off", container=False), local("swap-on", swap="on", container=False), local("no-policy"),
               local("in-container", swap="off", container=True)]
    run = run_hosts(pytester, "test_os.py", targets=targets, args=["-k", "swap"])[0]
    assert run.outcome("os-13", "no-policy") == "n/a"
    assert "no swap policy in the inventory (hosts.no-policy.swap: off or on)" in run.message("os-13", "no-policy")
    assert run.outcome("os-13", "in-container") == "n/a" and "its swap is its host's" in run.message("os-13", "in-container")
    matching, other = ("swap-on", "swap-off") if swap_kb else ("swap-off", "swap-on")
    assert run.outcome("os-13", matching) == "passed", run.message("os-13", matching)
    assert run.outcome("os-13", other) == "failed"
    expected = "of swap enabled" if swap_kb else "no swap configured; expected swap present (hosts.swap-on.swap: on)"
    assert expected in run.message("os-13", other)
    assert run.evidence("os-13", matching)["swap_total_gb"] == round(swap_kb * 1024 / 10**9, 2)


def test_capacity_thresholds(pytester: pytest.Pytester) -> None:
    roomy = local("roomy", thresholds={"min_cpu_cores": 1, "min_memory_gb": 0.5, "recommended_cpu_cores": 1, "recommended_memory_gb": 0.5,
                                       "disk_usage_max_pct": 100, "inode_usage_max_pct": 100, "load_per_core_max": 10000,
                                       "memory_usage_max_pct": 100, "oom_kills_max": 1000000})
    tight = local("tight", thresholds={"min_cpu_cores": 4096, "min_memory_gb": 100000, "disk_usage_max_pct": 0,
                                       "inode_usage_max_pct": 0, "load_per_core_max": 0, "memory_usage_max_pct": 0})
    run = run_hosts(pytester, "test_os.py", targets=[roomy, tight], args=["-k", "not pending"])[0]
    for check_id in ("os-05", "os-06", "os-07", "os-08", "os-09", "os-10", "os-11", "os-12"):
        assert run.outcome(check_id, "roomy") == "passed", run.message(check_id, "roomy")
    for check_id in ("os-05", "os-06", "os-07", "os-08", "os-09", "os-11"):
        assert run.outcome(check_id, "tight") == "failed", run.message(check_id, "tight")
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    assert run.evidence("os-11", "roomy")["total_gb"] == round(int(meminfo["MemTotal"].split()[0]) * 1024 / 10**9, 2)
    assert re.search(r"tight \(local://\): \d+% memory in use, [\d.]+ GB left of [\d.]+ GB.*; expected at most 0% in use",
                     run.message("os-11", "tight")), run.message("os-11", "tight")
    kills = int(next(line.split()[1] for line in Path("/proc/vmstat").read_text().splitlines() if line.startswith("oom_kill ")))
    assert run.evidence("os-12", "tight")["oom_kills"] == kills and run.evidence("os-12", "tight")["counted_by"] == "the kernel, since boot"
    assert run.outcome("os-12", "tight") == ("failed" if kills else "passed")
    cores = os.cpu_count()
    assert run.evidence("os-05", "roomy")["online"] == cores
    assert "CPU core(s); expected >= 4096" in run.message("os-05", "tight")
    assert "GB memory; expected >= 100000 GB" in run.message("os-06", "tight")
    assert "space" in run.message("os-08", "tight")
    assert "% used" in run.message("os-08", "tight")
    load5 = run.evidence("os-10", "tight")["load"][1]
    assert run.outcome("os-10", "tight") == ("failed" if load5 > 0 else "passed")


def test_patching_and_release(pytester: pytest.Pytester) -> None:
    strict, lenient = local("strict"), local("lenient", thresholds={"pending_security_updates_max": 1000000})
    run = run_hosts(pytester, "test_os.py", targets=[strict, lenient], args=["-k", "pending or release"])[0]
    if not _which("apt-get") and not _which("dnf"):
        assert run.outcome("os-02", "strict") == "n/a"
        return
    if run.outcome("os-02", "lenient") == "error":
        assert "package lists are empty" in run.message("os-02", "lenient") or "updateinfo failed" in run.message("os-02", "lenient")
        return
    assert run.outcome("os-02", "lenient") == "passed"
    count = run.evidence("os-02", "strict")["pending_security_updates"]
    assert run.outcome("os-02", "strict") == ("failed" if count else "passed")
    if count:
        assert f"{count} pending security update(s)" in run.message("os-02", "strict")
    release = hostfacts.parse_os_release(Path("/etc/os-release").read_text())
    if (release.get("ID"), release.get("VERSION_ID")) == ("debian", "12"):
        assert run.outcome("os-04", "strict") == "passed"
        assert run.evidence("os-04", "strict")["end_of_life"] == "2028-06-30"


_STANZA = "Package: {name}\nArchitecture: amd64\nVersion: {version}\nPriority: optional\nSection: libs\nInstalled-Size: 1\n" \
          "Maintainer: Test <test@example.invalid>\nFilename: pool/{name}.deb\nSize: 100\nDescription: {name}\n\n"


def apt_root(root: Path, installed: dict[str, tuple[str, str]], main: dict[str, str], security: dict[str, str]) -> Path:
    """A package state of apt's own, read by the real apt through ``APT_CONFIG``: ``installed``
    {name: (version, "install" or "hold")}, candidates in a Debian main and a Debian-Security
    archive.  Returns the configuration file to point ``APT_CONFIG`` at."""
    lists = root / "var/lib/apt/lists"
    for d in ("etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d", "var/lib/apt/lists/partial",
              "var/lib/dpkg", "var/cache/apt/archives/partial"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list").write_text(
        "deb [trusted=yes] http://deb.example.invalid/debian bookworm main\n"
        "deb [trusted=yes] http://security.example.invalid/debian-security bookworm-security main\n")
    (root / "var/lib/dpkg/status").write_text("".join(
        f"Package: {name}\nStatus: {want} ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 1\n"
        f"Maintainer: Test <test@example.invalid>\nArchitecture: amd64\nVersion: {version}\nDescription: {name}\n\n"
        for name, (version, want) in installed.items()))
    for host, dist, label, suite, packages in (("deb.example.invalid_debian", "bookworm", "Debian", "stable", main),
                                               ("security.example.invalid_debian-security", "bookworm-security",
                                                "Debian-Security", "stable-security", security)):
        (lists / f"{host}_dists_{dist}_Release").write_text(
            f"Origin: Debian\nLabel: {label}\nSuite: {suite}\nCodename: {dist}\nArchitectures: amd64\nComponents: main\n")
        (lists / f"{host}_dists_{dist}_main_binary-amd64_Packages").write_text(
            "".join(_STANZA.format(name=name, version=version) for name, version in packages.items()))
    config = root / "apt.conf"
    config.write_text(f'Dir "{root}/";\nDir::State::status "{root}/var/lib/dpkg/status";\n'
                      'APT::Architecture "amd64";\nAPT::Architectures "amd64";\n')
    return config


@pytest.mark.skipif(not _which("apt") or not _which("apt-get"), reason="needs apt (a Debian-family machine)")
def test_pending_security_updates_read_by_apt(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """os-02 against the real apt on package states built for it: up to date but for a
    non-security update (passes); a security fix pending and another one held back (fails and
    names both; the simulation alone would hide the held one); a corrupt package list (an
    error, never zero)."""
    installed = {"libdemo1": ("1.0-1", "install"), "libheld2": ("2.0-1", "hold"), "demotool": ("3.0-1", "install")}
    main = {"libdemo1": "1.0-1", "libheld2": "2.0-1", "demotool": "3.0-2"}
    roots = {
        "good": apt_root(tmp_path / "good", installed, main, {}),
        "bad": apt_root(tmp_path / "bad", installed, main, {"libdemo1": "1.0-1+deb12u1", "libheld2": "2.0-1+deb12u1"}),
        "broken": apt_root(tmp_path / "broken", installed, main, {}),
    }
    with (tmp_path / "broken/var/lib/apt/lists/deb.example.invalid_debian_dists_bookworm_main_binary-amd64_Packages").open("a") as f:
        f.write("a line apt cannot parse\n")
    outcomes = {}
    for name, config in roots.items():
        with environment({"APT_CONFIG": str(config)}):
            run = run_hosts(pytester, "test_os.py", targets=[local(name)], args=["-k", "pending"])[0]
        outcomes[name] = (run.outcome("os-02", name), run.message("os-02", name), run.evidence("os-02", name))
    assert outcomes["good"][0] == "passed", outcomes["good"]
    assert outcomes["good"][2]["pending_security_updates"] == 0 and outcomes["good"][2]["upgradable_packages"] == 1
    assert outcomes["good"][2]["method"] == "apt list --upgradable"
    assert outcomes["bad"][0] == "failed", outcomes["bad"]
    assert "bad (local://): 2 pending security update(s): libdemo1, libheld2; expected at most 0" in outcomes["bad"][1]
    assert outcomes["broken"][0] == "error", outcomes["broken"]
    assert "broken (local://): apt list --upgradable failed (exit 100: E: Unable to parse package file" in outcomes["broken"][1]
    # Debian 10 and older: the simulation, whose origin label says Debian-Security (and which skips the held package).
    simulated = subprocess.run(["apt-get", "-s", "dist-upgrade"], env={**os.environ, "APT_CONFIG": str(roots["bad"]), "LC_ALL": "C"},
                               capture_output=True, text=True, check=True).stdout
    assert hostfacts.apt_security_updates("apt-get -s dist-upgrade", simulated) == (["libdemo1"], 2)


def test_checks_that_do_not_fit_end_not_applicable(pytester: pytest.Pytester) -> None:
    """A bare host entry: nothing crashes; every check passes, fails, or says why it does not apply."""
    run = run_hosts(pytester, "test_ssh.py", "test_network.py", "test_os.py", "test_host.py", targets=[local("bare")],
                    args=["-k", "not pending"])[0]
    results = results_for(run, "bare")
    assert len(results) == 40
    assert not [(r.check_id, r.message) for r in results if r.outcome.value == "error"]
    for result in results:
        if result.outcome.value == "n/a":
            assert result.message.startswith("bare: "), result.message


# --------------------------------------------------------------------------- parsers


def test_parse_memory() -> None:
    """``host_facts._MEMORY``'s output as a machine, a cgroup v2 container and a cgroup v1
    container print it (the formats of /proc/meminfo, /proc/vmstat and the controllers' files)."""
    machine = hostfacts.parse_memory(
        "MemTotal:       24684092 kB\nMemFree:        20000000 kB\nMemAvailable:    4936818 kB\nBuffers:          100000 kB\n"
        "Cached:          3000000 kB\nSwapTotal:       2097148 kB\nSwapFree:        1048574 kB\nvmstat_oom_kill\t3\nuptime\t86400.52\n"
        "cg\tv1\t9223372036854771712\t402698240\ncg_inactive_file\t103886848\ncg_oom_kill\t0\n")
    assert (machine.limit, machine.cgroup, machine.oom_kills, machine.uptime_s) == (None, None, 3, 86400.52)
    assert round(machine.used_pct) == 80 and machine.oom_scope == "the kernel, since boot"
    container = hostfacts.parse_memory(
        "MemTotal:       24684092 kB\nMemAvailable:   20000000 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n"
        "vmstat_oom_kill\t12\nuptime\t500.00\ncg\tv2\t536870912\t500000000\ncg_inactive_file\t50000000\ncg_oom_kill\t2\n")
    assert (container.cgroup, container.limit, container.working_set, container.oom_kills) == ("v2", 536870912, 450000000, 2)
    assert round(container.used_pct) == 84 and container.oom_scope == "this cgroup (v2)"  # its own kills, not the kernel's 12
    unlimited_v2 = hostfacts.parse_memory("MemTotal: 1000 kB\nMemAvailable: 500 kB\ncg\tv2\tmax\t4000\nvmstat_oom_kill\t0\n")
    assert unlimited_v2.limit is None and unlimited_v2.used_pct == 50.0 and unlimited_v2.oom_kills == 0
    old_kernel = hostfacts.parse_memory("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 200 kB\nuptime\t\n")
    assert old_kernel.estimated and old_kernel.available == 400 * 1024 and old_kernel.oom_kills is None and old_kernel.uptime_s is None


def test_parse_ss_and_netstat() -> None:
    ss = ('tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=812,fd=3))\n'
          'tcp   LISTEN 0      244        127.0.0.1:5432      0.0.0.0:*    users:(("postgres",pid=901,fd=6))\n'
          'tcp   LISTEN 0      511             [::]:443          [::]:*    users:(("nginx",pid=1,fd=7),("nginx",pid=2,fd=7))\n'
          'udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=5,fd=13))\n'
          'udp   UNCONN 0      0       0.0.0.0%eth0:68        0.0.0.0:*\n'
          'udp   UNCONN 0      0            0.0.0.0:41234     0.0.0.0:*\n'
          'tcp   LISTEN 0      4096               *:9100            *:*\n')
    found = hostfacts.parse_ss(ss)
    assert [str(s) for s in found][:3] == ["tcp 0.0.0.0:22 (sshd)", "tcp 127.0.0.1:5432 (postgres)", "tcp [::]:443 (nginx)"]
    exposed = hostfacts.exposed(hostfacts.Sockets(tuple(found), "ss", (32768, 60999)))
    assert [(s.proto, s.port) for s in exposed] == [("tcp", 22), ("udp", 68), ("tcp", 443), ("tcp", 9100)]
    assert {s.scope for s in exposed} == {"all interfaces"}
    netstat = ("Active Internet connections (only servers)\n"
               "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name\n"
               "tcp        0      0 10.0.0.5:3306           0.0.0.0:*               LISTEN      77/mariadbd\n"
               "tcp6       0      0 :::80                   :::*                    LISTEN      9/nginx: master\n"
               "udp        0      0 0.0.0.0:123             0.0.0.0:*                           -\n")
    rows = hostfacts.parse_netstat(netstat)
    assert [(r.proto, r.address, r.port, r.scope) for r in rows] == [
        ("tcp", "10.0.0.5", 3306, "private"), ("tcp", "::", 80, "all interfaces"), ("udp", "0.0.0.0", 123, "all interfaces")]
    assert rows[0].processes == ("mariadbd",)


FIREWALLD = """table inet firewalld {
	chain filter_INPUT {
		type filter hook input priority filter + 10; policy accept;
		ct state { established, related } accept
		iifname "lo" accept
		jump filter_INPUT_ZONES
		reject with icmpx admin-prohibited
	}
	chain filter_INPUT_ZONES {
		goto filter_IN_public
	}
}
"""

NFT_DROP_V4 = """table ip filter {
	chain input {
		type filter hook input priority filter; policy drop;
		tcp dport { 22, 443 } accept
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
"""

NFT_ACCEPT = """table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
	}
}
"""


def test_parse_firewalls() -> None:
    firewalld = hostfacts.parse_nft(FIREWALLD)
    assert (firewalld.ipv4_deny, firewalld.ipv6_deny) == (True, True)
    assert "ends with 'reject with icmpx admin-prohibited'" in firewalld.detail
    v4 = hostfacts.parse_nft(NFT_DROP_V4)
    assert (v4.ipv4_deny, v4.ipv6_deny) == (True, False)
    accept = hostfacts.parse_nft(NFT_ACCEPT)
    assert (accept.ipv4_deny, accept.ipv6_deny) == (False, False)
    assert accept.detail == "inet filter input: policy accept"
    assert hostfacts.parse_nft("").detail == "no chain on the input hook"
    assert hostfacts.parse_iptables("-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n")
    assert hostfacts.parse_iptables("-P INPUT ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n"
                                    "-A INPUT -j REJECT --reject-with icmp-host-prohibited\n")
    assert not hostfacts.parse_iptables("-P INPUT ACCEPT\n-A INPUT -s 10.0.0.0/8 -j DROP\n")
    assert hostfacts.parse_ufw("Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n")
    assert not hostfacts.parse_ufw("Status: inactive\n")


def test_logrotate_retention_follows_logrotate() -> None:
    from pytest_deploycheck.targets.logrotate import rotations

    main = "weekly\nrotate 4\ninclude /etc/logrotate.d\n/var/log/wtmp {\n    monthly\n    rotate 1\n}\n"
    stanzas, inherited = rotations(main, "/etc/logrotate.conf")
    assert inherited == {"period": "weekly", "rotate": "4"}
    assert [(r.patterns, r.days()) for r in stanzas] == [(("/var/log/wtmp",), 30.0)]
    included = ("/var/log/a.log /var/log/b.log\n{\n    missingok\n}\n"  # patterns on the line before the brace
                "/var/log/c.log {\n    size 10M\n}\n/var/log/d.log {\n    size 10M\n    daily\n    maxsize 1G\n}\n")
    a, c, d = rotations(included, "/etc/logrotate.d/x", inherited)[0]
    assert (a.patterns, a.describe(), a.days()) == (("/var/log/a.log", "/var/log/b.log"), "weekly, rotate 4", 28.0)
    assert (c.describe(), c.days()) == ("size 10M, rotate 4", None)
    assert (d.describe(), d.days()) == ("daily, rotate 4, maxsize 1G", 4.0)  # the later period replaces size


def test_parse_logrotate() -> None:
    text = ("# see \"man logrotate\"\nweekly\ninclude /etc/logrotate.d\n"
            "/var/log/app/*.log /var/log/app/cron.out {\n  daily\n  rotate 14\n  postrotate\n    kill -HUP 1\n  endscript\n}\n"
            '"/var/log/other dir/*.log"\n/var/log/*/access.log {\n  weekly\n}\n')
    stanzas, includes = hostfacts.parse_logrotate(text)
    assert includes == ["/etc/logrotate.d"]
    assert stanzas == [["/var/log/app/*.log", "/var/log/app/cron.out"], ["/var/log/other dir/*.log", "/var/log/*/access.log"]]
    assert hostfacts.covers("/var/log/app/*.log", "/var/log/app/")
    assert hostfacts.covers("/var/log/*/access.log", "/var/log/shop")
    assert not hostfacts.covers("/var/log/app/*/*.log", "/var/log/app")
    assert not hostfacts.covers("/var/log/app/*.log", "/var/log/application")


def test_parse_df_ps_and_capacity() -> None:
    df = ("Filesystem     Type     1024-blocks     Used Available Capacity Mounted on\n"
          "/dev/vda1      ext4       10000000  8500000   1000000      90% /\n"
          "tmpfs          tmpfs        100000   100000         0     100% /run/user/0\n"
          "/dev/sdb1      xfs         2000000   200000   1800000      10% /srv/data files\n")
    mounts = hostfacts.parse_df(df)
    assert [(m.mountpoint, round(m.percent)) for m in mounts] == [("/", 89), ("/run/user/0", 100), ("/srv/data files", 10)]
    line = f"{812:>10} {0:>10} {'root':<32} {'sshd':<16} sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"
    procs = hostfacts.parse_ps(line + "\n" + f"{99:>10} {33:>10} {'www-data':<32} {'gunicorn':<16} /srv/venv/bin/python gunicorn app:app")
    assert procs[0].pid == 812
    assert procs[0].uid == 0
    assert procs[0].named("sshd")
    assert procs[1].user == "www-data"
    assert procs[1].named("gunicorn")
    cap = hostfacts.parse_capacity("nproc\t8\nonline\t16\ncpumax\t200000 100000\ncfs\t \nmemtotal\t16303428\n"
                                   "memmax\t4294967296\nmemlimit\t\nloadavg\t0.50 1.25 2.00 1/300 42\n")
    assert (cap.effective_cpus, cap.online, cap.effective_memory, cap.load[1]) == (2.0, 16, 4294967296, 1.25)
    unlimited = hostfacts.parse_capacity("nproc\t2\nonline\t2\ncpumax\tmax 100000\nmemtotal\t4000000\nmemmax\tmax\n"
                                         "memlimit\t9223372036854771712\nloadavg\t0.1 0.2 0.3 1/1 1\n")
    assert (unlimited.effective_cpus, unlimited.effective_memory) == (2.0, 4096000000)


def test_timezone(pytester: pytest.Pytester) -> None:
    """os-14 reads this machine's real zone: UTC by default, a named zone, and "any"."""
    utc = time.strftime("%z") == "+0000"
    targets = [local("default"), local("chatham", timezone="Pacific/Chatham"), local("any", timezone="any")]
    run = run_hosts(pytester, "test_os.py", targets=targets, args=["-k", "timezone"])[0]
    assert run.outcome("os-14", "default") == ("passed" if utc else "failed"), run.message("os-14", "default")
    assert run.outcome("os-14", "chatham") == "failed"
    assert run.message("os-14", "chatham").startswith("chatham (local://): the system clock is in ")
    assert run.message("os-14", "chatham").endswith("; expected Pacific/Chatham (hosts.chatham.timezone)")
    assert run.outcome("os-14", "any") == "n/a"


def test_kernel_parameters(pytester: pytest.Pytester) -> None:
    """os-15 reads this machine's real /proc/sys: the values it has pass, others fail, naming each."""
    swappiness = Path("/proc/sys/vm/swappiness").read_text().strip()
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    ports = " ".join(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    targets = [
        local("tuned", sysctl={"vm.swappiness": int(swappiness), "net.core.somaxconn": f">={somaxconn}",
                               "net.ipv4.ip_local_port_range": ports}),
        local("untuned", sysctl={"vm.swappiness": int(swappiness) + 1, "net.core.somaxconn": f">={somaxconn + 1}",
                                 "vm.no_such_parameter": 1}),
        local("unset"),
    ]
    run = run_hosts(pytester, "test_os.py", targets=targets, args=["-k", "kernel"])[0]
    assert run.outcome("os-15", "tuned") == "passed", run.message("os-15", "tuned")
    assert run.evidence("os-15", "tuned")["observed"]["net.ipv4.ip_local_port_range"] == ports
    assert run.message("os-15", "untuned") == (
        f"untuned (local://): vm.swappiness is '{swappiness}'; net.core.somaxconn is {somaxconn}; vm.no_such_parameter does not exist "
        f"on this kernel; expected vm.swappiness = {int(swappiness) + 1}, net.core.somaxconn = >={somaxconn + 1}, "
        "vm.no_such_parameter = 1 (hosts.untuned.sysctl)")
    assert run.outcome("os-15", "unset") == "n/a" and run.result_for("os-15", "unset").unexamined


@pytest.mark.parametrize(("observed", "wanted", "problem"), [
    ("1", "1", None), ("1", "0", "is '1'"), ("32768\t60999", "32768 60999", None), ("4096", ">=1024", None),
    ("128", ">=1024", "is 128"), ("60", "<=10", "is 60"), ("abc", ">=1", "is 'abc', not a number"), (None, "1", "does not exist on this kernel"),
])
def test_sysctl_values(observed: str | None, wanted: str, problem: str | None) -> None:
    from checks.test_os import sysctl_problem

    assert sysctl_problem(observed, wanted) == problem


@pytest.mark.parametrize(("output", "wanted", "same"), [
    ("zone\tEtc/UTC\ndate\tUTC\t+0000\n", "UTC", True),
    ("zone\t/usr/share/zoneinfo/Etc/UTC\ndate\tUTC\t+0000\n", "UTC", True),  # the /etc/localtime link
    ("zone\t../usr/share/zoneinfo/posix/Europe/Berlin\ndate\tCET\t+0100\n", "Europe/Berlin", True),
    ("zone\tEurope/Berlin\ndate\tCET\t+0100\n", "UTC", False),
    ("zone\t\ndate\tUTC\t+0000\n", "UTC", True),  # a copied zone file: judged by what date says
    ("zone\tnone\ndate\tUTC\t+0000\n", "UTC", True),  # no /etc/localtime: UTC
    ("zone\tEtc/UTC\ndate\tUTC\t+0000\n", "Europe/London", False),
])
def test_timezone_reading(output: str, wanted: str, same: bool) -> None:
    from checks.test_os import timezone_name
    from pytest_deploycheck.targets.timezones import same_zone

    zone, abbr, offset = timezone_name(output)
    assert same_zone(zone, wanted, abbr, offset) is same
