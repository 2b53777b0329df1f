"""The shipped catalog: where its modules are, and ``--deploycheck-catalog`` adding them to a run.

The catalog's source lives in the repository's top-level ``checks/`` folder; the wheel carries
it as the subpackage ``pytest_deploycheck.checks`` (``pyproject.toml`` maps the one onto the
other).  A run finds it through the import system, so the same code works in a source checkout,
an editable install and an installed wheel.

The switch is the pytest way of "also run these": the catalog's folder (or some of its section
modules) is appended to the paths pytest collects, as the team's checklist is.  Pytest names the
modules from the package they sit in (``pytest_deploycheck.checks.test_tls``, or
``checks.test_tls`` in the repository), so a team's own ``test_tls.py`` never clashes with them.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "pytest_deploycheck.checks"

#: ``--deploycheck-catalog`` values besides a list of sections.
ALL, NONE = "all", "none"

_SECTION = re.compile(r"^[a-z0-9_]+$")


def parse_choice(value: str) -> str:
    """``all``, ``none`` or a comma-separated list of section names (``tls,postgres``), lowercased."""
    text = value.strip().lower()
    if text in (ALL, NONE):
        return text
    names = [part.strip() for part in text.split(",")]
    if not text or any(not _SECTION.match(name) for name in names):
        raise argparse.ArgumentTypeError(f"expected all, none or section names separated by commas (tls,postgres), got {value!r}")
    return ",".join(dict.fromkeys(names))


def catalog_dir() -> Path | None:
    """The folder holding the catalog's ``test_<section>.py`` modules, or None when this install
    has none (a wheel built without it)."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        found = Path(next(iter(spec.submodule_search_locations)))
        if found.is_dir():
            return found.resolve()
    # A source checkout on sys.path without an install: the catalog is the package's sibling.
    sibling = Path(__file__).resolve().parent.parent / "checks"
    return sibling if (sibling / "ids.txt").is_file() else None


def sections(directory: Path) -> dict[str, Path]:
    """Section name -> module path (``tls`` -> ``.../test_tls.py``), sorted by name."""
    return {p.stem.removeprefix("test_"): p for p in sorted(directory.glob("test_*.py"))}


@dataclass(frozen=True)
class Selection:
    """What ``--deploycheck-catalog`` added to a run: the catalog's folder and, for a list of
    sections, the only modules of it to collect (the others are ignored while collecting)."""

    directory: Path
    modules: frozenset[Path] | None  # None: every section


SELECTION_KEY = pytest.StashKey[Selection]()


def add_to_run(config: pytest.Config, choice: str) -> None:
    """Append the catalog to ``config.args`` for ``choice``, unless an argument names the catalog
    or a module in it (the user chose its modules).  A folder argument that holds the catalog is
    harmless: pytest collects a file once."""
    if choice == NONE:
        return
    directory = catalog_dir()
    if directory is None:
        raise pytest.UsageError("this installation of pytest-deploycheck has no catalog (pytest_deploycheck.checks is "
                                "missing); reinstall it from a wheel built from the repository, or pass --deploycheck-catalog=none")
    for arg in config.args:
        path = Path(arg.split("::", 1)[0])
        path = (path if path.is_absolute() else config.invocation_params.dir / path).resolve()
        if path == directory or directory in path.parents:
            return
    modules = None
    if choice != ALL:
        known = sections(directory)
        unknown = [name for name in choice.split(",") if name not in known]
        if unknown:
            raise pytest.UsageError(f"--deploycheck-catalog: no catalog section {', '.join(unknown)}; "
                                    f"the sections are {', '.join(known)}")
        modules = frozenset(known[name] for name in choice.split(","))
    # The folder, not its modules one by one: pytest names an item outside the rootdir relative to
    # the argument that holds it, so a module argument would leave its items without a file name.
    config.args.append(str(directory))
    config.stash[SELECTION_KEY] = Selection(directory, modules)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """``--deploycheck-catalog=tls,postgres``: the catalog's other section modules are not collected."""
    selection = config.stash.get(SELECTION_KEY, None)
    if selection is None or selection.modules is None or collection_path.suffix != ".py":
        return None
    if collection_path.parent == selection.directory and collection_path.name.startswith("test_"):
        return collection_path not in selection.modules or None
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """``--lf`` on a run whose catalog is outside the rootdir (an installed wheel).

    pytest's last-failed plugin finds the files of failed items at ``rootdir / node id``; a
    catalog module in site-packages is not there, so once another failed file (a team's own test)
    was found, it would skip the catalog's files and their failures would never run again.  The
    catalog's failed files are added to the paths it keeps (a private set: read defensively).
    """
    selection = session.config.stash.get(SELECTION_KEY, None)
    lf = session.config.pluginmanager.get_plugin("lfplugin")
    paths = getattr(lf, "_last_failed_paths", None)
    if selection is None or not isinstance(paths, set):
        return
    for nodeid in getattr(lf, "lastfailed", {}):
        module = selection.directory / str(nodeid).split("::", 1)[0]
        if module.is_file():
            paths.add(module)
            paths.update(module.parents)  # as pytest does: the folders on the way are kept too
