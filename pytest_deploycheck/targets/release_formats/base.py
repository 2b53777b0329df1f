"""What every report reader shares: the kinds and families, the error, bounded reading, and a JSON
walker whose errors say where in the document they are.

Every failure to read a report -- missing file, over the size limit, bad encoding, truncated
JSON, XML with entity declarations, a field of the wrong type -- is an ``EvidenceFormatError``
whose message names the file and the place (``line 3, column 17`` or a JSON path such as
``$.runs[0].results[2].level``): a broken pipeline is evidence too, never a traceback.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args

import defusedxml
import defusedxml.ElementTree as SafeET

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
SNIFF_BYTES = 64 * 1024

EvidenceKind = Literal[
    "junit",
    "cobertura",
    "coverage-json",
    "lcov",
    "jacoco",
    "sarif",
    "npm-audit",
    "pip-audit",
    "osv-scanner",
    "trivy",
    "grype",
    "cyclonedx",
    "spdx",
    "k6",
    "locust-csv",
    "locust-json",
    "jmeter-csv",
]
Family = Literal["tests", "coverage", "static-analysis", "vulnerabilities", "sbom", "load-test"]
Severity = Literal["critical", "high", "medium", "low", "info", "unknown"]
SarifLevel = Literal["error", "warning", "note", "none"]

#: Most severe first; ``unknown`` last (a scanner that rates nothing: the check decides its weight).
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
LEVELS: tuple[SarifLevel, ...] = get_args(SarifLevel)
FAMILY: Mapping[EvidenceKind, Family] = {
    "junit": "tests",
    "cobertura": "coverage",
    "coverage-json": "coverage",
    "lcov": "coverage",
    "jacoco": "coverage",
    "sarif": "static-analysis",
    "npm-audit": "vulnerabilities",
    "pip-audit": "vulnerabilities",
    "osv-scanner": "vulnerabilities",
    "trivy": "vulnerabilities",
    "grype": "vulnerabilities",
    "cyclonedx": "sbom",
    "spdx": "sbom",
    "k6": "load-test",
    "locust-csv": "load-test",
    "locust-json": "load-test",
    "jmeter-csv": "load-test",
}


class EvidenceFormatError(Exception):
    """A report could not be read; the message names the file and where in it."""


# --------------------------------------------------------------------------- reading


def read_bytes(path: Path, limit: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise EvidenceFormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise EvidenceFormatError(f"{path}: larger than the {limit} byte limit for a report")
    return data


def decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EvidenceFormatError(f"{path}: line {line}: not UTF-8 text (byte offset {exc.start})") from exc


def read_text(path: Path, limit: int) -> str:
    return decode(path, read_bytes(path, limit))


def load_json(path: Path, limit: int) -> Any:
    text = read_text(path, limit)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvidenceFormatError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise EvidenceFormatError(f"{path}: JSON nested too deeply") from exc


def load_xml(path: Path, limit: int) -> ET.Element:
    data = read_bytes(path, limit)
    try:
        # defusedxml refuses entity declarations and external references (billion laughs, XXE);
        # a DOCTYPE that only names a DTD (JaCoCo, Cobertura) is harmless and allowed.
        root: ET.Element = SafeET.fromstring(data)
        return root
    except ET.ParseError as exc:
        line, column = exc.position
        reason = re.sub(r":\s*line \d+, column \d+$", "", str(exc))
        raise EvidenceFormatError(f"{path}: invalid XML at line {line}, column {column + 1}: {reason}") from exc
    except defusedxml.DefusedXmlException as exc:
        raise EvidenceFormatError(f"{path}: refused XML with entity declarations or external references ({exc})") from exc


def local(tag: str) -> str:
    """An XML tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


class JsonNode:
    """A JSON value and its path, so structure errors can say where they are."""

    def __init__(self, file: Path, value: Any, where: str = "$") -> None:
        self.file, self.value, self.where = file, value, where

    def fail(self, what: str) -> EvidenceFormatError:
        return EvidenceFormatError(f"{self.file}: {self.where}: {what}")

    def _expect(self, kind: type | tuple[type, ...], name: str) -> Any:
        # bool is an int to Python, never a number or a string to a report
        if not isinstance(self.value, kind) or isinstance(self.value, bool):
            raise self.fail(f"expected {name}, got {json_type(self.value)}")
        return self.value

    def obj(self) -> dict[str, Any]:
        return self._expect(dict, "an object")  # type: ignore[no-any-return]

    def __getitem__(self, key: str) -> JsonNode:
        obj = self.obj()
        if key not in obj:
            raise self.fail(f"missing key {key!r}")
        return JsonNode(self.file, obj[key], f"{self.where}.{key}")

    def get(self, key: str) -> JsonNode | None:
        value = self.obj().get(key)
        return None if value is None else JsonNode(self.file, value, f"{self.where}.{key}")

    def items(self, key: str) -> Iterator[JsonNode]:
        """The elements of the list under ``key``; absent or null is an empty list."""
        child = self.get(key)
        if child is not None:
            yield from child

    def __iter__(self) -> Iterator[JsonNode]:
        for index, value in enumerate(self._expect(list, "a list")):
            yield JsonNode(self.file, value, f"{self.where}[{index}]")

    def entries(self) -> Iterator[tuple[str, JsonNode]]:
        for key, value in self.obj().items():
            yield key, JsonNode(self.file, value, f"{self.where}.{key}")

    def text(self) -> str:
        return self._expect(str, "a string")  # type: ignore[no-any-return]

    def number(self) -> float:
        return float(self._expect((int, float), "a number"))

    def opt_str(self, key: str) -> str | None:
        child = self.get(key)
        return None if child is None else child.text()

    def opt_num(self, key: str) -> float | None:
        child = self.get(key)
        return None if child is None else child.number()

    def opt_time(self, key: str) -> datetime | None:
        """An ISO 8601 time under ``key``; absent or empty (Grype writes "") is None."""
        raw = self.opt_str(key)
        return iso_time(self.file, raw, f"{self.where}.{key}") if raw else None


def json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


# --------------------------------------------------------------------------- times


def iso_time(path: Path, raw: str, where: str) -> datetime:
    """An ISO 8601 time, timezone-aware (a naive one, as jest-junit writes, is taken as UTC).
    Trivy's nanoseconds and a trailing ``Z`` are accepted on every supported Python."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", raw.strip())
    text = re.sub(r"[Zz]$", "+00:00", text)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EvidenceFormatError(f"{path}: {where}: {raw!r} is not an ISO 8601 time") from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def epoch_ms(path: Path, raw: str | float | None, where: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        return datetime.fromtimestamp(float(raw) / 1000, timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise EvidenceFormatError(f"{path}: {where}: {raw!r} is not a time in milliseconds") from exc


# --------------------------------------------------------------------------- severities

_SEVERITY_WORDS: Mapping[str, Severity] = {
    "critical": "critical",
    "high": "high",
    "important": "high",
    "moderate": "medium",
    "medium": "medium",
    "low": "low",
    "negligible": "info",
    "info": "info",
    "informational": "info",
    "none": "info",
    "unknown": "unknown",
    "": "unknown",
}


def severity_from_word(word: str | None) -> Severity:
    return _SEVERITY_WORDS.get((word or "").strip().lower(), "unknown")


def severity_from_cvss(score: float) -> Severity:
    """CVSS v3 qualitative rating, as GitHub maps SARIF ``security-severity``."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "info"
