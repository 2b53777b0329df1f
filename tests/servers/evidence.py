"""Release evidence produced by the real tools, for the "Release evidence" checks.

``make_evidence`` writes a tiny sample project into a temporary directory, twice: a ``good``
copy (tests pass, coverage high, lint clean) and a ``bad`` one (a failing test, an untested
module that drags coverage down, an unused import that ruff flags).  It then runs the real tools
on each, as a CI job would, and collects their reports in ``good/`` and ``bad/``:

* pytest ``--junitxml`` under ``coverage run`` (the suite records the commit as a
  ``commit`` testsuite property, as ``record_testsuite_property`` does in a real pipeline);
* coverage.py ``xml`` (Cobertura), ``json`` and ``lcov``;
* ruff ``--output-format sarif``;
* ``cyclonedx-py`` (PyPI ``cyclonedx-bom``), describing sample-shop ``VERSION``: ``environment`` for the good copy, run on a small
  virtual environment holding the installed metadata of requests and its four dependencies (so
  the SBOM is the same whatever else the test venv holds; licences read from that metadata),
  ``requirements`` for the bad one (no licence known for any component);
* Locust headless (``--csv`` and ``--json-file``), 2 users for a few seconds, against a base URL
  -- ``/health`` for the good copy, a path that answers 404 for the bad one -- when one is given.

Nothing here talks to anything but 127.0.0.1.  pip-audit is left out: it needs an advisory
database it cannot reach offline (``tests/data/evidence`` holds the formats that cannot run here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.base import Instance, LauncherError

BIN = Path(sys.executable).parent
COMMIT = "3f1c2e4d5b6a79880123456789abcdef01234567"
#: The sample shop's version: the same as the sample app's /openapi.json ``info.version``, so the
#: good evidence is for the build the test bed runs.
VERSION = "1.0.0"

_PACKAGE = '''\
"""Prices for the sample shop."""


def total(prices: list[float], discount: float = 0.0) -> float:
    """Sum of prices less a fractional discount."""
    if not 0.0 <= discount < 1.0:
        raise ValueError("discount must be in [0, 1)")
    return round(sum(prices) * (1.0 - discount), 2)
'''

_UNTESTED = '''\
"""Refunds: shipped without a single test."""

import os


def refund(amount: float, reason: str) -> dict[str, object]:
    if amount <= 0:
        raise ValueError("nothing to refund")
    if reason == "damaged":
        return {"amount": amount, "restock": False}
    if reason == "late":
        return {"amount": round(amount * 0.5, 2), "restock": True}
    return {"amount": 0.0, "restock": True}
'''

_TESTS = """\
import pytest

from shop.prices import total


@pytest.fixture(scope="session", autouse=True)
def _commit(record_testsuite_property):
    record_testsuite_property("commit", "{commit}")


def test_total():
    assert total([1.0, 2.5]) == 3.5


def test_discount():
    assert total([10.0], discount=0.25) == 7.5


def test_bad_discount():
    with pytest.raises(ValueError):
        total([1.0], discount=1.5)
"""

_FAILING_TEST = """

def test_rounding():
    assert total([0.1, 0.2]) == 0.31
"""

_LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.2)

    @task
    def probe(self):
        self.client.get("{path}", name="{path}")
"""


@dataclass(frozen=True)
class EvidenceSet:
    """One CI run's reports, by kind; ``project`` is the sample project they came from."""

    project: Path
    junit: Path
    cobertura: Path
    coverage_json: Path
    lcov: Path
    sarif: Path
    cyclonedx: Path
    locust_csv: Path | None = None
    locust_json: Path | None = None

    def files(self) -> list[Path]:
        return [
            p
            for p in (
                self.junit,
                self.cobertura,
                self.coverage_json,
                self.lcov,
                self.sarif,
                self.cyclonedx,
                self.locust_csv,
                self.locust_json,
            )
            if p is not None
        ]


@dataclass(frozen=True)
class Evidence:
    """The good and the bad run, and the versions of the tools that wrote them."""

    root: Path
    good: EvidenceSet
    bad: EvidenceSet
    tools: dict[str, str] = field(default_factory=dict)


def _run(argv: list[str], cwd: Path, *, ok_codes: tuple[int, ...] = (0,), timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    if result.returncode not in ok_codes:
        raise LauncherError(f"{' '.join(argv)} exited {result.returncode} in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise LauncherError(
            f"{name} not found next to {sys.executable}: install it with '{BIN / 'pip'} install {_PIP_NAMES.get(name, name)}'"
        )
    return str(path)


_PIP_NAMES = {"cyclonedx-py": "cyclonedx-bom", "coverage": "coverage", "ruff": "ruff", "locust": "locust"}


def _write_project(project: Path, *, bad: bool) -> None:
    (project / "shop").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "prices.py").write_text(_PACKAGE)
    tests = _TESTS.replace("{commit}", COMMIT)
    if bad:
        (project / "shop" / "refunds.py").write_text(_UNTESTED)  # F401 (os) and 0 % covered
        tests += _FAILING_TEST
    (project / "tests" / "test_prices.py").write_text(tests)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "sample-shop"\nversion = "{VERSION}"\nlicense = "MIT"\n\n'
        '[tool.coverage.run]\nbranch = true\nsource = ["shop"]\n\n'
        '[tool.ruff]\nline-length = 100\n[tool.ruff.lint]\nselect = ["E", "F"]\n'
    )
    (project / "requirements.txt").write_text("requests==2.32.4\nurllib3==2.5.0\n")


def _produce(project: Path, out: Path, *, bad: bool, base_url: str | None, locust_seconds: int) -> EvidenceSet:
    out.mkdir(parents=True)
    junit = out / "junit.xml"
    _run(
        [_tool("coverage"), "run", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:deploycheck", f"--junitxml={junit}", "tests"],
        project,
        ok_codes=(0, 1),
    )
    _run([_tool("coverage"), "xml", "-o", str(out / "coverage.xml")], project, ok_codes=(0, 2))
    _run([_tool("coverage"), "json", "-o", str(out / "coverage.json")], project, ok_codes=(0, 2))
    _run([_tool("coverage"), "lcov", "-o", str(out / "coverage.lcov")], project, ok_codes=(0, 2))
    sarif = _run([_tool("ruff"), "check", "--no-cache", "--output-format", "sarif", "shop", "tests"], project, ok_codes=(0, 1)).stdout
    (out / "ruff.sarif").write_text(sarif)
    sbom = out / "sbom.cdx.json"
    if bad:
        _run([_tool("cyclonedx-py"), "requirements", "--of", "JSON", "-o", str(sbom), "--pyproject", "pyproject.toml", "requirements.txt"],
             project)
    else:
        _run(
            [_tool("cyclonedx-py"), "environment", "--of", "JSON", "-o", str(sbom), "--pyproject", "pyproject.toml", _runtime_env(project)],
            project,
            timeout=300,
        )
    locust_csv = locust_json = None
    if base_url is not None:
        locust_csv, locust_json = _locust(project, out, base_url, "/no-such-page" if bad else "/health", locust_seconds)
    return EvidenceSet(
        project,
        junit,
        out / "coverage.xml",
        out / "coverage.json",
        out / "coverage.lcov",
        out / "ruff.sarif",
        sbom,
        locust_csv,
        locust_json,
    )


#: What the sample shop ships with: requests and its dependencies (their licences: Apache-2.0,
#: MIT, BSD-3-Clause, MPL-2.0, MIT).
RUNTIME_DISTRIBUTIONS = ("requests", "urllib3", "idna", "certifi", "charset_normalizer")


def _runtime_env(project: Path) -> str:
    """A virtual environment (no pip) whose site-packages holds the installed metadata of
    ``RUNTIME_DISTRIBUTIONS``, copied from this venv; returns its python."""
    venv = project / ".runtime-venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], project)
    site = next((venv / "lib").glob("python*/site-packages"))
    ours = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for name in RUNTIME_DISTRIBUTIONS:
        info = sorted(ours.glob(f"{name}-*.dist-info"))
        if not info:
            raise LauncherError(f"{name} is not installed in {ours}; the good SBOM lists it")
        shutil.copytree(info[-1], site / info[-1].name)
    return str(venv / "bin" / "python")


def _locust(project: Path, out: Path, base_url: str, path: str, seconds: int) -> tuple[Path, Path]:
    if not base_url.startswith(("http://127.", "https://127.", "http://localhost", "https://localhost")):
        raise LauncherError(f"refusing to send load to {base_url}: the test bed only loads 127.0.0.1")
    (project / "locustfile.py").write_text(_LOCUSTFILE.replace("{path}", path))
    prefix = out / "locust"
    _run(
        [
            _tool("locust"),
            "-f",
            "locustfile.py",
            "--headless",
            "--host",
            base_url,
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            f"{seconds}s",
            "--stop-timeout",
            "1",
            "--only-summary",
            "--csv",
            str(prefix),
            "--json-file",
            str(out / "locust"),
            "--exit-code-on-error",
            "0",
            "--loglevel",
            "WARNING",
        ],
        project,
        timeout=seconds + 60,
    )
    json_file = out / "locust.json"
    if not json_file.exists():
        raise LauncherError(f"locust wrote no {json_file}: {sorted(p.name for p in out.iterdir())}")
    return out / "locust_stats.csv", json_file


def tool_versions() -> dict[str, str]:
    versions = {}
    for name, argv in {
        "pytest": [sys.executable, "-m", "pytest", "--version"],
        "coverage": [_tool("coverage"), "--version"],
        "ruff": [_tool("ruff"), "--version"],
        "cyclonedx-py": [_tool("cyclonedx-py"), "--version"],
        "locust": [_tool("locust"), "--version"],
    }.items():
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        versions[name] = (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr).strip() else "?"
    return versions


def make_evidence(root: Path, *, base_url: str | None = None, locust_seconds: int = 3) -> Evidence:
    """Write the sample project (good and bad) under ``root`` and run the real tools on each.

    ``base_url`` is the sample app to load-test with Locust (``sample_app_good.entry["url"]``);
    without it the load-test reports are left out.  Raises ``LauncherError`` with the tool's
    output when a tool is missing or fails in an unexpected way.
    """
    root.mkdir(parents=True, exist_ok=True)
    sets = {}
    for variant in ("good", "bad"):
        project = root / variant / "project"
        _write_project(project, bad=variant == "bad")
        sets[variant] = _produce(
            project, root / variant / "reports", bad=variant == "bad", base_url=base_url, locust_seconds=locust_seconds
        )
    return Evidence(root, sets["good"], sets["bad"], tool_versions())


@pytest.fixture(scope="session")
def release_evidence(sample_app_good: Instance) -> Iterator[Evidence]:
    """Good and bad release evidence written by the real tools (pytest, coverage.py, ruff,
    cyclonedx-py, Locust against ``sample_app_good``); see ``make_evidence``::

        def test_x(release_evidence):
            report = parse_tests(release_evidence.bad.junit)
    """
    root = Path(tempfile.mkdtemp(prefix="deploycheck-evidence-"))
    try:
        yield make_evidence(root, base_url=str(sample_app_good.entry["url"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def describe(evidence: Evidence) -> str:
    """A JSON summary of where each report is, for debugging a failing check."""
    return json.dumps(
        {"tools": evidence.tools, "good": [str(p) for p in evidence.good.files()], "bad": [str(p) for p in evidence.bad.files()]}, indent=2
    )
