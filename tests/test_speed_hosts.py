"""Work a machine answers once is done once per run, and a host costs one SSH login.

Two inventory entries that reach the same machine as the same account share its memoized facts
and its ``sh`` answers (the package simulation of os-02, the listening sockets); facts of the
SSH server stay per sshd listener and ``sshd_config`` setting; a not-applicable or error answer
keeps the entry's own name.  Counted, not timed: a script that appends a line per execution.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.targets.hosts import HostTarget, parse_identity
from pytest_deploycheck.targets.reach import Reachability
from tests.servers.base import Instance

CATALOG = '''
import pytest
from pytest_deploycheck import require, not_applicable
from pytest_deploycheck.targets import host_facts as hostfacts

pytestmark = pytest.mark.section("mach", "Machine")

COUNTED = 'echo run >> "$1"; echo simulated'

@pytest.mark.check("mach-01", "Simulation", severity="high")
def test_simulation(host, evidence):
    """Runs the counted script."""
    out = hostfacts.sh(host, COUNTED, {counter!r}).stdout.strip()
    evidence.record(out=out)
    require(out == "simulated", host, out, "simulated")

@pytest.mark.check("mach-02", "Simulation again", severity="high")
def test_simulation_again(host):
    """Asks the same question: the first answer."""
    require(hostfacts.sh(host, COUNTED, {counter!r}).stdout.strip() == "simulated", host, "?", "simulated")

@pytest.mark.check("mach-03", "Server fact", severity="medium")
def test_server_fact(host):
    """A fact of the SSH server: kept per listener and sshd_config setting."""
    value = host.memo("sshd-fact", lambda: host.run("echo x >> %s; echo y", {sshd_counter!r}).stdout.strip())
    require(value == "y", host, value, "y")

@pytest.mark.check("mach-04", "Not applicable", severity="low")
def test_named(host):
    """A not-applicable answer names its own entry."""
    def compute():
        not_applicable(f"{{host.name}}: nothing here")
    host.memo("nothing", compute)

@pytest.mark.check("mach-05", "Logins", severity="low")
def test_logins(host):
    """Several commands, one login."""
    for n in range(3):
        require(host.run("echo %s", str(n)).stdout.strip() == str(n), host, "?", str(n))
'''

MESSAGES = '''
import json

def pytest_deploycheck_summary(config, summary):
    with open("results.json", "w") as fh:
        json.dump([[r.check_id, r.target, r.outcome.value, r.message] for r in summary.results], fh)
'''


def write_catalog(pytester: pytest.Pytester) -> tuple[Path, Path]:
    counter, sshd_counter = pytester.path / "counter.txt", pytester.path / "sshd-counter.txt"
    pytester.makepyfile(test_catalog=CATALOG.format(counter=str(counter), sshd_counter=str(sshd_counter)))
    pytester.makeconftest(MESSAGES)
    return counter, sshd_counter


def results(pytester: pytest.Pytester) -> list[list[str]]:
    return json.loads((pytester.path / "results.json").read_text())  # type: ignore[no-any-return]


def test_entries_of_one_machine_share_its_answers(pytester: pytest.Pytester) -> None:
    counter, sshd_counter = write_catalog(pytester)
    (pytester.path / "inv.yml").write_text("hosts:\n  a: {backend: 'local://'}\n  b: {backend: 'local://'}\n"
                                           "  c: {backend: 'local://', sshd_config: /etc/ssh/other_config}\n")
    pytester.inline_run("--inventory=inv.yml", "-p", "no:cacheprovider")
    rows = results(pytester)
    assert {(c, t, o) for c, t, o, _ in rows if c in ("mach-01", "mach-02", "mach-03")} == {
        (c, t, "passed") for c in ("mach-01", "mach-02", "mach-03") for t in "abc"}
    assert counter.read_text().splitlines() == ["run"]  # three entries, two checks each: one execution
    assert len(sshd_counter.read_text().splitlines()) == 2  # a and b share the sshd fact; c names another file
    messages = {t: m for c, t, _, m in rows if c == "mach-04"}
    assert messages == {t: f"{t}: nothing here" for t in "abc"}


def test_one_login_per_host_under_xdist(pytester: pytest.Pytester, sshd_hardened: Instance) -> None:
    pytest.importorskip("xdist")
    counter, _ = write_catalog(pytester)
    inventory = {"hosts": {name: dict(sshd_hardened.entry) for name in ("web1", "web1-alias")}}
    (pytester.path / "inv.yml").write_text(json.dumps(inventory))
    assert sshd_hardened.server is not None
    log = sshd_hardened.server.log
    before = log.stat().st_size
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "-n", "2", "-p", "no:benchmark", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()[-3000:]
    with open(log, "rb") as fh:
        fh.seek(before)
        logins = [line for line in fh.read().decode(errors="replace").splitlines() if "Accepted publickey" in line]
    # Each entry's checks ran on one worker over one ControlMaster: one login each, whatever the commands.
    assert len(logins) == 2, logins
    # The two entries reach one machine as root: the counted script ran once for both.
    assert counter.read_text().splitlines() == ["run"]


def test_the_machine_identity() -> None:
    text = "machine\tabc\nboot\tb00t\nname\tweb1\nuid\t0\nssh\t10.0.0.5 51000 10.0.0.9 22\n"
    identity = parse_identity(text, "ssh://root@web1")
    assert identity.key == "abc/b00t/web1 uid=0"
    assert identity.connection == "10.0.0.9 22"
    # No machine id to read (a non-Linux backend): the address the entry reaches, without the login.
    fallback = parse_identity("machine\t\nboot\t\nname\tx\nuid\t1000\nssh\t\n", "ssh://deploy@db1:2222")
    assert fallback.key == "backend ssh://db1:2222 uid=1000" and fallback.connection == ""


def test_a_machines_facts_are_read_at_once_each_fact_once(tmp_path: Path) -> None:
    """``host.memo``: two entries of one machine asking for one fact at once get one computation;
    two different facts are computed at the same time (a slow one does not hold up the others)."""
    (tmp_path / "inv.yml").write_text("hosts:\n  a: {backend: 'local://'}\n  b: {backend: 'local://'}\n")
    inventory = load_inventory(tmp_path / "inv.yml")
    reach = Reachability()
    a, b = (HostTarget(inventory.get("hosts", name), reach) for name in ("a", "b"))
    other_started, computed = threading.Event(), []

    def slow() -> str:
        computed.append("slow")
        return "slow, beside the other" if other_started.wait(10) else "slow, alone"

    def other() -> str:
        other_started.set()
        computed.append("other")
        return "other"

    with ThreadPoolExecutor(max_workers=3) as pool:
        first, second = pool.submit(a.memo, "slow", slow), pool.submit(b.memo, "slow", slow)
        while "slow" not in computed:
            time.sleep(0.01)
        assert pool.submit(a.memo, "other", other).result(timeout=10) == "other"
        assert first.result(timeout=10) == second.result(timeout=10) == "slow, beside the other"
    assert computed == ["slow", "other"]
