"""Every threshold a check compares against: name, default, unit and meaning, in one table.

An inventory overrides any of them globally (top-level ``thresholds:``) or per target (the
target's own ``thresholds:``); per target wins.  The README's threshold table is generated
from this module (``python -m pytest_deploycheck.docs README.md``; ``python -m
pytest_deploycheck.thresholds`` prints it alone), so the two cannot drift.
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
    maximum: float | None = None  # largest value an inventory may set: a count or time that drives work stays bounded


_ALL = [
    # TLS and HTTP
    Threshold("cert_min_days", 14, "days", "a certificate must stay valid at least this long", True),
    Threshold("cert_max_lifetime_days", 398, "days", "longest certificate lifetime reported as fine (information)", True),
    Threshold("hsts_min_age", 15552000, "seconds", "smallest acceptable HSTS max-age (6 months)", True),
    Threshold("token_max_lifetime", 3600, "seconds", "longest lifetime of an access token issued at login", True),
    Threshold("rate_limit_burst", 30, "requests", "active probe: requests sent to a rate-limited path before a 429 is required", True, 1000),
    Threshold("active_probe_max_s", 20, "seconds", "longest an active probe (a burst, credential tries) may keep sending", True, 600),
    Threshold("latency_p95_ms", 200, "ms", "95th percentile of health-endpoint latency", True),
    Threshold("latency_samples", 20, "requests", "requests sent to measure latency", True, 1000),
    Threshold("http_body_max_bytes", 1024 * 1024, "bytes", "most bytes of one HTTP response body read; a longer body is cut there and the evidence says so", True, 64 * 1024 * 1024),
    Threshold("compression_min_bytes", 1024, "bytes", "smallest text response the compression check judges (smaller ones are often sent uncompressed on purpose)", True),
    Threshold("session_max_lifetime", 43200, "seconds", "longest lifetime of a login session cookie (Max-Age/Expires; OWASP ASVS L2: 12 h)", True),
    Threshold("session_idle_max_s", 1800, "seconds", "longest idle timeout of a login session (OWASP ASVS L2: 30 min)", True),
    Threshold("api_latency_max_ms", 2000, "ms", "latency ceiling of each GET operation in the OpenAPI smoke test", True),
    Threshold("api_smoke_max_operations", 50, "requests", "most GET operations of the OpenAPI document the smoke test sends", True, 1000),
    Threshold("bcrypt_min_cost", 10, "log2 rounds", "smallest acceptable bcrypt cost of stored password hashes", True),
    # Databases
    Threshold("connection_usage_max_pct", 80, "%", "connections in use as a share of max_connections"),
    Threshold("vacuum_max_age_days", 7, "days", "oldest acceptable last (auto)vacuum/analyze of a table with many dead tuples"),
    Threshold("dead_tuple_min", 10000, "rows", "dead tuples from which a table counts as heavy", True),
    Threshold("replication_lag_max_s", 60, "seconds", "largest acceptable replication lag on a replica"),
    Threshold("rpo_minutes", 60, "minutes", "recovery point objective: oldest acceptable last WAL archive or backup"),
    Threshold("backup_max_age_hours", 26, "hours", "oldest acceptable backup"),
    Threshold("backup_copy_max_age_hours", 30, "hours", "oldest acceptable newest copy of a backup off the host (backup_copies)"),
    Threshold("backup_min_bytes", 1024, "bytes", "smallest acceptable newest backup file", True),
    Threshold("backup_min_size_ratio", 0.5, "ratio", "newest backup at least this share of the one before it"),
    Threshold("runtime_eol_min_days", 90, "days", "least upstream support the language runtime of a Dockerfile's final base image must have left", True),
    Threshold("db_eol_min_days", 90, "days", "least vendor support a database server's release series must have left before its end of life", True),
    Threshold("slow_query_max_s", 2, "seconds", "largest acceptable slow-query logging threshold (MySQL long_query_time, PostgreSQL log_min_duration_statement)"),
    Threshold("redis_memory_max_pct", 90, "%", "used memory as a share of maxmemory"),
    Threshold("slow_statement_max_ms", 200, "ms", "largest acceptable mean execution time of a statement (pg_stat_statements, performance_schema digests)"),
    Threshold("sequence_max_pct", 75, "%", "share of its type's range a sequence (serial, identity) may have used"),
    Threshold("cache_hit_min_pct", 90, "%", "least share of block reads a database's buffer cache (shared_buffers, InnoDB buffer pool) answers"),
    Threshold("redis_hit_min_pct", 80, "%", "least share of key lookups a Redis cache answers (keyspace hits)"),
    Threshold("hit_ratio_min_lookups", 500, "lookups", "fewest lookups (blocks read, keys looked up) before a hit ratio is judged", True),
    Threshold("transaction_max_s", 300, "seconds", "longest a transaction may be open (running or idle in it) at the time of the check"),
    Threshold("pool_reserve_connections", 5, "connections", "connections kept free beyond the superuser reserve when application pools are at their maximum", True),
    Threshold("redis_save_max_age_hours", 24, "hours", "oldest acceptable last successful RDB snapshot of a Redis that keeps data (broker, queue, session)"),
    Threshold("pgbouncer_max_client_conn", 5000, "connections", "largest acceptable PgBouncer max_client_conn (each client is a file descriptor)", True),
    # DNS and mail domain
    Threshold("dns_max_ttl", 3600, "seconds", "longest TTL of an expected record: how long a wrong or rolled-back answer stays in caches", True),
    Threshold("dnssec_min_days", 7, "days", "a DNSSEC signature must stay valid at least this long (re-signing that stopped shows here first)", True),
    Threshold("dkim_min_bits", 1024, "bits", "smallest acceptable RSA DKIM key (RFC 8301: at least 1024, 2048 recommended)", True),
    # Batch-file exchange
    Threshold("batch_max_age_hours", 26, "hours", "oldest acceptable newest batch file (a target's max_age_hours wins)"),
    Threshold("batch_partial_grace_hours", 1, "hours", "a partial or temporary transfer file (.part, .tmp) older than this is a transfer that died"),
    Threshold("batch_byte_budget", 64 * 1024 * 1024, "bytes", "most bytes of batch files read per target and run (newest first; the rest is listed as unread)", True, 4 * 1024**3),
    # Background workers
    Threshold("queue_backlog_max", 100, "messages", "most messages (Celery) or jobs (BullMQ, Sidekiq) waiting in a required queue", True),
    Threshold("queue_wait_max_s", 900, "seconds", "oldest acceptable waiting BullMQ or Sidekiq job"),
    Threshold("delayed_overdue_grace_s", 60, "seconds", "a delayed BullMQ job due longer ago than this and still delayed is overdue"),
    Threshold("dead_letters_max", 0, "messages", "most dead-lettered messages (RabbitMQ dead-letter queues), failed BullMQ jobs or dead Sidekiq jobs", True),
    Threshold("task_hung_max_s", 3600, "seconds", "a task active longer than this counts as hung when its worker sets no hard time limit"),
    Threshold("periodic_grace_s", 300, "seconds", "how late a periodic task's next run may be before it counts as not running"),
    Threshold("worker_concurrency_per_cpu_max", 1.0, "slots/CPU", "most worker processes or threads per CPU of the worker host (Celery's default is one per CPU)"),
    # Application configuration
    Threshold("secret_min_chars", 32, "characters", "shortest acceptable signing/session secret (JWT_SECRET, SECRET_KEY, ...)", True),
    Threshold("password_min_chars", 16, "characters", "shortest acceptable service password (DB_PASSWORD, REDIS_PASSWORD, a password in DATABASE_URL)", True),
    Threshold("secret_scan_history_commits", 500, "commits", "most recent commits (all branches) whose added lines the secret scan reads", True, 100000),
    # Hosts
    Threshold("min_cpu_cores", 2, "cores", "fewest CPU cores", True),
    Threshold("min_memory_gb", 4, "GB", "least memory"),
    Threshold("recommended_cpu_cores", 4, "cores", "recommended CPU cores (information)", True),
    Threshold("recommended_memory_gb", 8, "GB", "recommended memory (information)"),
    Threshold("disk_usage_max_pct", 80, "%", "used space on any mount"),
    Threshold("inode_usage_max_pct", 80, "%", "used inodes on any mount"),
    Threshold("memory_usage_max_pct", 85, "%", "memory in use (MemTotal less MemAvailable; a container's working set against its limit)"),
    Threshold("oom_kills_max", 0, "kills", "out-of-memory kills tolerated (the kernel's since boot; a container's own)", True),
    Threshold("open_files_min", 65535, "files", "least soft open-file limit (RLIMIT_NOFILE) of the application's processes", True),
    Threshold("ssh_max_auth_tries", 4, "tries", "largest acceptable sshd MaxAuthTries", True),
    Threshold("ssh_login_grace_max_s", 60, "seconds", "longest acceptable sshd LoginGraceTime (0, unlimited, fails)", True),
    Threshold("ssh_client_alive_max_s", 300, "seconds", "longest acceptable sshd ClientAliveInterval (0, off, fails)", True),
    Threshold("load_per_core_max", 1.0, "load/core", "largest acceptable 5-minute load average per online CPU"),
    Threshold("pending_security_updates_max", 0, "packages", "pending security updates tolerated", True),
    Threshold("log_retention_days", 30, "days", "least history logrotate keeps of the application's logs (0: not required)", True),
    # Monitoring
    Threshold("prometheus_retention_min_days", 15, "days", "shortest acceptable Prometheus retention (local TSDB)"),
    # Release evidence
    Threshold("evidence_max_age_days", 14, "days", "oldest acceptable CI report for the release (its own time, else the file's modification time)"),
    Threshold("coverage_min_pct", 80, "%", "least line coverage in every coverage report of the release"),
    Threshold("load_p95_max_ms", 500, "ms", "largest acceptable 95th-percentile response time in a load-test report"),
    Threshold("load_error_rate_max_pct", 1, "%", "largest acceptable share of failed requests in a load-test report"),
    Threshold("load_min_rps", 0, "requests/s", "least throughput a load-test report must show (0: not judged)"),
    # Containers and Kubernetes
    Threshold("pod_restarts_max", 5, "restarts", "most restarts a container of a live pod may show before it counts as unstable", True),
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
    rows += [f"| `{t.name}` | {t.default} | {t.unit} | {t.doc}{f' (at most {_number(t.maximum)})' if t.maximum is not None else ''} |" for t in _ALL]
    return "\n".join(rows)


def _number(value: float | int) -> str:
    """1000 -> "1,000", 67108864 -> "67,108,864", 0.5 -> "0.5": never scientific notation."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
