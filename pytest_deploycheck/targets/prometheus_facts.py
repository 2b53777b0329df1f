"""What a go-live review wants to know about a Prometheus server, read from its API answers.

Pure functions over the parsed JSON of Prometheus' HTTP API (each accepts the whole answer,
``{"status": "success", "data": ...}``, or its ``data``), so they are tested on answers
captured from real servers:

==============================================  ==============================================
answer                                          function
==============================================  ==============================================
``/api/v1/targets``                             ``down_targets``, ``jobs``
``/api/v1/rules``                               ``unhealthy_rules``, ``concern_coverage``, ``undocumented_alerts``
``/api/v1/alerts``                              ``firing_alerts``
``/api/v1/alertmanagers``                       ``active_alertmanagers``
``/api/v1/status/flags``, ``.../runtimeinfo``   ``retention``
``/metrics`` text (exposition format)           ``exposition_names``, ``missing_metrics``
==============================================  ==============================================

``CONCERNS`` is the list of alerting concerns a go-live review asks for and how a rule for
each is recognised; the inventory key ``required_alerts`` picks from its names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def _data(response: Any) -> Any:
    """The ``data`` of a Prometheus API answer, or the answer itself when it is already ``data``."""
    if isinstance(response, Mapping) and "status" in response and "data" in response:
        if response.get("status") != "success":
            raise ValueError(f"Prometheus API answered {response.get('status')}: {response.get('error')}")
        return response["data"]
    return response


_DURATION_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")


def parse_duration(text: str) -> float | None:
    """Seconds in a Prometheus duration (``15d``, ``2w1d``, ``360h``, ``1d12h30m``); None if it is not one."""
    text = text.strip()
    if not text:
        return None
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return total if position == len(text) else None


# --------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class DownTarget:
    job: str
    instance: str
    health: str  # "down", or "unknown" for a target not scraped yet
    scrape_url: str
    last_error: str

    def describe(self) -> str:
        error = f": {self.last_error}" if self.last_error else ""
        return f"{self.job}/{self.instance} {self.health}{error}"


def down_targets(targets: Any) -> list[DownTarget]:
    """Active targets whose last scrape did not succeed, by job and instance."""
    found = []
    for target in _data(targets).get("activeTargets") or []:
        if target.get("health") == "up":
            continue
        labels = target.get("labels") or {}
        found.append(
            DownTarget(
                job=str(labels.get("job") or target.get("scrapePool") or ""),
                instance=str(labels.get("instance") or (target.get("discoveredLabels") or {}).get("__address__", "")),
                health=str(target.get("health") or "unknown"),
                scrape_url=str(target.get("scrapeUrl") or ""),
                last_error=str(target.get("lastError") or ""),
            )
        )
    return sorted(found, key=lambda t: (t.job, t.instance))


def jobs(targets: Any) -> dict[str, dict[str, int]]:
    """Job -> ``{"up": n, "down": m}`` over the active targets (a job with no target is absent)."""
    found: dict[str, dict[str, int]] = {}
    for target in _data(targets).get("activeTargets") or []:
        job = str((target.get("labels") or {}).get("job") or target.get("scrapePool") or "")
        counts = found.setdefault(job, {"up": 0, "down": 0})
        counts["up" if target.get("health") == "up" else "down"] += 1
    return found


# --------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class RuleProblem:
    group: str
    file: str
    rule: str
    health: str
    last_error: str

    def describe(self) -> str:
        error = f": {self.last_error}" if self.last_error else ""
        return f"{self.group}/{self.rule} {self.health}{error}"


def _rules(rules: Any) -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    for group in _data(rules).get("groups") or []:
        for rule in group.get("rules") or []:
            yield group, rule


def rule_count(rules: Any) -> tuple[int, int]:
    """(groups, rules) loaded."""
    groups = _data(rules).get("groups") or []
    return len(groups), sum(len(group.get("rules") or []) for group in groups)


def unhealthy_rules(rules: Any) -> list[RuleProblem]:
    """Rules (alerting and recording) whose last evaluation failed: health not ``ok`` or a ``lastError``.

    ``unknown`` health (never evaluated yet) counts too: a rule that never ran protects nothing.
    """
    return [
        RuleProblem(
            group=str(group.get("name", "")),
            file=str(group.get("file", "")),
            rule=str(rule.get("name", "")),
            health=str(rule.get("health", "unknown")),
            last_error=str(rule.get("lastError") or ""),
        )
        for group, rule in _rules(rules)
        if rule.get("health") != "ok" or rule.get("lastError")
    ]


@dataclass(frozen=True)
class Concern:
    """How to recognise an alerting rule for one concern.

    ``keywords`` are matched in the rule's name (CamelCase split into words), its label values
    (except severity) and annotations, each at the start of a word ("cert" matches
    "certificate"); a keyword of several words also matches written together ("TargetDown").
    ``expr`` are regular expressions searched in the rule's PromQL.
    """

    title: str
    keywords: tuple[str, ...]
    expr: tuple[str, ...]


#: The concerns a go-live review expects an alerting rule for (inventory ``required_alerts``).
CONCERNS: dict[str, Concern] = {
    "target_down": Concern(
        "target / instance down",
        ("target down", "targets down", "instance down", "host down", "exporter down", "endpoint down", "scrape failed", "target missing",
         "site down", "probe failed", "probe failing", "endpoint unreachable"),
        (r"\bup\b(\{[^}]*\})?\s*(==|<=?)\s*0\b", r"\babsent(_over_time)?\s*\(\s*up\b", r"\b(avg|min)_over_time\s*\(\s*up\b",
         r"\bprobe_success\b(\{[^}]*\})?\s*(==|<=?|<)\s*[01]\b", r"\b(avg|min)_over_time\s*\(\s*probe_success\b"),
    ),
    "error_ratio": Concern(
        "error ratio (5xx)",
        ("error rate", "error ratio", "errors rate", "errors ratio", "5xx", "http errors", "server errors", "error budget", "burn rate"),
        (r"\b(status|code|status_code|response_code)\s*=~?\s*\"5", r"5xx"),
    ),
    "latency": Concern(
        "latency",
        ("latency", "slow", "response time", "p99", "p95", "p90"),
        (r"\bhistogram_quantile\b", r"latency", r"_duration_seconds", r"response_time"),
    ),
    "disk": Concern(
        "disk filling",
        ("disk", "filesystem", "file system", "volume", "out of space", "no space", "storage full"),
        (r"\bnode_filesystem_", r"\bkubelet_volume_stats_", r"disk", r"filesystem"),
    ),
    "memory": Concern(
        "memory",
        ("memory", "oom", "out of memory", "swap"),
        (r"\bnode_memory_", r"memory", r"\boom", r"\bnode_vmstat_oom"),
    ),
    "cpu": Concern(
        "CPU saturation",
        ("cpu", "load average", "high load", "system load"),
        (r"cpu", r"\bnode_load(1|5|15)\b"),
    ),
    "certificate": Concern(
        "certificate expiry",
        ("cert", "ssl", "tls", "x509"),
        (r"\bprobe_ssl_earliest_cert_expiry\b", r"ssl", r"cert", r"x509"),
    ),
    "database": Concern(
        "database down",
        ("postgres down", "postgresql down", "mysql down", "mariadb down", "database down", "db down", "mongodb down", "database unavailable"),
        (r"\b(pg|mysql|mongodb|mssql|oracledb|clickhouse)_up\b",),
    ),
    "queue": Concern(
        "queue backlog",
        ("queue", "backlog", "celery", "bull", "sidekiq", "rabbitmq", "consumer lag", "kafka lag"),
        (r"\bcelery_", r"\bbull", r"queue", r"\bsidekiq_", r"\brabbitmq_", r"\bkafka_consumergroup_lag"),
    ),
    "backup": Concern(
        "backup age",
        ("backup", "snapshot", "restic", "borg", "pgbackrest", "barman", "wal g", "velero"),
        (r"backup", r"\brestic_", r"\bborg", r"\bvelero_", r"snapshot", r"\bwal_?g_"),
    ),
}

_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _words(text: str) -> str:
    """Lower-case words of ``text``: templates dropped, CamelCase and punctuation split."""
    text = _CAMEL.sub(" ", _TEMPLATE.sub(" ", text))
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _rule_text(rule: Mapping[str, Any]) -> tuple[str, str]:
    """(spaced words, the same with no spaces) of a rule's name, labels and annotations."""
    labels = {k: v for k, v in (rule.get("labels") or {}).items() if k != "severity"}
    parts = [str(rule.get("name", "")), *map(str, labels.values()), *map(str, (rule.get("annotations") or {}).values())]
    words = " " + " | ".join(_words(part) for part in parts) + " "
    raw = " " + " ".join(re.sub(r"[^a-z0-9]+", " ", part.lower()) for part in parts) + " "
    return words + raw, words.replace(" ", "")


def _mentions(concern: Concern, rule: Mapping[str, Any]) -> bool:
    spaced, compact = _rule_text(rule)
    for keyword in concern.keywords:
        if re.search(r"(?<![a-z0-9])" + re.escape(keyword), spaced):
            return True
        # "MySQLDown" splits badly into words: multi-word keywords also match written together.
        if " " in keyword and keyword.replace(" ", "") in compact:
            return True
    query = str(rule.get("query", ""))
    return any(re.search(pattern, query, re.IGNORECASE) for pattern in concern.expr)


def concern_coverage(rules: Any, concerns: Iterable[str] | None = None) -> dict[str, list[str]]:
    """For each concern (default: all of ``CONCERNS``), the alerting rules that cover it (empty: none)."""
    wanted = {name: CONCERNS[name] for name in (concerns if concerns is not None else CONCERNS)}
    coverage: dict[str, list[str]] = {name: [] for name in wanted}
    for _, rule in _rules(rules):
        if rule.get("type") != "alerting":
            continue
        for name, concern in wanted.items():
            if _mentions(concern, rule):
                coverage[name].append(str(rule.get("name", "")))
    return coverage


def missing_concerns(rules: Any, concerns: Iterable[str] | None = None) -> list[str]:
    """Concerns no alerting rule covers."""
    return [name for name, covered in concern_coverage(rules, concerns).items() if not covered]


#: Annotations that say what is wrong, and those that link what to do about it.
SUMMARY_ANNOTATIONS = ("summary", "description", "message")
RUNBOOK_ANNOTATION = re.compile(r"runbook|playbook", re.IGNORECASE)


def undocumented_alerts(rules: Any, severities: Sequence[str] = ("critical",)) -> tuple[int, dict[str, list[str]]]:
    """(how many alerting rules have one of ``severities``, {rule name: what it lacks}), where it
    may lack a ``summary`` (summary, description or message annotation) and a ``runbook`` (an
    annotation named like runbook_url or playbook with a value)."""
    wanted = {s.lower() for s in severities}
    count, lacking = 0, {}
    for _, rule in _rules(rules):
        labels = rule.get("labels") or {}
        if rule.get("type") != "alerting" or str(labels.get("severity", "")).lower() not in wanted:
            continue
        count += 1
        annotations = {str(k): str(v).strip() for k, v in (rule.get("annotations") or {}).items()}
        missing = [what for what, present in (
            ("summary", any(annotations.get(k) for k in SUMMARY_ANNOTATIONS)),
            ("runbook", any(v for k, v in annotations.items() if RUNBOOK_ANNOTATION.search(k))),
        ) if not present]
        if missing:
            lacking[str(rule.get("name", ""))] = missing
    return count, lacking


# --------------------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class FiringAlert:
    name: str
    severity: str
    labels: Mapping[str, str]
    active_at: str


def firing_alerts(alerts: Any, severities: Sequence[str] | None = ("critical",)) -> list[FiringAlert]:
    """Alerts in state ``firing`` whose ``severity`` label is one of ``severities`` (None: any)."""
    wanted = {s.lower() for s in severities} if severities is not None else None
    found = []
    for alert in _data(alerts).get("alerts") or []:
        labels = alert.get("labels") or {}
        severity = str(labels.get("severity", ""))
        if alert.get("state") == "firing" and (wanted is None or severity.lower() in wanted):
            found.append(FiringAlert(str(labels.get("alertname", "")), severity, dict(labels), str(alert.get("activeAt", ""))))
    return found


def active_alertmanagers(alertmanagers: Any) -> list[str]:
    """URLs of the Alertmanagers Prometheus sends to (empty: alerts go nowhere)."""
    return [str(am.get("url", "")) for am in _data(alertmanagers).get("activeAlertmanagers") or []]


# --------------------------------------------------------------------------------- retention

#: Prometheus keeps 15 days when neither a time nor a size limit is given.
DEFAULT_RETENTION_DAYS = 15.0


@dataclass(frozen=True)
class Retention:
    days: float | None  # None: no time limit (size only) or unknown
    source: str  # which flag or field said so
    size: str | None = None  # the size limit, if any ("512MiB")


def retention(flags: Any = None, runtimeinfo: Any = None) -> Retention:
    """How long Prometheus keeps data, from its flags, else its runtime info."""
    if flags is not None:
        values = _data(flags)
        size_flag = str(values.get("storage.tsdb.retention.size", "") or "")
        size = None if size_flag in ("", "0", "0B") else size_flag
        for flag in ("storage.tsdb.retention.time", "storage.tsdb.retention"):
            seconds = parse_duration(str(values.get(flag, "") or ""))
            if seconds:
                return Retention(seconds / 86400, flag, size)
        if "storage.tsdb.retention.time" in values or "storage.tsdb.retention" in values:
            # Neither set: 15 days, unless a size limit alone was given (then no time limit).
            return Retention(None if size else DEFAULT_RETENTION_DAYS, "default", size)
    if runtimeinfo is not None:
        text = str(_data(runtimeinfo).get("storageRetention", "") or "")
        # "15d", "15d or 512MiB", or "512MiB" for a size limit alone.
        parsed = [(part.strip(), parse_duration(part)) for part in text.split(" or ") if part.strip()]
        days = next((seconds / 86400 for _, seconds in parsed if seconds), None)
        size = next((part for part, seconds in parsed if seconds is None), None)
        return Retention(days, "storageRetention", size)
    return Retention(None, "unknown")


# --------------------------------------------------------------------------------- metrics

#: A metric name; any other entry of ``required_metrics`` is a regular expression.
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?=[\s{])", re.M)
_FAMILY = re.compile(r"^#\s+(?:TYPE|HELP)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s", re.M)


def is_metric_name(requirement: str) -> bool:
    return METRIC_NAME.fullmatch(requirement) is not None


def pattern_problems(requirements: Iterable[str]) -> list[str]:
    """Entries of ``required_metrics`` that are neither a metric name nor a regular expression."""
    problems = []
    for requirement in requirements:
        if is_metric_name(requirement):
            continue
        try:
            re.compile(requirement)
        except re.error as exc:
            problems.append(f"{requirement!r}: {exc}")
    return problems


def promql_selector(requirement: str) -> str:
    """The PromQL selector of every series a requirement asks for: the name, or ``{__name__=~"..."}``."""
    if is_metric_name(requirement):
        return requirement
    # PromQL string escapes are Go's; a regex needs only backslash and quote escaped.
    return '{__name__=~"' + requirement.replace("\\", "\\\\").replace('"', '\\"') + '"}'


def exposition_names(text: str) -> set[str]:
    """Metric names in a ``/metrics`` body: every sample's name and every ``# TYPE``/``# HELP`` family
    (a histogram family ``x`` exposes ``x_bucket``, ``x_sum``, ``x_count``; both spellings count)."""
    return set(_SAMPLE.findall(text)) | set(_FAMILY.findall(text))


def missing_metrics(requirements: Iterable[str], names: Iterable[str]) -> list[str]:
    """Requirements (names, or regexes matching a whole name) that no name in ``names`` meets."""
    known = set(names)
    missing = []
    for requirement in requirements:
        if is_metric_name(requirement):
            found = requirement in known
        else:
            pattern = re.compile(requirement)
            found = any(pattern.fullmatch(name) for name in known)
        if not found:
            missing.append(requirement)
    return missing
