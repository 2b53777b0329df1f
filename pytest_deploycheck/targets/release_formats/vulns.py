"""Readers for what the build ships: vulnerability reports (npm audit, pip-audit, OSV-Scanner,
Trivy, Grype, a scanner's SARIF, CycloneDX ``vulnerabilities``) and SBOMs (CycloneDX, SPDX JSON).

Severity is normalised to ``critical``/``high``/``medium``/``low``/``info``/``unknown``.
``unknown`` is what a scanner that rates nothing says (pip-audit never gives a severity; OSV
entries often carry none): the reader reports that honestly and the check decides its weight.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from pytest_deploycheck.targets.release_formats.base import (
    SEVERITIES,
    EvidenceFormatError,
    JsonNode,
    SarifLevel,
    Severity,
    load_json,
    severity_from_cvss,
    severity_from_word,
)
from pytest_deploycheck.targets.release_formats.model import Component, Finding, SarifReport, Sbom, VulnerabilityReport

_LEVEL_SEVERITY: Mapping[SarifLevel, Severity] = {"error": "high", "warning": "medium", "note": "low", "none": "info"}




def read_npm_audit(path: Path, limit: int) -> VulnerabilityReport:
    doc = JsonNode(path, load_json(path, limit))
    obj = doc.obj()
    if "error" in obj and "auditReportVersion" not in obj and "advisories" not in obj:
        raise EvidenceFormatError(f"{path}: npm audit failed and wrote no report: {doc.opt_str('message') or obj.get('error')}")
    findings: dict[tuple[str, str], Finding] = {}
    if "auditReportVersion" in obj:
        for name, vuln in doc["vulnerabilities"].entries():
            fix = vuln.get("fixAvailable")
            fixed = None
            if fix is not None and isinstance(fix.value, dict) and fix.opt_str("name") == name:
                fixed = fix.opt_str("version")
            for via in vuln.items("via"):
                if isinstance(via.value, str):
                    continue  # "via another vulnerable package": that one is listed in its own right
                package = via.opt_str("name") or name
                url = via.opt_str("url") or ""
                advisory = url.rstrip("/").rsplit("/", 1)[-1] if url else str(via["source"].value)
                findings.setdefault(
                    (package, advisory),
                    Finding(package, None, advisory, severity_from_word(via.opt_str("severity")), fixed if package == name else None),
                )
    else:
        for key, entry in doc["advisories"].entries():
            package = entry["module_name"].text()
            ident = entry.opt_str("github_advisory_id") or (entry.opt_str("url") or "").rsplit("/", 1)[-1] or key
            versions = [f.opt_str("version") for f in entry.items("findings")] or [None]
            for version in versions:
                findings.setdefault(
                    (f"{package}@{version}", ident),
                    Finding(package, version, ident, severity_from_word(entry.opt_str("severity")), entry.opt_str("patched_versions")),
                )
    return VulnerabilityReport(path, "npm-audit", "npm audit", tuple(findings.values()))


def read_pip_audit(path: Path, limit: int) -> VulnerabilityReport:
    doc = JsonNode(path, load_json(path, limit))
    findings = []
    for dep in doc.items("dependencies"):
        for vuln in dep.items("vulns"):
            fixes = [v.text() for v in vuln.items("fix_versions")]
            # pip-audit rates nothing: "unknown", and the check decides what unknown weighs.
            findings.append(Finding(dep["name"].text(), dep.opt_str("version"), vuln["id"].text(), "unknown", ", ".join(fixes) or None))
    return VulnerabilityReport(path, "pip-audit", "pip-audit", tuple(findings))


def read_osv(path: Path, limit: int) -> VulnerabilityReport:
    doc = JsonNode(path, load_json(path, limit))
    findings = []
    for result in doc.items("results"):
        for pkg in result.items("packages"):
            package = pkg["package"]
            name, version = package["name"].text(), package.opt_str("version")
            vulns = {v["id"].text(): v for v in pkg.items("vulnerabilities")}
            groups = [[i.text() for i in g.items("ids")] for g in pkg.items("groups")] or [[i] for i in vulns]
            maxima = [g.opt_str("max_severity") for g in pkg.items("groups")] or [None] * len(groups)
            for ids, max_severity in zip(groups, maxima, strict=False):
                members = [vulns[i] for i in ids if i in vulns]
                findings.append(Finding(name, version, ids[0], _osv_severity(max_severity, members), _osv_fixed(name, members)))
    return VulnerabilityReport(path, "osv-scanner", "osv-scanner", tuple(findings))


def _osv_severity(max_severity: str | None, vulns: list[JsonNode]) -> Severity:
    if max_severity:
        try:
            return severity_from_cvss(float(max_severity))
        except ValueError:
            pass
    for vuln in vulns:
        specific = vuln.get("database_specific")
        word = specific.opt_str("severity") if specific and isinstance(specific.value, dict) else None
        if word:
            return severity_from_word(word)
    return "unknown"


def _osv_fixed(name: str, vulns: list[JsonNode]) -> str | None:
    for vuln in vulns:
        for affected in vuln.items("affected"):
            pkg = affected.get("package")
            if pkg is not None and pkg.opt_str("name") not in (None, name):
                continue
            for rng in affected.items("ranges"):
                for event in rng.items("events"):
                    if event.opt_str("fixed"):
                        return event.opt_str("fixed")
    return None


def read_trivy(path: Path, limit: int) -> VulnerabilityReport:
    doc = JsonNode(path, load_json(path, limit))
    findings = tuple(
        Finding(
            v["PkgName"].text(),
            v.opt_str("InstalledVersion"),
            v["VulnerabilityID"].text(),
            severity_from_word(v.opt_str("Severity")),
            v.opt_str("FixedVersion") or None,
        )
        for result in doc.items("Results")
        for v in result.items("Vulnerabilities")
    )
    return VulnerabilityReport(path, "trivy", "trivy", findings, doc.opt_time("CreatedAt"))


def read_grype(path: Path, limit: int) -> VulnerabilityReport:
    doc = JsonNode(path, load_json(path, limit))
    findings = []
    for match in doc.items("matches"):
        vuln, artifact = match["vulnerability"], match["artifact"]
        fix = vuln.get("fix")
        fixed = [v.text() for v in fix.items("versions")] if fix else []
        findings.append(
            Finding(
                artifact["name"].text(),
                artifact.opt_str("version"),
                vuln["id"].text(),
                severity_from_word(vuln.opt_str("severity")),
                ", ".join(fixed) or None,
            )
        )
    descriptor = doc.get("descriptor")
    return VulnerabilityReport(path, "grype", "grype", tuple(findings), descriptor.opt_time("timestamp") if descriptor else None)


#: SARIF writers that scan dependencies or images for known vulnerabilities (lower-case driver
#: names): their results are findings for the vulnerability check, not lint for the static one.
SCANNER_TOOLS = frozenset({
    "trivy", "grype", "osv-scanner", "snyk", "snyk open source", "snyk container", "dependency-check",
    "owasp dependency-check", "npm audit", "pip-audit", "anchore", "docker scout", "clair", "mend", "dependabot",
})


def is_scanner(report: SarifReport) -> bool:
    """Whether a SARIF log comes from a vulnerability scanner (every run's tool is a known one)."""
    return bool(report.runs) and all(run.tool.strip().lower() in SCANNER_TOOLS for run in report.runs)


def findings_from_sarif(report: SarifReport) -> tuple[Finding, ...]:
    findings = []
    for run in report.runs:
        for result in run.results:
            severity = (
                severity_from_cvss(result.security_severity) if result.security_severity is not None else _LEVEL_SEVERITY[result.level]
            )
            package = result.location.rsplit(":", 1)[0] if result.location else result.rule_id
            findings.append(Finding(package, None, result.rule_id, severity, None))
    return tuple(findings)


def _cyclonedx_vulnerabilities(doc: JsonNode, components: Mapping[str, Component]) -> tuple[Finding, ...]:
    findings = []
    for vuln in doc.items("vulnerabilities"):
        ratings = list(vuln.items("ratings"))
        words = [severity_from_word(r.opt_str("severity")) for r in ratings if r.opt_str("severity")]
        scores = [
            severity_from_cvss(r["score"].number())
            for r in ratings
            if r.get("score") is not None and (r.opt_str("method") or "").upper().startswith("CVSS")
        ]
        rated = [s for s in words or scores if s != "unknown"]
        severity: Severity = min(rated, key=SEVERITIES.index) if rated else "unknown"
        targets = [components.get(a["ref"].text()) for a in vuln.items("affects")] or [None]
        for target in targets:
            findings.append(Finding(target.name if target else "?", target.version if target else None, vuln["id"].text(), severity, None))
    return tuple(findings)


# --------------------------------------------------------------------------- SBOM


def read_cyclonedx(path: Path, limit: int) -> Sbom:
    doc = JsonNode(path, load_json(path, limit))
    if doc["bomFormat"].text() != "CycloneDX":
        raise doc["bomFormat"].fail("not a CycloneDX BOM")
    by_ref: dict[str, Component] = {}
    components = tuple(_cyclonedx_components(doc.items("components"), by_ref))
    meta = doc.get("metadata")
    subject = meta.get("component") if meta else None
    return Sbom(
        path,
        "cyclonedx",
        doc.opt_str("specVersion") or "?",
        components,
        meta.opt_time("timestamp") if meta else None,
        _cyclonedx_vulnerabilities(doc, by_ref),
        has_vulnerabilities="vulnerabilities" in doc.obj(),
        subject=next(_cyclonedx_components([subject], {}), None) if subject else None,
    )


def _cyclonedx_components(items: Iterable[JsonNode], by_ref: dict[str, Component]) -> Iterator[Component]:
    for item in items:
        licenses = []
        for entry in item.items("licenses"):
            lic = entry.get("license")
            text = entry.opt_str("expression") or (lic.opt_str("id") or lic.opt_str("name") if lic else None)
            if text:
                licenses.append(text)
        component = Component(item["name"].text(), item.opt_str("version"), tuple(licenses), item.opt_str("purl"))
        ref = item.opt_str("bom-ref")
        if ref:
            by_ref[ref] = component
        yield component
        yield from _cyclonedx_components(item.items("components"), by_ref)


def read_spdx(path: Path, limit: int) -> Sbom:
    doc = JsonNode(path, load_json(path, limit))
    version = doc["spdxVersion"].text()
    if not version.startswith("SPDX-2."):
        raise doc["spdxVersion"].fail(f"{version!r} is not SPDX 2.x")
    components = []
    for pkg in doc.items("packages"):
        licenses = [v for v in (pkg.opt_str("licenseConcluded"), pkg.opt_str("licenseDeclared")) if v and v not in ("NOASSERTION", "NONE")]
        purls = [r.opt_str("referenceLocator") for r in pkg.items("externalRefs") if r.opt_str("referenceType") == "purl"]
        components.append(Component(pkg["name"].text(), pkg.opt_str("versionInfo"), tuple(licenses[:1]), purls[0] if purls else None))
    info = doc.get("creationInfo")
    return Sbom(path, "spdx", version, tuple(components), info.opt_time("created") if info else None)


