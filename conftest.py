"""Repository root: the catalog (checks/) and the plugin's own tests (tests/) share this folder.

The plugin itself is loaded through its ``pytest11`` entry point (``pip install -e .``); this
file keeps folders that hold no tests out of collection, and keeps the shipped catalog out of
the small pytest runs the plugin's own tests make (below).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

collect_ignore = ["bench", "scripts", "build"]

TESTS = Path(__file__).resolve().parent / "tests"


def pytest_configure(config: pytest.Config) -> None:
    """The plugin's own tests run pytest on catalogs they write themselves (pytester, subprocesses):
    for those runs the shipped catalog, on by default with an inventory, is off
    (``DEPLOYCHECK_CATALOG=none``, inherited by every inner run); a test that wants it says so.
    A go-live run from this folder (the catalog in checks/) is not touched."""
    paths = [Path(str(a).split("::", 1)[0]) for a in config.args]
    resolved = [(p if p.is_absolute() else config.invocation_params.dir / p).resolve() for p in paths]
    if resolved and all(p == TESTS or TESTS in p.parents for p in resolved):
        os.environ.setdefault("DEPLOYCHECK_CATALOG", "none")
