"""The ``release`` kind: the reports a team's CI produced for the release being deployed.

A ``release`` target is a folder of CI artifacts (JUnit XML, coverage, SARIF, vulnerability scans,
SBOMs, load-test results), the release it belongs to (``commit`` and/or ``version``) and,
optionally, the ``http`` target whose version endpoint says what is actually deployed.  Every
file is recognised by its content, never its name (``release_formats.sniff``), and read once per
run with a size cap; ``ReleaseTarget`` hands checks the reports of one family, tells how old a
report is, and asks the deployed application for its version.

Left out on purpose: folders on a remote host and downloading CI artifacts by URL; point
``path`` at the folder a pipeline step downloaded them to.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_deploycheck.outcomes import TargetError, not_applicable
from pytest_deploycheck.targets import release_formats as rf
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.reach import Reachability
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode

#: The most files a release folder may hold; a bigger tree is the wrong folder (a checkout, a cache).
MAX_FILES = 2000
#: Largest report read; sniffing reads at most 64 KiB from each end of any file.
MAX_REPORT_BYTES = rf.DEFAULT_MAX_BYTES
#: Most bytes of the version endpoint's answer judged.
VERSION_BYTES = 65536
#: Vulnerability severity thresholds, most severe first.
VULN_SEVERITIES = ("critical", "high", "medium", "low")

#: What each family is, for "no ... found" messages: the formats looked for.
LOOKED_FOR: Mapping[str, str] = {
    "tests": "a JUnit XML test report (pytest --junitxml, jest-junit, Maven Surefire, ...)",
    "coverage": "a coverage report (Cobertura XML from coverage.py or Jest/Istanbul, coverage.py JSON, lcov, JaCoCo XML)",
    "static-analysis": "a SARIF 2.1.0 log from a linter, type checker or analyser (ruff, ESLint, CodeQL, ...)",
    "vulnerabilities": "a vulnerability report (npm audit JSON, pip-audit JSON, OSV-Scanner JSON, Trivy JSON, Grype JSON, "
    "a scanner's SARIF, a CycloneDX BOM with vulnerabilities)",
    "sbom": "an SBOM (CycloneDX JSON or SPDX 2.x JSON)",
    "load-test": "a load-test result (k6 summary JSON, Locust stats CSV or JSON, JMeter JTL CSV)",
}


@dataclass(frozen=True)
class Age:
    """How old a report is, and what says so (the report's own time, or the file's)."""

    days: float
    when: datetime
    source: str  # "report time" | "file modification time"


class ReleaseTarget(TargetHandle):
    """A ``release`` target: the CI reports of one release, read from a local folder."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._lock = threading.Lock()
        self._scan: tuple[list[tuple[Path, rf.EvidenceKind]], list[Path]] | None = None
        self._parsed: dict[Path, rf.Report | str] = {}

    @property
    def path(self) -> Path:
        return Path(str(self.target.spec["path"]))

    @property
    def commit(self) -> str | None:
        value = self.target.get("commit")
        return str(value) if value else None

    @property
    def version(self) -> str | None:
        value = self.target.get("version")
        return str(value) if value else None

    @property
    def release(self) -> str:
        """The release for messages: ``version 1.4.0 (commit 3f1c2e4)``."""
        parts = [f"version {self.version}"] if self.version else []
        if self.commit:
            parts.append(f"commit {self.commit[:12]}" if not parts else f"(commit {self.commit[:12]})")
        return " ".join(parts)

    # ------------------------------------------------------------------ finding reports

    def files(self) -> tuple[list[tuple[Path, rf.EvidenceKind]], list[Path]]:
        """Every recognised report under the folder with its kind, and the files not recognised.
        Walked once per run, at most ``MAX_FILES`` files; hidden folders are skipped."""
        with self._lock:
            if self._scan is None:
                self._scan = self._walk()
            return self._scan

    def _walk(self) -> tuple[list[tuple[Path, rf.EvidenceKind]], list[Path]]:
        if not self.path.is_dir():
            raise TargetError(f"{self.label}: no such folder; the CI step that downloads the release's reports did not run, or path is wrong")
        found: list[tuple[Path, rf.EvidenceKind]] = []
        other: list[Path] = []
        count = 0
        for folder, dirs, names in os.walk(self.path, onerror=self._walk_error):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                count += 1
                if count > MAX_FILES:
                    raise TargetError(f"{self.label}: more than {MAX_FILES} files under the folder; point path at the release's reports only")
                file = Path(folder) / name
                if not file.is_file():
                    continue
                kind = rf.sniff(file)
                if kind is None:
                    other.append(file)
                else:
                    found.append((file, kind))
        return found, other

    def _walk_error(self, exc: OSError) -> None:
        raise TargetError(f"{self.label}: cannot read {exc.filename}: {exc.strerror or exc}")

    def reports(self, family: rf.Family) -> list[Any]:
        """The reports of ``family`` in the folder, read; not applicable, naming what was looked
        for, when there is none; a report that cannot be read is an error naming the file and
        the place.  A scanner's SARIF log belongs to ``vulnerabilities``, any other to
        ``static-analysis``; a CycloneDX BOM is an ``sbom`` and, when it carries a
        ``vulnerabilities`` array (even an empty one: a scan that found nothing), a
        vulnerability report too."""
        found, other = self.files()
        reports: list[Any] = []
        broken: list[str] = []
        for file, kind in found:
            if not _may_hold(family, kind):
                continue
            parsed = self._read(file, kind)
            if isinstance(parsed, str):
                broken.append(parsed)  # could be this family's: fail closed
                continue
            report = _as_family(family, kind, parsed)
            if report is not None:
                reports.append(report)
        if broken:
            raise TargetError(f"{self.label}: cannot read {len(broken)} report(s): {'; '.join(broken)}")
        if not reports:
            unrecognised = f"; not recognised: {_names(other)}" if other else ""
            not_applicable(f"{self.label}: none of the {len(found) + len(other)} file(s) in the folder is {LOOKED_FOR[family]}{unrecognised}")
        return reports

    def _read(self, file: Path, kind: rf.EvidenceKind) -> rf.Report | str:
        """The report in ``file`` read by its kind's reader, once per run, or why it cannot be read."""
        with self._lock:
            if file not in self._parsed:
                try:
                    self._parsed[file] = rf.PARSERS[kind](file, MAX_REPORT_BYTES)
                except rf.EvidenceFormatError as exc:
                    self._parsed[file] = self.relative(str(exc))
                except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError, OverflowError) as exc:
                    self._parsed[file] = f"{self.relative(str(file))}: unreadable {kind} report: {type(exc).__name__}: {exc}"
            return self._parsed[file]

    def relative(self, text: str) -> str:
        """Paths under the folder written relative to it, so messages stay short."""
        return text.replace(str(self.path) + os.sep, "")

    def name_of(self, report: Any) -> str:
        return self.relative(str(report.path))

    # ------------------------------------------------------------------ judging reports

    def age(self, report: Any) -> Age:
        """How old ``report`` is: its own time when the format carries one, else the file's."""
        now = datetime.now(timezone.utc)
        when = getattr(report, "timestamp", None)
        source = "report time"
        if when is None:
            try:
                when = datetime.fromtimestamp(Path(report.path).stat().st_mtime, timezone.utc)
            except OSError as exc:
                raise TargetError(f"{self.label}: cannot stat {self.name_of(report)}: {exc.strerror or exc}") from None
            source = "file modification time"
        return Age((now - when).total_seconds() / 86400, when, source)

    def stale(self, reports: list[Any]) -> list[str]:
        """One line per report older than ``evidence_max_age_days``."""
        limit = float(self.threshold("evidence_max_age_days"))
        lines = []
        for report in reports:
            age = self.age(report)
            if age.days > limit:
                lines.append(f"{self.name_of(report)} was produced {age.days:.0f} days ago "
                             f"({age.when:%Y-%m-%d}, {age.source}), older than {limit:g} days")
        return lines

    def commit_matches(self, reported: str | None) -> bool | None:
        """Whether a report's commit is the release's (a short hash matches its full form);
        None when either side does not say."""
        if not reported or not self.commit:
            return None
        a, b = reported.strip().lower(), self.commit.strip().lower()
        return a == b or (min(len(a), len(b)) >= 7 and (a.startswith(b) or b.startswith(a)))

    def deployed_version(self, app: Target) -> tuple[str | None, str]:
        """(what ``app``'s ``paths.version`` reports, the URL asked): the JSON field
        ``version_field`` (dotted: ``info.version``), or the whole body when it is plain text.
        A read-only GET through the app's ``HttpTarget``, so bounded as every http exchange is
        (``http_transport``: the app's timeout as one deadline for connect, headers and body, and
        its body cap), and through the run's reachability memory."""
        from pytest_deploycheck.targets.http import HttpTarget

        handle = HttpTarget(app, self.reach)
        try:
            path = handle.path("version")
            response = handle.get(path)
        finally:
            handle.close()
        body = response.content[:VERSION_BYTES]  # a version needs no more
        url = handle.url_for(path)
        if response.status_code != 200:
            raise TargetError(f"{app.label}: GET {path} answered HTTP {response.status_code}; cannot read the deployed version")
        text = body.decode("utf-8", errors="replace").strip()
        field = str(self.target.get("version_field") or "version")
        if not text.startswith(("{", "[")):
            return (text.splitlines()[0].strip() if text else None), url
        try:
            value: Any = json.loads(text)
        except ValueError:
            raise TargetError(f"{app.label}: GET {path} answered invalid or truncated JSON (first 64 KiB read)") from None
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, (dict, list)):
            return None, url
        return str(value), url


#: Python trove classifiers (how older packages state a licence, and what cyclonedx-py copies as
#: a licence name) -> the SPDX id they stand for.  "BSD License" names no single licence: left as is.
CLASSIFIER_SPDX: Mapping[str, str] = {
    "mit license": "MIT",
    "apache software license": "Apache-2.0",
    "isc license (iscl)": "ISC",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "python software foundation license": "PSF-2.0",
    "the unlicense (unlicense)": "Unlicense",
    "zope public license": "ZPL-2.1",
}


def spdx_id(licence: str) -> str:
    """A licence as an SPDX id where a trove classifier stands for one (``License :: OSI Approved ::
    MIT License`` -> ``MIT``); anything else unchanged."""
    name = licence.rsplit("::", 1)[-1].strip()
    return CLASSIFIER_SPDX.get(name.lower(), licence.strip()) if "::" in licence else licence.strip()


def licence_allowed(expression: str, allowed: set[str]) -> bool:
    """Whether an SPDX licence expression is satisfied by ``allowed`` (lower-case ids): ``A OR B``
    when either is allowed, ``A AND B`` when both are, ``A WITH exception`` when A is;
    parentheses group.  A licence name that is not an expression is compared whole."""
    tokens = expression.replace("(", " ( ").replace(")", " ) ").split()
    if not any(t.upper() in ("AND", "OR", "WITH", "(", ")") for t in tokens):
        return spdx_id(expression).lower() in allowed
    position = 0

    def peek() -> str:
        return tokens[position].upper() if position < len(tokens) else ""

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def factor() -> bool:
        if peek() == "(":
            take()
            value = either()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return value
        ident = take().lower()
        if peek() == "WITH":
            take()
            take()
        return ident in allowed

    def both() -> bool:
        value = factor()
        while peek() == "AND":
            take()
            value = factor() and value
        return value

    def either() -> bool:
        value = both()
        while peek() == "OR":
            take()
            value = both() or value
        return value

    try:
        result = either()
        return result and position == len(tokens)
    except (IndexError, ValueError):
        return False  # an expression we cannot read is not an allowed one


def _names(paths: list[Path], limit: int = 5) -> str:
    names = [p.name for p in paths[:limit]]
    return ", ".join(names) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _may_hold(family: rf.Family, kind: rf.EvidenceKind) -> bool:
    """Whether a report of ``kind`` can be one of ``family``."""
    if rf.FAMILY[kind] == family:
        return True
    return (kind == "sarif" and family in ("static-analysis", "vulnerabilities")) or (kind == "cyclonedx" and family == "vulnerabilities")


def _as_family(family: rf.Family, kind: rf.EvidenceKind, report: rf.Report) -> rf.Report | None:
    """``report`` as a report of ``family``, or None when it is not one."""
    if isinstance(report, rf.SarifReport):
        scanner = rf.is_scanner(report)
        if family == "vulnerabilities":
            return rf.vulnerabilities_of(report) if scanner else None
        return None if scanner else report
    if isinstance(report, rf.Sbom) and family == "vulnerabilities":
        return rf.vulnerabilities_of(report) if report.has_vulnerabilities else None
    return report if rf.FAMILY[kind] == family else None


FIELDS: dict[str, Field] = {
    "path": Field("path", "local folder holding the release's CI reports (any names, any sub-folders; recognised by content)", required=True),
    "commit": Field("str", "the commit the release was built from (a short hash is enough); reports that name a commit must name it"),
    "version": Field("str", "the release's version (quote it: \"1.4.0\"); compared with the SBOM's and the deployed app's"),
    "app": Field("str", "name of the http target whose paths.version reports the deployed version"),
    "version_field": Field("str", "JSON field of the version endpoint's answer holding the version, dotted for nesting (default version)"),
    "vuln_severity": Field("choice", "lowest severity of a known vulnerability that fails the release (default high)", choices=VULN_SEVERITIES),
    "licence_allow": Field("list[str]", "SPDX licence ids every SBOM component's licence must be among (MIT, Apache-2.0, ...)"),
}


def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    if not spec.get("commit") and not spec.get("version"):
        line = next(iter(raw.values())).line if raw else 0
        ld.problem(line, keypath, "names no release: add commit (the build's commit hash) or version, so the reports can be matched to it")


KIND = TargetKind(
    name="release", fixture="release", handle=ReleaseTarget, fields=FIELDS, validate=validate,
    summary="""A ``release`` target: the CI reports of the release being deployed, in a local folder.
    ``release.reports("tests")`` reads every JUnit report in it (n/a when there is none, an error
    naming file and place when one is broken); ``release.stale(reports)``, ``release.age(report)``,
    ``release.commit_matches(sha)``, ``release.deployed_version(app_target)``.""",
)
