"""The wheel carries the catalog: built from this repository, installed into a fresh virtualenv and
run from an empty folder, ``pytest --inventory=prod.yml`` runs the whole catalog and
``pytest --deploycheck-list`` lists it.

The fresh virtualenv gets the wheel from pip and its dependencies from this test run's own
environment (a folder of links on its path, without this repository's editable install), so the
test works offline and in CI alike.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.servers.inventory import REPO

SKIP_DEPS = ("pytest_deploycheck", "__editable__", "_distutils_hack", "pip", "__pycache__")


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (a build in the checkout would leave build/ behind)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for folder in ("pytest_deploycheck", "checks"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    done = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", src, cwd=root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = (root / "dist").glob("pytest_deploycheck-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with the wheel installed by pip: its python."""
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    done = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    done = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    deps = root / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.startswith(SKIP_DEPS) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root).stdout.strip()
    Path(site, "deploycheck-test-deps.pth").write_text(f"{deps}\n")
    return python


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """An empty folder with a files-only inventory (its repository has none of the documents) and one own test."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "prod.yml").write_text("name: prod\nfiles:\n  repo:\n    path: repo\n")
    (tmp_path / "test_smoke.py").write_text("def test_smoke():\n    assert True\n")
    return tmp_path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCHECK_", "PYTEST_", "PYTHON"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_the_wheel_holds_every_module_of_the_package_and_the_catalog(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"pytest_deploycheck/{p.relative_to(REPO / 'pytest_deploycheck').as_posix()}" for p in (REPO / "pytest_deploycheck").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    expected |= {f"pytest_deploycheck/checks/{p.name}" for p in (REPO / "checks").iterdir() if p.is_file() and p.suffix in (".py", ".txt")}
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel (add the subpackage to [tool.setuptools] packages in pyproject.toml): {missing}"


def test_installed_wheel_runs_the_catalog_from_an_empty_folder(fresh: Path, team: Path) -> None:
    where = _run(fresh, "-c", "from pytest_deploycheck.catalog import catalog_dir; print(catalog_dir())", cwd=team, env=_env())
    assert where.stdout.strip().endswith("site-packages/pytest_deploycheck/checks"), where.stdout + where.stderr
    assert str(fresh.parent.parent) in where.stdout  # the fresh virtualenv's copy, not this checkout's checks/
    run = _run(fresh, "-m", "pytest", "--inventory=prod.yml", "--deploycheck-json=out.json", "-rN", cwd=team, env=_env())
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]  # NO-GO: the repository lacks its documents
    assert "VERDICT: NO-GO" in run.stdout
    doc = json.loads((team / "out.json").read_text())
    outcomes = {r["key"]: r["outcome"] for r in doc["results"]}
    assert outcomes["doc-01@repo"] == "failed"
    assert {key.split("-")[0] for key in outcomes} >= {"tls", "http", "pg", "mysql", "redis", "ssh", "doc", "dr"}
    assert "1 passed" in run.stdout.splitlines()[-1]  # the team's own test, beside the catalog
    # pytest's cache is the user's: --lf reruns exactly the failures.
    failed = sum(1 for outcome in outcomes.values() if outcome == "failed")
    again = _run(fresh, "-m", "pytest", "--inventory=prod.yml", "--lf", "-q", cwd=team, env=_env())
    assert again.stdout.splitlines()[-1].startswith(f"{failed} failed, 1 deselected in"), again.stdout[-2000:]
    collected = _run(fresh, "-m", "pytest", "--inventory=prod.yml", "--collect-only", cwd=team, env=_env())
    assert "<Package pytest_deploycheck>" in collected.stdout and "<Module test_tls.py>" in collected.stdout
    assert "VERDICT" not in collected.stdout


def test_installed_wheel_lists_its_catalog_without_an_inventory(fresh: Path, tmp_path: Path) -> None:
    text = _run(fresh, "-m", "pytest", "--deploycheck-list", cwd=tmp_path, env=_env())
    assert text.returncode == 0, text.stdout[-2000:] + text.stderr[-2000:]
    assert "tls-01" in text.stdout
    listed = _run(fresh, "-m", "pytest", "--deploycheck-list=json", "-q", "--no-header", cwd=tmp_path, env=_env())
    ids = {c["id"] for c in json.loads(listed.stdout[: listed.stdout.rindex("}") + 1])["checks"]}
    here = _run(sys.executable, "-m", "pytest", "--deploycheck-list=json", "-q", "--no-header", "-p", "no:cacheprovider", cwd=tmp_path, env=_env())
    assert ids == {c["id"] for c in json.loads(here.stdout[: here.stdout.rindex("}") + 1])["checks"]}
    assert len(ids) > 200
