"""What a report says, once read: one small frozen summary per family.

Every summary has ``path`` and ``timestamp`` (timezone-aware, or None when the format carries no
time of its own): the release checks judge a report's age from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pytest_deploycheck.targets.release_formats.base import SEVERITIES, EvidenceKind, SarifLevel, Severity


@dataclass(frozen=True)
class TestReport:
    """A JUnit XML report: counts over every leaf ``<testsuite>``, the failing cases by name."""

    __test__ = False  # not a pytest test class, whatever its name says

    path: Path
    tests: int
    failures: int
    errors: int
    skipped: int
    failing: tuple[str, ...]
    timestamp: datetime | None
    commit: str | None

    @property
    def passed(self) -> bool:
        return self.tests > 0 and self.failures == 0 and self.errors == 0


@dataclass(frozen=True)
class CoverageReport:
    path: Path
    kind: EvidenceKind
    line_percent: float
    lines_valid: int
    lines_covered: int
    branch_percent: float | None
    timestamp: datetime | None


@dataclass(frozen=True)
class SarifResult:
    rule_id: str
    level: SarifLevel
    location: str
    message: str
    security_severity: float | None = None


@dataclass(frozen=True)
class SarifRun:
    tool: str
    counts: Mapping[SarifLevel, int]
    errors: tuple[SarifResult, ...]
    results: tuple[SarifResult, ...] = field(repr=False, default=())
    suppressed: int = 0


@dataclass(frozen=True)
class SarifReport:
    path: Path
    runs: tuple[SarifRun, ...]
    timestamp: datetime | None = None  # the latest invocation's end (or start) time, when the tool writes one

    def count(self, level: SarifLevel) -> int:
        return sum(run.counts.get(level, 0) for run in self.runs)

    @property
    def tools(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(run.tool for run in self.runs))


@dataclass(frozen=True)
class Finding:
    package: str
    version: str | None
    advisory_id: str
    severity: Severity
    fixed_version: str | None


@dataclass(frozen=True)
class VulnerabilityReport:
    path: Path
    kind: EvidenceKind
    tool: str
    findings: tuple[Finding, ...]
    timestamp: datetime | None = None

    def counts(self) -> dict[Severity, int]:
        found = Counter(f.severity for f in self.findings)
        return {s: found.get(s, 0) for s in SEVERITIES}


@dataclass(frozen=True)
class Component:
    name: str
    version: str | None
    licenses: tuple[str, ...]
    purl: str | None = None


@dataclass(frozen=True)
class Sbom:
    path: Path
    kind: EvidenceKind
    spec_version: str
    components: tuple[Component, ...]
    timestamp: datetime | None
    vulnerabilities: tuple[Finding, ...] = ()
    has_vulnerabilities: bool = False  # a CycloneDX ``vulnerabilities`` array is present (empty or not)
    subject: Component | None = None  # what the SBOM describes (CycloneDX metadata.component)

    @property
    def unlicensed(self) -> tuple[Component, ...]:
        return tuple(c for c in self.components if not c.licenses)


@dataclass(frozen=True)
class Threshold:
    metric: str
    expression: str
    ok: bool


@dataclass(frozen=True)
class LoadTestReport:
    """Latencies in milliseconds; ``error_rate`` is a fraction (0.02 = 2 %)."""

    path: Path
    kind: EvidenceKind
    requests: int | None
    failures: int | None
    error_rate: float | None
    p95_ms: float | None
    requests_per_second: float | None
    thresholds: tuple[Threshold, ...] = ()
    timestamp: datetime | None = None

    @property
    def failed_thresholds(self) -> tuple[Threshold, ...]:
        return tuple(t for t in self.thresholds if not t.ok)


Report = TestReport | CoverageReport | SarifReport | VulnerabilityReport | Sbom | LoadTestReport
