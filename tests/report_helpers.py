"""A small inline catalog that reaches every outcome, and helpers to run it and read the reports.

No network: every check uses the local host (testinfra's ``local://``) except ``web-01``,
whose http target listens on a refused port (it ends as *error*).  A conftest answers the
attestation and waiver hooks, so ``demo-05`` is attested and ``demo-06`` is waived.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CANARY = "Canary-7f3a9c41-do-not-print"

INVENTORY = """
name: demo-env
hosts:
  alpha: {backend: "local://"}
  beta: {backend: "local://"}
http:
  web:
    url: "http://127.0.0.1:9/"
    auth: {username: "probe", password: "${DC_CANARY:-not-a-secret}"}
"""

CATALOG = '''
import pytest
from pytest_deploycheck import fail, not_applicable, require

pytestmark = pytest.mark.section("demo", "Demo section")


@pytest.mark.check("demo-01", "Always passes", severity="high", refs=("CIS 1.2.3", "dev-sec os-01"))
def test_pass(host, evidence):
    """Passes <always> & forever."""
    evidence.record(observed="ok", n=1)


@pytest.mark.check("demo-02", "Fails on beta", severity="critical")
def test_fail(host, evidence):
    """The rationale an auditor reads."""
    evidence.record(seen="<script>alert(1)</script>")
    require(host.label.startswith("alpha"), host, "observed <b>bold</b> & co", "something else")


@pytest.mark.check("demo-03", "Not here", severity="low")
def test_na(host):
    """Not applicable anywhere."""
    not_applicable("no such thing on <this> host")


@pytest.mark.check("demo-04", "A person signs", severity="high")
@pytest.mark.manual(instructions="Ask the SRE lead")
def test_manual(host):
    """A sign-off nobody gave yet."""


@pytest.mark.check("demo-05", "Rollback rehearsed", severity="medium")
@pytest.mark.manual(instructions="Rehearse the rollback")
def test_attested(host):
    """Attested in the conftest."""


@pytest.mark.check("demo-06", "Waived failure", severity="medium")
def test_waived(host):
    """Fails, but a waiver accepts it."""
    fail(host, "too old", "newer")


@pytest.mark.section("web", "Web")
@pytest.mark.check("web-01", "Web answers", severity="medium")
def test_web(http_endpoint):
    """The site answers."""
    http_endpoint.get("/")
'''

CONFTEST = '''
import pytest


def pytest_deploycheck_attestation(config, check, target):
    if check.id == "demo-05":
        return {"status": "valid", "by": "Ada <Lovelace>", "role": "SRE lead", "date": "2026-11-01",
                "evidence": "CHG-1234", "expires": "2027-02-01"}
    return None


def pytest_deploycheck_waiver(config, check, target, message):
    if check.id == "demo-06":
        return {"id": "W-7", "check": "demo-06", "target": target, "justification": "replaced next sprint",
                "approver": "Grace", "ticket": "OPS-42", "expires": "2027-01-31", "expiring_soon": False}
    return None


@pytest.hookimpl(tryfirst=True)  # after the governance modules filled summary.extra, before the writers
def pytest_deploycheck_summary(config, summary):
    summary.extra["waivers"] = [
        {"id": "W-7", "check": "demo-06", "target": "*", "justification": "replaced next sprint", "approver": "Grace",
         "ticket": "OPS-42", "expires": "2027-01-31", "status": "applied", "matched": ["alpha", "beta"]},
        {"id": "W-9", "check": "demo-99", "target": "*", "justification": "old <risk>", "approver": "Bob",
         "ticket": "OPS-1", "expires": "2027-01-01", "status": "stale", "matched": []},
    ]
'''


@dataclass
class Reports:
    root: Path

    @property
    def json_path(self) -> Path:
        return self.root / "out" / "report.json"

    @property
    def md_path(self) -> Path:
        return self.root / "out" / "checklist.md"

    @property
    def xml_path(self) -> Path:
        return self.root / "out" / "junit.xml"

    @property
    def html_path(self) -> Path:
        return self.root / "out" / "report.html"

    def args(self) -> list[str]:
        return [f"--inventory={self.root / 'inv.yml'}", f"--deploycheck-json={self.json_path}",
                f"--deploycheck-checklist-md={self.md_path}", f"--junitxml={self.xml_path}",
                f"--html={self.html_path}", "--self-contained-html"]

    def json(self) -> dict[str, Any]:
        return json.loads(self.json_path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def md(self) -> str:
        return self.md_path.read_text(encoding="utf-8")

    def xml(self) -> str:
        return self.xml_path.read_text(encoding="utf-8")

    def html(self) -> str:
        return self.html_path.read_text(encoding="utf-8")

    def all_text(self) -> dict[str, str]:
        paths = (self.json_path, self.md_path, self.xml_path, self.html_path)
        return {p.name: p.read_text(encoding="utf-8", errors="surrogateescape") for p in paths}


def write_catalog(pytester: pytest.Pytester, catalog: str = CATALOG, inventory: str = INVENTORY, conftest: str = CONFTEST,
                  ini: str = "") -> Reports:
    pytester.makepyfile(test_catalog=textwrap.dedent(catalog))
    pytester.makeconftest(textwrap.dedent(conftest))
    (pytester.path / "inv.yml").write_text(textwrap.dedent(inventory), encoding="utf-8")
    if ini:
        pytester.makeini(textwrap.dedent(ini))
    return Reports(pytester.path)


def outcome_of(doc: dict[str, Any], key: str) -> str:
    return next(r["outcome"] for r in doc["results"] if r["key"] == key)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse(html: Path, *, out: Path, fragment: str = "", screenshot: bool = False, height: int = 1400) -> str:
    """Open the page in headless Chromium: the DOM after its scripts ran (or "" for a screenshot)."""
    browser = chromium()
    if browser is None:
        # scripts/setup --test installs it: in CI a missing browser is a failure, never a silent skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="dc-chromium-")
    try:
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--virtual-time-budget=10000", f"--window-size=1400,{height}"]
        args += [f"--screenshot={out}"] if screenshot else ["--dump-dom"]
        done = subprocess.run([*args, html.as_uri() + fragment], capture_output=True, text=True, timeout=180, check=False)
        if screenshot:
            assert out.is_file(), done.stderr[-2000:]
            return ""
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def _sigint_reaches_children() -> Iterator[None]:
    """A process started while SIGINT is ignored passes the ignoring on, and a Python whose SIGINT
    is ignored at start has no KeyboardInterrupt: a test suite started as a background job by a
    non-interactive shell (``cmd &``, as some CI runners do) would see every simulated Ctrl-C
    vanish.  Around the start of a run that a test interrupts, SIGINT is back at its default."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_interruptible(reports: Reports, *extra: str) -> subprocess.Popen[str]:
    """A run in its own session, for a test to signal (Ctrl-C, SIGTERM) as a person or a CI runner would."""
    with _sigint_reaches_children():
        return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *reports.args(), *extra],
                                cwd=reports.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
