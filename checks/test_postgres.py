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
import re
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_deploycheck import TargetError, fail, not_applicable, require
from pytest_deploycheck.lifecycle import support_left, version_key

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

#: Migration tools and their history tables (pg-14).
MIGRATION_TABLES = {
    "alembic": "alembic_version",
    "flyway": "flyway_schema_history",
    "django": "django_migrations",
    "knex": "knex_migrations",
    "rails": "schema_migrations",
}

#: Predefined roles that reach the server's file system or run programs on it.
SERVER_ACCESS_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program")

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
                         "PostgreSQL docs: pg_hba.conf hostssl"))
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
                         "CIS PostgreSQL Benchmark: Ensure excessive administrative privileges are revoked"))
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
                   refs=("dev-sec postgres-baseline: postgres-06", "PostgreSQL docs: password_encryption"))
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
                   refs=("CWE-1392: Use of Default Credentials", "OWASP ASVS 4.0 V2.5.4"))
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
                   refs=("CVE-2018-1058", "PostgreSQL docs: Schemas, Usage Patterns"))
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
                   refs=("PostgreSQL docs: Privileges (PUBLIC)",))
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
                         "https://www.postgresql.org/support/versioning/"))
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
                   refs=("PostgreSQL docs: max_connections",))
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
                   refs=("PostgreSQL docs: statement_timeout, idle_in_transaction_session_timeout",))
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
                   refs=("PostgreSQL docs: log_min_duration_statement",))
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
                   refs=("dev-sec postgres-baseline: postgres-15", "CIS PostgreSQL Benchmark: Ensure 'log_connections' is enabled"))
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
                   refs=("PostgreSQL docs: Constraints, Foreign Keys",))
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
                   refs=("PostgreSQL docs: Routine Vacuuming",))
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


@pytest.mark.check("pg-14", "Migrations at the expected head", severity="high")
def test_migrations_at_head(postgres: Any, evidence: Any) -> None:
    """Code deployed against a schema that lags (or runs ahead of) its migrations fails at the
    first query that touches the difference, often long after go-live.  Applies where the target
    names ``migrations: {tool, head}``; passes when the tool's history table says the database is
    at ``head``: alembic (the set of current revisions; several heads separated by commas), flyway
    (the highest successful version, and no failed migration), django (``app.migration`` per app,
    comma-separated: each app's latest applied migration), knex (the latest migration name,
    without its extension), rails (the highest schema_migrations version).  Needs SELECT on the
    table: without it, not applicable."""
    spec = postgres.setting("migrations") or {}
    if not spec.get("tool") or not spec.get("head"):
        not_applicable(f"{postgres.name}: no expected migration head in the inventory "
                       f"(postgres.{postgres.name}.migrations: {{tool, head}})")
    tool, head = str(spec["tool"]), str(spec["head"]).strip()
    name = str(spec.get("table") or MIGRATION_TABLES[tool])
    found = postgres.query("SELECT n.nspname, c.relname, has_table_privilege(c.oid, 'SELECT') AS readable"
                           " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)", (name,))
    if not found:
        fail(postgres, f"no {tool} migrations table {name} in database {_dsn_db(postgres)}", f"{tool} at {head}")
    table = f"{found[0]['nspname']}.{found[0]['relname']}"
    if not found[0]["readable"]:
        user = postgres.value("SELECT current_user")
        not_applicable(f"{postgres.name}: role {user} lacks SELECT on {table}; "
                       f"GRANT SELECT ON {table} TO {user} to check the migration head")
    ident = sql.Identifier(found[0]["nspname"], found[0]["relname"])
    current, problems = _migration_state(postgres, tool, ident, head)
    evidence.record(tool=tool, table=table, expected_head=head, current=current)
    require(not problems, postgres, f"{tool} ({table}) {'; '.join(problems)}", f"{tool} at {head}")


@pytest.mark.check("pg-15", "WAL archiving healthy", severity="high",
                   refs=("CIS PostgreSQL Benchmark: Ensure WAL archiving is configured and functional",
                         "PostgreSQL docs: Continuous Archiving and Point-in-Time Recovery"))
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
                   refs=("PostgreSQL docs: Log-Shipping Standby Servers",))
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


def _migration_state(postgres: Any, tool: str, table: sql.Identifier, head: str) -> tuple[Any, list[str]]:
    """(what the history table says, problems against ``head``) for one migration tool."""
    if tool == "alembic":
        current = sorted(str(r["version_num"]) for r in postgres.query(sql.SQL("SELECT version_num FROM {}").format(table)))
        expected = sorted(h.strip() for h in head.split(",") if h.strip())
        shown = ", ".join(current) or "no revision"
        return current, [] if current == expected else [f"is at {shown}"]
    if tool == "flyway":
        rows = postgres.query(sql.SQL("SELECT version, success FROM {} WHERE version IS NOT NULL ORDER BY installed_rank").format(table))
        failed = [str(r["version"]) for r in rows if not r["success"]]
        applied = [str(r["version"]) for r in rows if r["success"]]
        current = max(applied, key=version_key) if applied else None
        problems = [f"has failed migrations {', '.join(failed)}"] if failed else []
        if current != head:
            problems.append(f"is at {current or 'no version'}")
        return {"current": current, "failed": failed}, problems
    if tool == "django":
        latest: dict[str, str] = {}
        for r in postgres.query(sql.SQL("SELECT app, name FROM {}").format(table)):
            latest[r["app"]] = max(latest.get(r["app"], ""), str(r["name"]))
        problems = []
        for item in (h.strip() for h in head.split(",") if h.strip()):
            app, dot, name = item.partition(".")
            if not dot:
                raise TargetError(f"{postgres.label}: django migration head {item!r} must read app.migration (e.g. orders.0042_add_index)")
            if latest.get(app) != name:
                problems.append(f"app {app} is at {latest.get(app) or 'no migration'}")
        return latest, problems
    if tool == "knex":
        names = [re.sub(r"\.(js|ts|cjs|mjs)$", "", str(r["name"])) for r in postgres.query(sql.SQL("SELECT name FROM {}").format(table))]
        current = max(names) if names else None
        return current, [] if current == re.sub(r"\.(js|ts|cjs|mjs)$", "", head) else [f"is at {current or 'no migration'}"]
    versions = [str(r["version"]) for r in postgres.query(sql.SQL("SELECT version FROM {}").format(table))]
    current = max(versions, key=lambda v: (len(v), v)) if versions else None
    return current, [] if current == head else [f"is at {current or 'no version'}"]


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
