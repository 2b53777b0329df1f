"""Release evidence: the reports the team's CI produced for the release being deployed, judged by
a machine instead of ticked by hand.

Every ``release`` target is a folder of CI artifacts for one release (``commit`` and/or
``version``): JUnit XML, coverage, SARIF, vulnerability scans, SBOMs, load-test results.  Files are
recognised by their content, whatever their names.  A kind of report that is not there makes
its check not applicable and names the formats looked for; a report that cannot be read is an
error naming the file and the place; a report older than ``evidence_max_age_days`` (its own time,
else the file's) fails, since it is not evidence for this build.  Checks only read files, and
rel-08 sends one GET to the application's version endpoint.
"""

from __future__ import annotations

import pytest

from pytest_deploycheck import TargetError, not_applicable, require
from pytest_deploycheck.targets.release import VULN_SEVERITIES, licence_allowed, spdx_id
from pytest_deploycheck.targets.release_formats import SEVERITIES

pytestmark = pytest.mark.section("release", "Release evidence")

#: How many items a failure message lists before "and N more" (the evidence has them all).
SHOWN = 10


def _listing(items: list[str], shown: int = SHOWN) -> str:
    return "; ".join(items[:shown]) + (f"; and {len(items) - shown} more" if len(items) > shown else "")


def _stale(release, reports, problems: list[str]) -> None:
    problems.extend(release.stale(reports))


@pytest.mark.check(
    "rel-01", "Tests of the release passed", severity="high",
    refs=("JUnit XML (Ant/Surefire schema)", "OWASP ASVS V1.14: build pipeline"),
    answers=("ci|cicd|pipelin configur|set|setup|exist|in_place|green|pass|passing", "ci|cd|pipelin automatic? tests|test", "all tests pass", "unit tests passing", "integration tests passed", "test suite green",
                            "automated tests passing", "tests|test pass|passing|green|succeed|success|rate all?", "tests all? pass?",
                            "unit|integration|e2e tests|test pass|passing|green", "test suite green|pass",
                            "ci pipeline|build green|pass|passing", "ci check|job green|pass|passing",
                            "ci|pipeline green|passing|passed|success|successful main|master|release|branch|tag?",
                            "regression|e2e|integration suite|tests|test passed|pass|passing|green"),
                   answers_kind="evidence",
                   answers_unless=("secret|secrets|variable|variables|token|tokens|credential|credentials", "performance", "load_test", "load", "stress", "smoke", "manual", "framework", "setup", "acceptance"),
)
def test_tests_passed(release, evidence):
    """A release whose own test suite failed ships a known defect.  Every JUnit XML report in the
    folder counts: passes when together they ran at least one test and none failed or errored,
    each was produced within ``evidence_max_age_days``, and a report that names a commit (a
    ``commit``/``git_sha``/... testsuite property) names the release's.  Fails naming the failing
    cases, the stale report or the other commit."""
    reports = release.reports("tests")
    problems: list[str] = []
    failing = [case for r in reports for case in r.failing]
    totals = {key: sum(getattr(r, key) for r in reports) for key in ("tests", "failures", "errors", "skipped")}
    evidence.record(reports=[{"file": release.name_of(r), "tests": r.tests, "failures": r.failures, "errors": r.errors,
                              "skipped": r.skipped, "commit": r.commit} for r in reports], failing=failing[:200], **totals)
    if totals["failures"] or totals["errors"]:
        named = f": {_listing(failing)}" if failing else " (suite-level; no test case named)"
        problems.append(f"{totals['failures']} failed and {totals['errors']} errored of {totals['tests']} tests{named}")
    problems += [f"{release.name_of(r)} ran no test" for r in reports if r.tests == 0]
    problems += [f"{release.name_of(r)} is for commit {r.commit}, not {release.commit}" for r in reports if release.commit_matches(r.commit) is False]
    _stale(release, reports, problems)
    require(not problems, release, "; ".join(problems), f"every test of {release.release} passed in a recent report")


@pytest.mark.check(
    "rel-02", "Code coverage at or above the threshold", severity="medium",
    refs=("Cobertura XML", "coverage.py JSON", "lcov", "JaCoCo XML"),
    answers=("code coverage above 80%", "test coverage threshold met", "coverage report", "minimum code coverage",
                            "coverage test? code? threshold|percent|min|report?"),
                   answers_kind="evidence",
)
def test_coverage(release, evidence):
    """Untested code is where the regressions of the next release hide.  Every coverage report
    (Cobertura XML from coverage.py or Jest/Istanbul, coverage.py JSON, lcov, JaCoCo XML) must
    show line coverage of at least ``coverage_min_pct`` (80 % unless the inventory says
    otherwise) and be recent.  Fails naming each report below the threshold with its figure."""
    reports = release.reports("coverage")
    minimum = float(release.threshold("coverage_min_pct"))
    evidence.record(minimum_pct=minimum, reports=[{"file": release.name_of(r), "format": r.kind, "line_pct": round(r.line_percent, 2),
                                                   "lines": r.lines_valid, "covered": r.lines_covered,
                                                   "branch_pct": None if r.branch_percent is None else round(r.branch_percent, 2)}
                                                  for r in reports])
    problems = [f"{release.name_of(r)} ({r.kind}): {r.line_percent:.1f}% of {r.lines_valid} lines covered"
                for r in reports if r.line_percent < minimum]
    _stale(release, reports, problems)
    require(not problems, release, "; ".join(problems), f">= {minimum:g}% line coverage in every recent coverage report")


@pytest.mark.check(
    "rel-03", "Linters and type checkers report no errors", severity="medium",
    refs=("OASIS SARIF 2.1.0", "GitHub code scanning: SARIF levels"),
    answers=("sast|lint|typecheck no|zero warning|warnings|error|errors|issue|issues|finding|findings", "no linting errors", "lint passes", "type checking passes", "static analysis clean",
                            "code quality gate passed", "lint|linter|linting clean|pass|error|warning?", "code style|format check",
                            "type_check|typecheck|mypy|tsc pass|clean|error?", "typescript compil|build|error succeed|success|clean?",
                            "compilation|compile succeed|success|error|warning", "sast|static_analysis|code_scanning scan? pass? finding?",
                            "security scan|scanner code|static"),
                   answers_kind="evidence",
)
def test_static_analysis(release, evidence):
    """Lint and type errors are bugs a tool already found.  Every SARIF 2.1.0 log that is not a
    vulnerability scanner's (ruff, ESLint, mypy or pyright through a SARIF converter, CodeQL, ...)
    must hold no result at level ``error`` that is not suppressed; warnings and notes are counted
    in the evidence but do not fail.  The tools are named as the SARIF names them."""
    reports = release.reports("static-analysis")
    counts = {}
    errors = []
    for report in reports:
        for run in report.runs:
            seen = counts.setdefault(run.tool, {"error": 0, "warning": 0, "note": 0, "suppressed": 0})
            for level in ("error", "warning", "note"):
                seen[level] += run.counts.get(level, 0)
            seen["suppressed"] += run.suppressed
            errors += [f"{run.tool} {e.rule_id} at {e.location or release.name_of(report)}" for e in run.errors]
    evidence.record(tools=sorted(counts), counts=counts, errors=errors[:200], files=[release.name_of(r) for r in reports])
    problems = [f"{len(errors)} error(s): {_listing(errors)}"] if errors else []
    problems += [f"{release.name_of(r)} holds no tool run" for r in reports if not r.runs]
    _stale(release, reports, problems)
    tools = ", ".join(sorted(counts)) or "the analysers"
    require(not problems, release, "; ".join(problems), f"no error-level result from {tools} in a recent log")


def _blocking(severity: str, threshold: str) -> bool:
    # pip-audit (and many OSV entries) rate nothing: an unknown severity could be anything, so it
    # blocks at every threshold until someone rates it or waives the advisory (fail closed).
    return severity == "unknown" or SEVERITIES.index(severity) <= SEVERITIES.index(threshold)


@pytest.mark.check(
    "rel-04", "No known vulnerability at or above the severity threshold", severity="high",
    refs=("OWASP Top 10 A06:2021 Vulnerable and Outdated Components", "npm audit", "pip-audit", "OSV-Scanner", "Trivy", "Grype"),
    answers=("vulnerability scan passed", "npm audit clean", "no critical or high vulnerabilities",
                            "dependency vulnerability scan", "container image scan", "dependency audit passes",
                            "dependency_scan|npm_audit|pip_audit",
                            "dependency|dependencies|package|library|libraries audit|scan|vulnerability|cve|vulnerable|outdated",
                            "vulnerability scan|scanner|check|no|zero|critical|high|detect|none|open security?",
                            "image_scan|container_scan",
                            "npm_audit|pip_audit|yarn_audit clean|pass|passes|no|zero|none|shows",
                            "dependabot|snyk|renovate issue|issues|finding|findings|vulnerability|vulnerabilities resolved|fixed|closed|none|zero|clean|no",
                            "trivy|grype|osv|dependency_check|clair|anchore scan|scanned|finding|findings|pass|passes|clean|critical|report "
                            "image|images|container|dependency?",
                            "image|images|container scan|scanned vulnerability|cve|critical|trivy|grype|clean|finding|findings",
                            "security scan|scanning|scanner completed|complete|passed|pass|clean|done|run|green"),
                   answers_kind="evidence",
)
def test_vulnerabilities(release, evidence):
    """A dependency with a published advisory is the easiest way in.  Every vulnerability report
    (npm audit, pip-audit, OSV-Scanner, Trivy, Grype, a scanner's SARIF, a CycloneDX BOM with
    ``vulnerabilities``) must list no finding at or above ``vuln_severity`` (default high).  A
    finding without a severity (pip-audit rates nothing) counts as at or above any threshold:
    rate it or accept it.  Each finding is named with package, version, advisory id and fixed
    version; the message lists the advisory ids as ``(advisories: A, B)``, so a waiver that
    names ``advisories:`` accepts exactly those and no advisory found later."""
    threshold = str(release.setting("vuln_severity") or "high")
    if threshold not in VULN_SEVERITIES:
        raise TargetError(f"{release.label}: vuln_severity {threshold!r} is not one of {', '.join(VULN_SEVERITIES)}")
    reports = release.reports("vulnerabilities")
    findings = {}
    for report in reports:
        for f in report.findings:
            findings.setdefault((f.package, f.version, f.advisory_id), (f, report.tool))
    blocking = sorted((f for f, _ in findings.values() if _blocking(f.severity, threshold)),
                      key=lambda f: (SEVERITIES.index(f.severity), f.package, f.advisory_id))
    evidence.record(threshold=threshold, reports=[{"file": release.name_of(r), "tool": r.tool, **{k: v for k, v in r.counts().items() if v}}
                                                  for r in reports],
                    findings=[{"package": f.package, "version": f.version, "advisory": f.advisory_id, "severity": f.severity,
                               "fixed_version": f.fixed_version, "tool": tool} for f, tool in list(findings.values())[:300]])
    described = [f"{f.advisory_id} in {f.package}{' ' + f.version if f.version else ''} ({f.severity}, "
                 f"{'fixed in ' + f.fixed_version if f.fixed_version else 'no fix'})" for f in blocking]
    problems = []
    if blocking:
        ids = ", ".join(dict.fromkeys(f.advisory_id for f in blocking))
        problems.append(f"{len(blocking)} known vulnerabilit{'y' if len(blocking) == 1 else 'ies'} at or above {threshold} "
                        f"(advisories: {ids}): {_listing(described)}")
    _stale(release, reports, problems)
    require(not problems, release, "; ".join(problems), f"no finding rated {threshold} or worse (or unrated) in a recent scan")


@pytest.mark.check(
    "rel-05", "SBOM published for the release", severity="medium",
    refs=("CycloneDX 1.x", "SPDX 2.3", "NTIA: The Minimum Elements for an SBOM", "EO 14028 §4(e)"),
    answers=("sbom attach|attached|publish|releas|ship|upload|artifact|generat|produc|sign", "sbom generated", "software bill of materials", "dependency inventory published", "sbom",
                            "software bill materials", "license scan|inventory|report dependency?"),
                   answers_kind="evidence",
)
def test_sbom(release, evidence):
    """Without a bill of materials nobody can answer "are we affected?" when the next advisory
    lands.  Passes when the folder holds a recent CycloneDX or SPDX JSON SBOM that lists
    components and, when it names what it describes (CycloneDX ``metadata.component``) and the
    inventory gives ``version``, describes that version."""
    sboms = release.reports("sbom")
    evidence.record(sboms=[{"file": release.name_of(s), "format": f"{s.kind} {s.spec_version}", "components": len(s.components),
                            "describes": f"{s.subject.name} {s.subject.version}" if s.subject else None} for s in sboms])
    problems = [f"{release.name_of(s)} lists no component" for s in sboms if not s.components]
    problems += [f"{release.name_of(s)} describes {s.subject.name} {s.subject.version}, not version {release.version}"
                 for s in sboms if s.subject and s.subject.version and release.version and s.subject.version != release.version]
    _stale(release, sboms, problems)
    require(not problems, release, "; ".join(problems), f"a recent SBOM of {release.release} listing its components")


@pytest.mark.check(
    "rel-06", "Every SBOM component under an allowed licence", severity="medium",
    refs=("SPDX License List", "SPDX license expressions", "OpenChain ISO/IEC 5230"),
    answers=("licence compliance", "license compliance check", "open source licenses approved", "third-party licenses reviewed",
             "gpl|agpl|lgpl|copyleft dependency|dependencies|license|licence|licenses|package|packages no|none|without|avoid?",
             "no gpl|agpl|copyleft"),
)
def test_licences(release, evidence):
    """A dependency under a licence the organisation has not approved (or under none at all) is a
    legal risk that ships with every copy.  Every component of every SBOM must carry a licence
    that ``licence_allow`` (SPDX ids) allows: an SPDX expression is read (``A OR B``, ``A AND
    B``), a Python classifier is mapped to its SPDX id, and a component with several licence
    entries passes when one of them is allowed.  Not applicable without ``licence_allow``."""
    allow = release.setting("licence_allow")
    if not allow:
        not_applicable(f"{release.name}: no licence allow-list (release.{release.name}.licence_allow: SPDX ids such as MIT, Apache-2.0)", unexamined=True)
    allowed = {str(a).strip().lower() for a in allow}
    sboms = release.reports("sbom")
    refused = []
    for sbom in sboms:
        for c in sbom.components:
            if not any(licence_allowed(lic, allowed) for lic in c.licenses):
                stated = " / ".join(dict.fromkeys(spdx_id(lic) for lic in c.licenses)) or "no licence stated"
                refused.append(f"{c.name}{' ' + c.version if c.version else ''} ({stated})")
    refused = list(dict.fromkeys(refused))
    evidence.record(allowed=sorted(allowed), components=sum(len(s.components) for s in sboms), not_allowed=refused[:300])
    require(not refused, release, f"{len(refused)} component(s) under a licence not on the allow-list: {_listing(refused, 15)}",
            f"every component under one of {', '.join(sorted(str(a) for a in allow))}")


@pytest.mark.check(
    "rel-07", "Load test met its goals", severity="medium",
    refs=("k6 thresholds", "Locust statistics", "Apache JMeter JTL"),
    answers=("load testing completed", "performance benchmarks met", "stress test passed", "p95 latency under load",
                            "performance test results",
                            "load_test|stress_test|performance_test|performance_testing|benchmark|soak pass|complet|met|baseline?",
                            "load_test|stress_test|performance_test|soak peak|traffic|expected|capacity pass|passed|performed|run|ran|complet|met|done?",
                            "performance benchmark|target|baseline|requirement|validation met|pass|establish?",
                            "concurrent user|users|connection|request capacity?",
                            "throughput|rps|requests_per_second target|met|test|verif",
                            "load_test|stress_test|performance_test rps|qps|throughput|latency|request|requests|users|concurrent", "capacity test|verif|plan",
                            "performance tested|testing complet|done|passed?"),
                   answers_kind="evidence",
                   answers_unless=("query|queries|sql|database|index|indexes",),  # a database's query performance is pg-17/mysql-15
)
def test_load_test(release, evidence):
    """Capacity that was never measured is a guess.  Every load-test result (k6 summary JSON,
    Locust stats CSV or JSON, JMeter JTL CSV) must show requests, a 95th-percentile response time
    within ``load_p95_max_ms``, an error rate within ``load_error_rate_max_pct``, throughput of at
    least ``load_min_rps`` (when set above 0), and no failed k6 threshold; and be recent."""
    reports = release.reports("load-test")
    p95_max = float(release.threshold("load_p95_max_ms"))
    error_max = float(release.threshold("load_error_rate_max_pct"))
    rps_min = float(release.threshold("load_min_rps"))
    evidence.record(goals={"p95_ms": p95_max, "error_rate_pct": error_max, "rps": rps_min or None},
                    reports=[{"file": release.name_of(r), "format": r.kind, "requests": r.requests, "failures": r.failures,
                              "error_rate_pct": None if r.error_rate is None else round(100 * r.error_rate, 3),
                              "p95_ms": r.p95_ms, "rps": r.requests_per_second,
                              "thresholds": [f"{t.metric}: {t.expression} {'ok' if t.ok else 'FAILED'}" for t in r.thresholds]}
                             for r in reports])
    problems = []
    for r in reports:
        name, found = release.name_of(r), []
        if not r.requests and r.kind != "k6":
            found.append("no request was sent")
        if r.error_rate is not None and 100 * r.error_rate > error_max:
            found.append(f"{100 * r.error_rate:.2f}% of requests failed")
        if r.p95_ms is not None and r.p95_ms > p95_max:
            found.append(f"p95 {r.p95_ms:.0f} ms")
        if r.p95_ms is None and r.error_rate is None and not r.thresholds:
            found.append("reports neither latency, errors nor thresholds")
        if rps_min > 0 and (r.requests_per_second is None or r.requests_per_second < rps_min):
            found.append(f"{r.requests_per_second or 0:.1f} requests/s")
        found += [f"k6 threshold {t.metric} '{t.expression}' failed" for t in r.failed_thresholds]
        if found:
            problems.append(f"{name}: {', '.join(found)}")
    _stale(release, reports, problems)
    goals = f"p95 <= {p95_max:g} ms, errors <= {error_max:g}%" + (f", >= {rps_min:g} requests/s" if rps_min > 0 else "")
    require(not problems, release, "; ".join(problems), f"{goals} and every k6 threshold met, in a recent run")


@pytest.mark.check(
    "rel-08", "Deployed version is the one the evidence is for", severity="high",
    refs=("SLSA: provenance", "12-Factor: build, release, run"),
    answers=("image|artifact digest|sha? match|matches|same scanned|tested|built|signed", "build|version info|endpoint? show|shows|report|reports|expos commit|sha|version|tag", "deployed version matches release", "correct version deployed", "release version verified", "build artifact matches",
             "deployed|running image|artifact|version|build is? the one|same tested|built|scanned|released|verified",
             "version|build|image|release deployed|running match|matches|equal tag|release|tested|built|expected"),
)
def test_deployed_version(release, inventory, evidence):
    """Green reports prove nothing about a build that is not the one running.  Asks the
    application named in ``app`` (an http target) for its version at ``paths.version`` (field
    ``version_field``, default ``version``, dotted for nesting; a plain-text answer is taken
    whole) and passes when it is the release's ``version`` or its ``commit`` (a short hash
    matches the full one).  Not applicable when the release names no ``app``."""
    app_name = release.setting("app")
    if not app_name:
        not_applicable(f"{release.name}: no application named (release.{release.name}.app: the http target whose paths.version "
                       "reports the deployed version)", unexamined=True)
    try:
        app = inventory.get("http", str(app_name))
    except KeyError:
        raise TargetError(f"{release.label}: app {app_name!r} is not an http target of the inventory") from None
    reported, url = release.deployed_version(app)
    field = release.setting("version_field") or "version"
    evidence.record(app=app.name, url=url, field=field, reported=reported, expected_version=release.version, expected_commit=release.commit)
    if reported is None:
        raise TargetError(f"{release.label}: {url} does not report '{field}'; set version_field to the field that holds the version")
    matches = reported == release.version or bool(release.commit_matches(reported))
    require(matches, release, f"{app.name} reports {reported} at {url}", f"the release's {release.release}")
