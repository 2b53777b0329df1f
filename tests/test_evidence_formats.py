"""The release-evidence readers (pytest_deploycheck/targets/release_formats) against real reports:
the tools' own outputs in tests/data/evidence and reports the real tools write at test time
(tests/servers/evidence.py), good and bad, plus every way a file can be broken."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pytest_deploycheck.targets.release_formats as F
import tests.servers.evidence as evidence_bed
from tests.servers.evidence import Evidence

DATA = Path(__file__).parent / "data" / "evidence"


def data(name: str) -> Path:
    return DATA / name


# --------------------------------------------------------------------------- fixtures from the tools' projects

EXPECTED_KIND = {
    "trivy-good.json": "trivy",
    "trivy-bad.json": "trivy",
    "trivy-bad.sarif": "sarif",
    "grype-good.json": "grype",
    "grype-bad.json": "grype",
    "grype-bad.sarif": "sarif",
    "grype-bad.cdx.json": "cyclonedx",
    "osv-scanner-good.json": "osv-scanner",
    "osv-scanner-bad.json": "osv-scanner",
    "npm-audit-v2-good.json": "npm-audit",
    "npm-audit-v2-bad.json": "npm-audit",
    "npm-audit-v1-good.json": "npm-audit",
    "npm-audit-v1-bad.json": "npm-audit",
    "npm-audit-error.json": "npm-audit",
    "pip-audit-good.json": "pip-audit",
    "pip-audit-bad.json": "pip-audit",
    "spdx-good.json": "spdx",
    "spdx-unlicensed.json": "spdx",
    "k6-summary-export-good.json": "k6",
    "k6-summary-export-bad.json": "k6",
    "k6-handlesummary-bad.json": "k6",
    "k6-handlesummary-errors.json": "k6",
    "k6-handlesummary-grpc-bad.json": "k6",
    "jmeter-good.csv": "jmeter-csv",
    "jmeter-bad.csv": "jmeter-csv",
    "surefire-good.xml": "junit",
    "surefire-bad.xml": "junit",
    "jest-junit-good.xml": "junit",
    "jest-junit-bad.xml": "junit",
    "istanbul-cobertura.xml": "cobertura",
    "istanbul.lcov": "lcov",
    "jacoco-low.xml": "jacoco",
}
REPORTS = sorted(p.name for p in DATA.iterdir() if p.name != "README.md")


def test_every_data_file_is_listed_and_documented() -> None:
    assert sorted(EXPECTED_KIND) == REPORTS
    readme = data("README.md").read_text()
    for name in REPORTS:
        assert f"`{name}`" in readme, f"{name} has no provenance line in README.md"


@pytest.mark.parametrize("name", REPORTS)
def test_sniff_recognises_content_not_name(name: str, tmp_path: Path) -> None:
    assert F.sniff(data(name)) == EXPECTED_KIND[name]
    renamed = tmp_path / "artifact.bin"  # CI artifacts lose their names: the content decides
    renamed.write_bytes(data(name).read_bytes())
    assert F.sniff(renamed) == EXPECTED_KIND[name]


@pytest.mark.parametrize("name", [n for n in REPORTS if n != "npm-audit-error.json"])
def test_every_report_parses_into_its_family(name: str) -> None:
    parsed = F.parse(data(name))
    family = F.FAMILY[EXPECTED_KIND[name]]  # type: ignore[index]
    expected = {
        "tests": F.TestReport,
        "coverage": F.CoverageReport,
        "static-analysis": F.SarifReport,
        "vulnerabilities": F.VulnerabilityReport,
        "sbom": F.Sbom,
        "load-test": F.LoadTestReport,
    }[family]
    assert isinstance(parsed, expected)


def test_npm_audit_error_object_is_reported_not_taken_for_a_clean_audit() -> None:
    with pytest.raises(F.EvidenceFormatError, match=r"npm-audit-error\.json: npm audit failed and wrote no report: 405 Method Not Allowed"):
        F.parse_vulnerabilities(data("npm-audit-error.json"))


# --- tests


def test_surefire_reports() -> None:
    good, bad = F.parse_tests(data("surefire-good.xml")), F.parse_tests(data("surefire-bad.xml"))
    assert (good.tests, good.failures, good.passed) == (1, 0, True)
    assert (bad.tests, bad.failures, bad.errors, bad.passed) == (2, 2, 0, False)
    assert bad.failing == (
        "org.apache.maven.surefire.test.FailingTest::defaultTestValueIs_Value",
        "org.apache.maven.surefire.test.FailingTest::setTestAndRetrieveValue",
    )
    assert bad.timestamp is None
    assert bad.commit is None


def test_jest_junit_reports() -> None:
    good, bad = F.parse_tests(data("jest-junit-good.xml")), F.parse_tests(data("jest-junit-bad.xml"))
    assert (good.tests, good.skipped, good.passed) == (3, 1, True)
    assert (bad.tests, bad.failures, bad.skipped, bad.failing) == (4, 1, 1, ("sum edge cases::adds floats exactly",))
    assert good.timestamp is not None
    assert good.timestamp.tzinfo is not None


def test_junit_commit_property_and_suite_level_error(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuites><testsuite name="a" tests="0" errors="1" failures="0">'
        '<properties><property name="GIT_COMMIT" value="abc1234"/></properties></testsuite></testsuites>'
    )
    parsed = F.parse_tests(report)
    assert (parsed.commit, parsed.errors, parsed.passed) == ("abc1234", 1, False)


# --- coverage


def test_coverage_formats_from_other_ecosystems() -> None:
    jacoco = F.parse_coverage(data("jacoco-low.xml"))
    assert (jacoco.lines_covered, jacoco.lines_valid, jacoco.branch_percent) == (6, 9, 50.0)
    assert math.isclose(jacoco.line_percent, 200 / 3)
    assert jacoco.timestamp is not None
    assert jacoco.timestamp.year == 2023
    istanbul = F.parse_coverage(data("istanbul-cobertura.xml"))
    assert (istanbul.line_percent, istanbul.branch_percent) == (100.0, None)  # branch-rate="1" with no branches is no data
    assert F.parse_coverage(data("istanbul.lcov")).line_percent == 100.0


# --- SARIF from scanners


def test_scanner_sarif() -> None:
    grype = F.parse_sarif(data("grype-bad.sarif"))
    assert [run.tool for run in grype.runs] == ["grype"]
    assert (grype.count("error"), grype.count("note")) == (1, 1)
    assert grype.runs[0].errors[0].rule_id == "CVE-1999-0002-package-2"
    assert grype.runs[0].errors[0].location == "user-input/somefile-2.txt:1"
    vulns = F.parse_vulnerabilities(data("grype-bad.sarif"))
    assert vulns.counts()["high"] == 2  # security-severity 8.2 and 8.5 are CVSS "high"
    trivy = F.parse_vulnerabilities(data("trivy-bad.sarif"))
    assert len(trivy.findings) == 4
    assert all(f.severity != "unknown" for f in trivy.findings)


# --- vulnerabilities


@pytest.mark.parametrize(
    ("name", "worst", "count"),
    [
        ("trivy-good.json", None, 0),
        ("trivy-bad.json", "critical", 2),
        ("grype-good.json", None, 0),
        ("grype-bad.json", "critical", 2),
        ("osv-scanner-good.json", None, 0),
        ("osv-scanner-bad.json", "high", 2),
        ("npm-audit-v2-good.json", None, 0),
        ("npm-audit-v2-bad.json", "critical", 18),
        ("npm-audit-v1-good.json", None, 0),
        ("npm-audit-v1-bad.json", "critical", 1),
        ("pip-audit-good.json", None, 0),
        ("pip-audit-bad.json", "unknown", 1),
        ("grype-bad.cdx.json", "critical", 2),
    ],
)
def test_vulnerability_reports(name: str, worst: str | None, count: int) -> None:
    report = F.parse_vulnerabilities(data(name))
    assert len(report.findings) == count
    rated = [s for s in F.SEVERITIES if report.counts()[s]]
    assert (rated[0] if rated else None) == worst


def test_findings_carry_package_version_and_fix() -> None:
    trivy = F.parse_vulnerabilities(data("trivy-bad.json")).findings[0]
    assert trivy == F.Finding("musl", "1.1.20-r4", "CVE-2019-14697", "critical", "1.1.20-r5")
    grype = {f.advisory_id: f for f in F.parse_vulnerabilities(data("grype-bad.json")).findings}
    assert grype["CVE-1999-0002"] == F.Finding("package-2", "2.2.2", "CVE-1999-0002", "critical", None)
    assert grype["CVE-1999-0001"].fixed_version == "1.2.1, 2.1.3, 3.4.0"
    osv = {f.advisory_id: f for f in F.parse_vulnerabilities(data("osv-scanner-bad.json")).findings}
    assert osv["GO-2021-0053"] == F.Finding("github.com/gogo/protobuf", "1.3.1", "GO-2021-0053", "unknown", "1.3.2")
    pip = F.parse_vulnerabilities(data("pip-audit-bad.json")).findings
    assert pip == (F.Finding("jinja2", "2.4.1", "PYSEC-2019-217", "unknown", "2.10.1"),)
    npm1 = F.parse_vulnerabilities(data("npm-audit-v1-bad.json")).findings
    assert npm1 == (F.Finding("growl", "1.9.2", "146", "critical", ">=1.10.2"),)


def test_npm_v2_counts_match_its_own_metadata_for_direct_advisories() -> None:
    report = F.parse_vulnerabilities(data("npm-audit-v2-bad.json"))
    assert {f.severity for f in report.findings} <= {"critical", "high", "medium", "low"}
    assert len({(f.package, f.advisory_id) for f in report.findings}) == len(report.findings)


# --- SBOM


def test_sboms() -> None:
    spdx = F.parse_sbom(data("spdx-good.json"))
    licences = {c.name: c.licenses for c in spdx.components}
    assert licences["openssl"] == ("OpenSSL",)
    assert licences["pip"] == ("MIT",)
    assert spdx.spec_version == "SPDX-2.3"
    assert spdx.timestamp is not None
    unlicensed = F.parse_sbom(data("spdx-unlicensed.json"))
    assert len(unlicensed.unlicensed) == len(unlicensed.components) == 5
    cdx = F.parse_sbom(data("grype-bad.cdx.json"))
    assert [c.licenses for c in cdx.components] == [(), ("Apache-2.0", "MIT")]
    assert {f.advisory_id: f.package for f in cdx.vulnerabilities} == {"CVE-1999-0001": "package-1", "CVE-1999-0002": "package-2"}


# --- load tests


def test_k6_summary_export_and_handle_summary() -> None:
    good = F.parse_load_test(data("k6-summary-export-good.json"))
    assert (good.requests, good.failures, good.error_rate) == (1587, 0, 0.0)
    assert good.p95_ms is not None
    assert math.isclose(good.p95_ms, 7.593239699999984)
    assert good.requests_per_second is not None
    assert good.requests_per_second > 500
    assert good.thresholds == ()
    # --summary-export writes true for a FAILED threshold; handleSummary writes {"ok": false}: same run, same verdicts.
    old, new = F.parse_load_test(data("k6-summary-export-bad.json")), F.parse_load_test(data("k6-handlesummary-bad.json"))
    assert sorted(old.thresholds, key=repr) == sorted(new.thresholds, key=repr)
    assert {(t.metric, t.expression) for t in old.failed_thresholds} == {("http_reqs", "rate<100"), ("my_trend", "my_trend<1000")}
    errors = F.parse_load_test(data("k6-handlesummary-errors.json"))
    assert errors.failed_thresholds == ()
    assert errors.error_rate is not None
    assert errors.error_rate > 0.39
    assert errors.failures == 349
    grpc = F.parse_load_test(data("k6-handlesummary-grpc-bad.json"))
    assert grpc.p95_ms is None
    assert [t.expression for t in grpc.failed_thresholds] == ["rate >= 0.8"]


def test_jmeter_csv() -> None:
    good, bad = F.parse_load_test(data("jmeter-good.csv")), F.parse_load_test(data("jmeter-bad.csv"))
    assert (good.requests, good.failures) == (255, 3)
    assert good.p95_ms is not None
    assert 300 <= good.p95_ms <= 353
    assert bad.error_rate == 1.0


# --------------------------------------------------------------------------- reports the real tools write here


def test_real_tools_good_run(release_evidence: Evidence) -> None:
    good = release_evidence.good
    tests = F.parse_tests(good.junit)
    assert (tests.tests, tests.failures, tests.passed) == (3, 0, True)
    assert tests.commit == "3f1c2e4d5b6a79880123456789abcdef01234567"  # pytest's record_testsuite_property
    for path in (good.cobertura, good.coverage_json, good.lcov):
        coverage = F.parse_coverage(path)
        assert (coverage.line_percent, coverage.branch_percent) == (100.0, 100.0), path
    assert F.parse_sarif(good.sarif).runs[0].tool == "ruff"
    assert F.parse_sarif(good.sarif).count("error") == 0
    sbom = F.parse_sbom(good.cyclonedx)
    names = {c.name: c for c in sbom.components}
    assert set(names) == {"requests", "urllib3", "idna", "certifi", "charset-normalizer"}
    assert all(c.licenses for c in sbom.components)
    assert sbom.timestamp is not None
    assert sbom.subject is not None
    assert (sbom.subject.name, sbom.subject.version) == ("sample-shop", evidence_bed.VERSION)
    assert not sbom.has_vulnerabilities
    assert good.locust_csv is not None
    assert good.locust_json is not None
    for path in (good.locust_csv, good.locust_json):
        load = F.parse_load_test(path)
        assert load.requests, path
        assert load.failures == 0, path
        assert load.p95_ms is not None, path


def test_real_tools_bad_run(release_evidence: Evidence) -> None:
    bad = release_evidence.bad
    tests = F.parse_tests(bad.junit)
    assert (tests.failures, tests.failing) == (1, ("tests.test_prices::test_rounding",))
    low = [F.parse_coverage(p) for p in (bad.cobertura, bad.coverage_json, bad.lcov)]
    assert all(c.line_percent < 50 for c in low)
    assert len({(c.lines_valid, c.lines_covered) for c in low}) == 1  # three formats, one measurement
    sarif = F.parse_sarif(bad.sarif)
    assert [(e.rule_id, e.location.rsplit("/", 1)[-1]) for e in sarif.runs[0].errors] == [("F401", "refunds.py:3")]
    sbom = F.parse_sbom(bad.cyclonedx)
    assert {c.name for c in sbom.unlicensed} == {"requests", "urllib3"}
    assert bad.locust_csv is not None
    assert bad.locust_json is not None
    for path in (bad.locust_csv, bad.locust_json):
        assert F.parse_load_test(path).error_rate == 1.0, path


# --------------------------------------------------------------------------- broken files


def _all_samples(release_evidence: Evidence) -> list[Path]:
    return [data(n) for n in REPORTS] + release_evidence.good.files() + release_evidence.bad.files()


def _error_of(path: Path) -> str | None:
    """The EvidenceFormatError message for ``path``, None when it parses; any other exception escapes."""
    try:
        F.parse(path)
    except F.EvidenceFormatError as exc:
        return str(exc)
    return None


def _strict(kind: str | None) -> bool:
    """Formats where any cut is detectably incomplete (a closed document); line formats may end cleanly at a line."""
    return kind not in ("lcov", "locust-csv", "jmeter-csv")


def test_truncated_files_raise_evidence_format_error(release_evidence: Evidence, tmp_path: Path) -> None:
    for source in _all_samples(release_evidence):
        content = source.read_bytes().rstrip()
        kind = F.sniff(source)
        for fraction in (0.1, 0.5, 0.9, 0.999):
            cut = tmp_path / f"{source.name}.{fraction}"
            cut.write_bytes(content[: max(1, int(len(content) * fraction))])
            error = _error_of(cut)
            if error is None:
                assert not _strict(kind), f"{cut} parsed although truncated"
            else:
                assert cut.name in error


def _walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            yield from _walk(child, (*path, index))


def _replace(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return doc


def test_wrong_types_anywhere_in_json_reports_never_escape_as_other_exceptions(release_evidence: Evidence, tmp_path: Path) -> None:
    target = tmp_path / "mutant.json"
    checked = 0
    for source in _all_samples(release_evidence):
        if F.sniff(source) not in F.FAMILY or source.read_bytes().lstrip()[:1] not in (b"{", b"["):
            continue
        doc = json.loads(source.read_text())
        paths = list(_walk(doc))
        for path in paths[:: max(1, len(paths) // 60)]:
            for new in (None, 7, "x", [], {}, True):
                target.write_text(json.dumps(_replace(doc, path, new)))
                error = _error_of(target)
                assert error is None or error.startswith(str(target)), error
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not a report format we recognise"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", r"not a report format we recognise"),
        (
            b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": "x", "VulnerabilityID": 5}]}]}',
            r"\$\.Results\[0\]\.Vulnerabilities\[0\]\.VulnerabilityID: expected a string, got a number",
        ),
        (
            b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": "x"}]}]}',
            r"\$\.Results\[0\]\.Vulnerabilities\[0\]: missing key 'VulnerabilityID'",
        ),
        (
            b'{"version": "2.1.0", "$schema": "sarif", "runs": [{"tool": {"driver": {"name": "t"}}, "results": [{"level": "fatal"}]}]}',
            r"\$\.runs\[0\]\.results\[0\]\.level: unknown SARIF level 'fatal'",
        ),
        (b'{"version": "2.2.0", "$schema": "sarif", "runs": []}', r"\$\.version: SARIF version '2\.2\.0' is not 2\.1\.x"),
        (b'{"spdxVersion": "SPDX-3.0", "packages": []}', r"\$\.spdxVersion: 'SPDX-3\.0' is not SPDX 2\.x"),
        (
            b'{"metrics": {"http_reqs": {"count": 3, "thresholds": {"rate<1": "false"}}}, "root_group": {}}',
            r"\$\.metrics\.http_reqs\.thresholds\.rate<1: expected a threshold result, got a string",
        ),
        (b'{"auditReportVersion": 2, "vulnerabilities": {"a": {"via": [{"severity": "high"}]}}', r"invalid JSON at line 1, column \d+"),
        (b'<?xml version="1.0"?>\n<testsuites>\n  <testsuite tests="x"/>\n</testsuites>', r"<testsuite tests='x'>: not a number"),
        (b'<?xml version="1.0"?>\n<testsuites>\n  <testsuite>\n</testsuites>', r"invalid XML at line 4, column 3: mismatched tag"),
        (b'<coverage line-rate="0.5" lines-valid="2" lines-covered="1" timestamp="soon"/>', r"<coverage timestamp>: 'soon' is not a time"),
        (b"TN:\nSF:a.py\nDA:1,1\nLF:1\nLH:one\nend_of_record\n", r"line 5: 'LH:one': LH needs a count"),
        (b"TN:\nSF:a.py\nDA:1,1\n", r"no lcov record"),
        (b"timeStamp,elapsed,label,success\n1,2,a,true\n3,4,a\n", r"line 3: has 3 columns, the header has 4"),
        (b"timeStamp,elapsed,label,success\n1,2,a,maybe\n", r"line 2, column 'success': 'maybe' is not true/false"),
        (b"Type,Name,Request Count,Failure Count,Requests/s,95%\nGET,/a,1,0,1.0,5\n", r"no 'Aggregated' row"),
        (b'{"results": [], "experimental_config": {}, "x": "\xff"}', r"line 1: not UTF-8 text"),
    ],
)
def test_broken_reports_name_file_and_place(tmp_path: Path, content: bytes, message: str) -> None:
    report = tmp_path / "report.out"
    report.write_bytes(content)
    with pytest.raises(F.EvidenceFormatError, match=message) as info:
        F.parse(report)
    assert str(info.value).startswith(str(report))


def test_xml_entity_expansion_and_external_entities_are_refused(tmp_path: Path) -> None:
    laughs = tmp_path / "laughs.xml"
    laughs.write_text(
        '<?xml version="1.0"?><!DOCTYPE testsuites [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<testsuites><testsuite name="&b;" tests="1"/></testsuites>'
    )
    xxe = tmp_path / "xxe.xml"
    xxe.write_text(
        '<?xml version="1.0"?><!DOCTYPE coverage [<!ENTITY x SYSTEM "file:///etc/passwd">]><coverage line-rate="1" version="&x;"/>'
    )
    for path in (laughs, xxe):
        with pytest.raises(F.EvidenceFormatError, match="refused XML with entity declarations"):
            F.parse(path)


def test_size_limit_missing_file_and_wrong_family(tmp_path: Path) -> None:
    with pytest.raises(F.EvidenceFormatError, match=r"larger than the 1000 byte limit"):
        F.parse(data("jmeter-good.csv"), max_bytes=1000)
    with pytest.raises(F.EvidenceFormatError, match=r"nothing\.xml: no such file"):
        F.parse_tests(tmp_path / "nothing.xml")
    with pytest.raises(F.EvidenceFormatError, match=r"is a cobertura report, not a JUnit XML report"):
        F.parse_tests(data("istanbul-cobertura.xml"))
    with pytest.raises(F.EvidenceFormatError, match=r"is a trivy report, not a CycloneDX or SPDX JSON SBOM"):
        F.parse_sbom(data("trivy-bad.json"))


@pytest.mark.parametrize(
    "content",
    [
        b'{"name": "some-package", "version": "1.0.0"}',
        b"<html><body>502 Bad Gateway</body></html>",
        b"just some log output\n",
        b"[1, 2, 3]",
        b'<?xml version="1.0"?><project/>',
    ],
)
def test_sniff_says_none_for_other_files(tmp_path: Path, content: bytes) -> None:
    other = tmp_path / "other"
    other.write_bytes(content)
    assert F.sniff(other) is None


def test_sniff_reads_only_a_bounded_prefix_and_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"SchemaVersion": 2, "Results": [' + ",".join(['{"Target": "x"}'] * 200_000) + "]}")
    reads: list[int] = []
    real_open: Callable[..., Any] = open

    class Counting:
        """The file as sniff sees it, counting how much it asks for at a time."""

        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def read(self, size: int = -1) -> bytes:
            reads.append(size)
            return self.handle.read(size)  # type: ignore[no-any-return]

        def seek(self, *args: int) -> int:
            return self.handle.seek(*args)  # type: ignore[no-any-return]

        def tell(self) -> int:
            return self.handle.tell()  # type: ignore[no-any-return]

    def counting_open(*args: Any, **kwargs: Any) -> Counting:
        return Counting(real_open(*args, **kwargs))

    monkeypatch.setattr("builtins.open", counting_open)
    assert F.sniff(big) == "trivy"
    assert reads
    assert all(0 < size <= F.SNIFF_BYTES for size in reads)
