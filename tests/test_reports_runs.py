"""Reports are written no matter how the run ends, and never carry a secret.

Interrupted runs are real subprocesses stopped by a signal while a check sleeps; the secret is a
canary the inventory takes from the environment, which checks then try hard to print.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from pytest_deploycheck.reports.common import write_atomic
from tests.report_helpers import CANARY, Reports, start_interruptible, write_catalog

SCHEMAS = Path(__file__).parent / "schemas"

SLOW_CATALOG = '''
import pathlib
import time

import pytest

pytestmark = pytest.mark.section("slow", "Slow section")


@pytest.mark.check("slow-01", "Quick", severity="high")
def test_quick(host):
    """Done before the signal."""


@pytest.mark.check("slow-02", "Sleeps", severity="high")
def test_sleeps(host):
    """Still running when the signal arrives."""
    pathlib.Path("sleeping").write_text("yes")
    time.sleep(60)


@pytest.mark.check("slow-03", "Quick too", severity="low")
def test_quick_too(host):
    """Runs after the sleeper when serial; on the other worker under xdist."""
'''

LEAKY_CATALOG = '''
import logging
import sys

import pytest
from pytest_deploycheck import fail, not_applicable

pytestmark = pytest.mark.section("leak", "Secrets")


def secret_of(inventory):
    return inventory.get("http", "web").get("auth")["password"]


@pytest.mark.check("leak-01", "Assert with the secret", severity="high")
def test_assert(host, inventory, evidence):
    """Every channel at once."""
    secret = secret_of(inventory)
    local_copy = f"prefix-{secret}-suffix"
    evidence.record(token=secret, nested={"list": [secret, {"deep": secret}]})
    print("stdout:", secret)
    sys.stderr.write(f"stderr: {secret}\\n")
    logging.getLogger("app").warning("log: %s", secret)
    assert local_copy == "x", f"message with {secret}"


@pytest.mark.check("leak-02", "Fail with the secret", severity="critical")
def test_fail(host, inventory):
    """Through fail()."""
    fail(host, f"password {secret_of(inventory)} accepted", "refused")


@pytest.mark.check("leak-03", "Crash with the secret", severity="medium")
def test_crash(host, inventory):
    """Through an unexpected exception."""
    raise RuntimeError(f"connect failed with {secret_of(inventory)!r}")


@pytest.mark.check("leak-04", "N/A with the secret", severity="low")
def test_na(host, inventory):
    """Through a skip reason."""
    not_applicable(f"no {secret_of(inventory)}")


@pytest.mark.check("leak-05", "Web with the secret", severity="high")
def test_web(http_endpoint):
    """The target holding the secret is unreachable: an error mentioning the target."""
    http_endpoint.get("/")
'''


def start(reports: Reports, *extra: str) -> subprocess.Popen[str]:
    return start_interruptible(reports, *extra)


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            out = proc.communicate()[0]  # reaped: no process or pipe left for a later test's garbage collection
            pytest.fail(f"the check never started:\n{out[-3000:]}")
        time.sleep(0.05)
    time.sleep(0.3)  # inside time.sleep() now


@pytest.mark.parametrize(("sig", "xdist", "group"), [
    pytest.param(signal.SIGTERM, False, False, id="sigterm-serial"),
    pytest.param(signal.SIGINT, False, False, id="ctrl-c-serial"),
    pytest.param(signal.SIGTERM, True, True, id="sigterm-xdist-process-group"),
])
def test_interrupted_run_writes_every_report(pytester: pytest.Pytester, sig: signal.Signals, xdist: bool, group: bool) -> None:
    reports = write_catalog(pytester, catalog=SLOW_CATALOG)
    proc = start(reports, *(["-n", "2"] if xdist else []))
    wait_for(reports.root / "sleeping", proc)
    if group:
        os.killpg(proc.pid, sig)  # a CI runner cancelling the job signals the whole process group
    else:
        proc.send_signal(sig)
    try:
        out = proc.communicate(timeout=90)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    assert "VERDICT: NO-GO" in out

    doc = reports.json()
    assert doc["run"]["interrupted"] is True
    assert doc["verdict"]["level"] == "NO-GO"
    assert doc["verdict"]["rule"].startswith("NO-GO: the run was interrupted")
    outcomes = {r["key"]: r["outcome"] for r in doc["results"]}
    assert outcomes["slow-01@alpha"] == outcomes["slow-01@beta"] == "passed"
    assert "not run" in outcomes.values()
    assert set(outcomes) == {f"slow-0{n}@{t}" for n in (1, 2, 3) for t in ("alpha", "beta")}
    assert all(outcomes[k] == "not run" for k in outcomes if k.startswith("slow-02"))

    xmlschema.XMLSchema(str(SCHEMAS / "junit-xunit2.xsd")).validate(str(reports.xml_path))
    not_run = [c.get("name") for c in ET.parse(reports.xml_path).getroot().iter("testcase")
               if any(s.get("type") == "deploycheck.not_run" for s in c.iter("skipped"))]
    assert len(not_run) == list(outcomes.values()).count("not run")
    md = reports.md()
    assert "**Verdict: NO-GO** — NO-GO: the run was interrupted" in md
    assert "- [ ] **slow-02** Sleeps *(high)* — met on 0 of 2 targets\n  - [ ] alpha: not run: `" in md
    html = reports.html()
    assert 'class="dc-verdict dc-nogo"><div class="dc-level">NO-GO</div>' in html
    assert html.rstrip().endswith("</html>")
    assert "Not run (" in html
    assert sorted(p.name for p in (reports.root / "out").iterdir()) == ["checklist.md", "junit.xml", "report.html", "report.json"]


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_secret_canary_never_leaves_the_process(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist: bool) -> None:
    monkeypatch.setenv("DC_CANARY", CANARY)
    reports = write_catalog(pytester, catalog=LEAKY_CATALOG)
    args = [*reports.args(), "-vv", "--tb=long", "--showlocals", "-rA", "-o", "log_cli=true", "-o", "junit_logging=all"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, *(["-n", "2"] if xdist else [])],
                          cwd=reports.root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout[-3000:]
    doc = reports.json()
    outcomes = {r["key"]: r["outcome"] for r in doc["results"]}
    assert outcomes["leak-01@alpha"] == "failed"
    assert outcomes["leak-03@alpha"] == "error"
    assert outcomes["leak-04@alpha"] == "n/a"
    leak01 = next(r for r in doc["results"] if r["key"] == "leak-01@alpha")
    assert leak01["evidence"] == {"token": "***", "nested": {"list": ["***", {"deep": "***"}]}}
    outputs = {**reports.all_text(), "stdout": proc.stdout, "stderr": proc.stderr}
    assert "local_copy" in proc.stdout
    assert "prefix-***-suffix" in proc.stdout
    for name, text in outputs.items():
        assert CANARY not in text, f"the secret leaked into {name}"
        assert CANARY[:20] not in text, f"part of the secret leaked into {name}"


RACING_CATALOG = '''
import logging, sys, threading
import pytest

pytestmark = pytest.mark.section("race", "Race")


@pytest.mark.check("race-01", "Writes while another thread logs", severity="high")
def test_writes(host):
    """A read-ahead thread that logs a warning while a check writes: pytest shows a live record by
    suspending its process-wide capture."""
    stop = threading.Event()

    def chatter():
        while not stop.is_set():
            logging.getLogger("background").warning("a warning from another thread")

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        for n in range(2000):
            sys.stderr.write(f"written-by-the-check-{n}\\n")
    finally:
        stop.set()
        thread.join()
'''


def test_live_logging_from_another_thread_lets_no_output_through(pytester: pytest.Pytester) -> None:
    """With log_cli, a record logged by another thread (a read ahead) while a check runs let the
    check's own output reach the terminal past capture and redaction (810 of 2,000 lines, before)."""
    reports = write_catalog(pytester, catalog=RACING_CATALOG)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *reports.args(), "-o", "log_cli=true",
                           "--deploycheck-catalog=none"], cwd=reports.root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert {r["key"] for r in reports.json()["results"]} == {"race-01@alpha", "race-01@beta"}
    assert "written-by-the-check" not in proc.stderr + proc.stdout


def test_write_atomic_never_leaves_half_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.json"
    target.write_text("the previous report", encoding="utf-8")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "x" * 100_000)
    assert target.read_text(encoding="utf-8") == "the previous report"
    assert list(tmp_path.iterdir()) == [target]


def test_a_report_path_that_cannot_be_written_is_a_usage_error_before_anything_runs(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    (reports.root / "blocked").write_text("a file where a folder should be", encoding="utf-8")
    result = pytester.runpytest(*reports.args(), f"--deploycheck-json={reports.root / 'blocked' / 'report.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "blocked is not a folder; give a path in a folder" in result.stderr.str()
    assert not reports.md_path.exists()  # nothing ran


BLOCK_LATER = '''
import pathlib
import shutil

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    result = yield
    shutil.rmtree("blocked")  # the folder was fine at the start; the disk fills up, say
    pathlib.Path("blocked").write_text("a file where a folder should be", encoding="utf-8")
    return result
'''


def test_a_report_that_cannot_be_written_does_not_hide_the_verdict(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, conftest=BLOCK_LATER)
    (reports.root / "blocked").mkdir()
    result = pytester.runpytest(*reports.args(), f"--deploycheck-json={reports.root / 'blocked' / 'report.json'}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*deploycheck: could not write the JSON report to *blocked/report.json*", "*VERDICT: NO-GO*"])
    assert "NO-GO" in reports.md()
    assert reports.xml_path.is_file()
    assert reports.html_path.is_file()
