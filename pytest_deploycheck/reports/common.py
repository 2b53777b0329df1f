"""The report writers' common ground: atomic files, text made safe to print, results grouped by check.

"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.decision import Result
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.reports.summary import OUTCOME_ORDER, RunSummary


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the whole new one, never half.

    A temporary file in the same directory, flushed and fsynced, then ``os.replace``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- text


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NONCHAR = re.compile(r"[\ufffe\uffff]")


def clean_text(text: str) -> str:
    """Text any reader can take: ANSI colour codes dropped, other control characters shown as
    ``\\xNN``, undecodable bytes (lone surrogates) as U+FFFD.  Tabs and newlines stay.
    The result is also legal XML 1.0 character data."""
    text = _ANSI.sub("", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    text = _NONCHAR.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return _SURROGATE.sub("\ufffd", text)


def clean_obj(value: Any) -> Any:
    """``clean_text`` on every string inside dicts and lists (keys included)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_obj(v) for v in value]
    return value


def show_value(value: Any) -> str:
    """An evidence value as text: strings as they are, anything else as JSON (``["TLSv1.2", "TLSv1.3"]``)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated: {len(text):,} characters in all; the JSON report has the whole text]"


def one_line(text: str, limit: int) -> str:
    return truncate(" ".join(clean_text(text).split()), limit)


# --------------------------------------------------------------------------- grouping


@dataclass
class CheckGroup:
    """One check of the catalog and its results on every target, for the per-check views."""

    section: str
    section_title: str
    check_id: str
    title: str
    severity: str
    manual: bool
    results: list[Result] = field(default_factory=list)

    @property
    def ticked(self) -> bool:
        """Met everywhere: every target passed (a manual item passes only when attested)."""
        return bool(self.results) and all(r.outcome is Outcome.PASSED for r in self.results)

    @property
    def not_applicable(self) -> bool:
        return bool(self.results) and all(r.outcome is Outcome.NOT_APPLICABLE for r in self.results)


def by_check(summary: RunSummary) -> dict[tuple[str, str], list[CheckGroup]]:
    """Results grouped by (section id, section title), then by check, in catalog order."""
    sections: dict[tuple[str, str], dict[str, CheckGroup]] = {}
    for r in summary.results:
        check = r.check
        key = (check.section, check.section_title) if check else ("", "Checks that never reported")
        groups = sections.setdefault(key, {})
        gid = r.check_id if check else r.nodeid.split("[", 1)[0]
        group = groups.get(gid)
        if group is None:
            group = groups[gid] = CheckGroup(
                section=key[0], section_title=key[1], check_id=r.check_id if check else "?",
                title=check.title if check else gid, severity=r.severity.value, manual=bool(check and check.manual))
        group.results.append(r)
    return {key: list(groups.values()) for key, groups in sections.items()}


def result_keys(results: list[Result]) -> list[str]:
    """``<id>@<target>`` for each result, unique within a run: a check parametrized beyond its
    target (several items on one target) adds the pytest parameter id, ``<id>@<target>[<param id>]``."""
    base = [f"{r.check_id}@{r.target or '-'}" for r in results]
    seen: dict[str, int] = {}
    for key in base:
        seen[key] = seen.get(key, 0) + 1
    keys = []
    for key, r in zip(base, results, strict=True):
        if seen[key] > 1:
            param = r.nodeid.rsplit("[", 1)[1][:-1] if r.nodeid.endswith("]") and "[" in r.nodeid else r.nodeid
            key = f"{key}[{param}]"
        keys.append(key)
    return keys


def outcome_columns(summary: RunSummary) -> list[Outcome]:
    """The outcomes that occur, in the report order (passed first, not run last)."""
    present = summary.counts()
    return [o for o in OUTCOME_ORDER if present[o]]


def extra_list(summary: RunSummary, key: str) -> list[dict[str, Any]]:
    """A list another module put into ``summary.extra`` (waivers, attestations), or []."""
    value = summary.extra.get(key)
    if not isinstance(value, (list, tuple)):
        return []
    return [v for v in value if isinstance(v, dict)]


@contextlib.contextmanager
def reporting_errors(config: pytest.Config, what: str, path: Path) -> Iterator[None]:
    """A report that cannot be written (disk full, no permission) is said on the terminal;
    it must not become an INTERNALERROR that hides the verdict and the other reports."""
    try:
        yield
    except OSError as exc:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        line = f"deploycheck: could not write the {what} to {path}: {exc}"
        if reporter is not None:
            reporter.write_line(line, red=True, bold=True)
        else:
            print(line)
