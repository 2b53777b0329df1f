"""The six outcomes of a (check, target) and how a check reaches them.

passed, failed (the target was examined and found wanting), error (it could not be examined:
unreachable, authentication refused, timeout, a crash), not applicable, manual (pending a
person's attestation) and waived (a failure covered by an accepted risk).  ``not run`` is the
seventh state a report can show: the run ended before the item did.

A check fails through ``require(...)``/``fail(...)`` or a plain ``assert``; it reports that it
could not check through ``TargetError`` (or any other exception); it declares itself not
applicable through ``not_applicable(reason)``.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest


class Outcome(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NOT_APPLICABLE = "n/a"
    MANUAL = "manual"
    WAIVED = "waived"
    NOT_RUN = "not run"


# (category, short letter, verbose word) for pytest_report_teststatus; the category is what
# the closing line counts: "40 passed, 3 failed, 5 manual, 2 waived, 7 n/a".
TESTSTATUS: dict[Outcome, tuple[str, str, str]] = {
    Outcome.ERROR: ("error", "E", "ERROR"),
    Outcome.NOT_APPLICABLE: ("n/a", "n", "N/A"),
    Outcome.MANUAL: ("manual", "M", "MANUAL"),
    Outcome.WAIVED: ("waived", "w", "WAIVED"),
}


class CheckFailed(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """The target was examined and does not meet the check; the message is the evidence."""

    __module__ = "builtins"  # as pytest's own outcomes: short summaries read "CheckFailed: ..."

    def __init__(self, msg: str) -> None:
        super().__init__(msg, pytrace=False)


class TargetError(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """The check could not examine its target (refused login, unexpected answer, ...)."""

    __module__ = "builtins"

    def __init__(self, msg: str) -> None:
        super().__init__(msg, pytrace=False)


class TargetUnreachable(TargetError):
    """Connecting to the target failed; every later check on it ends at once with this."""

    __module__ = "builtins"


class NotApplicable(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """The check does not apply to this target (or to this inventory).  ``unexamined``: it was
    not looked at for want of something the inventory or the login could give (a path, a
    privilege, a target, an active probe allowed): a team's checklist item answered only by such
    results has no evidence and is an error (``checklist.status``)."""

    def __init__(self, reason: str, unexamined: bool = False) -> None:
        super().__init__(reason)
        self.unexamined = unexamined


class ManualPending(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """A manual item without a valid attestation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


def not_applicable(reason: str, *, unexamined: bool = False) -> NoReturn:
    """End the check as *not applicable*, with the reason shown in every report.  ``unexamined=True``
    when nothing was looked at for want of configuration or a privilege (name what is missing):
    n/a for the catalog, but no evidence for a team's checklist item."""
    __tracebackhide__ = True
    raise NotApplicable(reason, unexamined)


def fail(target: Any, observed: str, expected: str) -> NoReturn:
    """End the check as *failed*: ``<target>: <observed>; expected <expected>``."""
    __tracebackhide__ = True
    raise CheckFailed(f"{_label(target)}: {observed}; expected {expected}")


def require(condition: object, target: Any, observed: str, expected: str) -> None:
    """Fail with the evidence unless ``condition`` holds.

    >>> require(days >= 14, tls_endpoint, f"certificate expires in {days} days", ">= 14 days")
    """
    __tracebackhide__ = True
    if not condition:
        fail(target, observed, expected)


def _label(target: Any) -> str:
    label = getattr(target, "label", None)
    return str(label if label is not None else target)


@dataclass
class Evidence:
    """What a check observed, for the reports: ``evidence.record(days_left=12)``.

    Values should be JSON-friendly (str, numbers, bools, lists, dicts); anything else is
    reported as its ``str()``.  Secrets are masked before a report sees them.
    """

    values: dict[str, Any] = field(default_factory=dict)

    def record(self, **values: Any) -> None:
        self.values.update(values)

    def __setitem__(self, key: str, value: Any) -> None:
        self.values[key] = value

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def __bool__(self) -> bool:
        return bool(self.values)


#: Evidence key of a result that something else kept from looking (the dead-target rule, a
#: certificate that cannot be verified): ``{"target", "cause", "reason"}``.  The reports group
#: such results under their root cause instead of listing each one.
BLOCKED_BY = "blocked_by"
#: Evidence key listing what the transport did that a reader should know (a body cut at the
#: size cap, an answer read over a connection that did not verify the certificate).
TRANSPORT = "transport"

_current: Evidence | None = None
#: Threads that read ahead for targets (``preflight.py``) while an item of another target runs:
#: what they read is no part of that item's evidence.
_outside = threading.local()


def set_current_evidence(evidence: Evidence | None) -> Evidence | None:
    """Make ``evidence`` the running item's (results.py sets it around setup and call); returns
    the previous one.  Items run one at a time in a process, threads of a check included."""
    global _current
    previous, _current = _current, evidence
    return previous


def outside_items() -> None:
    """Mark this thread as working for no item: it sees no current evidence."""
    _outside.on = True


def current_evidence() -> Evidence | None:
    """The running item's evidence, for handles that have something to say about how they read."""
    return None if getattr(_outside, "on", False) else _current


def note_blocked(target: str, cause: str, reason: str) -> None:
    """Record on the running item that ``cause`` (``unusable``, ``certificate``) on ``target``
    kept it from looking; the first cause recorded stays."""
    evidence = current_evidence()
    if evidence is not None and BLOCKED_BY not in evidence:
        evidence.values[BLOCKED_BY] = {"target": target, "cause": cause, "reason": reason}


def note_transport(text: str) -> None:
    """Add one line to the running item's ``transport`` evidence (each line once)."""
    evidence = current_evidence()
    if evidence is not None:
        lines = evidence.values.setdefault(TRANSPORT, [])
        if isinstance(lines, list) and text not in lines and len(lines) < 20:
            lines.append(text)


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return str(value)


def classify(when: str, report_outcome: str, exc: BaseException | None) -> Outcome:
    """The outcome a single phase report stands for."""
    if report_outcome == "passed":
        return Outcome.PASSED
    if report_outcome == "skipped":
        if isinstance(exc, ManualPending):
            return Outcome.MANUAL
        return Outcome.NOT_APPLICABLE
    if when != "call" or isinstance(exc, TargetError):
        return Outcome.ERROR
    if isinstance(exc, (AssertionError, pytest.fail.Exception)):
        return Outcome.FAILED
    return Outcome.ERROR


def message_of(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    if isinstance(exc, (pytest.fail.Exception, pytest.skip.Exception)):
        return str(getattr(exc, "msg", None) or exc)
    if isinstance(exc, AssertionError):
        return str(exc) or "assertion failed"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
