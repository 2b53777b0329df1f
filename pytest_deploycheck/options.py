"""Command-line options, ini keys and environment variables, declared once.

Each setting has one help text shared by its CLI option and ini key, one validating ``type``,
and one resolution rule (``resolve``): command line, then environment, then ini, then default.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.catalog import parse_choice as _catalog_choice
from pytest_deploycheck.decision import FAIL_ON
from pytest_deploycheck.markers import Severity


def _choice(values: tuple[str, ...], what: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip().lower()
        if value not in values:
            raise argparse.ArgumentTypeError(f"{what} must be one of {', '.join(values)}, got {value!r}")
        return value

    parse.__name__ = what
    return parse


def _severity(value: str) -> str:
    try:
        return Severity.parse(value.strip()).value
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {value!r}")
    return number


def _path(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return value


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def parse_shard(value: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4); anything else is an argparse error naming the expected form."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if not match:
        raise argparse.ArgumentTypeError(f"expected I/N (e.g. 2/4), got {value!r}")
    i, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"expected 1 <= I <= N in I/N, got {value!r}")
    return i, n


def _days(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected 0 days or more, got {value!r}")
    return number


@dataclass(frozen=True)
class Setting:
    dest: str
    flag: str
    help: str
    metavar: str
    type: Callable[[str], Any] = str
    default: Any = None
    env: str | None = None
    ini: str | None = None
    multiple: bool = False  # repeatable on the command line; the ini key is a list of lines
    const: str | None = None  # the value of the bare flag, when the value is optional (--flag or --flag=VALUE)


SETTINGS: tuple[Setting, ...] = (
    Setting("deploycheck_inventory", "--inventory", "inventory YAML naming the hosts and services to check "
            "(e.g. inventories/localhost.yml)", "PATH", _path, None, "DEPLOYCHECK_INVENTORY", "deploycheck_inventory"),
    Setting("deploycheck_severity", "--deploycheck-severity", "run only checks of this severity and above "
            "(critical, high, medium, low, info; default: all)", "LEVEL", _severity, None, "DEPLOYCHECK_SEVERITY", "deploycheck_severity"),
    Setting("deploycheck_fail_on", "--deploycheck-fail-on", "exit non-zero when the verdict is NO-GO (high, the default), "
            "also on any unwaived medium (medium) or low (low) problem, or never", "POLICY",
            _choice(FAIL_ON, "fail-on policy"), "high", "DEPLOYCHECK_FAIL_ON", "deploycheck_fail_on"),
    Setting("deploycheck_timeout", "--deploycheck-timeout", "seconds for every network operation, overriding the "
            "inventory's global timeout (per-target timeouts still apply)", "SECONDS", _positive, None, "DEPLOYCHECK_TIMEOUT", "deploycheck_timeout"),
    Setting("deploycheck_attestations", "--deploycheck-attestations", "YAML file of attestations for manual items "
            "(also the inventory's 'attestations' key)", "PATH", _path, None, "DEPLOYCHECK_ATTESTATIONS", "deploycheck_attestations"),
    Setting("deploycheck_waivers", "--deploycheck-waivers", "YAML file of accepted risks (also the inventory's 'waivers' key)",
            "PATH", _path, None, "DEPLOYCHECK_WAIVERS", "deploycheck_waivers"),
    Setting("deploycheck_attestation_template", "--deploycheck-attestation-template", "collect the catalog, write a template "
            "attestations file listing every manual item this run selected to PATH ('-': the terminal) and exit without "
            "running checks", "PATH", _path),
    Setting("deploycheck_critical_waivers", "--deploycheck-critical-waivers", "whether a waiver may cover a failed critical "
            "check: deny (the default) or allow", "POLICY", _choice(("deny", "allow"), "critical-waiver policy"), "deny",
            "DEPLOYCHECK_CRITICAL_WAIVERS", "deploycheck_critical_waivers"),
    Setting("deploycheck_waiver_warn_days", "--deploycheck-waiver-warn-days", "flag waivers expiring within this many days "
            "(default: the inventory's waiver_expiry_warn_days threshold, 14)", "DAYS", _days, None,
            "DEPLOYCHECK_WAIVER_WARN_DAYS", "deploycheck_waiver_warn_days"),
    # The team's own checklist (checklist/): its items become test items, answered by catalog checks or attested.
    Setting("deploycheck_checklist", "--deploycheck-checklist", "the team's Markdown go-live checklist: every item becomes a "
            "test item, answered by the catalog checks it maps to or attested by a person (repeatable)", "PATH", _path, None,
            "DEPLOYCHECK_CHECKLIST", "deploycheck_checklist", multiple=True),
    Setting("deploycheck_checklist_map", "--deploycheck-checklist-map", "write or update each checklist's mapping file "
            "(<checklist>.deploycheck.yml beside it) with the matcher's suggestions for review, keeping every entry a "
            "person made, and exit without running checks", "", _flag, False),
    Setting("deploycheck_checklist_only", "--deploycheck-checklist-only", "run only the catalog checks the checklist's "
            "items map to (default: the rest run too and are reported as beyond your checklist)", "", _flag, False,
            "DEPLOYCHECK_CHECKLIST_ONLY", "deploycheck_checklist_only"),
    Setting("deploycheck_expectations", "--deploycheck-expectations", "YAML file of the team's own checks (HTTP, SQL, "
            "Redis, command, file, PromQL expectations; README: Your own checks): each runs on its targets like a catalog "
            "check (repeatable)", "PATH", _path, None, "DEPLOYCHECK_EXPECTATIONS", "deploycheck_expectations", multiple=True),
    # The shipped catalog (catalog.py): appended to the paths pytest collects, as the checklist is.
    Setting("deploycheck_catalog", "--deploycheck-catalog", "which checks of the shipped catalog to collect besides "
            "the paths pytest collects: all (the default when an inventory, a checklist or --deploycheck-list is given), "
            "none (only your own tests, checklist and expectations) or section names separated by commas (tls,postgres); "
            "catalog files named on the command line are collected as given", "WHICH", _catalog_choice, None,
            "DEPLOYCHECK_CATALOG", "deploycheck_catalog"),
    Setting("deploycheck_list", "--deploycheck-list", "print the catalog (id, severity, section, title, target kinds, "
            "active probe or manual) and exit without running; with --deploycheck-checklist, each item and the checks that "
            "answer it; FORMAT text (the default), json or md; needs no inventory", "FORMAT",
            _choice(("text", "json", "md"), "list format"), None, const="text"),
    Setting("deploycheck_shard", "--deploycheck-shard", "run only the I-th of N shares of the targets (1/4, 2/4, ...): a fleet "
            "split across CI jobs by target; merge the shards' JSON reports with python -m pytest_deploycheck.merge", "I/N",
            parse_shard, None, "DEPLOYCHECK_SHARD", "deploycheck_shard"),
    # Reports (reports.py): written by the controller at the end of every run, interrupted ones too.
    Setting("deploycheck_json", "--deploycheck-json", "write the go-live report as JSON (versioned schema, "
            "docs/REPORTS.md) to PATH", "PATH", _path, None, "DEPLOYCHECK_JSON", "deploycheck_json"),
    Setting("deploycheck_checklist_md", "--deploycheck-checklist-md", "write the catalog as a ticked Markdown "
            "checklist to PATH", "PATH", _path, None, "DEPLOYCHECK_CHECKLIST_MD", "deploycheck_checklist_md"),
    Setting("deploycheck_html", "--deploycheck-html", "write the self-contained HTML go-live report to PATH "
            "(shortcut for --html=PATH --self-contained-html; needs pytest-html)", "PATH", _path, None,
            "DEPLOYCHECK_HTML", "deploycheck_html"),
)

BY_DEST = {s.dest: s for s in SETTINGS}


def add_options(parser: pytest.Parser, settings: tuple[Setting, ...] = SETTINGS) -> None:
    group = parser.getgroup("deploycheck", "go-live checks (pytest-deploycheck)")
    for s in settings:
        if s.type is _flag:
            group.addoption(s.flag, dest=s.dest, action="store_const", const=True, default=None, help=s.help)
        elif s.const is not None:
            group.addoption(s.flag, dest=s.dest, metavar=s.metavar, type=s.type, default=None, help=s.help, nargs="?", const=s.const)
        else:
            group.addoption(s.flag, dest=s.dest, metavar=s.metavar, type=s.type, default=None, help=s.help,
                            action="append" if s.multiple else "store")
        if s.ini:
            if s.multiple:
                parser.addini(s.ini, help=s.help, default=None, type="linelist")
            else:
                parser.addini(s.ini, help=s.help, default=None)


def resolve(config: pytest.Config, dest: str) -> Any:
    """CLI > environment > ini > default, validated by the setting's type; a bad value from the
    environment or the ini file is a one-line UsageError naming where it came from."""
    s = BY_DEST[dest]
    value = config.getoption(dest, None)
    if value is not None:
        return value
    for where, raw in ((f"environment variable {s.env}", os.environ.get(s.env) if s.env else None),
                       (_ini_source(config, s.ini) if s.ini else "", config.getini(s.ini) if s.ini else None)):
        if raw not in (None, "", []):
            try:
                if s.multiple:
                    values = raw if isinstance(raw, list) else str(raw).split(os.pathsep)
                    return [s.type(str(v)) for v in values if str(v).strip()]
                return s.type(str(raw))
            except argparse.ArgumentTypeError as exc:
                raise pytest.UsageError(f"{where}: {exc}; fix it or pass {s.flag}") from None
    return [] if s.multiple else s.default


def _overridden(config: pytest.Config, ini: str | None) -> bool:
    """Whether ``-o INI=...`` on the command line gave the ini key's value (it wins over the file)."""
    overrides = config.getoption("override_ini", None) or []
    return ini is not None and any(str(o).split("=", 1)[0].strip() == ini for o in overrides)


def _ini_source(config: pytest.Config, ini: str) -> str:
    """Where an ini value came from, for messages: the command line's ``-o`` or the ini file."""
    if _overridden(config, ini):
        return f"-o {ini}=... on the command line"
    return f"ini key {ini} in {config.inipath or 'the ini file'}"


def resolve_path(config: pytest.Config, dest: str) -> Path | None:
    """``resolve`` for a PATH setting: a relative path is read from the ini file's folder when
    the ini key gave it, else from the folder pytest was started in."""
    value = resolve(config, dest)
    if value is None:
        return None
    return _anchored(config, dest, str(value))


def resolve_paths(config: pytest.Config, dest: str) -> list[Path]:
    """``resolve_path`` for a repeatable PATH setting, in the order given, without repeats."""
    paths = [_anchored(config, dest, str(v)) for v in resolve(config, dest)]
    return list(dict.fromkeys(p.resolve() for p in paths))


def _anchored(config: pytest.Config, dest: str, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    if path.is_absolute():
        return path
    s = BY_DEST[dest]
    from_ini = config.getoption(dest, None) is None and not (s.env and os.environ.get(s.env)) and not _overridden(config, s.ini)
    base = config.inipath.parent if from_ini and config.inipath is not None else config.invocation_params.dir
    return base / path
