"""Dependency manifests and their lock files: whether a build installs exactly the versions that
were tested, or whatever a registry serves that day.

Pure functions of text; the check reads the files (``checks/test_app_config.py``, cfg-13).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Ecosystem:
    """A package manager: its manifests, the lock files any of which pins what they ask for, and
    how to tell that a manifest asks for anything at all."""

    name: str
    manifests: tuple[str, ...]
    locks: tuple[str, ...]
    declares: re.Pattern[str]  # the manifest declares dependencies


ECOSYSTEMS: tuple[Ecosystem, ...] = (
    Ecosystem("npm", ("package.json",), ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock", "bun.lockb"),
              re.compile(r'"(?:dependencies|devDependencies|optionalDependencies)"\s*:\s*\{\s*"')),
    Ecosystem("Python (pyproject)", ("pyproject.toml",), ("poetry.lock", "uv.lock", "pdm.lock", "pylock.toml", "Pipfile.lock"),
              re.compile(r"(?m)^\s*dependencies\s*=\s*\[\s*[\"']|^\[tool\.poetry\.dependencies\]")),
    Ecosystem("Pipenv", ("Pipfile",), ("Pipfile.lock",), re.compile(r"(?m)^\[(?:dev-)?packages\]\s*\n\s*[A-Za-z0-9]")),
    Ecosystem("Bundler", ("Gemfile",), ("Gemfile.lock",), re.compile(r"(?m)^\s*gem\s+['\"]")),
    Ecosystem("Go modules", ("go.mod",), ("go.sum",), re.compile(r"(?m)^require\b")),
    Ecosystem("Composer", ("composer.json",), ("composer.lock",), re.compile(r'"require"\s*:\s*\{\s*"')),
    Ecosystem("Cargo", ("Cargo.toml",), ("Cargo.lock",), re.compile(r"(?m)^\[dependencies\]\s*\n\s*[A-Za-z0-9_-]+\s*=")),
    Ecosystem("Mix", ("mix.exs",), ("mix.lock",), re.compile(r"\{:\w+,\s*\"")),
)
#: requirements files: every requirement must be pinned with ``==`` (or a commit), unless a lock
#: file of another Python tool stands beside them.
REQUIREMENTS = ("requirements.txt", "requirements/production.txt", "requirements/prod.txt", "requirements/base.txt",
                "requirements-prod.txt")
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?\s*===?\s*[^\s,;*]+(?:\s*;.*)?$")
_VCS_COMMIT = re.compile(r"@[0-9a-f]{40}\b")
_USERINFO = re.compile(r"://[^/@\s]*@")


def unpinned_requirements(text: str) -> tuple[list[str], bool]:
    """(the requirements of a pip requirements file that are not pinned to one version, whether
    every requirement carries a ``--hash``).  ``-r``/``-c`` includes, options and local paths are
    not requirements; a VCS URL counts as pinned when it names a full commit."""
    joined = re.sub(r"\\\n", " ", text)
    loose: list[str] = []
    requirements = 0
    hashed = 0
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-") and not line.startswith(("-e ", "--editable")):
            continue  # -r, -c, --index-url, --hash-only lines
        spec = re.sub(r"\s+--hash[= ]\S+", "", line).strip()
        if spec.startswith(("-e ", "--editable")):
            spec = spec.split(None, 1)[1] if len(spec.split(None, 1)) > 1 else ""
        if spec.startswith((".", "/", "file:")):
            continue  # the project itself, or a local path
        requirements += 1
        hashed += "--hash" in line
        if "://" in spec or spec.startswith("git+"):
            if not _VCS_COMMIT.search(spec):
                loose.append(_USERINFO.sub("://", spec)[:80])  # a token in the URL (https://ghp_...@github.com) is not shown
        elif not _PIN.match(spec):
            loose.append(spec[:80])
    return loose, requirements > 0 and hashed == requirements


def npm_unlocked(package_json: str, lock_json: str) -> list[str] | None:
    """Dependencies ``package.json`` asks for that ``package-lock.json`` (lockfileVersion 2 or 3)
    does not record: the lock is older than the manifest, and ``npm ci`` refuses to install.  None
    when either file cannot be read as JSON or the lock is of the old format."""
    try:
        manifest = json.loads(package_json)
        lock = json.loads(lock_json)
    except ValueError:
        return None
    if not isinstance(manifest, dict) or not isinstance(lock, dict) or not isinstance(lock.get("packages"), dict):
        return None
    wanted: set[str] = set()
    for key in ("dependencies", "devDependencies", "optionalDependencies"):
        section = manifest.get(key)
        if isinstance(section, dict):
            wanted.update(str(name) for name in section)
    recorded = {key.rsplit("node_modules/", 1)[-1] for key in lock["packages"] if key.startswith("node_modules/")}
    return sorted(name for name in wanted if name not in recorded)
