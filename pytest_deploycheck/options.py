"""Command-line options, ini keys and environment variables, declared once.

Each setting has one help text shared by its CLI option and ini key, one validating ``type``,
and one resolution rule (``resolve``): command line, then environment, then ini, then default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

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
)

BY_DEST = {s.dest: s for s in SETTINGS}


def add_options(parser: pytest.Parser, settings: tuple[Setting, ...] = SETTINGS) -> None:
    group = parser.getgroup("deploycheck", "go-live checks (pytest-deploycheck)")
    for s in settings:
        group.addoption(s.flag, dest=s.dest, metavar=s.metavar, type=s.type, default=None, help=s.help)
        if s.ini:
            parser.addini(s.ini, help=s.help, default=None)


def resolve(config: pytest.Config, dest: str) -> Any:
    """CLI > environment > ini > default, validated by the setting's type; a bad value from the
    environment or the ini file is a one-line UsageError naming where it came from."""
    s = BY_DEST[dest]
    value = config.getoption(dest, None)
    if value is not None:
        return value
    for where, raw in ((f"environment variable {s.env}", os.environ.get(s.env) if s.env else None),
                       (f"ini key {s.ini} in {config.inipath or 'the ini file'}", config.getini(s.ini) if s.ini else None)):
        if raw not in (None, "", []):
            try:
                return s.type(str(raw))
            except argparse.ArgumentTypeError as exc:
                raise pytest.UsageError(f"{where}: {exc}; fix it or pass {s.flag}") from None
    return s.default
