"""Readers for what the build says about the code: JUnit XML test reports, coverage (Cobertura,
coverage.py JSON, lcov, JaCoCo) and SARIF 2.1.0 logs of linters, type checkers and analysers."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from pathlib import Path

from pytest_deploycheck.targets.release_formats.base import (
    LEVELS,
    EvidenceFormatError,
    JsonNode,
    SarifLevel,
    epoch_ms,
    iso_time,
    load_json,
    load_xml,
    local,
    read_text,
)
from pytest_deploycheck.targets.release_formats.model import CoverageReport, SarifReport, SarifResult, SarifRun, TestReport

# --------------------------------------------------------------------------- tests (JUnit)

_COMMIT_PROPERTIES = {"commit", "git_commit", "git.commit", "ci.commit", "commit_sha", "git_sha", "github_sha", "ci_commit_sha", "revision"}


def read_junit(path: Path, limit: int) -> TestReport:
    root = load_xml(path, limit)
    tag = local(root.tag)
    if tag not in ("testsuites", "testsuite"):
        raise EvidenceFormatError(f"{path}: root element <{tag}> is not a JUnit <testsuites> or <testsuite>")
    suites = [root] if tag == "testsuite" else [s for s in root.iter() if local(s.tag) == "testsuite"]
    leaves = [s for s in suites if not any(local(c.tag) == "testsuite" for c in s)]
    totals = Counter[str]()
    failing: list[str] = []
    for suite in leaves:
        counted = Counter[str]()
        for case in (c for c in suite if local(c.tag) == "testcase"):
            counted["tests"] += 1
            outcomes = {local(child.tag) for child in case}
            for outcome, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
                if outcome in outcomes:
                    counted[key] += 1
            if outcomes & {"failure", "error"}:
                classname, name = case.get("classname", ""), case.get("name", "?")
                failing.append(f"{classname}::{name}" if classname else name)
        # A suite-level error (a module that failed to import) has no <testcase>: trust the attribute then.
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += max(counted[key], _int_attr(path, suite, key))
    if not leaves:
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] = _int_attr(path, root, key)
    stamps = [stamp for s in [root, *suites] if (stamp := s.get("timestamp"))]
    return TestReport(
        path,
        totals["tests"],
        totals["failures"],
        totals["errors"],
        totals["skipped"],
        tuple(failing),
        iso_time(path, stamps[0], "timestamp attribute") if stamps else None,
        _junit_commit(root),
    )



def _int_attr(path: Path, element: ET.Element, name: str) -> int:
    raw = element.get(name)
    if raw is None or raw == "":
        return 0
    try:
        return int(float(raw))
    except ValueError as exc:
        raise EvidenceFormatError(f"{path}: <{local(element.tag)} {name}={raw!r}>: not a number") from exc


def _junit_commit(root: ET.Element) -> str | None:
    for prop in root.iter():
        if local(prop.tag) == "property" and (prop.get("name") or "").strip().lower() in _COMMIT_PROPERTIES:
            value = (prop.get("value") or prop.text or "").strip()
            if value:
                return value
    return None


# --------------------------------------------------------------------------- coverage


def _percent(covered: float, valid: float) -> float:
    # coverage.py's convention: nothing to measure is 100 % measured.
    return 100.0 if valid == 0 else 100.0 * covered / valid


def read_cobertura(path: Path, limit: int) -> CoverageReport:
    root = load_xml(path, limit)
    if local(root.tag) != "coverage":
        raise EvidenceFormatError(f"{path}: root element <{local(root.tag)}> is not Cobertura <coverage>")
    lines_valid, lines_covered = _int_attr(path, root, "lines-valid"), _int_attr(path, root, "lines-covered")
    line_percent = 100.0 * _float_attr(path, root, "line-rate") if root.get("lines-valid") is None else _percent(lines_covered, lines_valid)
    branches_valid = _int_attr(path, root, "branches-valid")
    branch = _percent(_int_attr(path, root, "branches-covered"), branches_valid) if branches_valid else None
    return CoverageReport(
        path, "cobertura", line_percent, lines_valid, lines_covered, branch, epoch_ms(path, root.get("timestamp"), "<coverage timestamp>")
    )


def _float_attr(path: Path, element: ET.Element, name: str) -> float:
    raw = element.get(name)
    try:
        return float(raw) if raw is not None else math.nan
    except ValueError as exc:
        raise EvidenceFormatError(f"{path}: <{local(element.tag)} {name}={raw!r}>: not a number") from exc


def read_coverage_json(path: Path, limit: int) -> CoverageReport:
    doc = JsonNode(path, load_json(path, limit))
    totals, meta = doc["totals"], doc["meta"]
    statements, covered = int(totals["num_statements"].number()), int(totals["covered_lines"].number())
    branch = None
    if meta.get("branch_coverage") is not None and meta["branch_coverage"].value is True:
        branch = _percent(totals["covered_branches"].number(), totals["num_branches"].number())
    stamp = meta.opt_str("timestamp")
    return CoverageReport(
        path,
        "coverage-json",
        _percent(covered, statements),
        statements,
        covered,
        branch,
        iso_time(path, stamp, "$.meta.timestamp") if stamp else None,
    )


def read_lcov(path: Path, limit: int) -> CoverageReport:
    totals = Counter[str]()
    records = 0
    for number, line in enumerate(read_text(path, limit).splitlines(), 1):
        key, sep, value = line.strip().partition(":")
        if key in ("LF", "LH", "BRF", "BRH"):
            if not sep or not value.strip().isdigit():
                raise EvidenceFormatError(f"{path}: line {number}: {line.strip()!r}: {key} needs a count")
            totals[key] += int(value)
        elif key == "end_of_record":
            records += 1
    if records == 0:
        raise EvidenceFormatError(f"{path}: no lcov record (no end_of_record line): empty or truncated")
    branch = _percent(totals["BRH"], totals["BRF"]) if totals["BRF"] else None
    return CoverageReport(path, "lcov", _percent(totals["LH"], totals["LF"]), totals["LF"], totals["LH"], branch, None)


def read_jacoco(path: Path, limit: int) -> CoverageReport:
    root = load_xml(path, limit)
    if local(root.tag) != "report":
        raise EvidenceFormatError(f"{path}: root element <{local(root.tag)}> is not JaCoCo <report>")
    counters = {c.get("type"): c for c in root if local(c.tag) == "counter"}
    if "LINE" not in counters:
        raise EvidenceFormatError(f"{path}: <report> has no LINE <counter>")
    missed, covered = _int_attr(path, counters["LINE"], "missed"), _int_attr(path, counters["LINE"], "covered")
    branch = None
    if "BRANCH" in counters:
        b_missed, b_covered = _int_attr(path, counters["BRANCH"], "missed"), _int_attr(path, counters["BRANCH"], "covered")
        branch = _percent(b_covered, b_missed + b_covered)
    dumps = [dump for s in root if local(s.tag) == "sessioninfo" and (dump := s.get("dump"))]
    stamp = epoch_ms(path, max(dumps, key=float), "<sessioninfo dump>") if dumps else None
    return CoverageReport(path, "jacoco", _percent(covered, missed + covered), missed + covered, covered, branch, stamp)


# --------------------------------------------------------------------------- SARIF

def read_sarif(path: Path, limit: int) -> SarifReport:
    doc = JsonNode(path, load_json(path, limit))
    version = doc["version"].text()
    if not version.startswith("2.1"):
        raise doc["version"].fail(f"SARIF version {version!r} is not 2.1.x")
    runs = list(doc.items("runs"))
    stamps: list[datetime] = []
    for run in runs:
        for invocation in run.items("invocations"):
            stamp = invocation.opt_time("endTimeUtc") or invocation.opt_time("startTimeUtc")
            if stamp is not None:
                stamps.append(stamp)
    return SarifReport(path, tuple(_sarif_run(run) for run in runs), max(stamps) if stamps else None)


def _sarif_run(run: JsonNode) -> SarifRun:
    driver = run["tool"]["driver"]
    rules: list[JsonNode] = list(driver.items("rules"))
    for extension in run["tool"].items("extensions"):
        rules.extend(extension.items("rules"))
    by_id = {rule["id"].text(): rule for rule in rules if rule.get("id") is not None}
    counts = Counter[SarifLevel]()
    results: list[SarifResult] = []
    suppressed = 0
    for result in run.items("results"):
        if any((s.opt_str("status") or "accepted") == "accepted" for s in result.items("suppressions")):
            suppressed += 1
            continue
        rule_id = result.opt_str("ruleId") or ""
        index = result.opt_num("ruleIndex")
        rule = rules[int(index)] if index is not None and 0 <= index < len(rules) else by_id.get(rule_id)
        level = _sarif_level(result, rule)
        counts[level] += 1
        results.append(SarifResult(rule_id, level, _sarif_location(result), _sarif_message(result, rule), _security_severity(result, rule)))
    return SarifRun(
        driver["name"].text(),
        {level: counts.get(level, 0) for level in LEVELS},
        tuple(r for r in results if r.level == "error"),
        tuple(results),
        suppressed,
    )


def _sarif_level(result: JsonNode, rule: JsonNode | None) -> SarifLevel:
    level = result.opt_str("level")
    if level is None and rule is not None and rule.get("defaultConfiguration") is not None:
        level = rule["defaultConfiguration"].opt_str("level")
    if level is None:
        # SARIF 2.1.0 §3.27.10: a result whose kind is not "fail" defaults to level "none".
        level = "warning" if (result.opt_str("kind") or "fail") == "fail" else "none"
    if level not in LEVELS:
        raise (result.get("level") or result).fail(f"unknown SARIF level {level!r}")
    return level


def _sarif_location(result: JsonNode) -> str:
    for location in result.items("locations"):
        physical = location.get("physicalLocation")
        if physical is None:
            continue
        artifact = physical.get("artifactLocation")
        uri = (artifact.opt_str("uri") if artifact else None) or "?"
        region = physical.get("region")
        line = region.opt_num("startLine") if region else None
        return f"{uri}:{int(line)}" if line is not None else uri
    return ""


def _sarif_message(result: JsonNode, rule: JsonNode | None) -> str:
    message = result.get("message")
    text = (message.opt_str("text") or message.opt_str("markdown")) if message else None
    if text is None and message is not None and rule is not None and message.opt_str("id") and rule.get("messageStrings"):
        template = rule["messageStrings"].get(message["id"].text())
        text = template.opt_str("text") if template else None
    return (text or "").strip()


def _security_severity(result: JsonNode, rule: JsonNode | None) -> float | None:
    for holder in (result, rule):
        props = holder.get("properties") if holder is not None else None
        raw = props.get("security-severity") if props is not None else None
        if raw is not None:
            try:
                return float(raw.value)
            except (TypeError, ValueError) as exc:
                raise raw.fail(f"security-severity {raw.value!r} is not a CVSS score") from exc
    return None


