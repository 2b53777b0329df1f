"""Serial and ``-n 2`` runs of the TLS and HTTP sections write the same report, and under xdist a
target's items stay on one worker.

The serial run reads ahead, for every endpoint at once before the first check, its certificate
chain and what its checks declare (``@read_ahead``: ClientHello answers, the front page); the
xdist run reads each as a worker's check needs it.  Outcomes, messages, evidence and the
verdict must not tell the two apart: the JSON reports are compared whole, minus times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck import distribution
from tests.servers.base import Instance
from tests.servers.inventory import CHECKS, REPO, environment, secrets_env, write_inventory

#: Which worker ran each item (read on the controller, from the report's node).
WORKERS = '''
import json

RAN = {}

def pytest_runtest_logreport(report):
    node = getattr(report, "node", None)
    if report.when == "call" and node is not None:
        RAN[report.nodeid] = node.workerinput["workerid"]

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        with open("workers.json", "w") as fh:
            json.dump(RAN, fh)
'''

#: At the first check of each target: its handle's facts read ahead (the run waits for them).
PREFETCHED = '''
import json
from pytest_deploycheck.state import STATE_KEY

READY = {"chains": [], "probes": {}, "pages": []}

def pytest_runtest_setup(item):
    if hasattr(item.config, "workerinput"):
        return
    pool = item.config.stash[STATE_KEY].pool
    fixture, (kind, name) = next(((f, p) for f, p in item.callspec.params.items() if f in ("tls_endpoint", "http_endpoint")))
    handle = pool._handles.get((fixture, kind, name))
    if fixture == "tls_endpoint" and name not in READY["probes"]:
        READY["probes"][name] = sorted({str(key[0]) for key in getattr(handle, "_remembered", {})}) if handle else []
        if handle is not None and handle._certificates:
            READY["chains"].append(name)
    if fixture == "http_endpoint" and handle is not None and handle.remembered(("page", "/")) and name not in READY["pages"]:
        READY["pages"].append(name)

def pytest_unconfigure(config):
    if READY["probes"]:  # the serial run (under xdist the checks ran on the workers)
        with open("prefetched.json", "w") as fh:
            json.dump(READY, fh)
'''


def comparable(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    for key in ("started", "finished", "duration"):
        doc["run"].pop(key, None)
    for row in doc["results"]:
        row.pop("duration", None)
    return doc  # type: ignore[no-any-return]


def test_serial_and_xdist_reports_are_identical(pytester: pytest.Pytester, nginx_sites: dict[str, Instance]) -> None:
    pytest.importorskip("xdist")
    sites = [nginx_sites[name] for name in ("good", "expired_cert", "wrong_host", "insecure", "legacy_tls")]
    inventory = write_inventory(pytester.path / "inv.yml", sites, name="parity")
    # A plugin module, not a conftest: the checks are collected from the catalog folder, not from here.
    pytester.makepyfile(parity_recorder=WORKERS + PREFETCHED)
    base = [str(CHECKS / "test_tls.py"), str(CHECKS / "test_http_security.py"), f"--inventory={inventory}", f"--rootdir={REPO}",
            "-p", "no:benchmark", "-p", "no:cacheprovider", "-p", "parity_recorder"]
    with environment({**secrets_env(sites), "PYTHONPATH": str(pytester.path)}):
        serial = pytester.runpytest_subprocess(*base, f"--deploycheck-json={pytester.path / 'serial.json'}")
        parallel = pytester.runpytest_subprocess(*base, "-n", "2", f"--deploycheck-json={pytester.path / 'xdist.json'}")
    assert serial.ret == parallel.ret
    one, two = comparable(pytester.path / "serial.json"), comparable(pytester.path / "xdist.json")
    assert [r["outcome"] for r in one["results"]].count("failed") > 0  # the defective sites fail something
    assert one == two
    # The serial run had, at each site's first check, its chain, the ClientHello answers and
    # handshakes its TLS checks declare (``@read_ahead``, tls-01's verifying handshake among them)
    # and the front page its header checks share.
    ready = json.loads((pytester.path / "prefetched.json").read_text())
    assert sorted(ready["chains"]) == sorted(s.name for s in sites)
    assert all(set(probes) == {"chain-verification", "offers", "probe"} for probes in ready["probes"].values()), ready["probes"]
    assert sorted(ready["pages"]) == sorted(s.name for s in sites)
    # Under -n 2 every site's checks ran on one worker, and both workers had work.
    ran = json.loads((pytester.path / "workers.json").read_text())
    by_target: dict[str, set[str]] = {}
    for row in two["results"]:
        if row["target"] and row["nodeid"] in ran:
            by_target.setdefault(row["target"], set()).add(ran[row["nodeid"]])
    assert set(by_target) == {s.name for s in sites}
    assert all(len(workers) == 1 for workers in by_target.values()), by_target
    assert len(set(ran.values())) == 2


def test_an_explicit_dist_is_honoured(pytester: pytest.Pytester) -> None:
    """``--dist load`` given by the user: items are balanced one by one, as xdist does."""
    pytest.importorskip("xdist")
    pytester.makepyfile(test_catalog='''
import pytest
from pytest_deploycheck import require
pytestmark = pytest.mark.section("d", "Dist")

@pytest.mark.parametrize("n", range(40))
@pytest.mark.check("dist-01", "Many", severity="high")
def test_many(files, n):
    """Passes."""
    require(files.path.exists(), files, "missing", "present")
''')
    pytester.makeconftest(WORKERS)
    (pytester.path / "inv.yml").write_text("files:\n  only: {path: .}\n")
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "-n", "2", "--dist", "load", "-p", "no:benchmark")
    assert result.ret == 0
    assert len(set(json.loads((pytester.path / "workers.json").read_text()).values())) == 2
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "-n", "2", "-p", "no:benchmark")
    assert result.ret == 0
    assert len(set(json.loads((pytester.path / "workers.json").read_text()).values())) == 1  # one target: one worker


#: One passing check of a ``files`` target: a go-live run with as little as possible in it.
ONE_CHECK = '''
import pytest
from pytest_deploycheck import require
pytestmark = pytest.mark.section("d", "Dist")

@pytest.mark.check("dist-01", "One", severity="high")
def test_one(files):
    """Passes."""
    require(files.path.exists(), files, "missing", "present")
'''


def test_n_auto_keeps_a_go_live_run_on_two_cpus_in_one_process(pytester: pytest.Pytester) -> None:
    """On fewer than 3 usable CPUs (here: the test run pinned to one) ``-n auto`` starts no worker
    for a go-live run and says so in the header; ``PYTEST_XDIST_AUTO_NUM_WORKERS`` and a project's
    own tests (no inventory) get xdist's count, and ``-n 2`` starts two."""
    pytest.importorskip("xdist")
    pytester.makepyfile(test_catalog=ONE_CHECK)
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    (pytester.path / "inv.yml").write_text("files:\n  only: {path: .}\n")

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        pinned = "import os, sys, pytest; os.sched_setaffinity(0, {0}); sys.exit(pytest.main(sys.argv[1:]))"
        return subprocess.run([sys.executable, "-c", pinned, "-p", "no:benchmark", "-p", "no:cacheprovider", *args],
                              cwd=pytester.path, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env})

    one = run("--inventory=inv.yml", "-n", "auto", "test_catalog.py")
    assert one.returncode == 0, one.stdout
    assert "deploycheck: -n auto: one process on 1 CPU(s) (workers start from 3 CPUs" in one.stdout
    assert "created:" not in one.stdout and "[gw0]" not in one.stdout
    told = run("--inventory=inv.yml", "-n", "auto", "test_catalog.py", PYTEST_XDIST_AUTO_NUM_WORKERS="2")
    assert told.returncode == 0 and "2 workers" in told.stdout and "-n auto: one process" not in told.stdout, told.stdout
    given = run("--inventory=inv.yml", "-n", "2", "test_catalog.py")
    assert given.returncode == 0 and "2 workers" in given.stdout, given.stdout
    own = run("-n", "auto", "test_own.py")
    assert own.returncode == 0 and "created:" in own.stdout and "-n auto: one process" not in own.stdout, own.stdout  # xdist's own count


@pytest.mark.parametrize(("quota", "period", "cpus"), [
    ("200000 100000\n", None, 2), ("150000 100000", None, 2), ("50000 100000", None, 1), ("max 100000\n", None, None),
    ("-1\n", "100000\n", None), ("400000\n", "100000\n", 4), ("", None, None), ("garbage", None, None), (None, None, None),
])
def test_a_cgroup_cpu_quota_bounds_the_usable_cpus(quota: str | None, period: str | None, cpus: int | None) -> None:
    """cgroup v2 ``cpu.max`` and v1 ``cfs_quota_us``/``cfs_period_us`` as a container reads them:
    ``docker --cpus=1.5`` or a CI pod's CPU limit of 1500m allows 2 CPUs' worth of workers."""
    assert distribution.quota_cpus(quota, period) == cpus


def test_usable_cpus_on_this_machine_are_its_affinity_or_less() -> None:
    assert 1 <= distribution.usable_cpus() <= len(os.sched_getaffinity(0))


def _cpu_cgroup(cpus: int) -> Path | None:
    """A real cgroup whose CPU quota is ``cpus`` CPUs (v1, or v2 with the cpu controller), or None
    where this machine does not let the tests make one (not root, a read-only cgroup tree)."""
    name = f"deploycheck-test-{os.getpid()}"
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    try:
        if (v1 / "cpu.cfs_quota_us").exists():
            folder = v1 / name
            folder.mkdir()
            (folder / "cpu.cfs_period_us").write_text("100000")
            (folder / "cpu.cfs_quota_us").write_text(str(cpus * 100000))
            return folder
        if "cpu" in (v2 / "cgroup.subtree_control").read_text().split():
            folder = v2 / name
            folder.mkdir()
            (folder / "cpu.max").write_text(f"{cpus * 100000} 100000")
            return folder
    except OSError:
        return None
    return None


def test_n_auto_counts_a_real_cgroup_cpu_quota(pytester: pytest.Pytester) -> None:
    """A run in a cgroup limited to one CPU (as in a container with ``--cpus=1``) on a machine
    with more: ``-n auto`` keeps it in one process and names the one CPU."""
    pytest.importorskip("xdist")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("this machine has one CPU: a one-CPU quota changes nothing")
    folder = _cpu_cgroup(1)
    if folder is None:
        pytest.skip("cannot make a cgroup with a CPU quota here (needs root and a writable cgroup tree)")
    try:
        (pytester.path / "inv.yml").write_text("files:\n  only: {path: .}\n")
        pytester.makepyfile(test_catalog=ONE_CHECK)
        # The shell joins the cgroup, then becomes the run.
        run = subprocess.run(["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(folder / "cgroup.procs"), sys.executable, "-m", "pytest",
                              "-p", "no:benchmark", "-p", "no:cacheprovider", "--inventory=inv.yml", "-n", "auto", "test_catalog.py"],
                             cwd=pytester.path, capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "deploycheck: -n auto: one process on 1 CPU(s)" in run.stdout, run.stdout
    finally:
        folder.rmdir()


def test_a_worker_that_runs_out_takes_the_targets_another_has_not_started(pytester: pytest.Pytester) -> None:
    """One slow target must not hold the targets queued behind it on its worker.  ``early`` is
    handed out first, with others queued behind it on the same worker; its first check waits
    until every other target's first check has run, which happens only when the other worker,
    having run out, takes those over (xdist's ``steal``).  Without that it gives up: failed."""
    pytest.importorskip("xdist")
    later = [f"later{i:02d}" for i in range(12)]
    pytester.makepyfile(test_catalog=f'''
import os, time
import pytest
from pytest_deploycheck import require
pytestmark = pytest.mark.section("st", "Stealing")
OTHERS = {len(later)}

@pytest.mark.check("st-01", "Gate", severity="high")
def test_gate(files):
    """The slow target waits for the others."""
    os.makedirs("done", exist_ok=True)
    if files.name != "early":
        open(os.path.join("done", files.name), "w").close()
        return
    deadline = time.monotonic() + 30
    while len(os.listdir("done")) < OTHERS and time.monotonic() < deadline:
        time.sleep(0.02)
    require(len(os.listdir("done")) == OTHERS, files, f"{{len(os.listdir('done'))}} others done", f"all {{OTHERS}}")

@pytest.mark.check("st-02", "Second", severity="high")
def test_second(files):
    """Passes."""

@pytest.mark.check("st-03", "Third", severity="high")
def test_third(files):
    """Passes."""
''')
    pytester.makeconftest(WORKERS)
    (pytester.path / "inv.yml").write_text("files:\n" + "".join(f"  {name}: {{path: .}}\n" for name in ["early", *later]))
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "-n", "2", "-p", "no:benchmark", "--deploycheck-catalog=none")
    assert result.ret == 0, result.stdout.str()
    ran = json.loads((pytester.path / "workers.json").read_text())
    assert len({w for nodeid, w in ran.items() if nodeid.endswith("[early]")}) == 1  # a target stays on one worker
    assert len(ran) == 3 * 13
