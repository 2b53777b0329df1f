"""MySQL and MariaDB: every ``mysql`` target of the inventory, seen through a read-only session.

Each check logs in with the target's DSN (TLS as its ``?ssl-mode=`` asks, verified against
``ca_bundle`` when one is given; the password from the environment) in a read-only session with
connect, read and statement timeouts, and only reads: ``SHOW GLOBAL VARIABLES``, ``SHOW GLOBAL
STATUS``, ``SHOW GRANTS`` and the account tables of the ``mysql`` schema.

Least privilege decides what can be seen.  The application's own account (the usual DSN) reads
its variables and its own grants, but not the account list: the account and database audits
(mysql-03 to mysql-06) need SELECT on ``mysql.user`` (and SHOW DATABASES) and end as not
applicable, naming the privilege, when the DSN's account lacks it.  To run them, point the DSN
at a read-only audit account that has those privileges and name the application's account with
``app_user`` (``app@10.0.0.%``): mysql-07 then examines the application's grants, not the
auditor's.  A second, parallel audit login was considered and rejected: one account per target
keeps the credentials, the TLS settings and the dead-target rule simple.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pymysql
import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, require
from pytest_deploycheck.lifecycle import support_left
from pytest_deploycheck.targets.migrations import MAX_ROWS as MIGRATION_ROWS
from pytest_deploycheck.targets.migrations import TOOLS, HeadError
from pytest_deploycheck.targets.migrations import judge as judge_migrations

pytestmark = pytest.mark.section("mysql", "MySQL and MariaDB")

#: End of support per release series, as published on MYSQL_EOL_AS_OF: Oracle's Lifetime Support
#: Policy (end of the month it names) and the MariaDB Foundation's maintenance policy
#: (https://mariadb.org/about/#maintenance-policy).  A series newer than its table counts as
#: supported; an older series missing from it (a short-term MariaDB release) does not.
MYSQL_EOL_AS_OF = dt.date(2026, 11, 22)
MYSQL_EOL: dict[str, dt.date] = {
    "5.6": dt.date(2021, 2, 28),
    "5.7": dt.date(2023, 10, 31),
    "8.0": dt.date(2026, 4, 30),
    "8.4": dt.date(2032, 4, 30),
}
MARIADB_EOL: dict[str, dt.date] = {
    "10.3": dt.date(2023, 5, 25),
    "10.4": dt.date(2024, 6, 18),
    "10.5": dt.date(2025, 6, 24),
    "10.6": dt.date(2026, 7, 6),
    "10.11": dt.date(2028, 2, 16),
    "11.0": dt.date(2024, 6, 6),
    "11.1": dt.date(2024, 8, 21),
    "11.2": dt.date(2024, 11, 21),
    "11.3": dt.date(2024, 5, 29),
    "11.4": dt.date(2029, 5, 29),
    "11.8": dt.date(2028, 6, 4),
}

#: Global privileges an application account must not hold (mysql-07).
DANGEROUS_PRIVILEGES = ("ALL PRIVILEGES", "SUPER", "FILE", "PROCESS", "GRANT OPTION")

#: Authentication plugins whose accounts need a password (an empty one is no password).
PASSWORD_PLUGINS = ("", "mysql_native_password", "mysql_old_password", "caching_sha2_password", "sha256_password",
                    "ed25519", "parsec")

#: Schemas of the server itself, not of an application.
SYSTEM_SCHEMAS = ("mysql", "performance_schema", "information_schema", "sys")

#: Server errors that mean "this account may not read that" (not applicable, not a failure).
PRIVILEGE_ERRORS = (1044, 1142, 1143, 1227, 1370)

_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON (?:(?:PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE) )?(?P<on>\S+) TO ")
_ROLE_GRANT = re.compile(r"^GRANT (?P<roles>`[^`]*`(?:@`[^`]*`)?(?:,\s*`[^`]*`(?:@`[^`]*`)?)*) TO ")
_ROLE_NAME = re.compile(r"`[^`]*`(?:@`[^`]*`)?")
_HASH = re.compile(r"(IDENTIFIED\b.*?\b(?:PASSWORD|USING|AS)) '(?:[^'\\]|\\.)*'")


# --------------------------------------------------------------------------- checks


@pytest.mark.check("mysql-01", "Server requires TLS", severity="critical",
                   refs=("MySQL docs: require_secure_transport", "MariaDB docs: require_secure_transport"),
                   answers=("require_secure_transport", "^mysql force_ssl|require_ssl|require_secure_transport", "traffic|data|connection|connections|database|internal? encrypt|encrypted|encryption transit|wire|flight", "mysql tls|encrypt|encryption|require_secure_transport|secure_transport connection?",
                            "database connection tls|encrypt|encryption", "database tls require|enforc|enabl|only|connection"),
                   answers_unless=("backup|backups",))  # a backup's transfer is bk-03's and bk-05's
def test_tls_required(mysql: Any, evidence: Any) -> None:
    """Without TLS, credentials exchanges and every row cross the network readable and
    alterable.  Passes when ``require_secure_transport`` is ON, so the server itself refuses
    connections that are not encrypted (TCP without TLS); a server that only *offers* TLS serves
    any client that does not ask for it.  mysql-02 proves the refusal with a real login."""
    settings = _variables(mysql, "require_secure_transport", "have_ssl")
    rows = mysql.query("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
    session = {r["Variable_name"]: r["Value"] for r in rows}
    value = settings.get("require_secure_transport")
    evidence.record(require_secure_transport=value, have_ssl=settings.get("have_ssl"),
                    this_session_tls=session.get("Ssl_version") or "none", this_session_cipher=session.get("Ssl_cipher") or "none")
    observed = ("require_secure_transport does not exist on this server (MariaDB before 10.5.2?)" if value is None
                else f"require_secure_transport is {value}" + (f" (have_ssl {settings['have_ssl']})" if "have_ssl" in settings else ""))
    require(value == "ON", mysql, observed, "require_secure_transport = ON")


@pytest.mark.active_probe
@pytest.mark.check("mysql-02", "A login without TLS is refused", severity="high",
                   refs=("MySQL docs: require_secure_transport", "OWASP ASVS 4.0 V9.2.2"),
                   answers=("mysql plaintext|unencrypted|non_tls connection|login refus|reject", "mysql tls only|enforc|required"))
def test_plain_login_refused(mysql: Any, evidence: Any) -> None:
    """Settings can be misread; a refused login cannot.  This active probe (only where the
    inventory sets ``active_probes: true``) logs in once with the DSN's own account over TCP
    without TLS and passes when the server refuses.  MariaDB refuses only after checking the
    credentials, so the probe must present them: it allows only challenge-response
    authentication (the password itself never crosses the wire; a server asking for the
    cleartext or dialog plugin ends the probe without an answer).  That exchange does travel
    unencrypted, which is why the probe is opt-in."""
    account = _current_account(mysql)  # a dead target ends here, as an error, before the probe
    refusal = _attempt(mysql, mysql.connect_args(ssl=None, ssl_disabled=True), "over plain TCP")
    if refusal is not None:
        if _code(refusal) in (1045, 3159, 4188) or "insecure transport" in str(refusal).lower():
            evidence.record(account=account, plain_login="refused", answer=_first_line(refusal))
            return
        raise TargetError(f"{mysql.label}: login probe without TLS ended without an answer: {_first_line(refusal)}")
    evidence.record(account=account, plain_login="accepted")
    fail(mysql, f"a login as {account} over TCP without TLS was accepted", "the login refused (require_secure_transport = ON)")


@pytest.mark.check("mysql-03", "No anonymous accounts", severity="high",
                   refs=("dev-sec mysql-baseline: mysql-db-04",),
                   answers=("mysql? anonymous_user|anonymous_account",
                            "mysql|mariadb|database? anonymous user|users|account|accounts|login|logins remov|drop|delet|disabl|no?"))
def test_no_anonymous_accounts(mysql: Any, evidence: Any) -> None:
    """An anonymous account (empty user name) lets anyone log in, and because the server
    prefers the most specific host match it can even shadow a real account.  Passes when
    ``mysql.user`` has no account with an empty user name.  Needs SELECT on mysql.user."""
    rows = _read(mysql, "SELECT User, Host FROM mysql.user WHERE User = '' ORDER BY Host", None, "SELECT on mysql.user")
    accounts = [f"''@'{r['Host']}'" for r in rows]
    evidence.record(anonymous_accounts=accounts)
    require(not accounts, mysql, f"anonymous accounts exist: {', '.join(accounts)}", "no account with an empty user name")


@pytest.mark.check("mysql-04", "Every account has a password", severity="critical",
                   refs=("dev-sec mysql-baseline: mysql-db-05", "dev-sec mysql-baseline: mysql-db-05b"),
                   answers=("mysql|database account|user password|empty_password|passwordless every? empty?",
                            "mysql|database no empty_password|passwordless"))
def test_no_passwordless_accounts(mysql: Any, evidence: Any) -> None:
    """An account without a password is open to anyone who can reach the port.  Passes when no
    account that authenticates by password (mysql_native_password, caching_sha2_password,
    ed25519, ...) has an empty authentication string.  Roles and locked accounts (such as
    ``mariadb.sys``) cannot log in and are left out; socket-authenticated accounts have no
    password by design.  Needs SELECT on mysql.user (and, on MariaDB, on mysql.global_priv to
    tell locked accounts apart; without it only mariadb.sys is assumed locked)."""
    mariadb = _is_mariadb(mysql)
    if mariadb:
        rows = _read(mysql, "SELECT User, Host, plugin, authentication_string = '' AS empty, is_role = 'Y' AS is_role FROM mysql.user",
                     None, "SELECT on mysql.user")
        locked = _mariadb_locked(mysql)
    else:
        rows = _read(mysql, "SELECT User, Host, plugin, authentication_string = '' AS empty, account_locked = 'Y' AS locked,"
                     " 0 AS is_role FROM mysql.user", None, "SELECT on mysql.user")
        locked = {(r["User"], r["Host"]) for r in rows if r["locked"]}
    open_accounts = sorted(f"'{r['User']}'@'{r['Host']}'" for r in rows if r["empty"] and not r["is_role"]
                           and (r["plugin"] or "") in PASSWORD_PLUGINS and (r["User"], r["Host"]) not in locked)
    evidence.record(accounts_without_password=open_accounts, locked_accounts=sorted(f"'{u}'@'{h}'" for u, h in locked))
    require(not open_accounts, mysql, f"accounts without a password: {', '.join(open_accounts)}",
            "a password on every account that logs in with one")


@pytest.mark.check("mysql-05", "root logs in from the local host only", severity="high",
                   refs=("dev-sec mysql-baseline: mysql-db-08",),
                   answers=("mysql|mariadb|database root remote|local|localhost|network|host", "mysql root login|access restrict|local"))
def test_root_local_only(mysql: Any, evidence: Any) -> None:
    """``root`` is the account every attacker tries first and the one that can do everything;
    reachable from the network, one weak or leaked password is the whole server.  Passes when
    every ``root`` account's host is localhost, 127.0.0.1 or ::1.  Needs SELECT on mysql.user."""
    rows = _read(mysql, "SELECT Host FROM mysql.user WHERE User = 'root' ORDER BY Host", None, "SELECT on mysql.user")
    remote = [f"'root'@'{r['Host']}'" for r in rows if r["Host"] not in ("localhost", "127.0.0.1", "::1")]
    evidence.record(root_accounts=[f"'root'@'{r['Host']}'" for r in rows])
    require(not remote, mysql, f"root may log in from other hosts: {', '.join(remote)}", "root only on localhost, 127.0.0.1 or ::1")


@pytest.mark.check("mysql-06", "No test database", severity="medium",
                   refs=("dev-sec mysql-baseline: mysql-db-03",),
                   answers=("test_database remov|drop|no?", "mysql test database|schema", "mysql|mariadb? default? test_database remov|drop|delet|no?"),
                   answers_unless=("connection|connectivity|connect|connects",))  # "Test database connection" is a verb
def test_no_test_database(mysql: Any, evidence: Any) -> None:
    """The ``test`` database of default installations is traditionally open to every account
    (a grant on ``test`` and ``test\\_%``): anyone may store data there or fill the disk.  Passes
    when no database named ``test`` or ``test_...`` exists and, where ``mysql.db`` is readable, no
    grant names such a database.  Listing every database needs the SHOW DATABASES privilege:
    without it the check is not applicable."""
    account = _current_account(mysql)
    privileges = _global_privileges(_with_roles(mysql, _grants(mysql, "CURRENT_USER()")))
    if not {"SHOW DATABASES", "ALL PRIVILEGES"} & privileges:
        not_applicable(f"{mysql.name}: account {account} lacks the SHOW DATABASES privilege, "
                       "so databases it has no grant on are hidden from it", unexamined=True)
    names = [next(iter(r.values())) for r in mysql.query("SHOW DATABASES")]
    test_dbs = [n for n in names if n == "test" or n.startswith("test_")]
    grants: list[str] = []
    try:
        grants = [f"{r['Db']} to '{r['User']}'@'{r['Host']}'" for r in mysql.query(
            "SELECT Db, User, Host FROM mysql.db WHERE Db LIKE 'test%' ORDER BY Db, User, Host")
            if r["Db"] == "test" or r["Db"].startswith(("test_", "test\\_"))]
    except pymysql.err.MySQLError as exc:
        if not exc.args or exc.args[0] not in PRIVILEGE_ERRORS:
            raise
    evidence.record(test_databases=test_dbs, test_database_grants=grants or "none (or mysql.db not readable)")
    findings = [f"database {n} exists" for n in test_dbs] + [f"grant on {g}" for g in grants]
    require(not findings, mysql, "; ".join(findings), "no test database and no grants on test databases")


@pytest.mark.check("mysql-07", "Application account holds no administrative privileges", severity="critical",
                   refs=("dev-sec mysql-baseline: mysql-db-06", "MySQL docs: Privileges Provided by MySQL"),
                   answers=("mysql|database user|role|account|application least_privilege|minimal|superuser|super|admin|grant|privilege|permission least_privilege?",
                            "mysql|database least_privilege"))
def test_app_account_unprivileged(mysql: Any, evidence: Any) -> None:
    """SUPER (reconfigure and kill), FILE (read and write server files, LOAD DATA / SELECT ... INTO
    OUTFILE), PROCESS (see every session's statements, passwords included) and GRANT OPTION (pass
    privileges on) turn an SQL injection in the application into control of the server.  Passes
    when the application account (``app_user``, default the DSN's account) holds none of them,
    nor ALL PRIVILEGES on ``*.*``, directly or through a granted role.  Read with SHOW GRANTS:
    an account may always read its own grants; another account's need SELECT on the mysql
    schema (not applicable without it)."""
    app_user = mysql.setting("app_user")
    account = _account_clause(str(app_user)) if app_user else "CURRENT_USER()"
    lines = _grants(mysql, account)
    expanded = _with_roles(mysql, lines)
    privileges = _global_privileges(expanded)
    with_grant_option = [line for line in expanded if "WITH GRANT OPTION" in line.upper()]
    findings = [p for p in DANGEROUS_PRIVILEGES if p in privileges]
    if with_grant_option and "GRANT OPTION" not in findings:
        findings.append("GRANT OPTION")
    shown = str(app_user) if app_user else _current_account(mysql)
    evidence.record(account=shown, grants=[_HASH.sub(r"\1 '<hash>'", line) for line in expanded])
    require(not findings, mysql, f"account {shown} holds {', '.join(findings)}",
            "an account without SUPER, FILE, PROCESS, GRANT OPTION or ALL PRIVILEGES ON *.*")


@pytest.mark.check("mysql-08", "LOCAL INFILE disabled", severity="high",
                   refs=("dev-sec mysql-baseline: mysql-conf-03", "MySQL docs: Security Considerations for LOAD DATA LOCAL"),
                   answers=("local_infile", "load data local"))
def test_local_infile_off(mysql: Any, evidence: Any) -> None:
    """With ``local_infile`` on, a malicious or impersonated server can make a connecting client
    send any file it can read, and an SQL injection can load files from the application host.
    Passes when the global ``local_infile`` is OFF."""
    value = _variables(mysql, "local_infile").get("local_infile")
    evidence.record(local_infile=value)
    require(value == "OFF", mysql, f"local_infile is {value}", "local_infile = OFF")


@pytest.mark.check("mysql-09", "Slow query log enabled", severity="medium",
                   refs=("MySQL docs: The Slow Query Log",),
                   answers=("mysql|database slow_query log? enabl?", "slow_query log|logging", "database|mysql query logging|log configur|enabl|set?"))
def test_slow_query_log(mysql: Any, evidence: Any) -> None:
    """The slow query log is how a performance regression after go-live gets found and traced
    to a statement.  Passes when ``slow_query_log`` is ON, ``long_query_time`` is at most
    ``slow_query_max_s`` and ``log_output`` writes somewhere (not NONE)."""
    settings = _variables(mysql, "slow_query_log", "long_query_time", "log_output", "slow_query_log_file")
    evidence.record(**settings)
    limit = mysql.threshold("slow_query_max_s")
    problems = []
    if settings.get("slow_query_log") != "ON":
        problems.append(f"slow_query_log is {settings.get('slow_query_log')}")
    long_query_time = float(settings.get("long_query_time", "inf"))
    if long_query_time > limit:
        problems.append(f"long_query_time is {long_query_time:g} s")
    if "NONE" in str(settings.get("log_output", "")).upper().split(","):
        problems.append("log_output is NONE")
    require(not problems, mysql, "; ".join(problems), f"slow_query_log = ON, long_query_time <= {limit:g} s, log_output not NONE")


@pytest.mark.check("mysql-10", "Connection headroom", severity="medium",
                   refs=("MySQL docs: max_connections",),
                   answers=("connection|connections count|number|used|in_use max_connections", "mysql|database max_connections headroom|set|limit|usage?",
                            "mysql|database connection headroom|usage|saturation", "max_connections headroom? limit?"),
                   answers_unless=("pool", "pooling", "connection_pool"))
def test_connection_headroom(mysql: Any, evidence: Any) -> None:
    """When connections reach ``max_connections`` new logins fail with "Too many connections"
    and the application goes down with them; a deploy, a traffic peak or a connection leak needs
    headroom.  Passes when ``Threads_connected`` (this check's session included) is below
    ``connection_usage_max_pct`` of ``max_connections``."""
    limit = int(_variables(mysql, "max_connections")["max_connections"])
    status = {r["Variable_name"]: r["Value"] for r in mysql.query(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Max_used_connections')")}
    used = int(status["Threads_connected"])
    share = 100.0 * used / limit
    max_pct = mysql.threshold("connection_usage_max_pct")
    evidence.record(threads_connected=used, max_connections=limit, max_used_connections=int(status.get("Max_used_connections", 0)),
                    usage_pct=round(share, 1))
    require(share < max_pct, mysql, f"{used} of {limit} connections in use ({share:.0f}%)", f"below {max_pct:g}% of max_connections")


@pytest.mark.check("mysql-11", "Server runs a supported release", severity="high",
                   refs=("dev-sec mysql-baseline: mysql-db-01", "dev-sec mysql-baseline: mysql-db-02",
                         "https://www.oracle.com/support/lifetime-support/", "https://mariadb.org/about/#maintenance-policy"),
                   answers=("mysql|mariadb version|eol|support|supported|release", "database version|eol|supported",
                            "mysql|mariadb installed running|version?"),
                   answers_unless=("schema", "pin", "same|match|parity|consistent|mismatch", "separate|dedicated|container"))
def test_supported_version(mysql: Any, evidence: Any) -> None:
    """A release series past its end of life gets no security fixes; one that ends soon forces
    an upgrade right after go-live.  Passes when the server's series (MySQL 8.4, MariaDB 10.11,
    ...) has at least ``db_eol_min_days`` of support left according to the end-of-life tables in
    this module (dated ``MYSQL_EOL_AS_OF``)."""
    version = str(mysql.value("SELECT VERSION()"))
    mariadb = "mariadb" in version.lower()
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise TargetError(f"{mysql.label}: cannot read a release series from VERSION() = {version!r}")
    series = f"{match.group(1)}.{match.group(2)}"
    product, table = ("MariaDB", MARIADB_EOL) if mariadb else ("MySQL", MYSQL_EOL)
    min_days = mysql.threshold("db_eol_min_days")
    observed, ok, eol = support_left(product, series, table, MYSQL_EOL_AS_OF, min_days,
                                     unlisted="is not a maintained release series (a short-term release past its successor)")
    evidence.record(version=version, product=product, series=series, end_of_life=eol, table_as_of=MYSQL_EOL_AS_OF.isoformat())
    require(ok, mysql, observed, f"a release series with at least {min_days} days of support left")


@pytest.mark.check("mysql-12", "Statements have a time limit", severity="medium",
                   refs=("MariaDB docs: max_statement_time", "MySQL docs: max_execution_time"),
                   answers=("query timeout configured", "statement timeout set", "runaway queries limited", "database query timeouts",
                            "statement_timeout|query_timeout for? ad|hoc|adhoc|queries|query|all|every|users?",
                            "mysql|mariadb|database? max_execution_time|max_statement_time set|configur|limit|enabl?"),
                   answers_unless=("postgres|postgresql",))
def test_statement_time_limit(mysql: Any, evidence: Any) -> None:
    """Without a server-side limit one runaway query holds a connection, its locks and a CPU
    until someone kills it by hand.  Passes when the global ``max_statement_time`` (MariaDB,
    seconds, every statement) or ``max_execution_time`` (MySQL, milliseconds, SELECTs) is above
    zero.  Read from ``SHOW GLOBAL VARIABLES`` (this session's own limit is not the server's)."""
    mariadb = _is_mariadb(mysql)
    name = "max_statement_time" if mariadb else "max_execution_time"
    value = _variables(mysql, name).get(name, "0")
    evidence.record(**{name: value})
    require(float(value) > 0, mysql, f"{name} is {value} (no limit)", f"{name} above 0 for the server")


@pytest.mark.check("mysql-13", "Foreign keys have a supporting index", severity="medium",
                   refs=("MySQL docs: FOREIGN KEY Constraints",),
                   answers=("indexes created for foreign keys", "foreign keys indexed", "indexes for common queries",
                            "database|mysql indexes|index verified|checked|in_place|created|added"))
def test_foreign_keys_indexed(mysql: Any, evidence: Any) -> None:
    """InnoDB creates an index for a foreign key only when none exists, and one dropped with
    ``foreign_key_checks = 0`` (a restore, a hand-made migration) is not recreated: every delete
    or key update on the parent then scans the child table under lock.  Passes when an index of
    the child table starts with the first column of each foreign key of the DSN's database."""
    _require_tables(mysql)
    rows = mysql.query(
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE k"
        " WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL AND k.ORDINAL_POSITION = 1"
        " AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = k.TABLE_SCHEMA"
        " AND s.TABLE_NAME = k.TABLE_NAME AND s.SEQ_IN_INDEX = 1 AND s.COLUMN_NAME = k.COLUMN_NAME) ORDER BY 1, 2 LIMIT 200")
    missing = [f"{r['TABLE_NAME']}({r['COLUMN_NAME']}) -> {r['REFERENCED_TABLE_NAME']} ({r['CONSTRAINT_NAME']})" for r in rows]
    evidence.record(database=_database(mysql), unindexed_foreign_keys=missing)
    require(not missing, mysql, f"{len(missing)} foreign key{'s' if len(missing) != 1 else ''} without an index: {'; '.join(missing)}",
            "an index starting with the column of every foreign key")


@pytest.mark.check("mysql-14", "Every table has a primary key", severity="medium",
                   refs=("MySQL docs: InnoDB clustered and secondary indexes", "MySQL docs: sql_require_primary_key"),
                   answers=("tables have primary keys", "primary keys defined", "schema reviewed", "database schema hygiene",
                            "table without primary_key", "primary_key every|all table"))
def test_primary_keys(mysql: Any, evidence: Any) -> None:
    """InnoDB clusters rows by the primary key; without one it uses a hidden, server-wide row id
    (a contention point), row-based replication scans the table for each changed row, and
    Galera/group replication refuse the table's writes.  Passes when every base table of the
    DSN's database has a primary key."""
    _require_tables(mysql)
    tables = [r["TABLE_NAME"] for r in mysql.query(
        "SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'"
        " AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA"
        " AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') ORDER BY 1 LIMIT 200")]
    evidence.record(database=_database(mysql), tables_without_primary_key=tables)
    require(not tables, mysql, f"{len(tables)} table{'s' if len(tables) != 1 else ''} without a primary key: {', '.join(tables)}",
            "a primary key on every table")


@pytest.mark.check("mysql-15", "No statement slow on average", severity="medium",
                   refs=("MySQL docs: Statement Summary Tables (events_statements_summary_by_digest)",),
                   answers=("database queries optimized", "slow queries reviewed", "query performance reviewed",
                            "no slow database queries", "slow_query|slow query queries? review|analysis|report|top",
                            "query|queries performance|time|latency|speed|optimiz|plan|n+1|tested?", "n+1 queries|query"))
def test_slow_digests(mysql: Any, evidence: Any) -> None:
    """A statement that is slow every time it runs is a page that is slow every time it loads.
    Reads performance_schema's statement digests of the DSN's database (of every non-system
    schema when the DSN names none); passes when no digest averages more than
    ``slow_statement_max_ms``.  Not applicable when performance_schema is off, or when the
    account may not read it (naming the grant)."""
    enabled = _variables(mysql, "performance_schema").get("performance_schema", "OFF")
    evidence.record(performance_schema=enabled)
    if enabled.upper() not in ("ON", "1"):
        not_applicable(f"{mysql.name}: performance_schema is {enabled}; set performance_schema = ON (a restart) to see slow statements", unexamined=True)
    limit = float(mysql.threshold("slow_statement_max_ms"))
    rows = _read(mysql, (
        "SELECT SCHEMA_NAME, COUNT_STAR, ROUND(AVG_TIMER_WAIT / 1e9, 1) AS avg_ms, LEFT(DIGEST_TEXT, 120) AS digest"
        " FROM performance_schema.events_statements_summary_by_digest"
        " WHERE (SCHEMA_NAME = DATABASE() OR (DATABASE() IS NULL AND SCHEMA_NAME NOT IN %s))"
        " AND AVG_TIMER_WAIT / 1e9 > %s ORDER BY AVG_TIMER_WAIT DESC LIMIT 5"), (SYSTEM_SCHEMAS, limit),
        "SELECT on performance_schema.events_statements_summary_by_digest")
    found = [f"{r['COUNT_STAR']} calls of {' '.join(str(r['digest']).split())!r} averaging {r['avg_ms']} ms" for r in rows]
    evidence.record(database=_database(mysql), slowest=found, limit_ms=limit)
    require(not found, mysql, f"{len(found)} statement{'s' if len(found) != 1 else ''} over {limit:g} ms on average: {'; '.join(found)}",
            f"every statement at most {limit:g} ms on average (slow_statement_max_ms)")


@pytest.mark.check("mysql-16", "InnoDB buffer pool hit ratio healthy", severity="medium",
                   refs=("MySQL docs: InnoDB Buffer Pool", "MySQL docs: Innodb_buffer_pool_reads"),
                   answers=("cache hit rates normal", "database cache hit ratio", "buffer pool hit ratio", "buffer pool sized",
                            "database memory sized", "cache_hit|hit_ratio|hit_rate buffer? cache? ratio?", "buffer cache|pool hit"),
                   answers_unless=("cdn|edge|varnish|cloudflare|fastly|cloudfront|akamai",))
def test_buffer_pool_hit_ratio(mysql: Any, evidence: Any) -> None:
    """When the buffer pool answers too few page requests, queries wait on the disk: the working
    set does not fit ``innodb_buffer_pool_size``.  Passes when at least ``cache_hit_min_pct`` of
    InnoDB's logical read requests (``Innodb_buffer_pool_read_requests``) needed no read from disk
    (``Innodb_buffer_pool_reads``) since the server started; with fewer than
    ``hit_ratio_min_lookups`` requests the ratio means nothing yet: not applicable."""
    status = {str(r["Variable_name"]).lower(): int(r["Value"]) for r in mysql.query(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_buffer_pool_read_requests', 'Innodb_buffer_pool_reads', 'Uptime')")}
    requests, reads = status.get("innodb_buffer_pool_read_requests", 0), status.get("innodb_buffer_pool_reads", 0)
    min_lookups, min_pct = int(mysql.threshold("hit_ratio_min_lookups")), float(mysql.threshold("cache_hit_min_pct"))
    ratio = 100.0 * (1 - reads / requests) if requests else None
    evidence.record(read_requests=requests, disk_reads=reads, hit_pct=None if ratio is None else round(ratio, 2), uptime_s=status.get("uptime"))
    if ratio is None or requests < min_lookups:
        not_applicable(f"{mysql.name}: only {requests} buffer pool read requests since the server started; "
                       f"the ratio is judged from {min_lookups} (hit_ratio_min_lookups)", unexamined=True)
    require(ratio >= min_pct, mysql, f"buffer pool hit ratio {ratio:.2f}% ({reads:,} of {requests:,} page requests read from disk)",
            f"at least {min_pct:g}% (cache_hit_min_pct)")


@pytest.mark.check("mysql-17", "Migrations at the expected head", severity="high",
                   answers=("db|database migration|migrations", "schema version|revision confirm|confirmed|correct|match|matches|expected|current|verified migration?", "migrations applied", "database migrations at head", "schema migrations up to date", "no pending migrations",
                            "migration status checked",
                            "migration appli|head|latest|current|date|run|complet|pending|done|deploy|up|ready schema? database?",
                            "schema migrat|version current|applied|latest|date", "database migration applied|run|current",
                            "migration"),
                   answers_unless=("backward|backwards|compatible|compatibility", "test", "rollback", "revers", "data volume", "ci", "review", "rehears", "strong|safety|safe lint|linter|check|checks"))
def test_migrations_at_head(mysql: Any, evidence: Any) -> None:
    """Code deployed against a schema that lags (or runs ahead of) its migrations fails at the
    first query that touches the difference.  Applies where the target names ``migrations:
    {tool, head}``; the tool's history table is read and judged as pg-14 does (alembic, flyway,
    django, knex and its lock, rails, sequelize, prisma and its unfinished runs, typeorm,
    golang-migrate and its dirty flag).  The table is looked up in the DSN's database unless
    ``table`` names its schema (``app.knex_migrations``).  Needs SELECT on it: without, not applicable."""
    spec = mysql.setting("migrations") or {}
    if not spec.get("tool") or not spec.get("head"):
        not_applicable(f"{mysql.name}: no expected migration head in the inventory (mysql.{mysql.name}.migrations: {{tool, head}})", unexamined=True)
    tool, head = str(spec["tool"]), str(spec["head"]).strip()
    name = str(spec.get("table") or TOOLS[tool].table)
    table = _qualified(mysql, name)
    if table is None:
        fail(mysql, f"no {tool} migrations table {name} in database {_database(mysql)}", f"{tool} at {head}")
    privilege = f"SELECT on {table[0]}.{table[1]}"
    rows = _read(mysql, f"SELECT * FROM {_quote(table)} LIMIT %s", (MIGRATION_ROWS,), privilege)
    lock_name = TOOLS[tool].lock_table(table[1])
    lock = _qualified(mysql, f"{table[0]}.{lock_name}") if lock_name else None
    lock_rows = _read(mysql, f"SELECT * FROM {_quote(lock)} LIMIT 10", None, f"SELECT on {lock[0]}.{lock[1]}") if lock else None
    try:
        current, problems = judge_migrations(tool, head, rows, lock_rows)
    except HeadError as exc:
        raise TargetError(f"{mysql.label}: {exc}") from None
    shown = f"{table[0]}.{table[1]}"
    evidence.record(tool=tool, table=shown, expected_head=head, current=current)
    require(not problems, mysql, f"{tool} ({shown}) {'; '.join(problems)}", f"{tool} at {head}")


#: Well-known logins the default-credentials probe tries (mysql-18): (user, password, how it is
#: named in the report); an empty user is the application's account, a None password its name.
DEFAULT_CREDENTIALS: tuple[tuple[str, str | None, str], ...] = (
    ("root", "", "root without a password"),
    ("root", "root", "root with password 'root'"),
    ("root", "password", "root with password 'password'"),
    ("root", "mysql", "root with password 'mysql'"),
    ("admin", "admin", "admin with password 'admin'"),
    ("", None, "{user} with its own name as password"),
)

#: Server answers that refuse a login: wrong password or user (1045), no access to the host (1130),
#: or to its database (1044), an account locked (3118, 4151) or expired (1862).
LOGIN_REFUSED = (1044, 1045, 1130, 1862, 3118, 4151)


@pytest.mark.active_probe
@pytest.mark.check("mysql-18", "Default credentials refused", severity="critical",
                   refs=("CWE-1392: Use of Default Credentials", "OWASP ASVS 4.0 V2.5.4", "CIS Oracle MySQL 8.0 7.1"),
                   answers=("mysql|mariadb|database default_credentials|default password", "mysql|mariadb|database password default|changed|strong",
                            "mysql|mariadb root password default|changed|set|empty|blank?", "default_credentials component|components|system|systems|service|services|server|servers|everywhere|host|hosts", "no|zero|none default_credentials"))
def test_default_credentials_refused(mysql: Any, evidence: Any) -> None:
    """The first logins an attacker tries are ``root`` with no password, ``root``/``root`` and
    the like.  This active probe (it runs only where the inventory sets ``active_probes: true``)
    tries a short, fixed list of well-known logins, one connection each, with the DSN's TLS
    settings and the target's timeout: root without a password and with root, password and
    mysql; admin/admin; the application's account with its own name as password.  Only
    challenge-response authentication is allowed (a server asking for the cleartext or dialog
    plugin ends the probe without an answer), no database is named, and each connection is
    closed at once without a statement.  Passes when every login is refused."""
    _current_account(mysql)  # a dead target ends here, as an error, before any login is tried
    app_user = str(mysql.setting("app_user") or mysql.connect_args()["user"]).split("@", 1)[0].strip("'`")
    tried, accepted = [], []
    for user, password, name in DEFAULT_CREDENTIALS:
        user = user or app_user
        description = name.format(user=user)
        tried.append(description)
        if _login(mysql, user, user if password is None else password, description):
            accepted.append(description)
    evidence.record(tried=tried, accepted=accepted)
    require(not accepted, mysql, f"login accepted: {', '.join(accepted)}", "every well-known default login refused")


@pytest.mark.check("mysql-19", "Binary log on", severity="high",
                   refs=("MySQL docs: Point-in-Time (Incremental) Recovery", "MariaDB docs: Binary Log",
                         "CIS Oracle MySQL 8.0 6.x (logging)"),
                   answers=("binary_log|binlog enabl|on|configur|retention|retained?", "mysql? binary_log|binlog pitr|point_in_time_recovery", "point_in_time_recovery|pitr enabl|configur|possible|tested?",
                            "binary log|logging mysql|mariadb|enabl|on?", "log_bin"),
                   answers_unless=("postgres|postgresql|wal|wal_archiving|pg_basebackup|redis",))
def test_binary_log(mysql: Any, evidence: Any) -> None:
    """Without the binary log a MySQL or MariaDB server can be restored only to its last dump:
    every transaction since is lost, and no replica can follow it.  Passes when ``log_bin`` is ON
    and the binary logs are kept at least ``backup_max_age_hours`` (``binlog_expire_logs_seconds``,
    else ``expire_logs_days``; 0 keeps them until purged by hand): the logs must reach back to
    the last backup, or a restore has a gap.  The format and ``sync_binlog`` are evidence."""
    settings = _variables(mysql, "log_bin", "binlog_format", "sync_binlog", "expire_logs_days", "binlog_expire_logs_seconds")
    value = settings.get("log_bin")
    seconds = float(settings.get("binlog_expire_logs_seconds") or 0)
    days = float(settings.get("expire_logs_days") or 0)
    kept_h = seconds / 3600 if seconds > 0 else days * 24 if days > 0 else None
    evidence.record(**settings, retention_hours=None if kept_h is None else round(kept_h, 1))
    need_h = mysql.threshold("backup_max_age_hours")
    require(value == "ON", mysql, f"log_bin is {value} (no binary log: no point-in-time recovery, no replica)", "log_bin = ON")
    if kept_h is not None and kept_h < need_h:
        fail(mysql, f"binary logs expire after {kept_h:g} h, sooner than a backup is due",
             f"binary logs kept at least {need_h:g} h (backup_max_age_hours)")


@pytest.mark.check("mysql-20", "Replica threads running with little lag", severity="high",
                   refs=("MySQL docs: SHOW REPLICA STATUS", "MariaDB docs: SHOW REPLICA STATUS"),
                   answers=("mysql|mariadb replica|replication|slave lag|sync|running|healthy|working|delay|status",
                            "mysql|mariadb? replication_lag|replica_lag|seconds_behind_master under|below|within|less|low?",
                            "replica|replication|slave lag|stream|healthy|sync|running|working|delay"),
                   answers_unless=("postgres|postgresql|redis|mongodb|elasticsearch|kafka|rabbitmq|standby",
                                   "service|pod|pods|deployment|application|app|container|containers|instance|instances"))
def test_replica_running(mysql: Any, evidence: Any) -> None:
    """A replica whose I/O thread stopped no longer receives the primary's changes; one whose
    SQL thread stopped (a failed statement, a duplicate key) no longer applies them, and both
    look healthy until the failover that needs them.  Applies to servers that replicate from a
    primary (and fails on a server that does not where the target sets ``expect_replica: true``).
    Passes when every replication connection has its I/O and SQL threads running and is at most
    ``replication_lag_max_s`` seconds behind.  Needs REPLICATION CLIENT (MySQL) or REPLICA
    MONITOR (MariaDB): without it the check is not applicable, or an error where a replica is
    expected."""
    expected = bool(mysql.setting("expect_replica"))
    try:
        rows = _replica_status(mysql)
    except _NoPrivilege as exc:
        if expected:
            raise TargetError(f"{mysql.label}: cannot read the replication status ({exc}); grant REPLICATION CLIENT "
                              "(MySQL) or REPLICA MONITOR (MariaDB) to the DSN's account") from None
        not_applicable(f"{mysql.name}: account {_current_account(mysql)} lacks REPLICATION CLIENT / REPLICA MONITOR "
                       "(grant it to see whether this server is a replica)", unexamined=True)
    if not rows:
        evidence.record(replica=False)
        if expected:
            fail(mysql, "the server replicates from no primary (SHOW REPLICA STATUS is empty)", "a running replica (expect_replica: true)")
        not_applicable(f"{mysql.name}: not a replica (SHOW REPLICA STATUS is empty)")
    max_lag = mysql.threshold("replication_lag_max_s")
    seen, problems = [], []
    for row in rows:
        source = f"{_field(row, 'Source_Host', 'Master_Host')}:{_field(row, 'Source_Port', 'Master_Port')}"
        name = _field(row, "Connection_name") or ""
        label = f"{name + ' ' if name else ''}from {source}"
        io, sql = _field(row, "Replica_IO_Running", "Slave_IO_Running"), _field(row, "Replica_SQL_Running", "Slave_SQL_Running")
        behind = _field(row, "Seconds_Behind_Source", "Seconds_Behind_Master")
        seen.append({"connection": label, "io_running": io, "sql_running": sql, "seconds_behind": behind,
                     "last_io_error": _field(row, "Last_IO_Error") or None, "last_sql_error": _field(row, "Last_SQL_Error") or None})
        if io != "Yes":
            problems.append(f"{label}: I/O thread {io}{_error_note(row, 'Last_IO_Error')}")
        if sql != "Yes":
            problems.append(f"{label}: SQL thread {sql}{_error_note(row, 'Last_SQL_Error')}")
        if io == "Yes" and sql == "Yes" and (behind is None or float(behind) > max_lag):
            problems.append(f"{label}: {'lag unknown' if behind is None else f'{behind} s behind'}")
    evidence.record(replica=True, connections=seen)
    require(not problems, mysql, "; ".join(problems), f"I/O and SQL threads running, at most {max_lag:g} s behind")


@pytest.mark.check("mysql-21", "Strict SQL mode", severity="medium",
                   refs=("MySQL docs: Strict SQL Mode", "MariaDB docs: SQL_MODE"),
                   answers=("sql_mode strict?", "strict sql|mode mysql|mariadb?", "mysql|mariadb strict"))
def test_strict_sql_mode(mysql: Any, evidence: Any) -> None:
    """Outside strict mode MySQL stores what it can instead of refusing bad data: a string too
    long is cut, an invalid date becomes 0000-00-00, a missing NOT NULL value becomes a default,
    each with only a warning the application never reads.  Passes when the global ``sql_mode``
    holds STRICT_TRANS_TABLES or STRICT_ALL_TABLES (a session can still change its own)."""
    mode = _variables(mysql, "sql_mode").get("sql_mode", "")
    modes = [m.strip() for m in mode.split(",") if m.strip()]
    evidence.record(sql_mode=modes)
    strict = {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES"} & set(modes)
    require(bool(strict), mysql, f"sql_mode is {mode or '(empty)'}", "sql_mode with STRICT_TRANS_TABLES or STRICT_ALL_TABLES")


@pytest.mark.check("mysql-22", "Server and application database default to utf8mb4", severity="medium",
                   refs=("MySQL docs: The utf8mb4 Character Set", "MariaDB docs: Setting Character Sets and Collations"),
                   answers=("utf8mb4", "character_set|charset|encoding|collation utf8|unicode|utf8mb4 mysql|mariadb|database?",
                            "database|db|mysql|mariadb character_set|charset|encoding|collation utf|utf8|unicode",
                            "mysql|mariadb character_set|charset|encoding|collation"))
def test_utf8mb4(mysql: Any, evidence: Any) -> None:
    """utf8 (utf8mb3) and latin1 cannot store four-byte characters: an emoji or a rare CJK
    character in a name is cut off or refused.  Passes when ``character_set_server`` and the
    default character set of the DSN's database are utf8mb4.  Text columns of that database in
    another character set are listed in the evidence (a migration tool's bookkeeping table is
    often one) but do not fail the check."""
    settings = _variables(mysql, "character_set_server", "collation_server")
    rows = mysql.query("SELECT DATABASE() AS db, (SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA"
                       " WHERE SCHEMA_NAME = DATABASE()) AS charset")
    database, charset = rows[0]["db"], rows[0]["charset"]
    columns = mysql.query("SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS"
                          " WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'"
                          " ORDER BY TABLE_NAME, ORDINAL_POSITION LIMIT 51") if database else []
    other = [f"{c['TABLE_NAME']}.{c['COLUMN_NAME']} ({c['CHARACTER_SET_NAME']})" for c in columns[:50]]
    evidence.record(**settings, database=database, database_charset=charset,
                    columns_not_utf8mb4=other + (["..."] if len(columns) > 50 else []))
    problems = []
    if settings.get("character_set_server") != "utf8mb4":
        problems.append(f"character_set_server is {settings.get('character_set_server')}")
    if database and charset != "utf8mb4":
        problems.append(f"database {database} defaults to {charset}")
    require(not problems, mysql, "; ".join(problems), "character_set_server and the database's default character set utf8mb4")


# --------------------------------------------------------------------------- helpers


class _NoPrivilege(Exception):
    """The account may not read what was asked."""


def _replica_status(mysql: Any) -> list[dict[str, Any]]:
    """SHOW REPLICA STATUS (MySQL 8.0.22+, MariaDB 10.5.1+; SHOW SLAVE STATUS before), or
    SHOW ALL REPLICAS STATUS on MariaDB, whose multi-source replication has named connections."""
    statements = (["SHOW ALL REPLICAS STATUS", "SHOW ALL SLAVES STATUS"] if _is_mariadb(mysql) else []) + \
        ["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"]
    for statement in statements:
        try:
            return mysql.query(statement)  # type: ignore[no-any-return]
        except pymysql.err.MySQLError as exc:
            if exc.args and exc.args[0] in PRIVILEGE_ERRORS:
                raise _NoPrivilege(_first_line(exc)) from None
            if not (exc.args and exc.args[0] == 1064):  # a syntax this server does not know: try the older one
                raise
    raise TargetError(f"{mysql.label}: the server knows none of {', '.join(statements)}")


def _field(row: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` present in ``row`` (MySQL 8.0.22 renamed Master to Source, Slave to Replica)."""
    return next((row[n] for n in names if n in row), None)


def _error_note(row: dict[str, Any], column: str) -> str:
    message = str(row.get(column) or "").strip()
    return f" ({message[:200]})" if message else ""


class _ClearTextRequested(Exception):
    """The server asked for a plugin that would send the password in clear."""


class _RefuseClearText:
    """PyMySQL authentication handler that refuses instead of sending the password."""

    plugin = "mysql_clear_password"

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def authenticate(self, packet: Any) -> Any:
        raise _ClearTextRequested(self.plugin)


class _RefuseDialog(_RefuseClearText):
    plugin = "dialog"


_CHALLENGE_ONLY = {"mysql_clear_password": _RefuseClearText, "dialog": _RefuseDialog}


def _login(mysql: Any, user: str, password: str, description: str) -> bool:
    """Whether the server accepts ``user``/``password`` (mysql-18); any answer but a refusal of
    the login is an error: the probe could not tell."""
    args = mysql.connect_args(user=user, password=password, database=None, autocommit=None)
    refusal = _attempt(mysql, args, f"trying {description}")
    if refusal is None:
        return True
    if _code(refusal) in LOGIN_REFUSED:
        return False
    if _code(refusal) in (3159, 4188) or "insecure transport" in str(refusal).lower():
        raise TargetError(f"{mysql.label}: trying {description}, the server refused the connection for want of TLS "
                          "before judging the password; set ?ssl-mode=REQUIRED (or VERIFY_IDENTITY with ca_bundle) "
                          "in the DSN so the probe runs over TLS")
    raise TargetError(f"{mysql.label}: trying {description}: no answer to judge: {_first_line(refusal)}")


def _attempt(mysql: Any, args: dict[str, Any], how: str) -> pymysql.err.OperationalError | None:
    """One login with ``args``, challenge-response authentication only: None when the server
    accepts it (the connection is closed at once), else its refusal.  A server that asks for the
    cleartext or dialog plugin ends the probe as an error: no probe sends a password in clear."""
    try:
        conn = pymysql.connect(**args, auth_plugin_map=_CHALLENGE_ONLY)
    except _ClearTextRequested as exc:
        raise TargetError(f"{mysql.label}: {how}, the server asked for the {exc} plugin; "
                          "the probe does not send a password in clear") from None
    except pymysql.err.OperationalError as exc:
        return exc
    conn.close()
    return None


def _code(exc: pymysql.err.OperationalError) -> int:
    return int(exc.args[0]) if exc.args and isinstance(exc.args[0], int) else 0


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) > 1:
        return f"{exc.args[0]}: {exc.args[1]}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_mariadb(mysql: Any) -> bool:
    return "mariadb" in str(mysql.value("SELECT VERSION()")).lower()


def _current_account(mysql: Any) -> str:
    return str(mysql.value("SELECT CURRENT_USER()"))


def _variables(mysql: Any, *names: str) -> dict[str, str]:
    placeholders = ", ".join(["%s"] * len(names))
    rows = mysql.query(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({placeholders})", names)
    return {r["Variable_name"]: r["Value"] for r in rows}


def _read(mysql: Any, query: str, params: Any, privilege: str) -> list[dict[str, Any]]:
    """Rows of ``query``, or not applicable naming ``privilege`` when the account may not read them."""
    try:
        return mysql.query(query, params)  # type: ignore[no-any-return]
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] in PRIVILEGE_ERRORS:
            not_applicable(f"{mysql.name}: account {_current_account(mysql)} lacks {privilege} (grant it, or use an audit account "
                           f"in the DSN and name the application's account with app_user)", unexamined=True)
        raise


def _database(mysql: Any) -> str:
    return str(mysql.value("SELECT DATABASE()") or "(none named in the DSN)")


def _require_tables(mysql: Any) -> None:
    """Not applicable unless the DSN names a database in which this account sees a table: an
    empty view of the schema would pass every schema check on nothing."""
    database = mysql.value("SELECT DATABASE()")
    if database is None:
        not_applicable(f"{mysql.name}: the DSN names no database; name the application's database in mysql.{mysql.name}.dsn", unexamined=True)
    if not mysql.value("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"):
        not_applicable(f"{mysql.name}: account {_current_account(mysql)} sees no table in database {database}; "
                       f"grant it SELECT on {database}.*", unexamined=True)


def _qualified(mysql: Any, name: str) -> tuple[str, str] | None:
    """(schema, table) of ``name`` (``table`` in the DSN's database, or ``schema.table``) as the
    server spells them; None when there is no such table."""
    schema, _, table = name.rpartition(".")
    if not schema:
        schema = str(mysql.value("SELECT DATABASE()") or "")
        if not schema:
            raise TargetError(f"{mysql.label}: the DSN names no database; name the table as schema.table in mysql.{mysql.name}.migrations")
    rows = mysql.query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                       (schema, table))
    return (str(rows[0]["TABLE_SCHEMA"]), str(rows[0]["TABLE_NAME"])) if rows else None


def _quote(table: tuple[str, str]) -> str:
    return ".".join("`" + part.replace("`", "``") + "`" for part in table)


def _mariadb_locked(mysql: Any) -> set[tuple[str, str]]:
    """Locked MariaDB accounts (mysql.global_priv, 10.4+); mariadb.sys alone where it is not readable."""
    try:
        rows = mysql.query("SELECT User, Host FROM mysql.global_priv WHERE JSON_VALUE(Priv, '$.account_locked') IN ('1', 'true')")
    except pymysql.err.MySQLError as exc:
        if not exc.args or exc.args[0] not in (*PRIVILEGE_ERRORS, 1146):
            raise
        return {("mariadb.sys", "localhost")}
    return {(r["User"], r["Host"]) for r in rows}


def _account_clause(account: str) -> str:
    """``app@10.0.0.%`` (or ``'app'@'%'``, or just ``app`` for ``app@%``) quoted for SHOW GRANTS."""
    user, host = account.rsplit("@", 1) if "@" in account else (account, "%")
    return "@".join("'" + pymysql.converters.escape_string(part.strip("'`\"")) + "'" for part in (user, host))


def _show_grants(mysql: Any, account: str) -> list[str]:
    return [str(next(iter(r.values()))) for r in mysql.query(f"SHOW GRANTS FOR {account}")]


def _grants(mysql: Any, account: str) -> list[str]:
    """SHOW GRANTS for ``account``; not applicable when this account may not read them."""
    try:
        return _show_grants(mysql, account)
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else 0
        if code == 1141:
            raise TargetError(f"{mysql.label}: account {account} does not exist; check mysql.{mysql.name}.app_user") from None
        if code in PRIVILEGE_ERRORS:
            not_applicable(f"{mysql.name}: account {_current_account(mysql)} may not read the grants of {account}: "
                           "that needs SELECT on the mysql schema", unexamined=True)
        raise


def _with_roles(mysql: Any, lines: list[str], depth: int = 3) -> list[str]:
    """Grant lines plus those of every granted role (MariaDB and MySQL 8), a few levels deep."""
    seen: set[str] = set()
    result = list(lines)
    frontier = lines
    for _ in range(depth):
        roles = [role for line in frontier if (m := _ROLE_GRANT.match(line)) for role in _ROLE_NAME.findall(m.group("roles"))]
        frontier = []
        for role in roles:
            if role in seen:
                continue
            seen.add(role)
            try:
                frontier += _show_grants(mysql, role)
            except pymysql.err.MySQLError:
                frontier.append(f"-- grants of role {role} not readable")
        result += frontier
    return result


def _split_privileges(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [re.sub(r"\s*\(.*\)$", "", p).strip().upper() for p in parts if p.strip()]


def _global_privileges(lines: list[str]) -> set[str]:
    """Privileges granted ON *.* (GRANT OPTION included when a global grant carries it)."""
    found: set[str] = set()
    for line in lines:
        match = _GRANT.match(line)
        if match and match.group("on") == "*.*":
            found.update(_split_privileges(match.group("privileges")))
            if "WITH GRANT OPTION" in line.upper():
                found.add("GRANT OPTION")
    return found


@pytest.mark.check("mysql-23", "Server time zone as expected", severity="low",
                   refs=("MySQL docs: MySQL Server Time Zone Support",),
                   answers=("database|mysql|mariadb timezone|time_zone utc|set|configur|correct", "database|mysql|mariadb utc time|timezone"),
                   answers_unless=("stored|store|storage|column|columns",))
def test_timezone(mysql: Any, evidence: Any) -> None:
    """``time_zone`` decides what ``NOW()`` returns and how ``TIMESTAMP`` columns are shown: a
    server in a local zone shifts what the application stores in ``DATETIME`` columns by hours.
    Passes when the global ``time_zone`` (or, for ``SYSTEM``, ``system_time_zone``) is the target's
    ``timezone`` (default UTC, which ``+00:00`` also names; ``any``: not judged)."""
    from pytest_deploycheck.targets.timezones import same_zone

    wanted = str(mysql.setting("timezone") or "UTC")
    if wanted.lower() == "any":
        not_applicable(f"{mysql.name}: timezone: any (the server's time zone is not judged)")
    settings = _variables(mysql, "time_zone", "system_time_zone")
    zone = settings.get("time_zone", "")
    effective = settings.get("system_time_zone", "") if zone.upper() == "SYSTEM" else zone
    evidence.record(**settings, expected=wanted)
    shown = f"time_zone is SYSTEM ({effective})" if zone.upper() == "SYSTEM" else f"time_zone is {zone}"
    require(same_zone(effective, wanted), mysql, shown, f"{wanted} (mysql.{mysql.name}.timezone)")
