"""Readers for the reports a team's CI produced for a release: tests, coverage, static analysis,
vulnerability scans, SBOMs and load tests (the ``release`` target kind reads a folder of them).

A file is recognised by its content, never by its name (``sniff``).  One reader per format turns
a file into a small frozen summary (``model.py``); the family functions (``parse_tests``,
``parse_coverage``, ``parse_sarif``, ``parse_vulnerabilities``, ``parse_sbom``,
``parse_load_test``) sniff first and refuse a file of another family, and ``parse(path)`` takes
whatever it is given.  Every failure to read is an ``EvidenceFormatError`` naming the file and
the place; no other exception escapes.

Modules: ``base`` (kinds, bounded reading, the JSON walker, times, severities), ``sniff``,
``quality`` (JUnit, coverage, SARIF), ``vulns`` (vulnerability reports and SBOMs), ``load``
(k6, Locust, JMeter), ``model`` (the summaries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_deploycheck.targets.release_formats import load, quality, vulns
from pytest_deploycheck.targets.release_formats.base import (
    DEFAULT_MAX_BYTES,
    FAMILY,
    SEVERITIES,
    SNIFF_BYTES,
    EvidenceFormatError,
    EvidenceKind,
    Family,
    Severity,
)
from pytest_deploycheck.targets.release_formats.model import (
    Component,
    CoverageReport,
    Finding,
    LoadTestReport,
    Report,
    SarifReport,
    Sbom,
    TestReport,
    Threshold,
    VulnerabilityReport,
)
from pytest_deploycheck.targets.release_formats.sniff import sniff
from pytest_deploycheck.targets.release_formats.vulns import is_scanner

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FAMILY",
    "PARSERS",
    "SEVERITIES",
    "SNIFF_BYTES",
    "Component",
    "CoverageReport",
    "EvidenceFormatError",
    "EvidenceKind",
    "Family",
    "Finding",
    "LoadTestReport",
    "Report",
    "SarifReport",
    "Sbom",
    "Severity",
    "TestReport",
    "Threshold",
    "VulnerabilityReport",
    "is_scanner",
    "parse",
    "parse_coverage",
    "parse_load_test",
    "parse_sarif",
    "parse_sbom",
    "parse_tests",
    "parse_vulnerabilities",
    "sniff",
    "vulnerabilities_of",
]

PARSERS: Mapping[EvidenceKind, Callable[[Path, int], Report]] = {
    "junit": quality.read_junit,
    "cobertura": quality.read_cobertura,
    "coverage-json": quality.read_coverage_json,
    "lcov": quality.read_lcov,
    "jacoco": quality.read_jacoco,
    "sarif": quality.read_sarif,
    "npm-audit": vulns.read_npm_audit,
    "pip-audit": vulns.read_pip_audit,
    "osv-scanner": vulns.read_osv,
    "trivy": vulns.read_trivy,
    "grype": vulns.read_grype,
    "cyclonedx": vulns.read_cyclonedx,
    "spdx": vulns.read_spdx,
    "k6": load.read_k6,
    "locust-csv": load.read_locust_csv,
    "locust-json": load.read_locust_json,
    "jmeter-csv": load.read_jmeter_csv,
}


def vulnerabilities_of(report: SarifReport | Sbom) -> VulnerabilityReport:
    """The vulnerability findings of a scanner's SARIF log or of a CycloneDX BOM's ``vulnerabilities``."""
    if isinstance(report, SarifReport):
        return VulnerabilityReport(report.path, "sarif", ", ".join(report.tools), vulns.findings_from_sarif(report), report.timestamp)
    return VulnerabilityReport(report.path, "cyclonedx", "cyclonedx", report.vulnerabilities, report.timestamp)


def _vulnerabilities_of(kind: EvidenceKind) -> Callable[[Path, int], VulnerabilityReport]:
    def read(path: Path, limit: int) -> VulnerabilityReport:
        parsed = PARSERS[kind](path, limit)
        if not isinstance(parsed, (SarifReport, Sbom)):
            raise TypeError(f"a {kind} reader returned {type(parsed).__name__}")
        return vulnerabilities_of(parsed)

    return read


def _run(path: str | Path, kind: EvidenceKind, reader: Callable[[Path, int], Any], max_bytes: int) -> Any:
    path = Path(path)
    try:
        return reader(path, max_bytes)
    except EvidenceFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError, OverflowError) as exc:
        # Last resort: a shape no validation foresaw still names the file, never a traceback.
        raise EvidenceFormatError(f"{path}: unreadable {kind} report: {type(exc).__name__}: {exc}") from exc


def _kind_of(path: str | Path, allowed: Iterable[EvidenceKind], what: str) -> EvidenceKind:
    if not Path(path).is_file():
        raise EvidenceFormatError(f"{path}: no such file")
    kind = sniff(path)
    if kind is None:
        raise EvidenceFormatError(f"{path}: not a report format we recognise (expected {what})")
    if kind not in allowed:
        raise EvidenceFormatError(f"{path}: is a {kind} report, not {what}")
    return kind


def family_kinds(family: Family) -> list[EvidenceKind]:
    return [k for k, f in FAMILY.items() if f == family]


def parse(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Report:
    """Recognise and read any supported report."""
    kind = _kind_of(path, PARSERS, "a test, coverage, SARIF, vulnerability, SBOM or load-test report")
    return _run(path, kind, PARSERS[kind], max_bytes)  # type: ignore[no-any-return]


def parse_tests(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> TestReport:
    return _run(path, _kind_of(path, ["junit"], "a JUnit XML report"), quality.read_junit, max_bytes)  # type: ignore[no-any-return]


def parse_coverage(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CoverageReport:
    kind = _kind_of(path, family_kinds("coverage"), "a Cobertura, coverage.py JSON, lcov or JaCoCo report")
    return _run(path, kind, PARSERS[kind], max_bytes)  # type: ignore[no-any-return]


def parse_sarif(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SarifReport:
    return _run(path, _kind_of(path, ["sarif"], "a SARIF 2.1.0 log"), quality.read_sarif, max_bytes)  # type: ignore[no-any-return]


def parse_vulnerabilities(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> VulnerabilityReport:
    """Findings of npm audit, pip-audit, OSV-Scanner, Trivy, Grype, a scanner's SARIF or a CycloneDX BOM's vulnerabilities."""
    kind = _kind_of(path, [*family_kinds("vulnerabilities"), "sarif", "cyclonedx"], "a vulnerability report")
    reader: Callable[[Path, int], Any] = _vulnerabilities_of(kind) if kind in ("sarif", "cyclonedx") else PARSERS[kind]
    return _run(path, kind, reader, max_bytes)  # type: ignore[no-any-return]


def parse_sbom(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Sbom:
    kind = _kind_of(path, family_kinds("sbom"), "a CycloneDX or SPDX JSON SBOM")
    return _run(path, kind, PARSERS[kind], max_bytes)  # type: ignore[no-any-return]


def parse_load_test(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadTestReport:
    kind = _kind_of(path, family_kinds("load-test"), "a k6, Locust or JMeter report")
    return _run(path, kind, PARSERS[kind], max_bytes)  # type: ignore[no-any-return]
