"""The go-live verdict: GO, GO WITH RISKS or NO-GO, the rule that decided it, and the exit gate.

A pure function of the results, so the serial and the xdist run decide alike.  It fails closed:
an interrupted run, an internal error or a check that never ran cannot produce GO.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_deploycheck.markers import CheckMeta, Severity
from pytest_deploycheck.outcomes import Outcome


class Level(str, enum.Enum):
    GO = "GO"
    GO_WITH_RISKS = "GO WITH RISKS"
    NO_GO = "NO-GO"


FAIL_ON = ("high", "medium", "low", "never")


def function_of(nodeid: str) -> str:
    """``checks/test_tls.py::test_expiry[api]`` -> ``checks/test_tls.py::test_expiry``: the test
    function a result's item belongs to (collection order and the shard merge are by function)."""
    return nodeid.split("[", 1)[0]


@dataclass(frozen=True)
class Result:
    """One (check, target) as every report sees it."""

    nodeid: str
    check: CheckMeta | None  # None only for an item that never ran under xdist
    target: str | None
    target_kind: str | None
    outcome: Outcome
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    attestation: dict[str, Any] | None = None
    waiver: dict[str, Any] | None = None
    unexamined: bool = False  # n/a for want of configuration, a privilege or a target: nothing was looked at

    @property
    def severity(self) -> Severity:
        return self.check.severity if self.check else Severity.CRITICAL

    @property
    def check_id(self) -> str:
        return self.check.id if self.check else "?"

    @property
    def where(self) -> str:
        return f"{self.check_id} on {self.target}" if self.target else self.check_id

    @property
    def is_problem(self) -> bool:
        """Failed, could not be checked, or pending a person: something a decision must weigh."""
        return self.outcome in (Outcome.FAILED, Outcome.ERROR, Outcome.MANUAL, Outcome.NOT_RUN)


@dataclass(frozen=True)
class Scope:
    """How much of the collected catalog a run selected: a run narrowed by ``-k``, ``-m``,
    ``--deploycheck-severity``, deselection or a path to one section is *partial*, and every
    report says so, so that a partial GO can never pass for a full one."""

    selected: int = 0
    deselected: int = 0
    narrowed_by: tuple[str, ...] = ()  # "-k tls", "-m 'not manual'", "path checks/test_tls.py", ...
    left_out: tuple[str, ...] = ()  # check ids (or sections) collected but not selected, when known

    @property
    def partial(self) -> bool:
        return bool(self.deselected or self.narrowed_by)

    def describe(self) -> str:
        """``partial run: 12 checks selected, 288 deselected (-k tls); not a verdict on the whole catalog``."""
        if not self.partial:
            return ""
        how = f" ({'; '.join(self.narrowed_by)})" if self.narrowed_by else ""
        left = ""
        if self.left_out:
            shown = ", ".join(self.left_out[:12]) + (f" and {len(self.left_out) - 12} more" if len(self.left_out) > 12 else "")
            left = f"; left out: {shown}"
        return (f"partial run: {self.selected} selected, {self.deselected} deselected{how}{left}; "
                "not a verdict on the whole catalog")


@dataclass(frozen=True)
class Verdict:
    level: Level
    rule: str
    blocking: tuple[Result, ...] = ()
    risks: tuple[Result, ...] = ()
    scope: Scope = field(default_factory=Scope)

    @property
    def go(self) -> bool:
        return self.level is Level.GO

    @property
    def partial(self) -> bool:
        return self.scope.partial

    @property
    def line(self) -> str:
        """The verdict as one line: ``GO`` or ``GO (PARTIAL RUN: ...)``."""
        if not self.partial:
            return self.level.value
        how = f"; {'; '.join(self.scope.narrowed_by)}" if self.scope.narrowed_by else ""
        return f"{self.level.value} (PARTIAL RUN: {self.scope.selected} selected, {self.scope.deselected} deselected{how})"


def _blocks(result: Result) -> bool:
    return result.is_problem and result.severity.at_least(Severity.HIGH)


def _risk(result: Result) -> bool:
    if result.outcome is Outcome.WAIVED:
        return True
    return result.is_problem and result.severity in (Severity.MEDIUM, Severity.LOW)


#: Outcomes that mean the target was looked at: a pass, a failure, a failure accepted by a waiver.
EXAMINED = (Outcome.PASSED, Outcome.FAILED, Outcome.WAIVED)


def decide(results: Sequence[Result], *, interrupted: bool = False, internal_error: bool = False, scope: Scope | None = None,
           cause: str = "") -> Verdict:
    """GO only when every critical/high item passed (or is attested), at least one of them was
    examined, and the run completed.  ``scope`` says how much of the catalog the run selected;
    ``cause`` what ended a run early (SIGTERM, a second Ctrl-C, a report hook that raised)."""
    scope = scope or Scope(selected=len(results))
    verdict = _decide(results, interrupted=interrupted, internal_error=internal_error, cause=cause)
    if scope.partial:
        verdict = Verdict(verdict.level, f"{verdict.rule} ({scope.describe()})", verdict.blocking, verdict.risks)
    return Verdict(verdict.level, verdict.rule, verdict.blocking, verdict.risks, scope)


def _decide(results: Sequence[Result], *, interrupted: bool, internal_error: bool, cause: str) -> Verdict:
    blocking = tuple(r for r in results if _blocks(r))
    risks = tuple(r for r in results if _risk(r))
    not_run = [r for r in results if r.outcome is Outcome.NOT_RUN]
    why = f" ({cause})" if cause else ""
    if internal_error:
        return Verdict(Level.NO_GO, f"NO-GO: the run ended with an internal error{why}; no verdict can be trusted", blocking, risks)
    if interrupted:
        return Verdict(Level.NO_GO, f"NO-GO: the run was interrupted{why}; {len(not_run)} check(s) did not finish", blocking, risks)
    if not results:
        return Verdict(Level.NO_GO, "NO-GO: no checks ran; a go-live decision needs evidence", (), ())
    if not_run:
        return Verdict(Level.NO_GO, f"NO-GO: {len(not_run)} check(s) never ran", blocking, risks)
    if not blocking and not any(r.outcome in EXAMINED and r.severity.at_least(Severity.HIGH) for r in results):
        return Verdict(Level.NO_GO, f"NO-GO: {_nothing_examined(results)}; a go-live decision needs evidence of the critical "
                                    "and high items", blocking, risks)
    if blocking:
        kinds = Counter(r.outcome for r in blocking)
        parts = []
        if kinds[Outcome.FAILED]:
            parts.append(f"{kinds[Outcome.FAILED]} failed")
        if kinds[Outcome.ERROR]:
            parts.append(f"{kinds[Outcome.ERROR]} could not be checked")
        if kinds[Outcome.MANUAL]:
            parts.append(f"{kinds[Outcome.MANUAL]} manual item(s) pending attestation")
        return Verdict(Level.NO_GO, f"NO-GO: critical/high items not met: {', '.join(parts)}", blocking, risks)
    if risks:
        kinds = Counter(r.outcome for r in risks)
        parts = []
        if kinds[Outcome.FAILED] + kinds[Outcome.ERROR]:
            parts.append(f"{kinds[Outcome.FAILED] + kinds[Outcome.ERROR]} medium/low failure(s)")
        if kinds[Outcome.MANUAL]:
            parts.append(f"{kinds[Outcome.MANUAL]} medium/low manual item(s) pending")
        if kinds[Outcome.WAIVED]:
            parts.append(f"{kinds[Outcome.WAIVED]} waived")
        return Verdict(Level.GO_WITH_RISKS, f"GO WITH RISKS: every critical/high item met; {', '.join(parts)}", (), risks)
    return Verdict(Level.GO, "GO: every critical/high item met, nothing waived, nothing pending", (), ())


def _nothing_examined(results: Sequence[Result]) -> str:
    """Why no critical or high check examined anything: how many there were and what they said."""
    high = [r for r in results if r.severity.at_least(Severity.HIGH)]
    if not high:
        return f"no critical or high check was selected ({len(results)} of lower severity ran)"
    reasons = Counter(r.message.split(";", 1)[0].strip() or r.outcome.value for r in high)
    top = "; ".join(f"{text}" + (f" (x{n})" if n > 1 else "") for text, n in reasons.most_common(3))
    return f"none of the {len(high)} critical/high checks examined anything (all not applicable: {top})"


def gate_fails(verdict: Verdict, results: Iterable[Result], fail_on: str) -> bool:
    """Whether the exit status signals failure under ``--deploycheck-fail-on``.

    high (default): only NO-GO fails.  medium / low: also any unwaived problem of at least
    that severity.  never: the gate always passes (the verdict is still printed).
    """
    if fail_on == "never":
        return False
    if verdict.level is Level.NO_GO:
        return True
    if fail_on == "high":
        return False
    floor = Severity.parse(fail_on)
    return any(r.is_problem and r.severity.at_least(floor) for r in results)
