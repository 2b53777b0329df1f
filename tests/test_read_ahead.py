"""What checks declare with ``@read_ahead`` is read for every target at once, before each
target's first check, and reading ahead changes nothing a report says.

Behaviour, not wall time: the reads of different targets are in flight together (a barrier that
opens only when all of them are), every reader runs once per target and has finished before its
target's first check, a read that finds the target unusable is reported by that target's first
check as its own, and a read going on while another target's check runs records nothing in that
check's evidence.  ``tests/test_speed_xdist.py`` compares whole reports of the real catalog with
and without reading ahead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TARGETS = ("a", "b", "c", "d")

CHECKS = '''
import threading
import pytest
from pytest_deploycheck import read_ahead, require

pytestmark = pytest.mark.section("ra", "Read ahead")

BARRIER = threading.Barrier(%(targets)d, timeout=10)
READS = {}

def together(files):
    READS.setdefault(files.name, []).append("start")
    try:
        BARRIER.wait()
        READS[files.name].append("together")
    except threading.BrokenBarrierError:
        READS[files.name].append("alone")
    READS[files.name].append("done")

@pytest.mark.check("ra-01", "Reads ahead", severity="high")
@read_ahead(together)
def test_reads(files, evidence):
    """Its reader ran once, with the other targets' readers, before this check."""
    evidence.record(reads=READS.get(files.name))
    require(READS.get(files.name) == ["start", "together", "done"], files, str(READS.get(files.name)), "read once, together")
'''

EVIDENCE = '''
import threading
import pytest
from pytest_deploycheck import read_ahead
from pytest_deploycheck.outcomes import note_transport

pytestmark = pytest.mark.section("ra", "Read ahead")

CHECK_A_RUNNING = threading.Event()
NOTED = threading.Event()

def during_check_a(files):
    # Target d's read waits until target a's check is running, then notes something.
    if files.name == "d":
        CHECK_A_RUNNING.wait(timeout=10)
        note_transport("noted while reading ahead for d")
        NOTED.set()

@pytest.mark.check("ra-02", "Evidence stays its own", severity="high")
@read_ahead(during_check_a)
def test_evidence(files, evidence):
    """Target a's check runs while d is read ahead; nothing d's read says lands here."""
    if files.name == "a":
        CHECK_A_RUNNING.set()
        NOTED.wait(timeout=10)
    evidence.record(target=files.name)
'''

DEAD = '''
import pytest
from pytest_deploycheck import TargetUnreachable, read_ahead

pytestmark = pytest.mark.section("ra", "Read ahead")

def unusable(files):
    if files.name == "b":
        files.reach.mark(files.target, "the read ahead found b unusable")
        raise TargetUnreachable(f"{files.label}: the read ahead found b unusable")

@pytest.mark.check("ra-03", "First", severity="high")
@read_ahead(unusable)
def test_first(files):
    """Reads b."""

@pytest.mark.check("ra-04", "Second", severity="high")
def test_second(files):
    """Reads b again."""
'''

BESIDE = '''
import threading
import pytest
from pytest_deploycheck import read_ahead, require

pytestmark = pytest.mark.section("ra", "Read ahead")

QUICK_RAN = threading.Event()

def slow(host):
    host.memo("slow", lambda: "read beside the quick check" if QUICK_RAN.wait(10) else "read alone")

@pytest.mark.check("ra-05", "Quick", severity="high")
def test_quick(host):
    """Declares no read: runs while the host's slow read is still going on."""
    QUICK_RAN.set()

@pytest.mark.check("ra-06", "Slow", severity="high")
@read_ahead(slow)
def test_slow(host, evidence):
    """Waits for its own read, and finds its answer."""
    value = host.memo("slow", lambda: "read by the check")
    evidence.record(value=value)
    require(value == "read beside the quick check", host, value, "read ahead, beside the quick check")
'''


def _inventory(path: Path) -> str:
    (path / "inv.yml").write_text("files:\n" + "".join(f"  {name}: {{path: .}}\n" for name in TARGETS))
    return "--inventory=inv.yml"


def _results(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    doc = json.loads((path / "report.json").read_text())
    return {(row["id"], row["target"]): row for row in doc["results"]}


def test_reads_of_different_targets_are_in_flight_together_before_their_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ra=CHECKS % {"targets": len(TARGETS)})
    result = pytester.runpytest_subprocess(_inventory(pytester.path), "--deploycheck-catalog=none", "--deploycheck-json=report.json")
    rows = _results(pytester.path)
    for name in TARGETS:
        assert rows[("ra-01", name)]["outcome"] == "passed", rows[("ra-01", name)]
    assert result.ret == 0


def test_a_read_ahead_records_nothing_on_the_check_running_meanwhile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ra=EVIDENCE)
    pytester.runpytest_subprocess(_inventory(pytester.path), "--deploycheck-catalog=none", "--deploycheck-json=report.json")
    rows = _results(pytester.path)
    assert rows[("ra-02", "a")]["outcome"] == "passed"
    for name in TARGETS:
        assert "transport" not in rows[("ra-02", name)]["evidence"], rows[("ra-02", name)]


def test_a_read_that_finds_the_target_unusable_is_its_first_checks_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ra=DEAD)
    pytester.runpytest_subprocess(_inventory(pytester.path), "--deploycheck-catalog=none", "--deploycheck-json=report.json")
    rows = _results(pytester.path)
    first, second = rows[("ra-03", "b")], rows[("ra-04", "b")]
    assert first["outcome"] == "error" and "the read ahead found b unusable" in str(first["message"]), first
    assert second["outcome"] == "error", second
    assert "not checked, target unusable since an earlier check: the read ahead found b unusable" in str(second["message"]), second
    assert all(rows[(check, name)]["outcome"] == "passed" for check in ("ra-03", "ra-04") for name in TARGETS if name != "b")


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_hosts_checks_wait_only_for_the_reads_they_declare(pytester: pytest.Pytester, xdist: list[str]) -> None:
    """Hosts reached by a process per command (here local://) are read beside their checks: a
    check that declares no read does not wait for the host's slow one (the package-update
    simulation), and the check that declares it waits for it and finds its answer."""
    pytester.makepyfile(test_ra=BESIDE)
    (pytester.path / "inv.yml").write_text("hosts:\n  box: {backend: 'local://'}\n")
    pytester.runpytest_subprocess("--inventory=inv.yml", "--deploycheck-catalog=none", "--deploycheck-json=report.json", *xdist)
    rows = _results(pytester.path)
    assert rows[("ra-05", "box")]["outcome"] == "passed", rows
    assert rows[("ra-06", "box")]["outcome"] == "passed", rows[("ra-06", "box")]
    assert rows[("ra-06", "box")]["evidence"]["value"] == "read beside the quick check"
