"""PostgreSQL: every ``postgres`` target of the inventory, seen through a read-only session.

Each check logs in with the target's DSN (TLS as the DSN asks, the password from the
environment) in a read-only session with connect and statement timeouts, and only reads: server
settings (``pg_settings``), the role catalog (``pg_roles``, ``pg_db_role_setting``), ACLs,
statistics views and the migrations table.  The two probes that open extra connections (a
plain-text connection that sends no password, and the opt-in default-credentials probe) send no
statement at all.

The DSN's role is taken to be the application's role unless the target names it with
``app_role`` (the DSN may then log in as a separate monitoring role).  What the session's role
cannot read (``pg_authid``, a migrations table without SELECT) ends as not applicable, naming the
privilege, never as a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, require
from pytest_deploycheck.lifecycle import support_left
from pytest_deploycheck.targets.app_pool import read_pool_config
from pytest_deploycheck.targets.migrations import MAX_ROWS as MIGRATION_ROWS
from pytest_deploycheck.targets.migrations import TOOLS, HeadError
from pytest_deploycheck.targets.migrations import judge as judge_migrations
from pytest_deploycheck.targets.schema_file import MAX_BYTES as SCHEMA_MAX_BYTES
from pytest_deploycheck.targets.schema_file import index_columns, parse_schema

if TYPE_CHECKING:
    from psycopg import sql

pytestmark = pytest.mark.section("postgres", "PostgreSQL")

#: End of community support of each major release (https://www.postgresql.org/support/versioning/),
#: as published on PG_EOL_AS_OF.  A major release newer than the table counts as supported.
PG_EOL_AS_OF = dt.date(2026, 11, 22)
PG_EOL: dict[str, dt.date] = {
    "9.6": dt.date(2021, 11, 11),
    "10": dt.date(2022, 11, 10),
    "11": dt.date(2023, 11, 9),
    "12": dt.date(2024, 11, 21),
    "13": dt.date(2025, 11, 13),
    "14": dt.date(2026, 11, 12),
    "15": dt.date(2027, 11, 11),
    "16": dt.date(2028, 11, 9),
    "17": dt.date(2029, 11, 8),
    "18": dt.date(2030, 11, 14),
}

#: Logins pg-04 tries, in this order: (user, password, how a report names it).  ``None`` as the
#: password logs in without sending one (it succeeds only where pg_hba.conf says ``trust``);
#: ``""`` as the user stands for the application role, tried with its own name as password.
DEFAULT_CREDENTIALS: tuple[tuple[str, str | None, str], ...] = (
    ("postgres", "postgres", "postgres with password 'postgres'"),
    ("postgres", "password", "postgres with password 'password'"),
    ("postgres", "admin", "postgres with password 'admin'"),
    ("postgres", None, "postgres without a password"),
    ("", "", "{user} with its own name as password"),
)

#: Predefined roles that reach the server's file system or run programs on it.
SERVER_ACCESS_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program")

#: Largest value a column of each integer type holds: a sequence feeding one ends there (pg-21).
INT_LIMITS = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}

ROLE_ATTRIBUTES = (("rolsuper", "SUPERUSER"), ("rolcreaterole", "CREATEROLE"), ("rolcreatedb", "CREATEDB"),
                   ("rolreplication", "REPLICATION"), ("rolbypassrls", "BYPASSRLS"))

# libpq's words for "the server (or libpq on its behalf) refused the login itself".
_LOGIN_REFUSED = ("password authentication failed", "authentication failed", "no password supplied",
                  "server requested", "no pg_hba.conf entry", "pg_hba.conf rejects")
# ... and for "authentication passed, something after it failed".
_LOGIN_PASSED = ("permission denied for database", "does not exist")


# --------------------------------------------------------------------------- checks


@pytest.mark.check("pg-01", "Server requires TLS", severity="critical",
                   refs=("CIS PostgreSQL Benchmark: Ensure SSL is enabled and configured correctly",
                         "PostgreSQL docs: pg_hba.conf hostssl"),
                   answers=("^postgres force_ssl|require_ssl|ssl_required", "traffic|data|connection|connections|database|internal? encrypt|encrypted|encryption transit|wire|flight", "postgres tls|encrypt|encryption|sslmode|ssl_mode connection? enabl? require?",
                            "database connection tls|encrypt|encryption", "database tls require|enforc|enabl|only|connection",
                            "sslmode|ssl_mode require|verify"),
                   answers_unless=("backup|backups",))  # a backup's transfer is bk-03's and bk-05's
def test_tls_required(postgres: Any, evidence: Any) -> None:
    """Credentials and data cross the network; without TLS anyone on the path reads them, and a
    server that merely *offers* TLS still serves a client that asks for none (or an attacker who
    strips it).  Passes when ``ssl`` is on and a connection with ``sslmode=disable`` is refused by
    pg_hba.conf before authentication.  The probe sends no password (libpq's ``require_auth=none``),
    so it cannot leak one even where the server would accept plain text.  Fails when ``ssl`` is off,
    or the plain connection is accepted or reaches the password exchange."""
    _skip_unix_socket(postgres)
    ssl_setting = str(postgres.value("SHOW ssl"))
    session = postgres.query("SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    outcome, detail = _plain_connection(postgres)
    evidence.record(ssl=ssl_setting, plain_connection=outcome, plain_connection_detail=detail,
                    this_session_tls=session[0]["version"] if session and session[0]["ssl"] else "none")
    problems = []
    if ssl_setting != "on":
        problems.append(f"ssl is {ssl_setting}")
    if outcome != "refused":
        problems.append(detail)
    require(not problems, postgres, "; ".join(problems),
            "ssl = on and connections without TLS refused by pg_hba.conf (hostssl lines only)")


@pytest.mark.check("pg-02", "Application role is not superuser and holds no admin attributes", severity="critical",
                   refs=("dev-sec postgres-baseline: postgres-07",
                         "CIS PostgreSQL Benchmark: Ensure excessive administrative privileges are revoked"),
                   answers=("postgres|database user|role|account|application least_privilege|minimal|superuser|admin|privilege|permission least_privilege?",
                            "postgres|database least_privilege", "application|app role|user not superuser", "application|app superuser",
                            "postgres|database app|application user|role|account only? dml|select|insert|crud right|rights|privilege|privileges|grant|grants"))
def test_app_role_unprivileged(postgres: Any, evidence: Any) -> None:
    """An application role that is a superuser (or can create roles or databases, replicate, or
    bypass row-level security) turns any SQL injection into control of the whole cluster, up to
    the operating-system account.  Passes when the application role (``app_role``, default the
    DSN's role) has none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS, cannot SET
    ROLE to a role that has one, and is not a member of pg_read_server_files,
    pg_write_server_files or pg_execute_server_program.  Read from ``pg_roles``: any role can."""
    role = _app_role(postgres)
    rows = _role_query(postgres, role, (
        "SELECT r.rolname, r.rolname = %(role)s AS is_self, r.rolsuper, r.rolcreaterole, r.rolcreatedb,"
        " r.rolreplication, r.rolbypassrls FROM pg_roles r WHERE pg_has_role(%(role)s, r.oid, 'MEMBER')"
        " ORDER BY r.rolname <> %(role)s, r.rolname"), {"role": role})
    findings = []
    for row in rows:
        attributes = [name for column, name in ROLE_ATTRIBUTES if row[column]]
        if row["is_self"] and attributes:
            findings.append(f"role {role} is {', '.join(attributes)}")
            if row["rolsuper"]:
                break  # a superuser is a member of every role: the rest says nothing more
        elif attributes:
            findings.append(f"role {role} can SET ROLE {row['rolname']}, which is {', '.join(attributes)}")
        elif row["rolname"] in SERVER_ACCESS_ROLES:
            findings.append(f"role {role} is a member of {row['rolname']}")
    superuser = any(r["is_self"] and r["rolsuper"] for r in rows)
    evidence.record(role=role, member_of="every role (superuser)" if superuser else [r["rolname"] for r in rows if not r["is_self"]],
                    attributes={name: bool(r[column]) for r in rows if r["is_self"] for column, name in ROLE_ATTRIBUTES})
    require(not findings, postgres, "; ".join(findings),
            "a role without SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS (also through membership)"
            f" and outside {', '.join(SERVER_ACCESS_ROLES)}")


@pytest.mark.check("pg-03", "Passwords hashed with SCRAM-SHA-256", severity="high",
                   refs=("dev-sec postgres-baseline: postgres-06", "PostgreSQL docs: password_encryption"),
                   answers=("scram", "postgres|database password hash|encrypt|md5",
                            "password|passwords stored|hashed|hash|encrypted scram"))
def test_password_encryption(postgres: Any, evidence: Any) -> None:
    """MD5 password hashes are replayable (the hash is the credential for md5 authentication) and
    cheap to brute-force; SCRAM-SHA-256 is salted, iterated and never sends a reusable secret.
    Passes when ``password_encryption`` is ``scram-sha-256`` and, where the session may read
    ``pg_authid`` (superuser only), no role still has an md5 hash.  Without that privilege only the
    setting is checked and the evidence says the hash scan was not possible."""
    setting = str(postgres.value("SHOW password_encryption"))
    md5_roles: list[str] | None = None
    if postgres.value("SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')"):
        md5_roles = [r["rolname"] for r in postgres.query(
            "SELECT rolname FROM pg_catalog.pg_authid WHERE rolpassword LIKE 'md5%' ORDER BY rolname")]
    evidence.record(password_encryption=setting,
                    md5_hashes=md5_roles if md5_roles is not None else "not checked: needs SELECT on pg_catalog.pg_authid (superuser)")
    problems = []
    if setting != "scram-sha-256":
        problems.append(f"password_encryption is {setting}")
    if md5_roles:
        problems.append(f"md5 password hashes remain for {', '.join(md5_roles)}")
    require(not problems, postgres, "; ".join(problems), "password_encryption = scram-sha-256 and no md5 hashes left")


@pytest.mark.active_probe
@pytest.mark.check("pg-04", "Default credentials refused", severity="critical",
                   refs=("CWE-1392: Use of Default Credentials", "OWASP ASVS 4.0 V2.5.4"),
                   answers=("postgres|database default_credentials|default password", "postgres|database password default|changed|strong",
                            "postgres user password default|changed", "default_credentials component|components|system|systems|service|services|server|servers|everywhere|host|hosts", "no|zero|none default_credentials"))
def test_default_credentials_refused(postgres: Any, evidence: Any) -> None:
    """The first thing an attacker tries is ``postgres``/``postgres``.  This active probe (it runs
    only where the inventory sets ``active_probes: true``) tries a short, fixed list of well-known
    logins, one connection each, with the DSN's TLS settings and the target's timeout: postgres with
    the passwords postgres, password and admin; postgres with no password at all (trust
    authentication); the application role with its own name as password.  Each connection is
    closed at once and runs no statement.  Passes when every login is refused."""
    _skip_unix_socket(postgres)
    postgres.value("SELECT 1")  # a dead target ends here, as an error, before any login is tried
    app_user = str(postgres.setting("app_role") or _dsn_user(postgres))
    tried, accepted = [], []
    for user, password, name in DEFAULT_CREDENTIALS:
        user = user or app_user
        password = user if password == "" else password
        description = name.format(user=user)
        tried.append(description)
        if _login(postgres, user, password):
            accepted.append(description)
    evidence.record(tried=tried, accepted=accepted)
    require(not accepted, postgres, f"login accepted: {', '.join(accepted)}", "every well-known default login refused")


@pytest.mark.check("pg-05", "PUBLIC cannot create objects in schemas", severity="high",
                   refs=("CVE-2018-1058", "PostgreSQL docs: Schemas, Usage Patterns"),
                   answers=("public schema create|privilege|permission|revok|lock", "schema create privilege|permission public"))
def test_public_cannot_create(postgres: Any, evidence: Any) -> None:
    """When every role may create objects in a schema on the search path (``public`` before
    PostgreSQL 15), any login can plant a function or operator that shadows a built-in and runs
    with the privileges of whoever calls it (CVE-2018-1058).  Passes when PUBLIC holds CREATE on no
    schema of the database, ``public`` included; the ACLs are read from ``pg_namespace``."""
    rows = postgres.query(
        "SELECT n.nspname FROM pg_namespace n"
        " CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a"
        " WHERE a.grantee = 0 AND a.privilege_type = 'CREATE' ORDER BY n.nspname")
    schemas = [r["nspname"] for r in rows]
    public_acl = postgres.value("SELECT nspacl::text FROM pg_namespace WHERE nspname = 'public'")
    evidence.record(schemas_public_can_create_in=schemas, public_schema_acl=public_acl)
    require(not schemas, postgres, f"PUBLIC may CREATE in schema {', '.join(schemas)}",
            "no CREATE for PUBLIC on any schema (REVOKE CREATE ON SCHEMA public FROM PUBLIC)")


@pytest.mark.check("pg-06", "No privileges granted to PUBLIC on application tables", severity="high",
                   refs=("PostgreSQL docs: Privileges (PUBLIC)",),
                   answers=("public grant|privilege|permission table|revok", "grant public"))
def test_no_public_table_grants(postgres: Any, evidence: Any) -> None:
    """A privilege granted to PUBLIC is granted to every role that can log in, today and in the
    future: reporting users, other applications, a compromised low-privilege account.  Passes when
    no table, view, materialized view, foreign table or sequence outside the system schemas grants
    anything to PUBLIC, and no default privileges grant PUBLIC access to tables created later.
    Read from ``pg_class`` and ``pg_default_acl``, which every role may read."""
    grants = postgres.query(
        "SELECT n.nspname || '.' || c.relname AS relation,"
        " string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " CROSS JOIN LATERAL aclexplode(c.relacl) a"
        " WHERE a.grantee = 0 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
        " GROUP BY 1 ORDER BY 1")
    defaults = postgres.query(
        "SELECT pg_get_userbyid(d.defaclrole) AS owner, d.defaclobjtype AS kind,"
        " string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges"
        " FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a"
        " WHERE a.grantee = 0 AND d.defaclobjtype IN ('r', 'S') GROUP BY 1, 2 ORDER BY 1, 2")
    findings = [f"PUBLIC holds {g['privileges']} on {g['relation']}" for g in grants]
    findings += [f"default privileges of {d['owner']} grant PUBLIC {d['privileges']} on new "
                 f"{'tables' if d['kind'] == 'r' else 'sequences'}" for d in defaults]
    evidence.record(public_grants={g["relation"]: g["privileges"] for g in grants},
                    public_default_privileges=[f"{d['owner']}: {d['privileges']}" for d in defaults])
    require(not findings, postgres, _listed(findings), "no grants to PUBLIC on application tables")


@pytest.mark.check("pg-07", "Server runs a supported major release", severity="high",
                   refs=("dev-sec postgres-baseline: postgres-02",
                         "CIS PostgreSQL Benchmark: Ensure PostgreSQL versions are up-to-date",
                         "https://www.postgresql.org/support/versioning/"),
                   answers=("postgres|database version|eol|support|supported|major_release", "postgres installed running|version?",
                            "postgres|database major? release supported|eol|support"),
                   answers_unless=("schema", "pin", "same|match|parity|consistent|mismatch", "separate|dedicated|container"))
def test_supported_version(postgres: Any, evidence: Any) -> None:
    """A major release past its end of life gets no security fixes; one that ends soon forces an
    upgrade right after go-live.  Passes when the server's major release has at least
    ``db_eol_min_days`` of community support left according to the end-of-life table in this module
    (dated ``PG_EOL_AS_OF``; a release newer than the table counts as supported) and is not a
    beta, release candidate or development build."""
    version = str(postgres.value("SHOW server_version"))
    number = int(postgres.value("SHOW server_version_num"))
    major = str(number // 10000) if number >= 100000 else f"{number // 10000}.{number // 100 % 100}"
    min_days = postgres.threshold("db_eol_min_days")
    observed, ok, eol = support_left("PostgreSQL", major, PG_EOL, PG_EOL_AS_OF, min_days)
    prerelease = re.search(r"(devel|beta|rc)\d*$", version.split()[0], re.IGNORECASE)
    evidence.record(server_version=version, major=major, end_of_life=eol, table_as_of=PG_EOL_AS_OF.isoformat())
    if prerelease:
        fail(postgres, f"server runs PostgreSQL {version}, a {prerelease.group(1).lower()} build", "a released version")
    require(ok, postgres, observed, f"a major release with at least {min_days} days of support left")


@pytest.mark.check("pg-08", "Connection headroom", severity="medium",
                   refs=("PostgreSQL docs: max_connections",),
                   answers=("connection|connections count|number|used|in_use max_connections", "postgres|database max_connections headroom|set|limit|usage?",
                            "postgres|database connection headroom|usage|saturation", "max_connections headroom? limit?"),
                   answers_unless=("pool", "pooling", "connection_pool"))
def test_connection_headroom(postgres: Any, evidence: Any) -> None:
    """When client connections reach ``max_connections`` new logins fail with "too many clients"
    and the application goes down with them; a deploy, a traffic peak or a connection leak needs
    headroom.  Passes when client backends (``pg_stat_activity``, this check's own session
    included) use less than ``connection_usage_max_pct`` of ``max_connections``."""
    row = postgres.query(
        "SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS used,"
        " current_setting('max_connections')::int AS max_connections,"
        " current_setting('superuser_reserved_connections')::int AS reserved FROM pg_stat_activity")[0]
    used, limit = int(row["used"]), int(row["max_connections"])
    share = 100.0 * used / limit
    max_pct = postgres.threshold("connection_usage_max_pct")
    evidence.record(connections_in_use=used, max_connections=limit, superuser_reserved_connections=row["reserved"],
                    usage_pct=round(share, 1))
    require(share < max_pct, postgres, f"{used} of {limit} connections in use ({share:.0f}%)",
            f"below {max_pct:g}% of max_connections")


@pytest.mark.check("pg-09", "Statement or idle-in-transaction timeout for the application", severity="medium",
                   refs=("PostgreSQL docs: statement_timeout, idle_in_transaction_session_timeout",),
                   answers=("statement_timeout|idle_in_transaction|query_timeout set? database? postgres?",
                            "postgres|database statement|query|transaction timeout", "runaway|long running query timeout|kill|limit",
                            "long|analytical|reporting|runaway|adhoc query|queries block|blocking|timeout|statement_timeout|kill|limit etl|analyst|analysts?",
                            "statement timeout set", "statement_timeout|query_timeout for? ad|hoc|adhoc|queries|query|all|every|users?"),
                   answers_unless=("mysql|mariadb|max_execution_time|max_statement_time",))
def test_app_timeouts(postgres: Any, evidence: Any) -> None:
    """Without a timeout one runaway query, or a session left idle inside a transaction, holds
    locks and connections until someone notices, and blocks vacuum meanwhile.  Passes when
    ``statement_timeout`` or ``idle_in_transaction_session_timeout`` is set to a non-zero value for
    the application role (``app_role``, default the DSN's role) in this database: through
    ALTER ROLE ... [IN DATABASE ...] SET or ALTER DATABASE ... SET (``pg_db_role_setting``), or
    for idle_in_transaction_session_timeout also in the server's configuration.  A server-wide
    statement_timeout is not visible (this check's own session sets one) and so is not counted."""
    role = _app_role(postgres)
    rows = _role_query(postgres, role, (
        "SELECT s.setrole <> 0 AS per_role, s.setdatabase <> 0 AS per_database, s.setconfig"
        " FROM pg_db_role_setting s"
        " WHERE s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = %(role)s))"
        " AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))"
        " AND (s.setrole <> 0 OR s.setdatabase <> 0)"
        " ORDER BY s.setrole <> 0, s.setdatabase <> 0"), {"role": role})
    # Rows come in ascending precedence: database, role, role in database.
    effective: dict[str, tuple[str, str]] = {}
    for row in rows:
        scope = "role in database" if row["per_role"] and row["per_database"] else "role" if row["per_role"] else "database"
        for item in row["setconfig"] or ():
            name, _, value = item.partition("=")
            if name in ("statement_timeout", "idle_in_transaction_session_timeout"):
                effective[name] = (value, scope)
    server = postgres.query("SELECT setting, unit, source FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'")
    if "idle_in_transaction_session_timeout" not in effective and server and server[0]["source"] in ("configuration file", "command line"):
        effective["idle_in_transaction_session_timeout"] = (f"{server[0]['setting']}{server[0]['unit'] or ''}", "server")
    set_ = {name: value for name, (value, _) in effective.items() if not _zero(value)}
    evidence.record(role=role, settings={name: f"{value} ({scope})" for name, (value, scope) in effective.items()})
    shown = ", ".join(f"{name} = {value} ({scope})" for name, (value, scope) in effective.items())
    require(set_, postgres,
            f"no timeout for role {role} in this database" + (f" ({shown})" if shown else ""),
            "statement_timeout or idle_in_transaction_session_timeout set for the application role or database")


@pytest.mark.check("pg-10", "Slow-query logging enabled", severity="medium",
                   refs=("PostgreSQL docs: log_min_duration_statement",),
                   answers=("postgres|database slow_query log? enabl?", "slow_query log|logging", "log_min_duration_statement",
                            "database|postgres query logging|log configur|enabl|set?"))
def test_slow_query_logging(postgres: Any, evidence: Any) -> None:
    """The slow-query log is how a performance regression after go-live gets found and traced to
    a statement.  Passes when ``log_min_duration_statement`` is between 0 and ``slow_query_max_s``
    (in this session, so role and database settings count).  Note that the CIS benchmark prefers
    -1, because logged statements can hold sensitive data; protect the log instead."""
    value = int(postgres.value("SELECT setting FROM pg_settings WHERE name = 'log_min_duration_statement'"))
    limit_ms = int(postgres.threshold("slow_query_max_s") * 1000)
    evidence.record(log_min_duration_statement_ms=value)
    observed = "log_min_duration_statement is -1 (disabled)" if value < 0 else f"log_min_duration_statement is {value} ms"
    require(0 <= value <= limit_ms, postgres, observed, f"between 0 and {limit_ms} ms")


@pytest.mark.check("pg-11", "Connection logging enabled", severity="medium",
                   refs=("dev-sec postgres-baseline: postgres-15", "CIS PostgreSQL Benchmark: Ensure 'log_connections' is enabled"),
                   answers=("connection_logging|log_connections", "postgres|database connection log|logging|audit"))
def test_connection_logging(postgres: Any, evidence: Any) -> None:
    """Who connected, from where and when is the first question of any incident review, and the
    answer exists only if the server logged it.  Passes when ``log_connections`` is on (on
    PostgreSQL 18, any non-empty list of connection stages).  ``log_disconnections`` is recorded
    as evidence."""
    rows = postgres.query("SELECT name, setting FROM pg_settings WHERE name IN ('log_connections', 'log_disconnections')")
    settings = {r["name"]: r["setting"] for r in rows}
    evidence.record(**settings)
    value = settings.get("log_connections", "off")
    require(value not in ("off", ""), postgres, f"log_connections is {value or 'empty'}", "log_connections = on")


@pytest.mark.check("pg-12", "Foreign keys have a supporting index", severity="medium",
                   refs=("PostgreSQL docs: Constraints, Foreign Keys",),
                   answers=("foreign_key index|indexes|indexed", "missing index foreign_key?",
                            "database|postgres indexes|index verified|checked|in_place|created|added|healthy"))
def test_foreign_keys_indexed(postgres: Any, evidence: Any) -> None:
    """PostgreSQL indexes the referenced side of a foreign key, not the referencing one: every
    DELETE or key UPDATE on the parent then scans the child table, and holds locks while it does.
    Passes when each foreign key's columns are the leading columns (in any order) of a valid,
    non-partial index on its table.  Read from ``pg_constraint`` and ``pg_index``."""
    rows = postgres.query(
        "SELECT c.conrelid::regclass::text AS table_name, c.confrelid::regclass::text AS referenced, c.conname,"
        " (SELECT string_agg(a.attname, ', ' ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)"
        "   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns"
        " FROM pg_constraint c WHERE c.contype = 'f' AND NOT EXISTS ("
        "   SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL"
        "   AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey"
        "   AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)"
        " ORDER BY 1, 3")
    missing = [f"{r['table_name']}({r['columns']}) -> {r['referenced']}" for r in rows]
    evidence.record(unindexed_foreign_keys=missing)
    require(not missing, postgres, f"{len(missing)} foreign key{'s' if len(missing) != 1 else ''} without an index: {_listed(missing)}",
            "an index starting with the columns of every foreign key")


@pytest.mark.check("pg-13", "Tables with many dead rows are vacuumed and analyzed", severity="medium",
                   refs=("PostgreSQL docs: Routine Vacuuming",),
                   answers=("vacuum|autovacuum analyze? postgres|database? table?",
                            "analyze|statistic table|update|stale|fresh ^database?", "dead_rows|dead_tuples|bloat"))
def test_vacuum_recent(postgres: Any, evidence: Any) -> None:
    """Dead rows that no vacuum removes bloat tables and indexes and slow every scan; statistics
    that no analyze refreshes lead the planner astray.  A table with at least ``dead_tuple_min``
    dead rows fails when its last vacuum (manual or automatic) or its last analyze is older than
    ``vacuum_max_age_days`` or never happened: autovacuum is off, failing or cannot keep up.
    Read from ``pg_stat_user_tables``."""
    min_dead, days = postgres.threshold("dead_tuple_min"), postgres.threshold("vacuum_max_age_days")
    rows = postgres.query(
        "SELECT schemaname || '.' || relname AS table_name, n_dead_tup, n_live_tup,"
        " greatest(last_vacuum, last_autovacuum) AS vacuumed, greatest(last_analyze, last_autoanalyze) AS analyzed,"
        " coalesce(greatest(last_vacuum, last_autovacuum) < now() - %(days)s * interval '1 day', true) AS vacuum_stale,"
        " coalesce(greatest(last_analyze, last_autoanalyze) < now() - %(days)s * interval '1 day', true) AS analyze_stale"
        " FROM pg_stat_user_tables WHERE n_dead_tup >= %(min)s ORDER BY n_dead_tup DESC, 1",
        {"days": float(days), "min": int(min_dead)})
    stale = [r for r in rows if r["vacuum_stale"] or r["analyze_stale"]]
    evidence.record(heavy_tables={r["table_name"]: {"dead": r["n_dead_tup"], "live": r["n_live_tup"], "last_vacuum": _when(r["vacuumed"]),
                                                    "last_analyze": _when(r["analyzed"])} for r in rows})
    described = [f"{r['table_name']} ({r['n_dead_tup']} dead rows, vacuumed {_when(r['vacuumed'])}, analyzed {_when(r['analyzed'])})"
                 for r in stale]
    require(not stale, postgres, f"{len(stale)} table{'s' if len(stale) != 1 else ''} with >= {min_dead} dead rows not vacuumed"
            f" and analyzed within {days:g} days: {_listed(described)}",
            f"(auto)vacuum and analyze within {days:g} days on every table with >= {min_dead} dead rows")


@pytest.mark.check("pg-14", "Migrations at the expected head", severity="high",
                   answers=("db|database migration|migrations", "schema version|revision confirm|confirmed|correct|match|matches|expected|current|verified migration?", "migrations applied", "database migrations at head", "schema migrations up to date", "no pending migrations",
                            "migration status checked",
                            "migration appli|head|latest|current|date|run|complet|pending|done|deploy|up|ready schema? database?",
                            "schema migrat|version current|applied|latest|date", "database migration applied|run|current",
                            "migration"),
                   answers_unless=("backward|backwards|compatible|compatibility", "test", "rollback", "revers", "data volume", "ci", "review", "rehears", "strong|safety|safe lint|linter|check|checks"))
def test_migrations_at_head(postgres: Any, evidence: Any) -> None:
    """Code deployed against a schema that lags (or runs ahead of) its migrations fails at the
    first query that touches the difference, often long after go-live.  Applies where the target
    names ``migrations: {tool, head}``; passes when the tool's history table says the database is
    at ``head``: alembic (the set of current revisions; several heads separated by commas), flyway
    (the highest successful version, and no failed migration), django (``app.migration`` per app,
    comma-separated: each app's latest applied migration), knex (the latest migration name,
    without its extension, and its lock not left taken), rails (the highest schema_migrations
    version), sequelize (the latest SequelizeMeta name), prisma (the latest finished migration,
    and none started and never finished), typeorm (the class name of the newest migration, or
    its timestamp), golang-migrate (the version, and not dirty).  Needs SELECT on the table:
    without it, not applicable."""
    from psycopg import sql

    spec = postgres.setting("migrations") or {}
    if not spec.get("tool") or not spec.get("head"):
        not_applicable(f"{postgres.name}: no expected migration head in the inventory "
                       f"(postgres.{postgres.name}.migrations: {{tool, head}})", unexamined=True)
    tool, head = str(spec["tool"]), str(spec["head"]).strip()
    name = str(spec.get("table") or TOOLS[tool].table)
    found = _table(postgres, name)
    if found is None:
        fail(postgres, f"no {tool} migrations table {name} in database {_dsn_db(postgres)}", f"{tool} at {head}")
    table, ident, readable = found
    if not readable:
        user = postgres.value("SELECT current_user")
        not_applicable(f"{postgres.name}: role {user} lacks SELECT on {table}; "
                       f"GRANT SELECT ON {table} TO {user} to check the migration head", unexamined=True)
    rows = postgres.query(sql.SQL("SELECT * FROM {} LIMIT %s").format(ident), (MIGRATION_ROWS,))
    lock_name = TOOLS[tool].lock_table(name)
    lock = _table(postgres, lock_name) if lock_name else None
    lock_rows = postgres.query(sql.SQL("SELECT * FROM {} LIMIT 10").format(lock[1])) if lock and lock[2] else None
    try:
        current, problems = judge_migrations(tool, head, rows, lock_rows)
    except HeadError as exc:
        raise TargetError(f"{postgres.label}: {exc}") from None
    evidence.record(tool=tool, table=table, expected_head=head, current=current)
    require(not problems, postgres, f"{tool} ({table}) {'; '.join(problems)}", f"{tool} at {head}")


@pytest.mark.check("pg-15", "WAL archiving healthy", severity="high",
                   refs=("CIS PostgreSQL Benchmark: Ensure WAL archiving is configured and functional",
                         "PostgreSQL docs: Continuous Archiving and Point-in-Time Recovery"),
                   answers=("wal_archiving|archive_mode|pitr", "pitr|wal_archiving|archive_mode wal_archiving|pitr? backup|backups? nightly|daily?", "wal_archiving|archive_mode postgres? object|s3|bucket|storage|offsite|remote?", "wal archiv|archive|shipping",
                            "point_in_time_recovery|point_in_time restore|recovery"))
def test_wal_archiving(postgres: Any, evidence: Any) -> None:
    """Point-in-time recovery is only as recent as the last archived WAL segment, and an archive
    command that fails also keeps every later segment on the primary's disk until it fills.
    Applies where ``archive_mode`` is on (or the target sets ``expect_archiving: true``, and then
    archive_mode off fails).  Passes when ``pg_stat_archiver`` shows no failure since the last
    success and the last archived segment is younger than ``rpo_minutes``, or nothing completed
    since (a quiet database: the segment before the current one is archived).  On a replica
    without ``archive_mode = always`` the primary archives: not applicable."""
    state = postgres.query("SELECT current_setting('archive_mode') AS archive_mode, pg_is_in_recovery() AS in_recovery,"
                           " (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size') AS segment_size")[0]
    mode = state["archive_mode"]
    evidence.record(archive_mode=mode)
    if mode == "off":
        if postgres.setting("expect_archiving"):
            fail(postgres, "archive_mode is off", "WAL archiving on (expect_archiving: true)")
        not_applicable(f"{postgres.name}: archive_mode is off and the inventory does not expect archiving (expect_archiving)")
    if state["in_recovery"] and mode != "always":
        not_applicable(f"{postgres.name}: a replica with archive_mode = {mode}; its primary archives the WAL")
    stats = postgres.query("SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,"
                           " last_failed_time, extract(epoch FROM now() - last_archived_time) AS age_s,"
                           " CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current_wal"
                           " FROM pg_stat_archiver")[0]
    rpo = postgres.threshold("rpo_minutes")
    evidence.record(archived_count=stats["archived_count"], last_archived_wal=stats["last_archived_wal"],
                    last_archived_time=_when(stats["last_archived_time"]), failed_count=stats["failed_count"],
                    last_failed_wal=stats["last_failed_wal"], last_failed_time=_when(stats["last_failed_time"]),
                    current_wal=stats["current_wal"])
    last_ok, last_failed = stats["last_archived_time"], stats["last_failed_time"]
    if last_failed is not None and (last_ok is None or last_failed > last_ok):
        fail(postgres, f"archive_command failing: {stats['failed_count']} failures, last for {stats['last_failed_wal']} at "
             f"{_when(last_failed)}; last success {_when(last_ok)}", "no archive failure since the last success")
    if last_ok is not None and float(stats["age_s"]) <= rpo * 60:
        return
    waiting = _segments_waiting(stats["last_archived_wal"], stats["current_wal"], int(state["segment_size"]))
    evidence.record(segments_waiting=waiting)
    if waiting == 0:
        return  # nothing completed since the last archive: a quiet database, not a stuck archiver
    age = "no WAL segment archived yet" if last_ok is None else f"last WAL archived {float(stats['age_s']) / 60:.0f} minutes ago"
    fail(postgres, f"{age} ({stats['last_archived_wal'] or '-'}){f', {waiting} completed segments waiting' if waiting else ''}",
         f"the last archive younger than {rpo:g} minutes (rpo_minutes)")


@pytest.mark.check("pg-16", "Replica streams with little lag", severity="high",
                   refs=("PostgreSQL docs: Log-Shipping Standby Servers",),
                   answers=("replication_lag|replica_lag|streaming_replication",
                            "postgres|postgresql|database? replication_lag|replica_lag under|below|within|less|low",
                            "replica|replication|standby lag|stream|healthy|sync|running|working|delay"),
                   answers_unless=("service|pod|pods|deployment|application|app|container|containers|instance|instances",
                                   "mysql|mariadb|redis|mongodb|elasticsearch|kafka|rabbitmq"))
def test_replication_lag(postgres: Any, evidence: Any) -> None:
    """A replica that lags loses the latest transactions at failover and serves stale reads
    meanwhile; one that stopped streaming is no replica at all.  Applies to servers in recovery
    (and fails on a primary where the target sets ``expect_replica: true``).  Passes when a WAL
    receiver is streaming and replay is within ``replication_lag_max_s``: zero when everything
    received is replayed, otherwise the time since the last replayed transaction."""
    in_recovery = bool(postgres.value("SELECT pg_is_in_recovery()"))
    evidence.record(in_recovery=in_recovery)
    if not in_recovery:
        if postgres.setting("expect_replica"):
            fail(postgres, "server is not in recovery (a primary, or a promoted replica)", "a streaming replica (expect_replica: true)")
        not_applicable(f"{postgres.name}: not a replica (pg_is_in_recovery() is false)")
    row = postgres.query(
        "SELECT pg_last_wal_receive_lsn()::text AS received, pg_last_wal_replay_lsn()::text AS replayed,"
        " pg_last_xact_replay_timestamp() AS replayed_at, pg_is_wal_replay_paused() AS paused,"
        " (SELECT count(*) FROM pg_stat_wal_receiver) AS receivers,"
        " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
        "      ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS lag_s")[0]
    max_lag = postgres.threshold("replication_lag_max_s")
    lag = None if row["lag_s"] is None else round(float(row["lag_s"]), 1)
    evidence.record(received_lsn=row["received"], replayed_lsn=row["replayed"], last_replayed_transaction=_when(row["replayed_at"]),
                    replay_paused=row["paused"], wal_receivers=row["receivers"], lag_s=lag)
    if not row["receivers"] or row["received"] is None:
        fail(postgres, "no WAL receiver is streaming from a primary", "a streaming replica")
    paused = ", replay paused" if row["paused"] else ""
    if lag is None:
        fail(postgres, f"WAL received up to {row['received']} but no transaction replayed yet{paused}", f"lag within {max_lag:g} s")
    require(lag <= max_lag, postgres, f"replay {lag:g} s behind (received {row['received']}, replayed {row['replayed']}{paused})",
            f"lag within {max_lag:g} s")


@pytest.mark.check("pg-17", "No statement slow on average", severity="medium",
                   refs=("PostgreSQL docs: pg_stat_statements",),
                   answers=("database queries optimized", "slow queries reviewed", "query performance reviewed",
                            "pg_stat_statements reviewed", "no slow database queries",
                            "slow_query|slow query queries? review|analysis|report|top",
                            "query|queries performance|time|latency|speed|optimiz|plan|n+1|tested?", "n+1 queries|query",
                            "pg_stat_statements"))
def test_slow_statements(postgres: Any, evidence: Any) -> None:
    """A statement that is slow every time it runs is a page that is slow every time it loads,
    and under load it holds connections and locks for as long.  Reads ``pg_stat_statements``
    (the extension must be created in the target's database and preloaded); passes when no
    statement of the application role (``app_role``, default the DSN's) in this database has a
    mean execution time above ``slow_statement_max_ms``.  Without the extension: not
    applicable, naming it; without SELECT on its view: not applicable, naming the grant."""
    import psycopg
    from psycopg import sql

    schema = postgres.value("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if schema is None:
        not_applicable(f"{postgres.name}: no pg_stat_statements extension in database {_dsn_db(postgres)}; add pg_stat_statements "
                       "to shared_preload_libraries and CREATE EXTENSION pg_stat_statements to see slow statements", unexamined=True)
    role, limit = _app_role(postgres), float(postgres.threshold("slow_statement_max_ms"))
    view = sql.Identifier(str(schema), "pg_stat_statements")
    where = sql.SQL(" FROM {} s WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND s.userid = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)").format(view)
    try:
        tracked = postgres.value(sql.SQL("SELECT count(*)") + where, {"role": role})
        slow = postgres.query(sql.SQL("SELECT s.calls, round(s.mean_exec_time::numeric, 1) AS mean_ms, left(s.query, 120) AS query")
                              + where + sql.SQL(" AND s.mean_exec_time > %(limit)s ORDER BY s.mean_exec_time DESC LIMIT 5"),
                              {"role": role, "limit": limit})
    except psycopg.errors.InsufficientPrivilege:
        user = postgres.value("SELECT current_user")
        not_applicable(f"{postgres.name}: role {user} may not read {schema}.pg_stat_statements; "
                       f"GRANT USAGE ON SCHEMA {schema} and SELECT ON {schema}.pg_stat_statements TO {user}", unexamined=True)
    except TargetError as exc:
        if "shared_preload_libraries" not in str(exc):
            raise
        not_applicable(f"{postgres.name}: pg_stat_statements is created but not loaded; add it to shared_preload_libraries (restart)", unexamined=True)
    found = [f"{r['calls']} calls of {' '.join(str(r['query']).split())!r} averaging {r['mean_ms']} ms" for r in slow]
    evidence.record(role=role, statements_tracked=tracked, slowest=found, limit_ms=limit)
    require(not found, postgres, f"{len(found)} statement{'s' if len(found) != 1 else ''} over {limit:g} ms on average: {_listed(found)}",
            f"every statement of role {role} at most {limit:g} ms on average (slow_statement_max_ms)")


@pytest.mark.check("pg-18", "Every table has a primary key", severity="medium",
                   refs=("PostgreSQL docs: Logical Replication, Replica Identity",),
                   answers=("tables have primary keys", "primary keys defined", "schema reviewed", "database schema hygiene",
                            "table without primary_key", "primary_key every|all table"))
def test_primary_keys(postgres: Any, evidence: Any) -> None:
    """A table without a primary key lets duplicate rows in, gives ORMs nothing to update a row
    by, and cannot replicate its UPDATEs and DELETEs logically (replica identity).  Passes when
    every ordinary or partitioned table outside the system schemas (and not owned by an
    extension) has a primary key.  Read from ``pg_class`` and ``pg_constraint``."""
    tables = [r["table_name"] for r in postgres.query(
        "SELECT c.oid::regclass::text AS table_name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname !~ '^pg_(toast|temp)'"
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') ORDER BY 1 LIMIT 200")]
    evidence.record(tables_without_primary_key=tables)
    require(not tables, postgres, f"{len(tables)} table{'s' if len(tables) != 1 else ''} without a primary key: {_listed(tables)}",
            "a primary key on every table")


@pytest.mark.check("pg-19", "No invalid indexes or unvalidated constraints", severity="medium",
                   refs=("PostgreSQL docs: CREATE INDEX CONCURRENTLY", "PostgreSQL docs: ALTER TABLE ... VALIDATE CONSTRAINT"),
                   answers=("no invalid indexes", "constraints validated", "indexes healthy", "index builds completed",
                            "invalid index|indexes|constraint|constraints rebuilt|fixed|none|no|validated",
                            "database|postgres indexes|index verified|checked|healthy"))
def test_invalid_indexes(postgres: Any, evidence: Any) -> None:
    """A ``CREATE INDEX CONCURRENTLY`` that failed leaves an INVALID index behind: never used
    for reads, still paid for on every write, and a unique one that enforces nothing.  A
    constraint added ``NOT VALID`` and never validated vouches for new rows only.  Passes when
    ``pg_index`` has no invalid index and ``pg_constraint`` no unvalidated constraint."""
    indexes = [f"{r['index_name']} on {r['table_name']}" for r in postgres.query(
        "SELECT indexrelid::regclass::text AS index_name, indrelid::regclass::text AS table_name FROM pg_index"
        " WHERE NOT indisvalid ORDER BY 1 LIMIT 200")]
    constraints = [f"{r['conname']} on {r['table_name']}" for r in postgres.query(
        "SELECT conrelid::regclass::text AS table_name, conname FROM pg_constraint WHERE NOT convalidated ORDER BY 1, 2 LIMIT 200")]
    evidence.record(invalid_indexes=indexes, not_valid_constraints=constraints)
    problems = [f"invalid index {i}" for i in indexes] + [f"NOT VALID constraint {c}" for c in constraints]
    require(not problems, postgres, _listed(problems),
            "no invalid index (drop and rebuild it) and no NOT VALID constraint (ALTER TABLE ... VALIDATE CONSTRAINT)")


@pytest.mark.check("pg-20", "No duplicate indexes", severity="low",
                   refs=("PostgreSQL wiki: Index Maintenance, duplicate indexes",),
                   answers=("no duplicate indexes", "redundant|duplicate indexes removed|dropped"))
def test_duplicate_indexes(postgres: Any, evidence: Any) -> None:
    """Two indexes on the same columns (same operator classes, collations, expressions and
    predicate) serve reads no better than one, yet every write maintains both and both take
    cache and disk.  Passes when ``pg_index`` holds no such pair."""
    rows = postgres.query(
        "SELECT indrelid::regclass::text AS table_name,"
        " array_agg(indexrelid::regclass::text ORDER BY indexrelid::regclass::text) AS indexes FROM pg_index"
        " GROUP BY indrelid, indkey::text, indclass::text, indcollation::text,"
        " coalesce(pg_get_expr(indexprs, indrelid), ''), coalesce(pg_get_expr(indpred, indrelid), '')"
        " HAVING count(*) > 1 ORDER BY 1 LIMIT 200")
    found = [f"{', '.join(r['indexes'])} on {r['table_name']}" for r in rows]
    evidence.record(duplicate_indexes=found)
    require(not found, postgres, f"identical indexes {_listed(found)}", "no two indexes with the same definition")


@pytest.mark.check("pg-21", "Sequences far from their limit", severity="high",
                   refs=("PostgreSQL docs: Sequence Manipulation Functions", "PostgreSQL docs: Numeric Types"),
                   answers=("sequences not near exhaustion", "id columns will not overflow", "integer overflow of primary keys",
                            "serial id capacity", "sequence|sequences|serial|identity overflow|exhaust|exhaustion|wraparound|limit|capacity"))
def test_sequences_capacity(postgres: Any, evidence: Any) -> None:
    """An ``integer`` (serial) key runs out at 2,147,483,647 and every insert fails from then on
    with "integer out of range"; the fix (a bigint column) rewrites the table.  Passes when every
    ascending sequence has used at most ``sequence_max_pct`` of its range, the range being the
    smaller of the sequence's maximum and the type of the column that owns it (a bigint sequence
    feeding an integer column ends at the integer's limit).  Sequences whose value this role may
    not read make the check not applicable, naming them."""
    rows = postgres.query(
        "SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename) AS name, s.data_type::text AS data_type,"
        " s.last_value, s.max_value, has_sequence_privilege(quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename),"
        " 'SELECT') OR has_sequence_privilege(quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename), 'USAGE') AS readable,"
        " (SELECT a.atttypid::regtype::text FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
        "   WHERE d.classid = 'pg_class'::regclass AND d.objid = (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass"
        "   AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i') LIMIT 1) AS column_type"
        " FROM pg_sequences s WHERE s.increment_by > 0 ORDER BY 1 LIMIT 5000")
    max_pct = float(postgres.threshold("sequence_max_pct"))
    used: list[tuple[float, str]] = []
    unreadable = [str(r["name"]) for r in rows if not r["readable"]]
    for r in rows:
        if r["last_value"] is None:
            continue
        limit = min(int(r["max_value"]), INT_LIMITS.get(str(r["column_type"]), int(r["max_value"])))
        pct = 100.0 * int(r["last_value"]) / limit
        column = f", feeds a {r['column_type']} column" if r["column_type"] and r["column_type"] != r["data_type"] else ""
        used.append((pct, f"{r['name']} ({r['data_type']}{column}) at {int(r['last_value']):,} of {limit:,} ({pct:.1f}%)"))
    used.sort(reverse=True)
    evidence.record(sequences=len(rows), fullest=[text for _, text in used[:5]], unreadable=unreadable)
    over = [text for pct, text in used if pct > max_pct]
    require(not over, postgres, f"{len(over)} sequence{'s' if len(over) != 1 else ''} past {max_pct:g}% of {'their' if len(over) != 1 else 'its'}"
            f" range: {_listed(over)}", f"every sequence at most {max_pct:g}% used (sequence_max_pct); move the column to bigint")
    if unreadable:
        user = postgres.value("SELECT current_user")
        not_applicable(f"{postgres.name}: role {user} may not read {_listed(unreadable, 5)}; GRANT SELECT ON the sequences TO {user}", unexamined=True)


@pytest.mark.check("pg-22", "Buffer cache hit ratio healthy", severity="medium",
                   refs=("PostgreSQL docs: pg_stat_database", "PostgreSQL docs: shared_buffers"),
                   answers=("cache hit rates normal", "database cache hit ratio", "buffer cache hit ratio", "shared_buffers sized",
                            "database memory sized", "cache_hit|hit_ratio|hit_rate buffer? cache? ratio?", "buffer cache|pool hit"),
                   answers_unless=("cdn|edge|varnish|cloudflare|fastly|cloudfront|akamai",))
def test_cache_hit_ratio(postgres: Any, evidence: Any) -> None:
    """When the buffer cache answers too few block reads, queries wait on the disk: the working
    set does not fit ``shared_buffers`` (or the server's memory), or queries scan what an index
    should find.  Read from ``pg_stat_database`` for this database since its statistics were last
    reset; passes when at least ``cache_hit_min_pct`` of block reads were hits.  With fewer than
    ``hit_ratio_min_lookups`` reads the ratio means nothing yet: not applicable."""
    row = postgres.query("SELECT blks_hit, blks_read, stats_reset FROM pg_stat_database WHERE datname = current_database()")[0]
    hits, reads = int(row["blks_hit"]), int(row["blks_read"])
    lookups, min_lookups, min_pct = hits + reads, int(postgres.threshold("hit_ratio_min_lookups")), float(postgres.threshold("cache_hit_min_pct"))
    ratio = 100.0 * hits / lookups if lookups else None
    evidence.record(blocks_hit=hits, blocks_read=reads, hit_pct=None if ratio is None else round(ratio, 2),
                    stats_reset=_when(row["stats_reset"]))
    if ratio is None or lookups < min_lookups:
        not_applicable(f"{postgres.name}: only {lookups} block reads since the statistics were reset ({_when(row['stats_reset'])}); "
                       f"the ratio is judged from {min_lookups} (hit_ratio_min_lookups)", unexamined=True)
    require(ratio >= min_pct, postgres, f"buffer cache hit ratio {ratio:.1f}% ({hits:,} hits, {reads:,} reads from disk)",
            f"at least {min_pct:g}% (cache_hit_min_pct)")


@pytest.mark.check("pg-23", "No transaction open for long", severity="medium",
                   refs=("PostgreSQL docs: pg_stat_activity", "PostgreSQL docs: idle_in_transaction_session_timeout"),
                   answers=("no long-running transactions", "no idle in transaction sessions", "long running queries checked",
                            "stuck database sessions"))
def test_long_transactions(postgres: Any, evidence: Any) -> None:
    """A transaction left open (idle in it, or a query running for hours) holds its locks,
    blocks vacuum from removing dead rows everywhere and, at a deploy, blocks the migration that
    needs the same table.  Passes when no client session that this role may see has had a
    transaction open for longer than ``transaction_max_s`` right now.  A role without
    pg_read_all_stats sees only its own role's sessions; the others are counted as hidden."""
    max_s = float(postgres.threshold("transaction_max_s"))
    rows = postgres.query(
        "SELECT pid, state, usename, application_name, round(extract(epoch FROM now() - xact_start)) AS age_s, left(query, 60) AS query"
        " FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        " AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"
        " AND now() - xact_start > make_interval(secs => %s) ORDER BY xact_start LIMIT 50", (max_s,))
    hidden = postgres.value("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND state IS NULL")
    found = [f"pid {r['pid']} ({r['usename']}, {r['application_name'] or 'no application name'}) {r['state']} for {int(r['age_s'])} s:"
             f" {' '.join(str(r['query']).split())!r}" for r in rows]
    evidence.record(long_transactions=found, sessions_hidden_from_this_role=hidden)
    require(not found, postgres, f"{len(found)} transaction{'s' if len(found) != 1 else ''} open longer than {max_s:g} s: {_listed(found)}",
            f"no transaction open longer than {max_s:g} s (transaction_max_s)")


@pytest.mark.check("pg-24", "Live schema matches the schema file", severity="medium",
                   refs=("PostgreSQL docs: psql -f",),
                   answers=("schema matches schema.sql", "database schema up to date", "schema changes applied",
                            "schema drift checked", "schema match|matches|drift migration|migrations|schema|code|repo file|files|definition?"))
def test_schema_file(postgres: Any, evidence: Any) -> None:
    """A team without a migration tool applies a plain schema file by hand, and a step missed on
    one environment stays missed.  Applies where the target names ``schema_file``.  The file is
    read, never run: its CREATE TABLE and CREATE INDEX statements give the tables, their
    columns and the named indexes, compared with the live ones (tables outside the system
    schemas and not owned by an extension; indexes that back no constraint).  Passes when
    nothing is missing on either side; column types are not compared."""
    path = postgres.setting("schema_file")
    if not path:
        not_applicable(f"{postgres.name}: no schema_file in the inventory (postgres.{postgres.name}.schema_file)", unexamined=True)
    with open(str(path), "rb") as handle:
        wanted = parse_schema(handle.read(SCHEMA_MAX_BYTES).decode(errors="replace"))
    live_tables = {str(r["table_name"]): list(r["columns"] or []) for r in postgres.query(
        "SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END AS table_name,"
        " array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        "       ORDER BY a.attnum) AS columns"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"
        " ORDER BY 1 LIMIT 5000")}
    live_indexes = {str(r["index_name"]): (str(r["table_name"]), str(r["columns"])) for r in postgres.query(
        "SELECT ic.relname::text AS index_name,"
        " CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END AS table_name,"
        " (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ', ' ORDER BY k) FROM generate_series(1, i.indnkeyatts) k) AS columns"
        " FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))"
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"
        " ORDER BY 1 LIMIT 5000")}
    differences = _schema_differences(wanted.tables, wanted.indexes, live_tables, live_indexes)
    evidence.record(schema_file=str(path), tables_in_file=len(wanted.tables), indexes_in_file=len(wanted.indexes),
                    live_tables=len(live_tables), differences=differences)
    require(not differences, postgres, f"differs from {os.path.basename(str(path))}: {_listed(differences)}",
            f"the tables, columns and indexes of {path}")


@pytest.mark.check("pg-25", "Application connection pools fit the server", severity="high",
                   refs=("PostgreSQL docs: max_connections, superuser_reserved_connections",),
                   answers=("connection pooling configured", "database pool size", "pool size fits max_connections", "pool timeouts set",
                            "connection pool settings",
                            "connection_pool|connection_pooling|pool_size|pgbouncer configur|size|sized|limit|tuned? database|postgres|mysql?",
                            "connection pool|pooling", "pgbouncer|pgpool|hikari",
                            "max_connections pool|pool_size size? instances|replicas|workers|processes|pods? headroom|reserve? "
                            "hikari|hikaricp? database? match|matches|fit|fits|within?"))
def test_pool_sizing(postgres: Any, inventory: Any, evidence: Any) -> None:
    """Every instance of the application opens up to its pool's maximum; when their sum passes
    ``max_connections`` the last instances to start (or to scale out) get "too many clients" at
    the worst moment, and a pool without a wait timeout turns a full pool into hung requests.
    Applies where the target names ``app_config``, the ``files`` target with the application's
    deployed configuration (its env files and config files).  Its pool size (``DATABASE_POOL_SIZE``,
    ``DB_POOL_MAX``, ``SQLALCHEMY_POOL_SIZE`` + ``MAX_OVERFLOW``, ``hikari.maximum-pool-size``,
    knex ``pool.max``, ``?connection_limit=`` in a database URL, ...) times ``app_instances``
    (default 1) must fit ``max_connections`` less ``superuser_reserved_connections``,
    ``reserved_connections`` and ``pool_reserve_connections``; and a pool wait timeout
    (``DB_POOL_TIMEOUT``, ``acquireTimeoutMillis``, ``?pool_timeout=``, ...) must be set above 0."""
    name = postgres.setting("app_config")
    if not name:
        not_applicable(f"{postgres.name}: no app_config in the inventory (postgres.{postgres.name}.app_config: the files target "
                       "holding the application's configuration)", unexamined=True)
    try:
        files = inventory.get("files", str(name))
    except KeyError:
        raise TargetError(f"{postgres.label}: app_config names {name}, which is no files target of the inventory; "
                          f"check postgres.{postgres.name}.app_config") from None
    config = read_pool_config(Path(str(files.spec["path"])), [str(n) for n in files.get("env_files") or ()],
                              [str(n) for n in files.get("config_files") or ()])
    if not config.files:
        raise TargetError(f"{postgres.label}: files target {name} has none of its env or config files in {files.spec['path']}")
    server = postgres.query("SELECT current_setting('max_connections')::int AS max_connections,"
                            " current_setting('superuser_reserved_connections')::int AS superuser_reserved,"
                            " coalesce(current_setting('reserved_connections', true), '0')::int AS reserved")[0]
    instances = int(postgres.setting("app_instances") or 1)
    keep = int(postgres.threshold("pool_reserve_connections"))
    available = int(server["max_connections"]) - int(server["superuser_reserved"]) - int(server["reserved"]) - keep
    per_instance = config.per_instance
    evidence.record(app_config=str(name), files=config.files, pool_sizes={s.where: n for s, n in config.sizes},
                    overflows={s.where: n for s, n in config.overflows}, timeouts={s.where: t for s, t in config.timeouts},
                    not_numbers=config.unreadable, app_instances=instances, max_connections=server["max_connections"],
                    superuser_reserved_connections=server["superuser_reserved"], reserved_connections=server["reserved"],
                    connections_available_to_pools=available)
    problems = []
    if per_instance is None:
        problems.append(f"no connection pool size in {', '.join(config.files)} of {name}"
                        + (f" ({'; '.join(config.unreadable)})" if config.unreadable else ""))
    elif per_instance * instances > available:
        sizes = " + ".join(s.where for s, _ in [max(config.sizes, key=lambda p: p[1]), *config.overflows[:1]])
        problems.append(f"pools of {per_instance} connections ({sizes}) x {instances} instance{'s' if instances != 1 else ''}"
                        f" = {per_instance * instances}, {available} available ({server['max_connections']} max_connections less"
                        f" {int(server['superuser_reserved']) + int(server['reserved'])} reserved and {keep} kept free)")
    waits = [(s, t) for s, t in config.timeouts if t > 0]
    if not waits:
        zero = [s.where for s, t in config.timeouts if t <= 0]
        problems.append(f"{', '.join(zero)} 0 (waits forever)" if zero else f"no pool wait timeout in {', '.join(config.files)} of {name}")
    require(not problems, postgres, "; ".join(problems),
            f"pool size x app_instances within {available} connections and a pool wait timeout above 0")


# --------------------------------------------------------------------------- helpers


def _dsn_params(postgres: Any) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    return {k: str(v) for k, v in conninfo_to_dict(str(postgres.target.spec["dsn"])).items() if v is not None}


def _dsn_user(postgres: Any) -> str:
    return _dsn_params(postgres).get("user") or str(postgres.value("SELECT session_user"))


def _dsn_db(postgres: Any) -> str:
    return str(postgres.value("SELECT current_database()"))


def _app_role(postgres: Any) -> str:
    """The role whose privileges and settings the checks examine."""
    return str(postgres.setting("app_role") or postgres.value("SELECT session_user"))


def _role_query(postgres: Any, role: str, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A query about ``role``; an ``app_role`` that does not exist is an inventory mistake."""
    if postgres.value("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)) == 0:
        raise TargetError(f"{postgres.label}: role {role} does not exist; check postgres.{postgres.name}.app_role")
    return postgres.query(query, params)  # type: ignore[no-any-return]


def _skip_unix_socket(postgres: Any) -> None:
    host = _dsn_params(postgres).get("host", "")
    if host.startswith("/") or host.startswith("@"):
        not_applicable(f"{postgres.name}: the DSN connects over a Unix socket, where TLS and network logins do not apply")


def _no_password() -> dict[str, Any]:
    """Connection parameters under which libpq sends no password whatever the server asks."""
    import psycopg

    if psycopg.pq.version() >= 160000:
        return {"password": None, "require_auth": "none"}
    return {"password": "", "passfile": "/nonexistent/deploycheck/.pgpass"}


def _server_words(exc: BaseException) -> str:
    """The server's (or libpq's) reason, without psycopg's and libpq's framing."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r"^connection to server (at|on) .*? failed: ", "", text)
    text = re.sub(r'^authentication method requirement "none" failed: ', "", text)
    return text.removeprefix("FATAL: ")


def _plain_connection(postgres: Any) -> tuple[str, str]:
    """Try a connection without TLS that sends no password: refused, reached-auth or accepted."""
    import psycopg

    try:
        conn = postgres.connect(sslmode="disable", gssencmode="disable", **_no_password())
    except psycopg.OperationalError as exc:
        words = _server_words(exc)
        if "no encryption" in words:
            return "refused", f"plain connection refused: {words}"
        if any(marker in words for marker in (*_LOGIN_REFUSED, "server requested")):
            return "reached-auth", f"a connection with sslmode=disable reached authentication ({words})"
        raise TargetError(f"{postgres.label}: could not probe a connection without TLS: {words}") from None
    conn.close()
    return "accepted", "a connection with sslmode=disable was accepted without any password"


def _login(postgres: Any, user: str, password: str | None) -> bool:
    """Whether the server lets ``user`` in with ``password`` (None: without sending one)."""
    import psycopg

    credentials: dict[str, Any] = {"user": user, **(_no_password() if password is None else {"password": password})}
    try:
        conn = postgres.connect(**credentials)
    except psycopg.OperationalError as exc:
        words = _server_words(exc)
        if any(marker in words for marker in _LOGIN_REFUSED):
            return False
        if any(marker in words for marker in _LOGIN_PASSED):
            return True  # authenticated; refused only afterwards (no such database, no CONNECT)
        raise TargetError(f"{postgres.label}: login probe as {user} ended without an answer: {words}") from None
    conn.close()
    return True


def _zero(value: str) -> bool:
    return re.fullmatch(r"\s*0+\s*(us|ms|s|min|h|d)?\s*", value) is not None


def _when(value: dt.datetime | None) -> str:
    return "never" if value is None else value.isoformat(timespec="seconds")


def _listed(items: list[str], limit: int = 10) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def _table(postgres: Any, name: str) -> tuple[str, sql.Composable, bool] | None:
    """(schema.table, its identifier, whether this role may SELECT it) for a table name as
    ``to_regclass`` resolves it on the search path; None when there is no such table."""
    from psycopg import sql

    found = postgres.query("SELECT n.nspname, c.relname, has_table_privilege(c.oid, 'SELECT') AS readable"
                           " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
                           (_regclass_name(name),))
    if not found:
        return None
    row = found[0]
    return f"{row['nspname']}.{row['relname']}", sql.Identifier(row["nspname"], row["relname"]), bool(row["readable"])


def _regclass_name(name: str) -> str:
    """A table name as ``to_regclass`` wants it: mixed case (``SequelizeMeta``) quoted, as the tool created it."""
    parts = name.split(".")
    return ".".join(p if p.startswith('"') or p == p.lower() else '"' + p.replace('"', '""') + '"' for p in parts)


def _schema_differences(file_tables: dict[str, list[str]], file_indexes: dict[str, tuple[str, str]],
                        live_tables: dict[str, list[str]], live_indexes: dict[str, tuple[str, str]]) -> list[str]:
    """What the live schema lacks of the file and holds beyond it, named."""
    out = []
    if missing := sorted(set(file_tables) - set(live_tables)):
        out.append(f"tables missing: {', '.join(missing)}")
    if extra := sorted(set(live_tables) - set(file_tables)):
        out.append(f"tables not in the file: {', '.join(extra)}")
    for table in sorted(set(file_tables) & set(live_tables)):
        if missing := [c for c in file_tables[table] if c not in live_tables[table]]:
            out.append(f"columns missing from {table}: {', '.join(missing)}")
        if extra := [c for c in live_tables[table] if c not in file_tables[table]]:
            out.append(f"columns of {table} not in the file: {', '.join(extra)}")
    if missing := sorted(set(file_indexes) - set(live_indexes)):
        out.append(f"indexes missing: {', '.join(f'{i} on {file_indexes[i][0]}' for i in missing)}")
    if extra := sorted(set(live_indexes) - set(file_indexes)):
        out.append(f"indexes not in the file: {', '.join(f'{i} on {live_indexes[i][0]}' for i in extra)}")
    for index in sorted(set(file_indexes) & set(live_indexes)):
        (file_table, file_columns), (live_table, live_columns) = file_indexes[index], live_indexes[index]
        live_columns = index_columns(live_columns)
        if (file_table, file_columns) != (live_table, live_columns):
            out.append(f"index {index} is on {live_table} ({live_columns}), the file has {file_table} ({file_columns})")
    return out


def _segments_waiting(last_archived: str | None, current: str | None, segment_size: int) -> int | None:
    """Completed WAL segments after the last archived one (None when it cannot be told)."""
    if current is None or segment_size <= 0:
        return None
    if last_archived is None:
        return max(0, _segment_number(current, segment_size) - 1)  # a cluster's first segment is number 1
    if not re.fullmatch(r"[0-9A-F]{24}(\..*)?", last_archived):
        return None
    return max(0, _segment_number(current, segment_size) - _segment_number(last_archived[:24], segment_size) - 1)


def _segment_number(name: str, segment_size: int) -> int:
    return int(name[8:16], 16) * (0x100000000 // segment_size) + int(name[16:24], 16)


@pytest.mark.check("pg-26", "Server time zone as expected", severity="low",
                   refs=("PostgreSQL docs: TimeZone, timestamp with time zone",),
                   answers=("database|postgres timezone|time_zone utc|set|configur|correct", "database|postgres utc time|timezone"),
                   answers_unless=("stored|store|storage|column|columns",))
def test_timezone(postgres: Any, evidence: Any) -> None:
    """``TimeZone`` decides how ``timestamptz`` values print and what ``now()::timestamp`` and
    date truncation mean: a server left in a local zone shifts reports and day boundaries by hours
    against the rest of the stack.  Passes when the zone a new session of this login gets
    (``reset_val``: the configuration, the database's and the role's settings) is the target's
    ``timezone`` (default UTC; ``any``: not judged)."""
    from pytest_deploycheck.targets.timezones import same_zone

    wanted = str(postgres.setting("timezone") or "UTC")
    if wanted.lower() == "any":
        not_applicable(f"{postgres.name}: timezone: any (the server's time zone is not judged)")
    zone = str(postgres.value("SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'"))
    evidence.record(timezone=zone, expected=wanted)
    require(same_zone(zone, wanted), postgres, f"TimeZone is {zone}", f"{wanted} (postgres.{postgres.name}.timezone)")
