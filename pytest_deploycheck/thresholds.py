"""Every threshold a check compares against: name, default, unit and meaning, in one table.

An inventory overrides any of them globally (top-level ``thresholds:``) or per target (the
target's own ``thresholds:``); per target wins.  The README's threshold table is generated
from this module (``python -m pytest_deploycheck.thresholds``), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Threshold:
    name: str
    default: float | int
    unit: str
    doc: str
    integer: bool = False


_ALL = [
    # TLS and HTTP
    Threshold("cert_min_days", 14, "days", "a certificate must stay valid at least this long", True),
    Threshold("cert_max_lifetime_days", 398, "days", "longest certificate lifetime reported as fine (information)", True),
    Threshold("hsts_min_age", 15552000, "seconds", "smallest acceptable HSTS max-age (6 months)", True),
    Threshold("token_max_lifetime", 3600, "seconds", "longest lifetime of an access token issued at login", True),
    Threshold("rate_limit_burst", 30, "requests", "active probe: requests sent to a rate-limited path before a 429 is required", True),
    Threshold("active_probe_max_s", 20, "seconds", "longest an active probe (a burst, credential tries) may keep sending", True),
    Threshold("latency_p95_ms", 200, "ms", "95th percentile of health-endpoint latency", True),
    Threshold("latency_samples", 20, "requests", "requests sent to measure latency", True),
    Threshold("compression_min_bytes", 1024, "bytes", "smallest text response the compression check judges (smaller ones are often sent uncompressed on purpose)", True),
    # Databases
    Threshold("connection_usage_max_pct", 80, "%", "connections in use as a share of max_connections"),
    Threshold("vacuum_max_age_days", 7, "days", "oldest acceptable last (auto)vacuum/analyze of a table with many dead tuples"),
    Threshold("dead_tuple_min", 10000, "rows", "dead tuples from which a table counts as heavy", True),
    Threshold("replication_lag_max_s", 60, "seconds", "largest acceptable replication lag on a replica"),
    Threshold("rpo_minutes", 60, "minutes", "recovery point objective: oldest acceptable last WAL archive or backup"),
    Threshold("backup_max_age_hours", 26, "hours", "oldest acceptable backup"),
    Threshold("backup_min_bytes", 1024, "bytes", "smallest acceptable newest backup file", True),
    Threshold("backup_min_size_ratio", 0.5, "ratio", "newest backup at least this share of the one before it"),
    Threshold("db_eol_min_days", 90, "days", "least vendor support a database server's release series must have left before its end of life", True),
    Threshold("slow_query_max_s", 2, "seconds", "largest acceptable slow-query logging threshold (MySQL long_query_time, PostgreSQL log_min_duration_statement)"),
    Threshold("redis_memory_max_pct", 90, "%", "used memory as a share of maxmemory"),
    # Application configuration
    Threshold("secret_min_chars", 32, "characters", "shortest acceptable signing/session secret (JWT_SECRET, SECRET_KEY, ...)", True),
    # Hosts
    Threshold("min_cpu_cores", 2, "cores", "fewest CPU cores", True),
    Threshold("min_memory_gb", 4, "GB", "least memory"),
    Threshold("recommended_cpu_cores", 4, "cores", "recommended CPU cores (information)", True),
    Threshold("recommended_memory_gb", 8, "GB", "recommended memory (information)"),
    Threshold("disk_usage_max_pct", 80, "%", "used space on any mount"),
    Threshold("inode_usage_max_pct", 80, "%", "used inodes on any mount"),
    Threshold("ssh_max_auth_tries", 4, "tries", "largest acceptable sshd MaxAuthTries", True),
    Threshold("ssh_login_grace_max_s", 60, "seconds", "longest acceptable sshd LoginGraceTime (0, unlimited, fails)", True),
    Threshold("ssh_client_alive_max_s", 300, "seconds", "longest acceptable sshd ClientAliveInterval (0, off, fails)", True),
    Threshold("load_per_core_max", 1.0, "load/core", "largest acceptable 5-minute load average per online CPU"),
    Threshold("pending_security_updates_max", 0, "packages", "pending security updates tolerated", True),
    # Governance
    Threshold("waiver_expiry_warn_days", 14, "days", "a waiver expiring sooner than this is flagged", True),
    Threshold("restore_drill_max_age_days", 90, "days", "oldest acceptable restore or disaster-recovery drill attestation", True),
]

THRESHOLDS: dict[str, Threshold] = {t.name: t for t in _ALL}

DEFAULT_TIMEOUT = 5.0


def defaults() -> dict[str, float | int]:
    return {t.name: t.default for t in _ALL}


def markdown_table() -> str:
    rows = ["| threshold | default | unit | meaning |", "|---|---|---|---|"]
    rows += [f"| `{t.name}` | {t.default} | {t.unit} | {t.doc} |" for t in _ALL]
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
