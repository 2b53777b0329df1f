"""Readers for load-test results: k6 (``--summary-export`` and ``handleSummary`` JSON), Locust
(``--csv`` stats and ``--json``) and JMeter JTL CSV.  Latencies in milliseconds, error rate as a
fraction; a k6 run's own thresholds come along with their verdicts."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

from pytest_deploycheck.targets.release_formats.base import EvidenceFormatError, JsonNode, epoch_ms, json_type, load_json, read_text
from pytest_deploycheck.targets.release_formats.model import LoadTestReport, Threshold


def read_k6(path: Path, limit: int) -> LoadTestReport:
    doc = JsonNode(path, load_json(path, limit))
    metrics = doc["metrics"]

    def stat(metric: str, *names: str) -> float | None:
        entry = metrics.get(metric)
        if entry is None:
            return None
        values = entry.get("values") or entry  # handleSummary nests values; --summary-export does not
        for name in names:
            value = values.opt_num(name)
            if value is not None:
                return value
        return None

    thresholds = []
    for name, metric in metrics.entries():
        limits = metric.get("thresholds")
        for expression, result in limits.entries() if limits is not None else ():
            # handleSummary writes {"ok": bool}; --summary-export writes a bare bool that is true when the threshold FAILED.
            ok = result["ok"].value if isinstance(result.value, dict) else (not result.value if isinstance(result.value, bool) else None)
            if not isinstance(ok, bool):
                raise result.fail(f"expected a threshold result, got {json_type(result.value)}")
            thresholds.append(Threshold(name, expression, ok))
    requests = stat("http_reqs", "count")
    error_rate = stat("http_req_failed", "rate", "value")  # "value" in --summary-export
    failures = round(error_rate * requests) if error_rate is not None and requests is not None else None
    return LoadTestReport(
        path,
        "k6",
        None if requests is None else int(requests),
        failures,
        error_rate,
        stat("http_req_duration", "p(95)"),
        stat("http_reqs", "rate"),
        tuple(thresholds),
    )


def _csv_rows(path: Path, limit: int) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    reader = csv.DictReader(io.StringIO(read_text(path, limit), newline=""))
    try:
        header = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise EvidenceFormatError(f"{path}: line 1: invalid CSV: {exc}") from exc

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for row in reader:
                extra = row.pop(None, None)
                present = sum(value is not None for value in row.values()) + len(extra or ())
                if present != len(header):
                    raise EvidenceFormatError(
                        f"{path}: line {reader.line_num}: has {present} columns, the header has {len(header)} (truncated?)"
                    )
                yield reader.line_num, row
        except csv.Error as exc:
            raise EvidenceFormatError(f"{path}: line {reader.line_num}: invalid CSV: {exc}") from exc

    return header, rows()


def _number(path: Path, line: int, column: str, raw: str) -> float | None:
    if raw.strip() in ("", "N/A"):
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise EvidenceFormatError(f"{path}: line {line}, column {column!r}: {raw!r} is not a number") from exc


def read_locust_csv(path: Path, limit: int) -> LoadTestReport:
    _, rows = _csv_rows(path, limit)
    for line, row in rows:
        if row.get("Name") == "Aggregated":
            requests = _number(path, line, "Request Count", row["Request Count"]) or 0
            failures = _number(path, line, "Failure Count", row["Failure Count"]) or 0
            return LoadTestReport(
                path,
                "locust-csv",
                int(requests),
                int(failures),
                failures / requests if requests else None,
                _number(path, line, "95%", row.get("95%", "")),
                _number(path, line, "Requests/s", row.get("Requests/s", "")),
            )
    raise EvidenceFormatError(f"{path}: no 'Aggregated' row: truncated, or not a locust *_stats.csv")


def read_locust_json(path: Path, limit: int) -> LoadTestReport:
    doc = JsonNode(path, load_json(path, limit))
    requests = failures = 0
    histogram = Counter[float]()
    starts, ends = [], []
    for entry in doc:
        requests += int(entry["num_requests"].number())
        failures += int(entry["num_failures"].number())
        for bucket, count in entry["response_times"].entries():
            try:
                histogram[float(bucket)] += int(count.number())
            except ValueError as exc:
                raise count.fail(f"response time bucket {bucket!r} is not a number") from exc
        if entry.opt_num("start_time") is not None and entry.opt_num("last_request_timestamp") is not None:
            starts.append(entry["start_time"].number())
            ends.append(entry["last_request_timestamp"].number())
    elapsed = max(ends) - min(starts) if starts else 0
    return LoadTestReport(
        path,
        "locust-json",
        requests,
        failures,
        failures / requests if requests else None,
        _histogram_percentile(histogram, 0.95),
        requests / elapsed if elapsed > 0 else None,
        timestamp=epoch_ms(path, max(ends) * 1000, "$[*].last_request_timestamp") if ends else None,
    )


def _histogram_percentile(histogram: Mapping[float, int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if total == 0:
        return None
    rank, seen = math.ceil(fraction * total), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)


def read_jmeter_csv(path: Path, limit: int) -> LoadTestReport:
    header, rows = _csv_rows(path, limit)
    missing = {"timeStamp", "elapsed", "success"} - set(header)
    if missing:
        raise EvidenceFormatError(f"{path}: line 1: JMeter CSV header lacks {', '.join(sorted(missing))}")
    elapsed: list[float] = []
    failures, first, last = 0, math.inf, -math.inf
    for line, row in rows:
        took, stamp = _number(path, line, "elapsed", row["elapsed"]), _number(path, line, "timeStamp", row["timeStamp"])
        if took is None or stamp is None:
            raise EvidenceFormatError(f"{path}: line {line}: empty timeStamp or elapsed")
        if row["success"].strip().lower() not in ("true", "false"):
            raise EvidenceFormatError(f"{path}: line {line}, column 'success': {row['success']!r} is not true/false")
        elapsed.append(took)
        failures += row["success"].strip().lower() == "false"
        first, last = min(first, stamp), max(last, stamp + took)
    if not elapsed:
        raise EvidenceFormatError(f"{path}: no samples after the header")
    elapsed.sort()
    window = (last - first) / 1000
    return LoadTestReport(
        path,
        "jmeter-csv",
        len(elapsed),
        failures,
        failures / len(elapsed),
        elapsed[math.ceil(0.95 * len(elapsed)) - 1],
        len(elapsed) / window if window > 0 else None,
        timestamp=epoch_ms(path, last, "last sample's timeStamp + elapsed"),
    )


