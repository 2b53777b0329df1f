"""Root causes: the results that could not look because of one thing, reported once.

When a target is unusable (the dead-target rule) or its certificate cannot be verified, every
check that needed it ends as an error saying so.  Listing each one buries the cause: the
reports say it once, ``27 checks blocked by tls-03: certificate has expired on nginx-expired``,
naming the check that found the cause when the run has one.  A result is grouped by what its
handle recorded (``outcomes.BLOCKED_BY`` in its evidence), never by parsing messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_deploycheck.decision import Result
from pytest_deploycheck.outcomes import BLOCKED_BY, Outcome

#: Which TLS check reports a certificate problem, by words of the verification error.
_CERTIFICATE_CHECKS = (("expired", "tls-03"), ("not yet valid", "tls-03"), ("hostname", "tls-02"), ("mismatch", "tls-02"),
                       ("match", "tls-02"))


@dataclass
class RootCause:
    """One cause (a target unusable, a certificate not verifiable) and the results it blocked."""

    target: str
    cause: str  # "unusable" | "certificate"
    reason: str
    origin: Result | None = None  # the result that found the cause, when the run has one
    blocked: list[Result] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``27 checks blocked by tls-03: certificate has expired on nginx-expired``."""
        n = len(self.blocked)
        checks = f"{n} check{'s' if n != 1 else ''} blocked"
        what = f"{self.reason} on {self.target}" if self.cause == "certificate" else f"{self.target} unusable: {self.reason}"
        if self.origin is not None:
            return f"{checks} by {self.origin.check_id}: {what}"
        return f"{checks}: {what}"

    def as_dict(self, key_of: dict[int, str]) -> dict[str, Any]:
        return {"target": self.target, "cause": self.cause, "reason": self.reason, "label": self.label,
                "origin": key_of.get(id(self.origin)) if self.origin is not None else None,
                "blocked": [key_of[id(r)] for r in self.blocked if id(r) in key_of]}


def blocked_by(result: Result) -> dict[str, str] | None:
    value = (result.evidence or {}).get(BLOCKED_BY)
    if isinstance(value, dict) and value.get("target") and value.get("reason"):
        return {k: str(v) for k, v in value.items()}
    return None


def root_causes(results: list[Result]) -> list[RootCause]:
    """Every cause that blocked at least one result, in the order the results name them."""
    groups: dict[tuple[str, str, str], RootCause] = {}
    for r in results:
        info = blocked_by(r)
        if info is None or r.outcome is not Outcome.ERROR:
            continue
        key = (info["target"], info.get("cause", "unusable"), info["reason"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = RootCause(target=key[0], cause=key[1], reason=key[2])
        group.blocked.append(r)
    for group in groups.values():
        group.origin = _origin(group, results)
    return list(groups.values())


def _origin(group: RootCause, results: list[Result]) -> Result | None:
    on_target = [r for r in results if r.target == group.target and blocked_by(r) is None]
    if group.cause == "certificate":
        failed = [r for r in on_target if r.outcome is Outcome.FAILED and r.check is not None and r.check.section == "tls"]
        reason = group.reason.lower()
        for word, check_id in _CERTIFICATE_CHECKS:
            if word in reason:
                for r in failed:
                    if r.check_id == check_id:
                        return r
        return failed[0] if failed else None
    # The first check that found the target unusable ended with the reason itself.
    for r in on_target:
        if r.outcome is Outcome.ERROR and group.reason in r.message:
            return r
    return None


def grouped(causes: list[RootCause]) -> set[int]:
    """``id()`` of every result a root cause stands for (listed under it, not one by one)."""
    return {id(r) for cause in causes for r in cause.blocked}
