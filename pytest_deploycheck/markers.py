"""Check metadata: the markers a catalog check carries, evaluated into one frozen record.

    pytestmark = pytest.mark.section("tls", "TLS and certificates")

    @pytest.mark.check("tls-01", "Certificate chain verifies", severity="critical",
                       refs=("Mozilla Observatory: tls",))
    def test_chain(tls_endpoint): ...

Like pytest's ``skipping.py``, each marker is registered with a signature-style help line and
read by one function (``check_meta``); misuse of a single marker fails that item, catalog-wide
problems (duplicate ids, missing severity) are collected and raised as one ``UsageError``.
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

ID_RE = re.compile(r"^[a-z][a-z0-9]*-\d{2,3}[a-z]?$")


class Severity(str, enum.Enum):
    """Five steps, as an auditor reads them; not everything is critical."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls(value.lower())
        except ValueError:
            raise ValueError(f"unknown severity {value!r}; use one of {', '.join(s.value for s in cls)}") from None


_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}


MARKERS = {
    "check": "check(id, title, *, severity, refs=(), answers=(), answers_kind=None, answers_unless=(), answers_accepts=()): "
             "a go-live check with a stable id (area-NN), a title, a severity (critical, high, medium, low, info), references, "
             "and the checklist wording it answers (docs/WRITING_CHECKS.md: the phrase grammar, the kinds of evidence).",
    "section": "section(id, title=None): the checklist section of a module (use as pytestmark).",
    "manual": "manual(instructions=''): a person must attest this item; pending until attested.",
    "targets": "targets(roles=(), tags=()): run only on inventory targets with one of these roles / tags.",
    "active_probe": "active_probe: sends load, bursts or credentials; runs only where the inventory sets active_probes: true.",
    **{s.value: f"{s.value}: added automatically to checks of severity {s.value} (select with -m {s.value})" for s in Severity},
}


@dataclass(frozen=True)
class CheckMeta:
    """Everything the reports say about a check, independent of the target."""

    id: str
    title: str
    severity: Severity
    section: str
    section_title: str
    rationale: str
    refs: tuple[str, ...] = ()
    manual: bool = False
    instructions: str = ""
    active_probe: bool = False
    roles: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()  # checklist wording this check answers, for the checklist matcher
    answers_kind: str = "state"  # what kind of evidence it gives (checklist/matcher.py KINDS)
    answers_unless: tuple[str, ...] = ()  # phrases that rule the check out for an item
    answers_accepts: tuple[str, ...] = ()  # item intents it accepts beyond its kind's defaults

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "title": self.title, "severity": self.severity.value,
            "section": self.section, "section_title": self.section_title,
            "rationale": self.rationale, "refs": list(self.refs), "manual": self.manual,
            "instructions": self.instructions, "active_probe": self.active_probe,
            "answers": list(self.answers),
        }


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    return (str(value),)


def is_check(item: pytest.Item) -> bool:
    return item.get_closest_marker("check") is not None or item.get_closest_marker("section") is not None


def check_meta(item: pytest.Item, problems: list[str]) -> CheckMeta | None:
    """Evaluate an item's markers; append a line to ``problems`` for anything wrong."""
    where = item.nodeid.split("[", 1)[0]
    mark = item.get_closest_marker("check")
    if mark is None:
        problems.append(f"{where}: no @pytest.mark.check(id, title, severity=...) marker")
        return None
    args = list(mark.args)
    kwargs = dict(mark.kwargs)
    check_id = kwargs.pop("id", args.pop(0) if args else None)
    title = kwargs.pop("title", args.pop(0) if args else None)
    severity_raw = kwargs.pop("severity", args.pop(0) if args else None)
    refs = _strings(kwargs.pop("refs", ()))
    answers = _strings(kwargs.pop("answers", ()))
    answers_kind = kwargs.pop("answers_kind", None)
    answers_unless = _strings(kwargs.pop("answers_unless", ()))
    answers_accepts = _strings(kwargs.pop("answers_accepts", ()))
    if args or kwargs:
        problems.append(f"{where}: check marker has unexpected arguments {args or ''}{sorted(kwargs) or ''}")
    if not isinstance(check_id, str) or not ID_RE.match(check_id):
        problems.append(f"{where}: check id {check_id!r} must look like 'area-NN' (e.g. tls-01)")
        return None
    if not isinstance(title, str) or not title.strip():
        problems.append(f"{where}: check {check_id} has no title")
        return None
    if severity_raw is None:
        problems.append(f"{where}: check {check_id} has no severity (critical, high, medium, low or info)")
        return None
    try:
        severity = Severity.parse(str(severity_raw))
    except ValueError as exc:
        problems.append(f"{where}: check {check_id}: {exc}")
        return None
    fn = getattr(item, "function", None)
    rationale = inspect.cleandoc(fn.__doc__) if fn is not None and fn.__doc__ else ""
    if not rationale:
        problems.append(f"{where}: check {check_id} has no docstring; write the rationale an auditor reads")
    section_mark = item.get_closest_marker("section")
    module_obj = getattr(item, "module", None)
    module = module_obj.__name__.rsplit(".", 1)[-1] if module_obj is not None else "checks"
    section = module.removeprefix("test_")
    section_title = section.replace("_", " ").title()
    if section_mark is not None and section_mark.args:
        section = str(section_mark.args[0])
        section_title = str(section_mark.kwargs.get("title") or (section_mark.args[1] if len(section_mark.args) > 1 else section_title))
    manual = item.get_closest_marker("manual")
    targets = item.get_closest_marker("targets")
    return CheckMeta(
        id=check_id, title=title.strip(), severity=severity, section=section, section_title=section_title,
        rationale=rationale, refs=refs, manual=manual is not None,
        instructions=str(manual.kwargs.get("instructions") or (manual.args[0] if manual.args else "")) if manual else "",
        active_probe=item.get_closest_marker("active_probe") is not None,
        roles=_strings(targets.kwargs.get("roles")) if targets else (),
        tags=_strings(targets.kwargs.get("tags")) if targets else (),
        answers=answers,
        answers_kind=str(answers_kind) if answers_kind else ("attest" if manual is not None else "state"),
        answers_unless=answers_unless, answers_accepts=answers_accepts,
    )


def duplicate_ids(metas: dict[tuple[str, str], CheckMeta]) -> list[str]:
    """Two different functions with one id; ``metas`` is keyed by (module path, function name)."""
    by_id: dict[str, list[str]] = {}
    for (path, func), meta in sorted(metas.items()):
        by_id.setdefault(meta.id, []).append(f"{path}::{func}")
    return [f"check id {cid} is used by {' and '.join(places)}; ids are unique and never reused"
            for cid, places in sorted(by_id.items()) if len(places) > 1]
