"""Results: each check's report carries its outcome, evidence, attestation and waiver.

``pytest_runtest_makereport`` turns pytest's passed / failed / skipped into the go-live outcome
(a passed manual item without a valid attestation is *manual*, a waived failure *waived*) and
attaches ``report.deploycheck`` for the summary and every report writer; every report's text is
masked by the run's redactor.  ``pytest_report_teststatus`` counts the new outcomes apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import Any

import pytest

from pytest_deploycheck.markers import CheckMeta
from pytest_deploycheck.outcomes import TESTSTATUS, Evidence, NotApplicable, Outcome, classify, jsonable, message_of, set_current_evidence
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.state import EVIDENCE_KEY, META_KEY, OUTCOME_KEY, STATE_KEY, DeploycheckState, item_target


def _skip_longrepr(item: pytest.Item, reason: str) -> tuple[str, int, str]:
    path, lineno, _ = item.reportinfo()
    return str(path), (lineno or 0) + 1, reason


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """The item's evidence is the current one while its fixtures are set up (a dead target's
    pre-flight runs here) and while it runs, so handles can note how they read."""
    return (yield from _with_evidence(item))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _with_evidence(item))


def _with_evidence(item: pytest.Item) -> Generator[None, None, None]:
    if item.stash.get(META_KEY, None) is None:
        return (yield)
    previous = set_current_evidence(item.stash.setdefault(EVIDENCE_KEY, Evidence()))
    try:
        return (yield)
    finally:
        set_current_evidence(previous)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash.get(STATE_KEY, None)
    if state is None:
        return report
    meta = item.stash.get(META_KEY, None)
    if meta is not None:
        _annotate(item, call, report, meta, state)
    redact_report(report, state.redactor)
    return report


def _annotate(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport, meta: CheckMeta, state: DeploycheckState) -> None:
    exc = call.excinfo.value if call.excinfo is not None else None
    outcome = classify(report.when, report.outcome, exc)
    message = message_of(exc)
    kind, target = item_target(item)
    hook = item.config.hook
    attestation = waiver = None
    if report.when == "call" and outcome is Outcome.PASSED and meta.manual:
        attestation = checked_attestation(hook.pytest_deploycheck_attestation(config=item.config, check=meta, target=target))
        if not attestation or attestation.get("status", "valid") != "valid":
            reason = (attestation or {}).get("reason") or "no attestation recorded"
            message = f"pending attestation ({reason})" + (f": {meta.instructions}" if meta.instructions else "")
            outcome = Outcome.MANUAL
            report.outcome = "skipped"
            report.longrepr = _skip_longrepr(item, f"manual: {message}")
            attestation = attestation or None
    if report.when == "call" and outcome is Outcome.FAILED:
        waiver = hook.pytest_deploycheck_waiver(config=item.config, check=meta, target=target, message=state.redactor.redact(message))
        if waiver:
            outcome = Outcome.WAIVED
            report.outcome = "skipped"
            report.longrepr = _skip_longrepr(item, f"waived ({waiver.get('id', '?')}, approved by {waiver.get('approver', '?')} until {waiver.get('expires', '?')}): {message}")
    previous = item.stash.get(OUTCOME_KEY, Outcome.PASSED)
    if previous is Outcome.PASSED or report.when == "call":
        item.stash[OUTCOME_KEY] = outcome
    evidence = item.stash.get(EVIDENCE_KEY, None)
    data = state.redactor.redact_obj({
        "phase": report.when, "outcome": outcome.value, "target": target, "target_kind": kind,
        "message": message, "evidence": jsonable(evidence.values) if evidence else {},
        "attestation": jsonable(attestation) if attestation else None, "waiver": jsonable(waiver) if waiver else None,
    })
    # The check's metadata is the catalog's own text, not run data: it is not masked, and only the
    # item's first report (setup) carries it whole; the later ones name the check by id.  A 500
    # target run sends 33,000 reports to the xdist controller: the metadata once per item, not thrice.
    data["check"] = meta.as_dict() if report.when == "setup" else {"id": meta.id}
    if isinstance(exc, NotApplicable) and exc.unexamined:
        data["unexamined"] = True
    report.deploycheck = data  # type: ignore[attr-defined]
    if report.when == "teardown":
        final = item.stash.get(OUTCOME_KEY, outcome)
        report.user_properties = [*report.user_properties, ("check_id", meta.id), ("title", meta.title),
                                  ("severity", meta.severity.value), ("section", meta.section),
                                  ("target", target or "-"), ("outcome", final.value)]


def checked_attestation(attestation: Any) -> dict[str, Any] | None:
    """An attestation from any source (the file, a plugin's hook) as the reports take it: one
    without a person (``by``) and a real date that is not in the future is *invalid*, and the
    item stays pending; the file is checked when it is read, a hook's answer here."""
    if not attestation:
        return None
    if not isinstance(attestation, dict):
        return {"status": "invalid", "reason": f"the attestation hook returned {type(attestation).__name__}, not a dict"}
    problems = []
    by = attestation.get("by")
    if not isinstance(by, str) or not by.strip():
        problems.append("no person (by)")
    raw_date = attestation.get("date")
    try:
        date = raw_date if isinstance(raw_date, dt.date) else dt.date.fromisoformat(str(raw_date).strip())
    except ValueError:
        problems.append(f"no valid date (got {raw_date!r})")
    else:
        if date > dt.date.today():
            problems.append(f"a date in the future ({date.isoformat()})")
    if not problems:
        return attestation
    source = attestation.get("source") or "an attestation hook"
    return {**attestation, "status": "invalid", "reason": f"invalid attestation from {source}: {', '.join(problems)}"}


def redact_report(report: pytest.TestReport | pytest.CollectReport, redactor: Redactor) -> None:
    """Mask secrets in a report's traceback, message and captured output, in place."""
    if not redactor.secrets:
        return
    longrepr = report.longrepr
    if isinstance(longrepr, (str, tuple)):
        report.longrepr = redactor.redact_obj(longrepr)
    elif longrepr is not None:
        redactor.redact_obj(longrepr)
    report.sections = [(title, redactor.redact(content)) for title, content in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = [(k, redactor.redact(str(v))) for k, v in report.user_properties]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    state = collector.config.stash.get(STATE_KEY, None)
    if state is not None:
        redact_report(report, state.redactor)
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """Count error, n/a, manual and waived apart, so a pending item never reads as a pass."""
    data = getattr(report, "deploycheck", None)
    if not isinstance(data, dict) or report.when == "teardown":
        return None
    return TESTSTATUS.get(Outcome(data["outcome"]))
