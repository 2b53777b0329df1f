"""Say what a report is from its content, never from its name: CI artifacts are renamed, zipped
and re-uploaded until no name can be trusted.  ``sniff(path)`` reads a bounded prefix (and, for
JSON, a bounded tail) and returns an ``EvidenceKind`` or None."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_deploycheck.targets.release_formats.base import SNIFF_BYTES, EvidenceKind

_JSON_MARKERS: tuple[tuple[EvidenceKind, tuple[str, ...]], ...] = (
    # Order matters: the most specific signature first.
    ("sarif", ('"runs"', '"version"')),
    ("cyclonedx", ('"bomFormat"',)),
    ("spdx", ('"spdxVersion"',)),
    ("npm-audit", ('"auditReportVersion"',)),
    ("npm-audit", ('"advisories"', '"actions"')),
    ("trivy", ('"SchemaVersion"',)),
    ("grype", ('"matches"', '"descriptor"')),
    ("pip-audit", ('"dependencies"', '"vulns"')),
    ("pip-audit", ('"dependencies"', '"fixes"')),
    ("coverage-json", ('"meta"', '"totals"', '"files"')),
    ("k6", ('"metrics"', '"root_group"')),
    ("k6", ('"metrics"', '"http_reqs"')),
    ("locust-json", ('"num_requests"', '"response_times"')),
    ("osv-scanner", ('"results"', '"packages"')),
    ("osv-scanner", ('"results"', '"experimental_config"')),
)


def sniff(path: str | Path, *, prefix_bytes: int = SNIFF_BYTES) -> EvidenceKind | None:
    """Say what kind of report ``path`` holds from its first ``prefix_bytes`` bytes, or None."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(prefix_bytes)
            # Some writers put the telling keys last (cyclonedx-py writes "bomFormat" after the
            # components), so a JSON document is also judged by its bounded tail.
            fh.seek(0, 2)
            size = fh.tell()
            tail = b""
            if size > prefix_bytes:
                fh.seek(max(prefix_bytes, size - prefix_bytes))
                tail = fh.read(prefix_bytes)
    except OSError:
        return None
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if not text:
        return None
    if text.startswith("<"):
        return _sniff_xml(text)
    if text[0] in "{[":
        return _sniff_json(text + "\n" + tail.decode("utf-8", errors="replace"))
    return _sniff_text(text)


def _sniff_xml(text: str) -> EvidenceKind | None:
    root = re.search(r"<([A-Za-z_][\w.:-]*)", re.sub(r"<[?!](?:--.*?--|[^>]*)>", "", text, flags=re.S))
    if root is None:
        return None
    name = root.group(1).rsplit(":", 1)[-1]
    if name in ("testsuites", "testsuite"):
        return "junit"
    if name == "coverage" and "line-rate" in text:
        return "cobertura"
    if name == "report" and "JACOCO" in text.upper():
        return "jacoco"
    return None


def _sniff_json(text: str) -> EvidenceKind | None:
    if text.startswith("{") and re.search(r'"error"\s*:\s*\{', text) and ("audit" in text.lower() or "/-/npm/" in text):
        return "npm-audit"  # npm's JSON error object in place of a report: parse_* says why
    for kind, markers in _JSON_MARKERS:
        if all(re.search(re.escape(m) + r"\s*:", text) for m in markers):
            if kind == "sarif" and "sarif" not in text[:4096].lower() and '"2.1.0"' not in text:
                continue
            return kind
    if re.match(r"\[\s*\]\s*$", text):
        return "locust-json"  # locust --json with no requests at all
    return None


def _sniff_text(text: str) -> EvidenceKind | None:
    first = text.splitlines()[0].strip()
    if re.match(r"^(TN|SF):", first):
        return "lcov"
    columns = [c.strip().strip('"') for c in first.split(",")]
    if columns[:4] == ["Type", "Name", "Request Count", "Failure Count"]:
        return "locust-csv"
    if {"timeStamp", "elapsed", "success"} <= set(columns):
        return "jmeter-csv"
    return None


