"""The SSH catalog (checks/test_ssh.py) and the host transport, against the test bed's sshd.

The hardened sshd passes every ssh check and the weak one fails the ones it is weak in, read
from the effective configuration of the sshd the connection reached (its own file on a temporary
path, not /etc/ssh).  The transport rules are proven on the same servers: one SSH connection per
host and run, ssh:// and paramiko:// alike; an unknown or changed host key fails unless pinned
or opted out; a port that drops or never answers costs one timeout for all the host's checks.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.state import STATE_KEY
from pytest_deploycheck.targets.host_links import HOST_KEY_HINT, ssh_failure
from pytest_deploycheck.targets.sshd_config import apply_modifier, find_listener, listener_options, parse_probe, parse_time, read_files
from tests.servers.base import LOOPBACK, Instance, free_port
from tests.servers.inventory import CHECKS, REPO, CatalogRun, environment, secrets_env, write_inventory

SSH_IDS = [f"ssh-{n:02d}" for n in range(1, 13)]
#: What the weak sshd gets wrong: passwords, keyboard-interactive, root, CBC/SHA-1/MD5, MaxAuthTries 10,
#: the default LoginGraceTime (120 s), no ClientAliveInterval, X11 forwarding.  Empty passwords stay
#: refused and public keys accepted (OpenSSH's defaults).
WEAK_FAILS = {"ssh-01", "ssh-02", "ssh-03", "ssh-06", "ssh-07", "ssh-08", "ssh-09", "ssh-10", "ssh-11", "ssh-12"}
HOST_MODULES = ("test_ssh.py", "test_network.py", "test_os.py", "test_host.py")


def run_hosts(pytester: pytest.Pytester, *modules: str, targets: list[Instance], args: tuple[str, ...] | list[str] = (),
              **top: Any) -> tuple[CatalogRun, pytest.Config]:
    """``run_catalog`` that also returns the run's config (its reachability memory).

    hypothesis's plugin imports hypothesis at the end of every run, and pytester forgets modules
    first imported inside a run: three seconds a run for nothing these runs use.  pytest-benchmark
    warns (an error under -W error) when the outer run is an xdist worker.
    """
    inventory = write_inventory(pytester.path / "inventory.yml", targets, **top)
    with environment(secrets_env(targets)):
        reprec = pytester.inline_run(*(str(CHECKS / m) for m in modules), f"--inventory={inventory}", f"--rootdir={REPO}",
                                     "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark", *args)
    calls = reprec.getcalls("pytest_deploycheck_summary")
    assert calls, f"the run produced no go-live summary (exit {reprec.ret})"
    return CatalogRun(result=None, summary=calls[-1].summary, ret=int(reprec.ret)), calls[-1].config


def host_entry(sshd: Instance, name: str, *, backend: str = "ssh", **settings: Any) -> Instance:
    """An inventory host reaching ``sshd`` over ``ssh://`` or ``paramiko://``, plus ``settings``."""
    if backend == "ssh":
        entry: dict[str, Any] = dict(sshd.entry)
    else:
        entry = {"backend": sshd.admin["paramiko_backend"], "ssh_identity_file": sshd.admin["identity_file"],
                 "ssh_known_hosts": sshd.admin["known_hosts"]}
    entry.update(settings)
    return Instance(name=name, kind="hosts", entry=entry, env={}, server=None)


def results_for(run: CatalogRun, target: str) -> list[Any]:
    return [r for r in run.summary.results if r.target == target]


def sshd_log(sshd: Instance) -> str:
    assert sshd.server is not None
    return sshd.server.log.read_text(errors="replace")


# --------------------------------------------------------------------------- the checks


def test_hardened_passes_weak_fails(pytester: pytest.Pytester, sshd_hardened: Instance, sshd_weak: Instance) -> None:
    run = run_hosts(pytester, "test_ssh.py", targets=[sshd_hardened, sshd_weak])[0]
    for check_id in SSH_IDS:
        assert run.outcome(check_id, "sshd-hardened") == "passed", run.message(check_id, "sshd-hardened")
        expected = "failed" if check_id in WEAK_FAILS else "passed"
        assert run.outcome(check_id, "sshd-weak") == expected, (check_id, run.message(check_id, "sshd-weak"))
    # The configuration is the one of the sshd this connection reached, from sshd -T.
    for sshd in (sshd_hardened, sshd_weak):
        evidence = run.evidence("ssh-01", sshd.name)
        assert evidence["config"] == sshd.admin["config"]
        assert evidence["source"] == "sshd -T"
        assert f"-p {sshd.admin['port']}" in evidence["listener"]
    weak = "sshd-weak (ssh://root@127.0.0.1:"
    assert run.message("ssh-01", "sshd-weak").startswith(weak)
    assert "PasswordAuthentication is yes" in run.message("ssh-01", "sshd-weak")
    assert "PermitRootLogin is yes" in run.message("ssh-03", "sshd-weak")
    assert "aes128-cbc" in run.message("ssh-06", "sshd-weak")
    assert "3des-cbc" in run.message("ssh-06", "sshd-weak")
    assert "hmac-md5" in run.message("ssh-07", "sshd-weak")
    assert "diffie-hellman-group1-sha1" in run.message("ssh-08", "sshd-weak")
    assert "MaxAuthTries is 10; expected 1..4" in run.message("ssh-09", "sshd-weak")
    assert "LoginGraceTime is 120s" in run.message("ssh-10", "sshd-weak")
    assert "ClientAliveInterval is 0s (off)" in run.message("ssh-11", "sshd-weak")
    assert "X11Forwarding is yes" in run.message("ssh-12", "sshd-weak")
    assert run.evidence("ssh-07", "sshd-hardened")["weak"] == []


def test_thresholds_move_the_limits(pytester: pytest.Pytester, sshd_weak: Instance) -> None:
    lenient = host_entry(sshd_weak, "weak-lenient", thresholds={"ssh_max_auth_tries": 10, "ssh_login_grace_max_s": 120})
    run = run_hosts(pytester, "test_ssh.py", targets=[lenient])[0]
    assert run.outcome("ssh-09", "weak-lenient") == "passed"
    assert run.outcome("ssh-10", "weak-lenient") == "passed"


def test_inventory_sshd_config_and_file_fallback(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The inventory's sshd_config names the file; when sshd -T cannot load it (here: its host
    key is missing, as for a login without root) the files are read, Include and all."""
    keygen = shutil.which("ssh-keygen")
    assert keygen is not None
    host_key = tmp_path / "host_key"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-auth.conf").write_text("PermitEmptyPasswords yes\nMaxAuthTries 3\nLoginGraceTime 1m\n")
    (tmp_path / "conf.d" / "20-late.conf").write_text("PermitEmptyPasswords no\n")  # first value wins
    body = (f"Include {tmp_path}/conf.d/*.conf\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication no\nMACs +hmac-md5\nMatch User nobody\n    PasswordAuthentication yes\n")
    working = tmp_path / "working_config"
    working.write_text(f"HostKey {host_key}\n{body}")
    broken = tmp_path / "broken_config"
    broken.write_text(f"HostKey {tmp_path}/no_such_key\n{body}")
    targets = [Instance(name=name, kind="hosts", entry={"backend": "local://", "sshd_config": str(path)}, env={}, server=None)
               for name, path in (("local-working", working), ("local-fallback", broken))]
    run = run_hosts(pytester, "test_ssh.py", targets=targets)[0]
    for name in ("local-working", "local-fallback"):
        assert run.outcome("ssh-01", name) == "passed"  # the Match block does not count for everyone
        assert run.outcome("ssh-04", name) == "failed"
        assert "PermitEmptyPasswords is yes" in run.message("ssh-04", name)
        assert run.outcome("ssh-05", name) == "failed"
        assert run.outcome("ssh-07", name) == "failed"
        assert "hmac-md5" in run.message("ssh-07", name)
        assert run.outcome("ssh-09", name) == "passed"
        assert run.outcome("ssh-10", name) == "passed"  # 1m = 60 s
    assert run.evidence("ssh-01", "local-working")["source"] == "sshd -T"
    fallback = run.evidence("ssh-01", "local-fallback")
    assert fallback["source"] == "file"
    assert fallback["config"] == str(broken)
    assert "sshd -T failed" in fallback["note"]
    assert "no hostkeys available" in fallback["note"]


def test_system_sshd_on_the_local_backend(pytester: pytest.Pytester) -> None:
    """local:// reads the system sshd (/etc/ssh/sshd_config); a host without sshd: not applicable."""
    local = Instance(name="local", kind="hosts", entry={"backend": "local://"}, env={}, server=None)
    run = run_hosts(pytester, "test_ssh.py", targets=[local])[0]
    if shutil.which("sshd") or Path("/usr/sbin/sshd").exists():
        assert run.evidence("ssh-01", "local")["config"] == "/etc/ssh/sshd_config"
        assert {r.outcome.value for r in results_for(run, "local")} <= {"passed", "failed"}
    else:
        for result in results_for(run, "local"):
            assert result.outcome.value == "n/a"
            assert "sshd is not installed" in result.message


# --------------------------------------------------------------------------- one connection


APP_SETTINGS: dict[str, Any] = {
    "services": ["sshd"], "app_process": "sshd", "app_dir": "/etc/ssh", "secret_files": ["/etc/ssh/ssh_host_ed25519_key"],
    "directories": {"/etc/ssh": {"mode": "0755", "owner": "root"}}, "log_dir": "/var/log", "listen_allow": [22],
}


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_one_connection_per_host_and_run(pytester: pytest.Pytester, sshd_hardened: Instance, backend: str) -> None:
    """Every host check of the catalog against one host: one SSH login, closed at the end."""
    before = sshd_log(sshd_hardened)
    target = host_entry(sshd_hardened, f"one-{backend}", backend=backend, **APP_SETTINGS)
    run, config = run_hosts(pytester, *HOST_MODULES, targets=[target])
    results = results_for(run, target.name)
    ran = [r for r in results if r.outcome.value in ("passed", "failed")]
    assert len(ran) >= 25, [(r.check_id, r.outcome.value, r.message) for r in results]
    assert not [r for r in results if r.outcome.value == "error" and "app_process" not in r.message], \
        [(r.check_id, r.message) for r in results if r.outcome.value == "error"]
    new = sshd_log(sshd_hardened)[len(before):]
    logins = re.findall(r"Accepted publickey for root from \S+ port (\d+)", new)
    assert len(logins) == 1, new
    # TCP connections: the reachability pre-flight and the one SSH connection.
    assert len(re.findall(r"^Connection from ", new, re.MULTILINE)) <= 2, new
    assert config.stash[STATE_KEY].reach.connect_attempts == {f"hosts.{target.name}": 1}
    # The run closed its connection (ssh: the ControlMaster exited; paramiko: the client closed).
    closed = re.compile(rf"(Disconnected from user root|Closing connection to|Connection closed by) \S+ port {logins[0]}\b")
    assert _wait_for(lambda: closed.search(sshd_log(sshd_hardened)[len(before):]) is not None), sshd_log(sshd_hardened)[len(before):]


# --------------------------------------------------------------------------- host keys


def _all_errors(run: CatalogRun, target: str) -> list[str]:
    results = results_for(run, target)
    assert results
    assert {r.outcome.value for r in results} == {"error"}, [(r.check_id, r.outcome.value, r.message) for r in results]
    return [r.message for r in results]


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_unknown_host_key_fails(pytester: pytest.Pytester, sshd_hardened: Instance, backend: str, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    target = host_entry(sshd_hardened, "unknown-key", backend=backend, ssh_known_hosts=str(empty))
    run = run_hosts(pytester, "test_ssh.py", targets=[target])[0]
    messages = _all_errors(run, "unknown-key")
    first = [m for m in messages if "not checked" not in m]
    assert len(first) == 1, messages
    assert "host key" in first[0]
    assert HOST_KEY_HINT in first[0]
    assert all("target unusable since an earlier check" in m for m in messages if m not in first)


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_changed_host_key_fails(pytester: pytest.Pytester, sshd_hardened: Instance, sshd_weak: Instance, backend: str,
                                tmp_path: Path) -> None:
    """known_hosts pins another key for this address (the weak server's): a man in the middle."""
    other_key = Path(sshd_weak.admin["known_hosts"]).read_text().split(None, 1)[1]
    pinned = tmp_path / "known_hosts"
    pinned.write_text(f"[{LOOPBACK}]:{sshd_hardened.admin['port']} {other_key}")
    target = host_entry(sshd_hardened, "changed-key", backend=backend, ssh_known_hosts=str(pinned))
    run = run_hosts(pytester, "test_ssh.py", targets=[target])[0]
    messages = _all_errors(run, "changed-key")
    assert any("host key" in m and HOST_KEY_HINT in m for m in messages), messages


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_host_key_checking_opt_out(pytester: pytest.Pytester, sshd_hardened: Instance, backend: str) -> None:
    target = host_entry(sshd_hardened, "opt-out", backend=backend, ssh_host_key_checking=False)
    target.entry.pop("ssh_known_hosts")
    run = run_hosts(pytester, "test_ssh.py", targets=[target])[0]
    assert run.outcome("ssh-01", "opt-out") == "passed", run.message("ssh-01", "opt-out")


def test_refused_login_ends_the_host(pytester: pytest.Pytester, sshd_hardened: Instance, tmp_path: Path) -> None:
    """A key the server does not accept: one failed login, then every check ends at once."""
    keygen = shutil.which("ssh-keygen")
    assert keygen is not None
    stranger = tmp_path / "stranger"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    before = sshd_log(sshd_hardened)
    target = host_entry(sshd_hardened, "stranger", ssh_identity_file=str(stranger))
    run = run_hosts(pytester, "test_ssh.py", targets=[target])[0]
    messages = _all_errors(run, "stranger")
    assert any("Permission denied (publickey)" in m for m in messages), messages
    new = sshd_log(sshd_hardened)[len(before):]
    assert len(re.findall(r"^Connection from ", new, re.MULTILINE)) <= 2, new


def test_password_never_on_a_command_line(pytester: pytest.Pytester) -> None:
    """testinfra would hand an ssh:// password to ``sshpass -p`` (visible in ps): the inventory refuses it."""
    target = Instance(name="pw", kind="hosts", entry={"backend": "ssh://root:hunter22@127.0.0.1:22"}, env={}, server=None)
    inventory = write_inventory(pytester.path / "inventory.yml", [target])
    result = pytester.runpytest_inprocess(str(CHECKS / "test_ssh.py"), f"--inventory={inventory}", f"--rootdir={REPO}",
                                          "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hosts.pw.backend: a password in an ssh:// URL would go on a command line*"])
    assert "hunter22" not in result.stdout.str() + result.stderr.str()


# --------------------------------------------------------------------------- dead ports


@contextlib.contextmanager
def dropping_port() -> Iterator[int]:
    """A listening socket whose accept backlog is full: further SYNs go unanswered."""
    server = socket.socket()
    server.bind((LOOPBACK, 0))
    server.listen(0)
    filler = socket.create_connection(server.getsockname(), timeout=2)
    try:
        yield int(server.getsockname()[1])
    finally:
        filler.close()
        server.close()


@contextlib.contextmanager
def silent_port() -> Iterator[tuple[int, list[socket.socket]]]:
    """A port that accepts connections and never says a word (no SSH banner)."""
    server = socket.socket()
    server.bind((LOOPBACK, 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


def _dead_target(port: int, backend: str, known_hosts: str) -> Instance:
    scheme = "ssh" if backend == "ssh" else "paramiko"
    return Instance(name="dead", kind="hosts", env={}, server=None,
                    entry={"backend": f"{scheme}://root@{LOOPBACK}:{port}", "ssh_known_hosts": known_hosts, "timeout": 1,
                           **APP_SETTINGS})


def _one_timeout(run: CatalogRun, config: pytest.Config, expected: str) -> None:
    messages = _all_errors(run, "dead")
    first = [m for m in messages if "not checked" not in m]
    assert len(first) == 1, messages
    assert expected in first[0], first[0]
    assert len(messages) >= 30
    assert config.stash[STATE_KEY].reach.connect_attempts == {"hosts.dead": 1}


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_dropping_port_costs_one_timeout(pytester: pytest.Pytester, backend: str, sshd_hardened: Instance) -> None:
    with dropping_port() as port:
        run, config = run_hosts(pytester, *HOST_MODULES, targets=[_dead_target(port, backend, sshd_hardened.admin["known_hosts"])])
    _one_timeout(run, config, "timed out after 1s")


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_silent_port_costs_one_timeout(pytester: pytest.Pytester, backend: str, sshd_hardened: Instance) -> None:
    """TCP connects (the pre-flight passes) but no SSH banner ever comes: one SSH attempt."""
    with silent_port() as (port, accepted):
        run, config = run_hosts(pytester, *HOST_MODULES, targets=[_dead_target(port, backend, sshd_hardened.admin["known_hosts"])])
        connections = len(accepted)
    _one_timeout(run, config, "banner")
    assert connections <= 2  # the pre-flight and one SSH connection


def test_refused_port(pytester: pytest.Pytester, sshd_hardened: Instance) -> None:
    run, config = run_hosts(pytester, *HOST_MODULES, targets=[_dead_target(free_port(), "ssh", sshd_hardened.admin["known_hosts"])])
    _one_timeout(run, config, "connection refused")


# --------------------------------------------------------------------------- parsers


def test_parse_time() -> None:
    assert parse_time("90") == 90
    assert parse_time("30s") == 30
    assert parse_time("2m") == 120
    assert parse_time("1h30m") == 5400
    with pytest.raises(ValueError):
        parse_time("soon")


def test_apply_modifier() -> None:
    default = ("a", "b-sha1", "c")
    assert apply_modifier("+d", default) == ["a", "b-sha1", "c", "d"]
    assert apply_modifier("-*sha1", default) == ["a", "c"]
    assert apply_modifier("^d", default) == ["d", "a", "b-sha1", "c"]
    assert apply_modifier("x,y", default) == ["x", "y"]


def test_find_listener_in_the_process_chain() -> None:
    text = ("binary\t/usr/sbin/sshd\nconnection\t10.0.0.9 51000 10.0.0.5 2222\nuser\tdeploy\n"
            "process\t900\tsh\x01-c\x01probe\x01\n"
            "process\t899\tsshd: deploy@notty\x01\x01\x01\n"
            "process\t812\tsshd: /usr/sbin/sshd -D -f /etc/ssh/alt_config -oCiphers=aes256-gcm@openssh.com -p 2222"
            " [listener] 0 of 10-100 startups\x01\n"
            "process\t1\t/sbin/init\x01\n")
    probe = parse_probe(text)
    found = find_listener(probe.chain)
    assert found is not None
    assert found[0] == 812
    config, options = listener_options(found[1])
    assert config == "/etc/ssh/alt_config"
    assert options == ["-f", "/etc/ssh/alt_config", "-o", "Ciphers=aes256-gcm@openssh.com", "-p", "2222"]
    # An OpenSSH that keeps the listener's argv (no retitling).
    old = parse_probe("process\t5\tbash\x01\nprocess\t4\tsshd: root@pts/0\x01\nprocess\t3\t/usr/sbin/sshd\x01-D\x01\n")
    assert find_listener(old.chain) == (3, ["/usr/sbin/sshd", "-D"])
    assert find_listener(parse_probe("process\t7\tpython\x01x.py\x01\n").chain) is None


def test_read_files_follows_include_and_first_value() -> None:
    files = {
        "/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication yes\nX11Forwarding yes\n"
                                "Ciphers -*cbc\nMatch Address 10.0.0.0/8\n  PermitRootLogin yes\n",
        "/etc/ssh/sshd_config.d/50-local.conf": "PasswordAuthentication no\nChallengeResponseAuthentication no\nClientAliveInterval 5m\n",
    }
    values, read = read_files(files.get, lambda folder: ["50-local.conf", "README"], "/etc/ssh/sshd_config")
    assert read == ["/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/50-local.conf"]
    assert values["passwordauthentication"] == "no"
    assert values["kbdinteractiveauthentication"] == "no"
    assert values["clientaliveinterval"] == "300"
    assert values["x11forwarding"] == "yes"
    assert values["permitrootlogin"] == "prohibit-password"
    assert values["maxauthtries"] == "6"


def test_ssh_failure_messages() -> None:
    assert ssh_failure("ssh: connect to host 127.0.0.1 port 1: Connection refused\n") == \
        "ssh: ssh: connect to host 127.0.0.1 port 1: Connection refused"
    changed = ("@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
               "Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.\nHost key verification failed.\n")
    assert ssh_failure(changed).startswith("ssh: host key verification failed (Host key for [127.0.0.1]:2222 has changed")
    assert ssh_failure("") == "ssh: exited 255 without a message"
