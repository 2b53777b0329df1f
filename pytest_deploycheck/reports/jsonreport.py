"""The JSON report (``--deploycheck-json=PATH``): one versioned document per run, made to be diffed.

The document is described by ``SCHEMA`` (JSON Schema 2020-12) and in ``docs/REPORTS.md``.
``format_version`` changes only when a field is removed or changes meaning; new fields may
appear in any version.  Everything that varies between two identical runs is confined to
``run.started``, ``run.finished``, ``run.duration`` and each result's ``duration``.
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from typing import Any

import pytest

from pytest_deploycheck.checklist.status import STATUSES as CHECKLIST_STATUSES
from pytest_deploycheck.decision import Result
from pytest_deploycheck.markers import Severity
from pytest_deploycheck.outcomes import Outcome, jsonable
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.reports.common import clean_obj, extra_list, result_keys
from pytest_deploycheck.reports.summary import OUTCOME_ORDER, RunSummary

FORMAT = "pytest-deploycheck-report"
FORMAT_VERSION = 1

OUTCOMES = [o.value for o in OUTCOME_ORDER]
SEVERITIES = [s.value for s in Severity]

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_COUNTS = {"type": "object", "properties": {o: {"type": "integer", "minimum": 0} for o in OUTCOMES},
           "required": OUTCOMES, "additionalProperties": False}
_OBJ_OR_NULL = {"type": ["object", "null"]}

#: JSON Schema of the document; ``tests/test_reports_json.py`` validates every run against it.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:pytest-deploycheck:report:1",
    "title": "pytest-deploycheck go-live report",
    "type": "object",
    "required": ["format", "format_version", "run", "verdict", "counts", "checks", "results", "waivers", "attestations",
                 "partial", "selected", "deselected"],
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "partial": {"type": "boolean"},
        "selected": {"type": "integer", "minimum": 0},
        "deselected": {"type": "integer", "minimum": 0},
        "scope": {"type": "object", "properties": {"narrowed_by": {"type": "array", "items": _STR},
                                                   "left_out": {"type": "array", "items": _STR}, "description": _STR}},
        "root_causes": {"type": "array", "items": {
            "type": "object", "required": ["target", "cause", "reason", "label", "origin", "blocked"],
            "properties": {"target": _STR, "cause": _STR, "reason": _STR, "label": _STR, "origin": _NSTR,
                           "blocked": {"type": "array", "items": _STR}}}},
        "incidents": {"type": "array", "items": _STR},
        "run": {
            "type": "object",
            "required": ["started", "finished", "duration", "interrupted", "exit_status", "fail_on", "plugin_version",
                         "pytest_version", "python_version", "catalog_digest", "inventory"],
            "properties": {
                "started": {"type": "string", "format": "date-time"},
                "finished": {"type": "string", "format": "date-time"},
                "duration": {"type": "number", "minimum": 0},
                "interrupted": {"type": "boolean"},
                "exit_status": {"type": "integer"},
                "fail_on": {"enum": ["high", "medium", "low", "never"]},
                "plugin_version": _STR,
                "pytest_version": _STR,
                "python_version": _STR,
                "catalog_digest": _STR,
                "inventory": {
                    "type": ["object", "null"],
                    "required": ["name", "path", "sha256"],
                    "properties": {"name": _STR, "path": _NSTR, "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"}},
                    "additionalProperties": False,
                },
            },
        },
        "verdict": {
            "type": "object",
            "required": ["level", "rule", "blocking", "risks"],
            "properties": {
                "level": {"enum": ["GO", "GO WITH RISKS", "NO-GO"]},
                "rule": _STR,
                "blocking": {"type": "array", "items": _STR},
                "risks": {"type": "array", "items": _STR},
            },
        },
        "counts": {
            "type": "object",
            "required": ["total", "by_outcome", "by_severity", "by_section"],
            "properties": {
                "total": {"type": "integer", "minimum": 0},
                "by_outcome": _COUNTS,
                "by_severity": {"type": "object", "properties": {s: _COUNTS for s in SEVERITIES}, "required": SEVERITIES,
                                "additionalProperties": False},
                "by_section": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["title", "counts"], "properties": {"title": _STR, "counts": _COUNTS}}},
            },
        },
        "checks": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["title", "section", "section_title", "severity", "rationale", "refs", "manual", "instructions", "active_probe"],
            "properties": {
                "title": _STR, "section": _STR, "section_title": _STR, "severity": {"enum": SEVERITIES}, "rationale": _STR,
                "refs": {"type": "array", "items": _STR}, "manual": {"type": "boolean"}, "instructions": _STR,
                "active_probe": {"type": "boolean"}, "answers": {"type": "array", "items": _STR},
            },
        }},
        "results": {"type": "array", "items": {
            "type": "object",
            "required": ["key", "nodeid", "id", "title", "section", "severity", "target", "target_kind", "outcome", "message",
                         "evidence", "attestation", "waiver", "duration"],
            "properties": {
                "key": _STR, "nodeid": _STR, "id": _STR, "title": _STR, "section": _STR, "section_title": _STR,
                "severity": {"enum": SEVERITIES}, "target": _NSTR, "target_kind": _NSTR, "outcome": {"enum": OUTCOMES},
                "message": _STR, "evidence": {"type": "object"}, "attestation": _OBJ_OR_NULL, "waiver": _OBJ_OR_NULL,
                "unexamined": {"type": "boolean"},
                "duration": {"type": "number", "minimum": 0},
            },
        }},
        "waivers": {"type": "array", "items": {"type": "object"}},
        "attestations": {"type": "array", "items": {"type": "object"}},
        "order": {"type": "array", "items": _STR},
        "checklist": {
            "type": "object", "required": ["source", "items"],
            "properties": {
                "source": {"anyOf": [_STR, {"type": "array", "items": _STR}]},
                "items": {"type": "array", "items": {
                    "type": "object",
                    "required": ["key", "section", "text", "checks", "manual", "severity", "status", "matched_by"],
                    "properties": {
                        "key": _STR, "id": _STR, "source": _STR, "section": {"type": "array", "items": _STR}, "text": _STR,
                        "line": {"type": "integer"}, "checks": {"type": "array", "items": _STR}, "manual": {"type": "boolean"},
                        "severity": {"anyOf": [{"enum": SEVERITIES}, {"type": "null"}]},
                        "status": {"enum": list(CHECKLIST_STATUSES)}, "matched_by": _STR, "reason": _STR,
                        "attest": _STR, "results": {"type": "array", "items": {"type": "object"}},
                    },
                }},
                "counts": {"type": "object"}, "beyond": {"type": "array", "items": _STR},
                "warnings": {"type": "array", "items": _STR},
            },
        },
    },
}


def _counts(counter: Counter[Outcome]) -> dict[str, int]:
    return {o.value: counter[o] for o in OUTCOME_ORDER}


def document(summary: RunSummary, redactor: Redactor | None = None) -> dict[str, Any]:
    """The whole report as a JSON-able dict (secrets masked, text cleaned)."""
    results = summary.results
    keys = result_keys(results)
    key_of = {id(r): k for r, k in zip(results, keys, strict=True)}
    sections: dict[str, dict[str, Any]] = {}
    checks: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.check is None:
            continue
        entry = sections.setdefault(r.check.section, {"title": r.check.section_title, "counter": Counter()})
        entry["counter"][r.outcome] += 1
        meta = r.check.as_dict()
        checks.setdefault(r.check.id, {k: v for k, v in meta.items() if k != "id"})
    for r in results:
        if r.check is None:
            entry = sections.setdefault("", {"title": "(unknown)", "counter": Counter()})
            entry["counter"][r.outcome] += 1
    inventory = None
    if summary.inventory_name is not None or summary.inventory_sha256 is not None:
        inventory = {"name": summary.inventory_name or "", "path": summary.inventory_path, "sha256": summary.inventory_sha256}
    scope = summary.scope
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "partial": scope.partial,
        "selected": scope.selected,
        "deselected": scope.deselected,
        "scope": {"narrowed_by": list(scope.narrowed_by), "left_out": list(scope.left_out), "description": scope.describe()},
        "root_causes": [cause.as_dict(key_of) for cause in summary.root_causes()],
        "incidents": list(summary.incidents),
        "run": {
            "started": summary.started.isoformat(),
            "finished": summary.finished.isoformat(),
            "duration": round((summary.finished - summary.started).total_seconds(), 3),
            "interrupted": summary.interrupted,
            "exit_status": summary.exit_status,
            "fail_on": summary.fail_on,
            "plugin_version": summary.plugin_version,
            "pytest_version": pytest.__version__,
            "python_version": platform.python_version(),
            "catalog_digest": summary.catalog_digest,
            "inventory": inventory,
        },
        "verdict": {
            "level": summary.verdict.level.value,
            "rule": summary.verdict.rule,
            # A checklist item nothing was examined for is no result of its own: named by its node id.
            "blocking": [key_of.get(id(r), r.nodeid) for r in summary.verdict.blocking],
            "risks": [key_of.get(id(r), r.nodeid) for r in summary.verdict.risks],
        },
        "counts": {
            "total": len(results),
            "by_outcome": _counts(summary.counts()),
            "by_severity": {s.value: _counts(c) for s, c in summary.by_severity().items()},
            "by_section": {sid: {"title": e["title"], "counts": _counts(e["counter"])} for sid, e in sections.items()},
        },
        "checks": checks,
        "results": [_record(r, key) for r, key in zip(results, keys, strict=True)],
        "waivers": [jsonable(w) for w in extra_list(summary, "waivers")],
        "attestations": [jsonable(a) for a in extra_list(summary, "attestations")],
        # Every collected test function in collection order, before any selection: shards merge by it.
        "order": [str(f) for f in summary.extra.get("order") or ()],
    }
    if summary.checklist is not None:
        doc["checklist"] = summary.checklist.as_dict()
    if redactor is not None:
        doc = redactor.redact_obj(doc)
    return clean_obj(doc)  # type: ignore[no-any-return]


def _record(r: Result, key: str) -> dict[str, Any]:
    check = r.check
    return {
        "key": key,
        "nodeid": r.nodeid,
        "id": r.check_id,
        "title": check.title if check else "",
        "section": check.section if check else "",
        "section_title": check.section_title if check else "",
        "severity": r.severity.value,
        "target": r.target,
        "target_kind": r.target_kind,
        "outcome": r.outcome.value,
        "message": r.message or "",
        "evidence": jsonable(r.evidence or {}),
        "attestation": jsonable(r.attestation) if r.attestation else None,
        "waiver": jsonable(r.waiver) if r.waiver else None,
        "unexamined": r.unexamined,
        "duration": r.duration,
    }


def dumps(doc: dict[str, Any]) -> str:
    # sort_keys and a fixed indent: two runs diff line by line.
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m pytest_deploycheck.reports.jsonreport > report.schema.json
    print(json.dumps(SCHEMA, indent=2, sort_keys=True))
