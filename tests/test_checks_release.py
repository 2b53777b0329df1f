"""The release-evidence catalog (checks/test_release.py) on reports the real tools wrote.

``release_evidence`` runs pytest, coverage.py, ruff, cyclonedx-py and Locust (against the sample
app) on a good and a bad copy of a small project; reports of tools that cannot run here come
from tests/data/evidence (provenance in its README).  Each folder below is one ``release``
target; files are renamed on the way in, so only their content can tell what they are.  One
catalog run covers every target.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from pytest_deploycheck.governance.waivers import advisories_in
from pytest_deploycheck.targets.release import licence_allowed
from tests.servers.app import OPENAPI_PATH
from tests.servers.base import Instance
from tests.servers.evidence import COMMIT, VERSION, Evidence
from tests.servers.inventory import CatalogRun, run_catalog

DATA = Path(__file__).parent / "data" / "evidence"
CHECKS = [f"rel-0{n}" for n in range(1, 9)]
ALLOW = ["MIT", "Apache-2.0", "BSD-3-Clause", "MPL-2.0"]
OLD = 10**6  # days: for the folders of real reports written years ago by other projects


def _folder(root: Path, name: str, files: list[Path]) -> Path:
    """A release folder holding ``files`` under names that say nothing (artifact-N.out)."""
    folder = root / name
    (folder / "nested").mkdir(parents=True)
    for index, source in enumerate(files):
        shutil.copyfile(source, folder / ("nested" if index % 2 else "") / f"artifact-{index}.out")
    return folder


def _release(name: str, folder: Path, **entry: object) -> Instance:
    return Instance(name=name, kind="release", entry={"path": str(folder), **entry}, env={}, server=None)


def test_release_catalog(pytester: pytest.Pytester, release_evidence: Evidence, sample_app_good: Instance, tmp_path: Path) -> None:
    """One catalog run over every release folder (pytester is per test; the run takes seconds)."""
    run = _run(pytester, release_evidence, sample_app_good, tmp_path)
    good_evidence_passes_every_check(run)
    bad_evidence_fails_every_check(run)
    reports_of_other_tools(run)
    other_commit_stale_broken_and_missing_reports(run)
    unrated_advisories_fail_closed_and_a_waiver_names_them(run)


def _run(pytester: pytest.Pytester, release_evidence: Evidence, sample_app_good: Instance, root: Path) -> CatalogRun:
    good, bad = release_evidence.good, release_evidence.bad
    app = Instance("shop-app", "http", {"url": sample_app_good.entry["url"], "paths": {"version": OPENAPI_PATH}}, {}, None)
    release_of_app = {"app": app.name, "version_field": "info.version"}

    stale = _folder(root, "stale", [DATA / "surefire-good.xml", good.cyclonedx, DATA / "trivy-good.json"])
    month_ago = time.time() - 30 * 86400
    for file in stale.rglob("artifact-0.out"):
        os.utime(file, (month_ago, month_ago))  # Surefire writes no time: the file's is all there is

    broken = _folder(root, "broken", [])
    junit = good.junit.read_bytes()
    (broken / "junit.xml").write_bytes(junit[: len(junit) // 2])
    trivy = (DATA / "trivy-bad.json").read_bytes()
    (broken / "scan.json").write_bytes(trivy[: len(trivy) // 2])
    (broken / "notes.txt").write_text("deployed by the pipeline\n")

    empty = _folder(root, "empty", [])
    (empty / "README.txt").write_text("nothing here yet\n")

    waivers = root / "waivers.yml"
    waivers.write_text(yaml.safe_dump({"version": 1, "waivers": [{
        "id": "RISK-7", "check": "rel-04", "target": "rel-unrated*", "justification": "jinja2 only renders our own templates",
        "approver": "Sam Lee (CISO)", "ticket": "SEC-7", "expires": "2099-12-31", "advisories": ["PYSEC-2019-217"]}]}))

    targets = [
        app,
        _release("rel-good", _folder(root, "good", [*good.files(), *(DATA / n for n in (
            "npm-audit-v2-good.json", "pip-audit-good.json", "osv-scanner-good.json", "grype-good.json", "k6-summary-export-good.json"))]),
                 commit=COMMIT[:10], version=VERSION, licence_allow=ALLOW, **release_of_app),
        _release("rel-bad", _folder(root, "bad", [*bad.files(), DATA / "npm-audit-v2-bad.json", DATA / "k6-summary-export-bad.json"]),
                 commit=COMMIT, version="0.9.0", licence_allow=ALLOW, **release_of_app),
        _release("rel-other-tools", _folder(root, "other", [DATA / n for n in (
            "jest-junit-bad.xml", "jacoco-low.xml", "istanbul-cobertura.xml", "grype-bad.sarif", "trivy-bad.json", "spdx-unlicensed.json",
            "k6-handlesummary-errors.json", "jmeter-bad.csv")]),
                 version="2.0.0", vuln_severity="critical", licence_allow=ALLOW, thresholds={"evidence_max_age_days": OLD}),
        _release("rel-other-commit", _folder(root, "other-commit", [good.junit]), commit="0123456789abcdef"),
        _release("rel-stale", stale, version=VERSION),
        _release("rel-broken", broken, version=VERSION),
        _release("rel-empty", empty, version=VERSION, licence_allow=ALLOW),
        _release("rel-unrated", _folder(root, "unrated", [DATA / "pip-audit-bad.json"]), version=VERSION),
        _release("rel-unrated-more", _folder(root, "unrated-more", [DATA / "pip-audit-bad.json", DATA / "osv-scanner-bad.json"]), version=VERSION),
    ]
    return run_catalog(pytester, "test_release.py", targets=targets, waivers=str(waivers))


def outcomes(run: CatalogRun, target: str) -> dict[str, str]:
    return {check: run.outcome(check, target) for check in CHECKS}


def good_evidence_passes_every_check(release_run: CatalogRun) -> None:
    assert outcomes(release_run, "rel-good") == dict.fromkeys(CHECKS, "passed")
    ev = release_run.evidence
    assert ev("rel-01", "rel-good")["tests"] == 3
    assert [r["commit"] for r in ev("rel-01", "rel-good")["reports"]] == [COMMIT]
    assert {r["format"] for r in ev("rel-02", "rel-good")["reports"]} == {"cobertura", "coverage-json", "lcov"}
    assert ev("rel-03", "rel-good")["tools"] == ["ruff"]
    assert {r["tool"] for r in ev("rel-04", "rel-good")["reports"]} == {"npm audit", "pip-audit", "osv-scanner", "grype"}
    assert ev("rel-05", "rel-good")["sboms"][0]["describes"] == f"sample-shop {VERSION}"
    assert ev("rel-06", "rel-good")["components"] == 5
    assert {r["format"] for r in ev("rel-07", "rel-good")["reports"]} == {"locust-csv", "locust-json", "k6"}
    assert ev("rel-08", "rel-good")["reported"] == VERSION


def bad_evidence_fails_every_check(release_run: CatalogRun) -> None:
    assert outcomes(release_run, "rel-bad") == dict.fromkeys(CHECKS, "failed")
    message = release_run.message
    for check in CHECKS:
        assert message(check, "rel-bad").startswith("rel-bad ("), check
        assert "; expected " in message(check, "rel-bad"), check
    assert "1 failed and 0 errored of 4 tests: tests.test_prices::test_rounding" in message("rel-01", "rel-bad")
    assert "coverage.xml" not in message("rel-02", "rel-bad")  # renamed: the content was recognised
    assert "(cobertura): 30.8% of 13 lines covered" in message("rel-02", "rel-bad")
    assert "expected >= 80% line coverage" in message("rel-02", "rel-bad")
    assert "ruff F401 at " in message("rel-03", "rel-bad")
    assert "refunds.py:3" in message("rel-03", "rel-bad")
    assert "at or above high (advisories: " in message("rel-04", "rel-bad")
    assert "critical, " in message("rel-04", "rel-bad")
    assert "describes sample-shop 1.0.0, not version 0.9.0" in message("rel-05", "rel-bad")
    assert "requests 2.32.4 (no licence stated)" in message("rel-06", "rel-bad")
    assert "100.00% of requests failed" in message("rel-07", "rel-bad")
    assert "k6 threshold http_reqs 'rate<100' failed" in message("rel-07", "rel-bad")
    assert f"shop-app reports {VERSION} at " in message("rel-08", "rel-bad")
    assert "expected the release's version 0.9.0 (commit 3f1c2e4d5b6a)" in message("rel-08", "rel-bad")


def reports_of_other_tools(release_run: CatalogRun) -> None:
    """JUnit from jest, JaCoCo, a scanner's SARIF, Trivy, SPDX, k6 and JMeter from those projects' own files."""
    got, message = outcomes(release_run, "rel-other-tools"), release_run.message
    assert got == {"rel-01": "failed", "rel-02": "failed", "rel-03": "n/a", "rel-04": "failed", "rel-05": "passed",
                   "rel-06": "failed", "rel-07": "failed", "rel-08": "n/a"}
    assert "sum edge cases::adds floats exactly" in message("rel-01", "rel-other-tools")
    assert "(jacoco): 66.7% of 9 lines" in message("rel-02", "rel-other-tools")
    assert "cobertura" not in message("rel-02", "rel-other-tools")  # Istanbul's 100 % passes
    # The grype SARIF is a scanner's: judged by rel-04, so rel-03 finds no linter log.
    assert "none of the 8 file(s) in the folder is a SARIF 2.1.0 log from a linter" in message("rel-03", "rel-other-tools")
    assert "CVE-2019-14697 in musl 1.1.20-r4 (critical, fixed in 1.1.20-r5)" in message("rel-04", "rel-other-tools")
    assert "at or above critical" in message("rel-04", "rel-other-tools")
    assert "component(s) under a licence not on the allow-list: " in message("rel-06", "rel-other-tools")
    assert "A 1.9.0 (no licence stated)" in message("rel-06", "rel-other-tools")
    assert "39.7" in message("rel-07", "rel-other-tools")
    assert "100.00% of requests failed" in message("rel-07", "rel-other-tools")
    assert "no application named" in message("rel-08", "rel-other-tools")


def other_commit_stale_broken_and_missing_reports(release_run: CatalogRun) -> None:
    message = release_run.message
    assert release_run.outcome("rel-01", "rel-other-commit") == "failed"
    assert f"is for commit {COMMIT}, not 0123456789abcdef" in message("rel-01", "rel-other-commit")

    assert release_run.outcome("rel-01", "rel-stale") == "failed"
    assert "artifact-0.out was produced 30 days ago" in message("rel-01", "rel-stale")
    assert "file modification time), older than 14 days" in message("rel-01", "rel-stale")
    assert release_run.outcome("rel-05", "rel-stale") == "passed"  # the SBOM in the same folder is fresh
    assert release_run.outcome("rel-04", "rel-stale") == "failed"
    assert "(2021-08-25, report time)" in message("rel-04", "rel-stale")

    for check, file, place in (("rel-01", "junit.xml", "invalid XML at line"), ("rel-04", "scan.json", "invalid JSON at line")):
        assert release_run.outcome(check, "rel-broken") == "error", check
        assert f"cannot read 1 report(s): {file}: {place}" in message(check, "rel-broken")

    assert outcomes(release_run, "rel-empty") == dict.fromkeys(CHECKS, "n/a")
    assert message("rel-01", "rel-empty").endswith("none of the 1 file(s) in the folder is a JUnit XML test report "
                                                   "(pytest --junitxml, jest-junit, Maven Surefire, ...); not recognised: README.txt")
    assert "is an SBOM (CycloneDX JSON or SPDX 2.x JSON)" in message("rel-06", "rel-empty")


def unrated_advisories_fail_closed_and_a_waiver_names_them(release_run: CatalogRun) -> None:
    # pip-audit rates nothing: the advisory blocks at the default threshold until accepted.
    assert release_run.outcome("rel-04", "rel-unrated") == "waived"
    assert "(advisories: PYSEC-2019-217): PYSEC-2019-217 in jinja2 2.4.1 (unknown, fixed in 2.10.1)" in release_run.message("rel-04", "rel-unrated")
    # The same waiver does not cover a failure that lists an advisory it does not name.
    assert release_run.outcome("rel-04", "rel-unrated-more") == "failed"
    assert "GHSA-m5pq-gvj9-9vr8" in release_run.message("rel-04", "rel-unrated-more")
    row = next(w for w in release_run.summary.extra["waivers"] if w["id"] == "RISK-7")
    assert row["matched"] == ["rel-unrated"]
    assert any("does not name" in note and "GO-2021-0053" in note for note in row["notes"])


@pytest.mark.parametrize(("expression", "allowed"), [
    ("MIT", True), ("Apache-2.0 AND MIT", True), ("Apache-2.0 OR GPL-3.0-only", True), ("GPL-3.0-only", False),
    ("(MIT OR GPL-2.0-only) AND BSD-3-Clause", True), ("MIT AND GPL-2.0-only", False), ("GPL-2.0+", False),
    ("GPL-2.0-only WITH Classpath-exception-2.0 OR MIT", True), ("License :: OSI Approved :: MIT License", True),
    ("License :: OSI Approved :: BSD License", False), ("(MIT", False), ("MIT)", False),
])
def test_licence_expressions(expression: str, allowed: bool) -> None:
    assert licence_allowed(expression, {"mit", "apache-2.0", "bsd-3-clause"}) is allowed


def test_advisories_are_read_from_the_failure_message() -> None:
    message = "rel (x): 2 known vulnerabilities at or above high (advisories: CVE-2019-14697, GHSA-m5pq-gvj9-9vr8): ...; expected ..."
    assert advisories_in(message) == ("CVE-2019-14697", "GHSA-m5pq-gvj9-9vr8")
    assert advisories_in("api (x): certificate expires in 9 days; expected >= 14 days") == ()
