"""Reports on every path: a SIGTERM while the catalog is collected, a second Ctrl-C while the
reports are written, a verdict or summary hook that raises.  Each run still writes every
report, with NO-GO, and says what happened; none ends in a traceback.

The signal cases are real subprocesses; the test waits for a marker file the run writes at
the right moment (never for a time), then signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.report_helpers import Reports, start_interruptible, write_catalog


def start(reports: Reports, *extra: str) -> subprocess.Popen[str]:
    return start_interruptible(reports, *extra)


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    for _ in range(1200):  # a bound on polls, not a time assertion
        if path.exists():
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {path.name} appeared:\n{proc.communicate()[0][-3000:]}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    out = proc.communicate()[0]  # reaped: no process or pipe left for a later test's garbage collection
    pytest.fail(f"{path.name} never appeared:\n{out[-3000:]}")


def finish(proc: subprocess.Popen[str]) -> str:
    try:
        return proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def assert_every_report_no_go(reports: Reports, out: str) -> None:
    assert "Traceback" not in out and "INTERNALERROR" not in out, out[-4000:]
    doc = reports.json()
    assert doc["verdict"]["level"] == "NO-GO"
    assert reports.xml_path.is_file() and "deploycheck.verdict" in reports.xml()
    assert reports.md().startswith("# Go-live checklist")
    html = reports.html()
    assert 'class="dc-level">NO-GO' in html and html.rstrip().endswith("</html>")


SLOW_IMPORT = '''
import pathlib
import time

import pytest

pathlib.Path("collecting").write_text("yes")
time.sleep(60)  # still collecting when SIGTERM arrives


@pytest.mark.check("late-01", "Never collected", severity="high")
def test_late(host):
    """Collected only after the sleep."""
'''


def test_sigterm_during_collection_writes_every_report(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, conftest="")
    pytester.makepyfile(test_slow_import=SLOW_IMPORT)
    proc = start(reports)
    wait_for(reports.root / "collecting", proc)
    proc.send_signal(signal.SIGTERM)
    out = finish(proc)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    assert_every_report_no_go(reports, out)
    doc = reports.json()
    assert doc["verdict"]["rule"].startswith("NO-GO: the run was interrupted (SIGTERM received)")
    assert "VERDICT: NO-GO" in out


SLOW_WRITER = '''
import pathlib
import time

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_deploycheck_summary(config, summary):
    pathlib.Path("writing").write_text("yes")  # the reports are being written now: Ctrl-C again
    for _ in range(40):
        time.sleep(0.05)
'''

SLEEPER = '''
import pathlib
import time

import pytest


@pytest.mark.check("slow-01", "Sleeps", severity="high")
def test_sleeps(host):
    """Still running when the first Ctrl-C arrives."""
    pathlib.Path("sleeping").write_text("yes")
    time.sleep(60)
'''


def test_second_ctrl_c_while_reports_are_written(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, catalog=SLEEPER, conftest=SLOW_WRITER)
    proc = start(reports)
    wait_for(reports.root / "sleeping", proc)
    proc.send_signal(signal.SIGINT)
    wait_for(reports.root / "writing", proc)
    proc.send_signal(signal.SIGINT)
    out = finish(proc)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    assert_every_report_no_go(reports, out)
    assert "deploycheck: Ctrl-C (SIGINT) received while the reports were written; they were finished first" in out
    assert reports.json()["verdict"]["rule"].startswith("NO-GO: the run was interrupted (Ctrl-C (SIGINT))")


@pytest.mark.parametrize("hook", ["pytest_deploycheck_verdict", "pytest_deploycheck_summary"])
def test_a_raising_hook_still_writes_every_report(pytester: pytest.Pytester, hook: str) -> None:
    conftest = f'''
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def {hook}(config, summary):
            raise ValueError("house policy exploded")
    '''
    reports = write_catalog(pytester, conftest=conftest)
    result = pytester.runpytest_subprocess(*reports.args())
    out = result.stdout.str() + result.stderr.str()
    assert_every_report_no_go(reports, out)
    doc = reports.json()
    incident = f"the {hook} hook raised ValueError: house policy exploded"
    assert incident in doc["incidents"] and incident in doc["verdict"]["rule"]
    assert f"deploycheck: {incident}" in out and "VERDICT: NO-GO" in out
    assert incident in reports.html()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
