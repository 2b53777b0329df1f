"""Under pytest-xdist the verdict and the counts are those of a serial run."""

from __future__ import annotations

import json

import pytest

#: Checks whose outcomes do not depend on how the run is split (test_shard_merge runs them too).
FIXED_CHECKS = '''
@pytest.mark.check("par-02", "Critical", severity="critical")
def test_critical(host):
    """Fails on b."""
    require(host.name != "b", host, "b", "not b")

@pytest.mark.check("par-03", "Manual", severity="high")
@pytest.mark.manual(instructions="sign")
def test_manual():
    """Pending."""

@pytest.mark.check("par-04", "No PG", severity="low")
def test_pg(postgres):
    """n/a."""
'''

CATALOG = '''
import pytest
from pytest_deploycheck import require, not_applicable
pytestmark = pytest.mark.section("par", "Parity")

@pytest.mark.parametrize("n", range(6))
@pytest.mark.check("par-01", "Mixed", severity="medium")
def test_mixed(host, n):
    """Mixed outcomes."""
    if n % 3 == 1:
        not_applicable("odd one")
    require(n % 3 != 2, host, f"n={n}", "not 2 mod 3")
''' + FIXED_CHECKS

DUMP = '''
import json

def pytest_deploycheck_summary(config, summary):
    rows = sorted([r.nodeid, r.check_id, r.target, r.outcome.value, r.message] for r in summary.results)
    with open("summary.json", "w") as fh:
        json.dump({"rows": rows, "verdict": summary.verdict.level.value, "rule": summary.verdict.rule,
                   "exit": summary.exit_status}, fh)
'''


def run(pytester: pytest.Pytester, *args: str) -> tuple[dict[str, object], str]:
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "-p", "no:benchmark", *args)
    data = json.loads((pytester.path / "summary.json").read_text())
    closing = result.stdout.lines[-1].strip("= ").rsplit(" in ", 1)[0]
    assert result.ret == data["exit"]
    return data, closing


def test_serial_and_parallel_runs_decide_alike(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_catalog=CATALOG)
    pytester.makeconftest(DUMP)
    (pytester.path / "inv.yml").write_text("hosts:\n  a: {backend: 'local://'}\n  b: {backend: 'local://'}\n")
    serial, serial_line = run(pytester)
    parallel, parallel_line = run(pytester, "-n", "2")
    assert serial == parallel
    assert sorted(serial_line.split(", ")) == sorted(parallel_line.split(", "))
    assert serial["verdict"] == "NO-GO" and serial["exit"] == 1


def test_a_run_xdist_stops_itself_says_why_not_ctrl_c(pytester: pytest.Pytester) -> None:
    """``-x`` under xdist ends the run with xdist's own ``Interrupted``: the verdict names it,
    not a Ctrl-C nobody pressed."""
    pytest.importorskip("xdist")
    pytester.makepyfile(test_catalog=CATALOG)
    pytester.makeconftest(DUMP)
    (pytester.path / "inv.yml").write_text("hosts:\n  a: {backend: 'local://'}\n  b: {backend: 'local://'}\n")
    data, _ = run(pytester, "-n", "2", "-x")
    assert data["verdict"] == "NO-GO"
    assert "stopping after 1 failures" in str(data["rule"]) and "Ctrl-C" not in str(data["rule"])
