"""The PostgreSQL catalog (checks/test_postgres.py) against real servers of the test bed.

``pg_good`` passes every check that applies to it and ``pg_bad`` fails each one it gets wrong;
further instances prove what the two cannot: an archiving primary started with
``log_statement = all`` (the catalog sends nothing but reads), a streaming replica, a
least-privileged monitoring role, a port where nothing listens and one that never answers.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.targets.postgres import PostgresTarget
from pytest_deploycheck.targets.reach import Reachability
from tests.servers.base import (
    LOOPBACK,
    Instance,
    ServerProcess,
    SilentListener,
    chown_tree,
    find_binary,
    free_port,
    make_tempdir,
    run,
    unprivileged_user,
    wait_until,
)
from tests.servers.certs import TestCA
from tests.servers.inventory import environment, run_catalog, write_inventory
from tests.servers.postgres import MIGRATION_HEAD, SCHEMA_FILE_TEXT, TOOL_BAD, TOOL_HEADS, launch_postgres

CATALOG = "test_postgres.py"
CHECK_IDS = [f"pg-{n:02d}" for n in range(1, 27)]

GOOD = {**dict.fromkeys(CHECK_IDS, "passed"), "pg-15": "n/a", "pg-16": "n/a"}
BAD = {**dict.fromkeys(CHECK_IDS, "failed"), "pg-07": "passed", "pg-08": "passed", "pg-15": "n/a", "pg-16": "n/a"}

#: The application's deployed configuration: a small pool with a wait timeout, and a large one
#: without (knex-style config file), run on four instances.
APP_CONFIG = {
    "good": {".env": "NODE_ENV=production\nDB_POOL_SIZE=5\nDB_POOL_TIMEOUT=5000\n"},
    "bad": {"config/database.json": '{"database": {"client": "pg", "pool": {"min": 2, "max": 20}}}'},
}


def with_keys(instance: Instance, name: str | None = None, env: dict[str, str] | None = None, **keys: Any) -> Instance:
    """The same server under another inventory entry (the session fixture still owns and stops it)."""
    return dataclasses.replace(instance, name=name or instance.name, entry={**instance.entry, **keys},
                               env={**instance.env, **(env or {})}, server=None)


def at_head(instance: Instance) -> Instance:
    return with_keys(instance, migrations={"tool": "alembic", "head": MIGRATION_HEAD})


def app_config(folder: Path, variant: str) -> Instance:
    """A ``files`` target holding the application's configuration (``APP_CONFIG[variant]``)."""
    entry: dict[str, Any] = {"path": str(folder)}
    for name, text in APP_CONFIG[variant].items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
        if name.endswith(".json"):
            entry["config_files"] = [name]
    return Instance(name=f"app-config-{variant}", kind="files", entry=entry, env={}, server=None)


def deep(instance: Instance, variant: str, schema_file: str | None = None) -> Instance:
    """``at_head`` plus what the deeper checks need: the schema file, the application's pool
    configuration (``app-config-<variant>``, on 1 or 4 instances), and a transaction age limit
    the held sessions of ``pg_bad`` are sure to pass (they are seconds old, not minutes)."""
    return with_keys(at_head(instance), schema_file=schema_file or instance.admin["schema_file"], app_config=f"app-config-{variant}",
                     app_instances=1 if variant == "good" else 4, thresholds={"transaction_max_s": 1})


def outcomes(run: Any, target: str) -> dict[str, str]:
    return {check_id: run.outcome(check_id, target) for check_id in CHECK_IDS}


def admin(instance: Instance, **overrides: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(instance.admin["dsn"], autocommit=True, connect_timeout=5, **overrides)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pg_bad_bloated(pg_bad: Instance) -> Iterator[Instance]:
    """``pg_bad`` plus a table with autovacuum off and 12,000 dead rows, never vacuumed (dropped after)."""
    with admin(pg_bad) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS audit_log (id integer) WITH (autovacuum_enabled = off)")
        conn.execute("INSERT INTO audit_log SELECT generate_series(1, 12000)")
        conn.execute("DELETE FROM audit_log")
    # Statistics reach the shared counters when the session ends; wait until they are visible.
    wait_until(lambda: _dead_rows(pg_bad, "audit_log") >= 12000, 10, "dead-row statistics of audit_log")
    yield pg_bad
    with admin(pg_bad) as conn:
        conn.execute("DROP TABLE audit_log")


def _dead_rows(instance: Instance, table: str) -> int:
    with admin(instance) as conn:
        row = conn.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s", (table,)).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def pg_archive(test_ca: TestCA) -> Iterator[Instance]:
    """A ``good`` primary with WAL archiving to a local folder, restarted with ``log_statement = all``
    (lines prefixed with the application name) and a replication line in pg_hba.conf."""
    instance = launch_postgres("good", test_ca, name="pg-archive")
    try:
        assert instance.server is not None
        archive = instance.server.workdir / "archive"
        archive.mkdir()
        settings = {
            "archive_mode": "on",
            "archive_command": f"test ! -f {archive}/%f && cp %p {archive}/%f",
            "log_statement": "all",
            "log_line_prefix": "%m [%p] app=%a| ",
        }
        with admin(instance) as conn:
            for name, value in settings.items():
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        hba = Path(instance.admin["datadir"]) / "pg_hba.conf"
        hba.write_text(hba.read_text() + "local replication postgres scram-sha-256\n")
        user = unprivileged_user()
        if user is not None:
            chown_tree(instance.server.workdir, user)
        _restart(instance)
        instance.admin["archive"] = str(archive)
        _archive_one_segment(instance)
        yield instance
    finally:
        instance.stop()


def _restart(instance: Instance) -> None:
    """Fast shutdown and start again, keeping the data directory (archive_mode needs a restart)."""
    server = instance.server
    assert server is not None
    assert server.proc is not None
    server.proc.send_signal(signal.SIGINT)
    server.proc.wait(30)
    server.start(lambda: _answers(instance.admin["dsn"]))


def _answers(dsn: str, **overrides: Any) -> bool:
    with psycopg.connect(dsn, connect_timeout=2, **overrides) as conn:
        conn.execute("SELECT 1")
    return True


def _archiver(instance: Instance) -> dict[str, Any]:
    with admin(instance) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT * FROM pg_stat_archiver").fetchone()
    assert row is not None
    return row


def _switch_wal(instance: Instance) -> None:
    with admin(instance) as conn:
        conn.execute(WAL_FILLER)
        conn.execute(WAL_FILLER_ROW)
        conn.execute("SELECT pg_switch_wal()")


#: The table the archiving tests write to: with a primary key (pg-18), without a sequence that
#: the application role could not read (pg-21).
WAL_FILLER = "CREATE TABLE IF NOT EXISTS wal_filler (id integer PRIMARY KEY)"
WAL_FILLER_ROW = "INSERT INTO wal_filler SELECT coalesce(max(id), 0) + 1 FROM wal_filler"


def _archive_one_segment(instance: Instance) -> None:
    before = _archiver(instance)["archived_count"]
    _switch_wal(instance)
    wait_until(lambda: _archiver(instance)["archived_count"] > before, 20, "a WAL segment to be archived")


@pytest.fixture(scope="module")
def pg_standby(pg_archive: Instance) -> Iterator[Instance]:
    """A streaming replica of ``pg_archive`` (pg_basebackup -R), on its own port and socket."""
    user = unprivileged_user()
    workdir = make_tempdir("pg-standby", owner=user)
    datadir = workdir / "data"
    port = free_port()
    params = conninfo_to_dict(pg_archive.admin["dsn"])
    source = make_conninfo(host=params["host"], port=params["port"], user=params["user"], password=params["password"])
    server = ServerProcess(name="pg-standby", argv=[find_binary("postgres"), "-D", str(datadir)], workdir=workdir,
                           log=workdir / "server.log", user=user)
    try:
        run([find_binary("pg_basebackup"), "-D", str(datadir), "-d", source, "-R", "-X", "stream", "-c", "fast", "--no-sync"], user=user)
        with open(datadir / "postgresql.auto.conf", "a") as conf:
            conf.write(f"port = {port}\nunix_socket_directories = '{workdir}'\nlog_statement = 'none'\n")
        if user is not None:
            chown_tree(workdir, user)
        admin_dsn = make_conninfo(pg_archive.admin["dsn"], host=str(workdir), port=str(port))
        server.start(lambda: _answers(admin_dsn))
        entry = {**pg_archive.entry, "dsn": pg_archive.entry["dsn"].replace(f":{pg_archive.admin['port']}/", f":{port}/")}
        yield Instance(name="pg-standby", kind="postgres", entry=entry, env=pg_archive.env, server=server,
                       admin={**pg_archive.admin, "dsn": admin_dsn, "port": port})
    finally:
        server.stop()


@pytest.fixture
def monitor_role(pg_good: Instance) -> Iterator[Instance]:
    """A login role on ``pg_good`` with CONNECT and nothing else: what least privilege looks like."""
    password = secrets.token_urlsafe(18)
    with admin(pg_good) as conn:
        conn.execute(sql.SQL("CREATE ROLE dc_monitor LOGIN PASSWORD {}").format(sql.Literal(password)))
        conn.execute("GRANT CONNECT ON DATABASE app TO dc_monitor")
    try:
        dsn = pg_good.entry["dsn"].replace("postgresql://app@", "postgresql://dc_monitor@")
        yield with_keys(pg_good, name="pg-monitor", env={"DC_PG_MONITOR_PASSWORD": password}, dsn=dsn,
                        password="${DC_PG_MONITOR_PASSWORD}", app_role="app", migrations={"tool": "alembic", "head": MIGRATION_HEAD})
    finally:
        with admin(pg_good) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'dc_monitor'")
            conn.execute("REVOKE CONNECT ON DATABASE app FROM dc_monitor")
            conn.execute("DROP ROLE dc_monitor")


# --------------------------------------------------------------------------- good and bad


def test_catalog_passes_good_and_fails_bad(pytester: pytest.Pytester, pg_good: Instance, pg_bad_bloated: Instance, tmp_path: Path) -> None:
    wait_until(lambda: _held_for(pg_bad_bloated) > 1.5, 10, "the held sessions of pg-bad to be older than 1 s")
    configs = [app_config(_folder(tmp_path / variant), variant) for variant in ("good", "bad")]
    targets = [deep(pg_good, "good"), deep(pg_bad_bloated, "bad"), *configs]
    run = run_catalog(pytester, CATALOG, targets=targets, active_probes=True)
    assert outcomes(run, "pg-good") == GOOD
    assert outcomes(run, "pg-bad") == BAD

    label = f"pg-bad (postgresql://app@127.0.0.1:{pg_bad_bloated.admin['port']}/app?sslmode=disable)"
    expected_messages = {
        "pg-01": r"ssl is off; a connection with sslmode=disable reached authentication \(server requested a hashed password\);"
                 r" expected ssl = on",
        "pg-02": r"role app is SUPERUSER; expected a role without SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS",
        "pg-03": r"password_encryption is md5; md5 password hashes remain for app, postgres; expected password_encryption = scram-sha-256",
        "pg-04": r"login accepted: postgres with password 'postgres'; expected every well-known default login refused",
        "pg-05": r"PUBLIC may CREATE in schema public; expected no CREATE for PUBLIC",
        "pg-06": r"PUBLIC holds .*SELECT.* on public\.customers; expected no grants to PUBLIC",
        "pg-09": r"no timeout for role app in this database; expected statement_timeout or idle_in_transaction_session_timeout",
        "pg-10": r"log_min_duration_statement is -1 \(disabled\); expected between 0 and 2000 ms",
        "pg-11": r"log_connections is off; expected log_connections = on",
        "pg-12": r"1 foreign key without an index: orders\(customer_id\) -> customers; expected an index",
        "pg-13": r"1 table with >= 10000 dead rows .*: public\.audit_log \(1\d{4} dead rows, vacuumed never, analyzed never\)",
        "pg-14": rf"alembic \(public\.alembic_version\) is at 1a0b2c3d4e5f; expected alembic at {MIGRATION_HEAD}",
        "pg-17": r"1 statement over 200 ms on average: 3 calls of 'SELECT monthly_report\(\)' averaging 3\d\d\.\d ms;"
                 r" expected every statement of role app at most 200 ms on average",
        "pg-18": r"2 tables without a primary key: audit_log; event_log; expected a primary key on every table",
        "pg-19": r"invalid index event_log_kind_key on event_log; NOT VALID constraint orders_total_positive on orders; expected no invalid",
        "pg-20": r"identical indexes orders_total_cents_idx, orders_total_idx on orders; expected no two indexes",
        "pg-21": r"1 sequence past 75% of its range: public\.tickets_id_seq \(integer\) at 2,100,000,000 of 2,147,483,647 \(97\.8%\);"
                 r" expected every sequence at most 75% used",
        "pg-22": r"buffer cache hit ratio [1-8]\d\.\d% \([\d,]+ hits, [\d,]+ reads from disk\); expected at least 90%",
        "pg-23": r"2 transactions open longer than 1 s: pid \d+ \(app, billing-worker\) idle in transaction for \d+ s:"
                 r" 'SELECT count\(\*\) FROM event_log'; pid \d+ \(app, nightly-export\) active for \d+ s: 'SELECT pg_sleep\(86400\)';"
                 r" expected no transaction open longer than 1 s",
        "pg-24": r"differs from schema\.sql: tables not in the file: audit_log, event_log, report_rows, tickets;"
                 r" indexes missing: orders_customer_id_idx on orders;"
                 r" indexes not in the file: event_log_kind_key on event_log, orders_total_cents_idx on orders, orders_total_idx on orders;"
                 r" expected the tables, columns and indexes of .*schema\.sql$",
        "pg-25": r"pools of 20 connections \(DATABASE_POOL_MAX \(config/database\.json:1\)\) x 4 instances = 80, 12 available"
                 r" \(20 max_connections less 3 reserved and 5 kept free\); no pool wait timeout in config/database\.json of app-config-bad;"
                 r" expected pool size x app_instances within 12 connections",
    }
    for check_id, pattern in expected_messages.items():
        message = run.message(check_id, "pg-bad")
        assert message.startswith(label + ": "), message
        assert re.search(pattern, message), f"{check_id}: {message}"

    assert run.evidence("pg-03", "pg-good")["md5_hashes"] == "not checked: needs SELECT on pg_catalog.pg_authid (superuser)"
    attributes = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
    assert run.evidence("pg-02", "pg-good")["attributes"] == dict.fromkeys(attributes, False)
    assert run.evidence("pg-07", "pg-good")["major"] == "15"
    assert run.evidence("pg-09", "pg-good")["settings"] == {
        "statement_timeout": "30s (role)", "idle_in_transaction_session_timeout": "60s (role)"}
    assert run.evidence("pg-01", "pg-good")["plain_connection"] == "refused"
    assert run.evidence("pg-01", "pg-good")["this_session_tls"].startswith("TLSv1.")
    assert run.evidence("pg-12", "pg-bad")["unindexed_foreign_keys"] == ["orders(customer_id) -> customers"]
    assert "public.audit_log" in run.evidence("pg-13", "pg-bad")["heavy_tables"]
    assert run.evidence("pg-17", "pg-good")["statements_tracked"] > 0  # an empty list means fast, not unknown
    assert run.evidence("pg-22", "pg-good")["hit_pct"] > 98
    assert run.evidence("pg-25", "pg-good")["pool_sizes"] == {"DB_POOL_SIZE (.env:2)": 5}
    assert run.evidence("pg-25", "pg-good")["timeouts"] == {"DB_POOL_TIMEOUT (.env:3)": 5000.0}
    assert run.evidence("pg-24", "pg-good")["tables_in_file"] == 9
    assert "archive_mode is off" in run.message("pg-15", "pg-good")
    assert "not a replica" in run.message("pg-16", "pg-good")

    passwords = [value for inst in (pg_good, pg_bad_bloated) for value in inst.env.values()]
    for result in run.summary.results:
        for password in passwords:
            assert password not in result.message, result.check_id
            assert password not in str(result.evidence), result.check_id


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _held_for(instance: Instance) -> float:
    """Seconds the younger of the held transactions has been open."""
    with admin(instance) as conn:
        row = conn.execute("SELECT extract(epoch FROM now() - max(xact_start)) FROM pg_stat_activity WHERE pid = ANY(%s)",
                           ([instance.admin["idle_in_transaction_pid"], instance.admin["long_running_pid"]],)).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def test_headroom_and_end_of_life(pytester: pytest.Pytester, pg_bad: Instance) -> None:
    """17 of 20 connections in use fail pg-08; a release with less support left than required fails pg-07."""
    held = [admin(pg_bad) for _ in range(16)]
    try:
        run = run_catalog(pytester, CATALOG, targets=[pg_bad], args=["-k", "pg-07 or pg-08"], thresholds={"db_eol_min_days": 36500})
    finally:
        for conn in held:
            conn.close()
    assert run.outcome("pg-08", "pg-bad") == "failed"
    assert re.search(r": (1[7-9]|20) of 20 connections in use \((8[5-9]|9\d|100)%\); expected below 80% of max_connections$",
                     run.message("pg-08", "pg-bad")), run.message("pg-08", "pg-bad")
    assert run.outcome("pg-07", "pg-bad") == "failed"
    assert re.search(r": PostgreSQL 15 is supported until 2027-11-11 \(\d+ days left\); expected a major release with at least 36500 days",
                     run.message("pg-07", "pg-bad")), run.message("pg-07", "pg-bad")
    assert len(run.summary.results) == 2


def test_least_privileged_monitoring_role(pytester: pytest.Pytester, monitor_role: Instance) -> None:
    """A monitoring role checks the application role it names, and what it may not read is n/a."""
    missing = with_keys(monitor_role, name="pg-no-such-role", app_role="no_such_role")
    run = run_catalog(pytester, CATALOG, targets=[monitor_role, missing])

    assert run.outcome("pg-14", "pg-monitor") == "n/a"
    assert run.message("pg-14", "pg-monitor") == (
        "pg-monitor: role dc_monitor lacks SELECT on public.alembic_version; "
        "GRANT SELECT ON public.alembic_version TO dc_monitor to check the migration head")
    assert run.outcome("pg-04", "pg-monitor") == "n/a"
    assert "active probe not enabled" in run.message("pg-04", "pg-monitor")
    for check_id in ("pg-01", "pg-02", "pg-03", "pg-05", "pg-06", "pg-07", "pg-08", "pg-09", "pg-10", "pg-11", "pg-12", "pg-13"):
        assert run.outcome(check_id, "pg-monitor") == "passed", (check_id, run.message(check_id, "pg-monitor"))
    assert run.evidence("pg-02", "pg-monitor")["role"] == "app"
    assert run.evidence("pg-09", "pg-monitor")["role"] == "app"
    assert run.evidence("pg-03", "pg-monitor")["md5_hashes"].startswith("not checked: needs SELECT on pg_catalog.pg_authid")

    assert run.outcome("pg-02", "pg-no-such-role") == "error"
    assert "role no_such_role does not exist; check postgres.pg-no-such-role.app_role" in run.message("pg-02", "pg-no-such-role")


MIGRATION_HISTORY = [
    "CREATE TABLE flyway_schema_history (installed_rank integer PRIMARY KEY, version varchar(50), success boolean NOT NULL)",
    "INSERT INTO flyway_schema_history VALUES (1, '1', true), (2, '1.1', true), (3, '1.10', true), (4, '1.2', true), (5, NULL, true)",
    "CREATE TABLE flyway_failed (installed_rank integer PRIMARY KEY, version varchar(50), success boolean NOT NULL)",
    "INSERT INTO flyway_failed VALUES (1, '1', true), (2, '2', false)",
    "CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz DEFAULT now())",
    "INSERT INTO django_migrations (app, name) VALUES ('orders', '0001_initial'), ('orders', '0002_add_total'),"
    " ('auth', '0001_initial'), ('auth', '0012_alter_user_first_name_max_length')",
    "CREATE TABLE knex_migrations (id serial PRIMARY KEY, name varchar(255), batch integer, migration_time timestamptz)",
    "INSERT INTO knex_migrations (name, batch) VALUES ('20240101000000_init.js', 1), ('20240301000000_orders.js', 2)",
    "CREATE TABLE schema_migrations (version varchar PRIMARY KEY)",
    "INSERT INTO schema_migrations VALUES ('20240101000000'), ('20240301000000'), ('9')",
]


def test_migration_tools(pytester: pytest.Pytester, pg_good: Instance) -> None:
    """Each tool's history table is read its own way: flyway's highest successful version
    (1.10 > 1.2) and failed runs, django per app, knex without the file extension, rails by number."""
    with admin(pg_good, dbname="postgres") as conn:
        conn.execute("CREATE DATABASE history OWNER app")
    try:
        with admin(pg_good, dbname="history") as conn:
            conn.execute("SET ROLE app")
            for statement in MIGRATION_HISTORY:
                conn.execute(statement)
        dsn = pg_good.entry["dsn"].replace("/app?", "/history?")
        cases = {
            "flyway-head": ({"tool": "flyway", "head": "1.10"}, "passed"),
            "flyway-behind": ({"tool": "flyway", "head": "1.11"},
                              "flyway (public.flyway_schema_history) is at 1.10; expected flyway at 1.11"),
            "flyway-broken": ({"tool": "flyway", "head": "2", "table": "flyway_failed"},
                              "flyway (public.flyway_failed) has failed migrations 2; is at 1; expected flyway at 2"),
            "django-head": ({"tool": "django", "head": "orders.0002_add_total, auth.0012_alter_user_first_name_max_length"}, "passed"),
            "django-behind": ({"tool": "django", "head": "orders.0003_refunds"},
                              "django (public.django_migrations) app orders is at 0002_add_total; expected django at orders.0003_refunds"),
            "knex-head": ({"tool": "knex", "head": "20240301000000_orders"}, "passed"),
            "knex-behind": ({"tool": "knex", "head": "20240401000000_refunds.js"},
                            "knex (public.knex_migrations) is at 20240301000000_orders; expected knex at 20240401000000_refunds.js"),
            "rails-head": ({"tool": "rails", "head": "20240301000000"}, "passed"),
            "rails-missing": ({"tool": "rails", "head": "20240301000000", "table": "no_such_table"},
                              "no rails migrations table no_such_table in database history; expected rails at 20240301000000"),
        }
        targets = [with_keys(pg_good, name=name, dsn=dsn, migrations=spec) for name, (spec, _) in cases.items()]
        run = run_catalog(pytester, CATALOG, targets=targets, args=["-k", "pg-14"])
    finally:
        with admin(pg_good, dbname="postgres") as conn:
            conn.execute("DROP DATABASE history WITH (FORCE)")
    for name, (_, expected) in cases.items():
        if expected == "passed":
            assert run.outcome("pg-14", name) == "passed", run.message("pg-14", name)
        else:
            assert run.outcome("pg-14", name) == "failed", name
            assert run.message("pg-14", name).endswith(f"/history?{dsn.split('?', 1)[1]}): {expected}"), run.message("pg-14", name)
    assert run.evidence("pg-14", "django-head")["current"] == {"orders": "0002_add_total", "auth": "0012_alter_user_first_name_max_length"}


def test_node_and_go_migration_tools(pytester: pytest.Pytester, pg_good: Instance, pg_bad: Instance) -> None:
    """knex, Sequelize, Prisma, TypeORM and golang-migrate, each at head on ``pg_good`` and behind,
    locked, unfinished or dirty on ``pg_bad`` (the history tables as the tools write them)."""
    targets = [with_keys(instance, name=f"{variant}-{tool}", migrations={"tool": tool, "head": head})
               for variant, instance in (("good", pg_good), ("bad", pg_bad)) for tool, head in TOOL_HEADS.items()]
    run = run_catalog(pytester, CATALOG, targets=targets, args=["-k", "pg-14"])
    expected = {
        "knex": "knex (public.knex_migrations) is at 20240301000000_orders; its lock is held (is_locked = 1): a migration run died"
                " or is still running; expected knex at 20240401000000_add_refunds.js",
        "sequelize": "sequelize (public.SequelizeMeta) is at 20240301000000-orders; expected sequelize at 20240401000000-add-refunds.js",
        "prisma": "prisma (public._prisma_migrations) has unfinished (failed) migrations 20240401000000_add_refunds;"
                  " is at 20240301000000_orders; expected prisma at 20240401000000_add_refunds",
        "typeorm": "typeorm (public.migrations) is at Orders1709251200000; expected typeorm at AddRefunds1711929600000",
        "golang-migrate": "golang-migrate (public.schema_migrations) is dirty at version 20240301000000 (a migration failed half-way;"
                          " fix it, then migrate force); is at 20240301000000; expected golang-migrate at 20240401000000",
    }
    for tool in TOOL_HEADS:
        assert run.outcome("pg-14", f"good-{tool}") == "passed", run.message("pg-14", f"good-{tool}")
        assert run.outcome("pg-14", f"bad-{tool}") == "failed", tool
        assert run.message("pg-14", f"bad-{tool}").endswith(f"?sslmode=disable): {expected[tool]}"), run.message("pg-14", f"bad-{tool}")
    assert set(TOOL_BAD) == set(TOOL_HEADS)
    assert run.evidence("pg-14", "good-golang-migrate")["current"] == {"version": "20240401000000", "dirty": False}


def test_stat_statements_missing_or_not_granted(pytester: pytest.Pytester, pg_good: Instance, monitor_role: Instance) -> None:
    """Without the extension in the database pg-17 is n/a naming it; a role that may not read its
    view gets n/a naming the grant; what that role may not read of sequences is n/a too."""
    maintenance = with_keys(pg_good, name="pg-maintenance-db", dsn=pg_good.entry["dsn"].replace("/app?", "/postgres?"))
    run = run_catalog(pytester, CATALOG, targets=[maintenance, monitor_role], args=["-k", "pg-17 or pg-21 or pg-23"])
    assert run.outcome("pg-17", "pg-maintenance-db") == "n/a"
    assert run.message("pg-17", "pg-maintenance-db").startswith(
        "pg-maintenance-db: no pg_stat_statements extension in database postgres; add pg_stat_statements to shared_preload_libraries")
    assert run.outcome("pg-17", "pg-monitor") == "n/a"
    assert run.message("pg-17", "pg-monitor") == (
        "pg-monitor: role dc_monitor may not read extensions.pg_stat_statements; "
        "GRANT USAGE ON SCHEMA extensions and SELECT ON extensions.pg_stat_statements TO dc_monitor")
    assert run.outcome("pg-21", "pg-monitor") == "n/a"
    assert "role dc_monitor may not read public." in run.message("pg-21", "pg-monitor")
    assert run.outcome("pg-23", "pg-monitor") == "passed"


# --------------------------------------------------------------------------- read-only, archiving, replication


def test_catalog_only_reads(pytester: pytest.Pytester, pg_archive: Instance, pg_good: Instance, tmp_path: Path) -> None:
    """With log_statement = all, every statement the catalog sent is a SELECT or SHOW, the
    deeper checks included (the archiving tests' table is in this server's schema file);
    archiving is healthy on the archiving primary and missing where the inventory expects it."""
    schema_file = tmp_path / "schema.sql"
    schema_file.write_text(SCHEMA_FILE_TEXT + WAL_FILLER + ";\n")
    config = app_config(_folder(tmp_path / "app"), "good")
    log = Path(pg_archive.admin["log"])
    start = log.stat().st_size
    expecting = with_keys(pg_good, expect_archiving=True, expect_replica=True)
    run = run_catalog(pytester, CATALOG, targets=[deep(pg_archive, "good", str(schema_file)), expecting, config], active_probes=True)

    assert outcomes(run, "pg-archive") == {**GOOD, "pg-15": "passed"}
    assert run.evidence("pg-15", "pg-archive")["archive_mode"] == "on"
    assert run.outcome("pg-15", "pg-good") == "failed"
    assert run.message("pg-15", "pg-good").endswith(": archive_mode is off; expected WAL archiving on (expect_archiving: true)")
    assert run.outcome("pg-16", "pg-good") == "failed"
    assert "server is not in recovery" in run.message("pg-16", "pg-good")

    with log.open("rb") as handle:
        handle.seek(start)
        lines = handle.read().decode(errors="replace").splitlines()
    logged = [(m.group(1), m.group(2)) for line in lines if (m := re.search(r"app=(.*?)\| LOG:  (?:statement|execute [^:]+): (.*)$", line))]
    # Nobody but the catalog talks to this server during the run.
    assert {application for application, _ in logged} == {"pytest-deploycheck"}
    statements = [statement for _, statement in logged]
    assert len(statements) >= 20, lines[-20:]
    verbs = {s.split(None, 1)[0].upper() for s in statements}
    assert verbs <= {"SELECT", "SHOW"}, [s for s in statements if s.split(None, 1)[0].upper() not in ("SELECT", "SHOW")]
    # The probes of pg-01 and pg-04 were made, were refused, and sent no statement.
    assert any('FATAL:  no pg_hba.conf entry for host "127.0.0.1", user "app", database "app", no encryption' in line for line in lines)
    assert sum('FATAL:  password authentication failed for user "postgres"' in line for line in lines) == 3


def test_failing_archiver(pytester: pytest.Pytester, pg_archive: Instance) -> None:
    with admin(pg_archive) as conn:
        working = conn.execute("SHOW archive_command").fetchone()[0]  # type: ignore[index]
        conn.execute("ALTER SYSTEM SET archive_command = 'false'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        before = _archiver(pg_archive)["failed_count"]
        _switch_wal(pg_archive)
        wait_until(lambda: _archiver(pg_archive)["failed_count"] > before, 20, "the archiver to fail")
        run = run_catalog(pytester, CATALOG, targets=[pg_archive], args=["-k", "pg-15"])
    finally:
        with admin(pg_archive) as conn:
            conn.execute(sql.SQL("ALTER SYSTEM SET archive_command = {}").format(sql.Literal(working)))
            conn.execute("SELECT pg_reload_conf()")
        _archive_one_segment(pg_archive)
    assert run.outcome("pg-15", "pg-archive") == "failed"
    message = run.message("pg-15", "pg-archive")
    assert re.search(r": archive_command failing: \d+ failures, last for [0-9A-F]{24} at .*;"
                     r" expected no archive failure since the last success$", message), message


def test_replica_lag(pytester: pytest.Pytester, pg_archive: Instance, pg_standby: Instance) -> None:
    _write(pg_archive)
    # Streaming, not only replayed: a receiver that is (re)connecting leaves the two positions equal.
    wait_until(lambda: _streaming(pg_standby) and _caught_up(pg_standby), 20, "the replica to stream and catch up")
    run = run_catalog(pytester, CATALOG, targets=[with_keys(pg_standby, expect_replica=True)], args=["-k", "pg-15 or pg-16"])
    assert run.outcome("pg-16", "pg-standby") == "passed", run.message("pg-16", "pg-standby")
    assert run.evidence("pg-16", "pg-standby")["wal_receivers"] == 1
    assert run.outcome("pg-15", "pg-standby") == "n/a"
    assert "a replica with archive_mode = on" in run.message("pg-15", "pg-standby")

    with admin(pg_standby) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        _write(pg_archive)
        time.sleep(1.5)
        wait_until(lambda: not _caught_up(pg_standby), 10, "WAL to arrive at the paused replica")
        replica = with_keys(pg_standby, expect_replica=True, thresholds={"replication_lag_max_s": 1})
        run = run_catalog(pytester, CATALOG, targets=[replica], args=["-k", "pg-16"])
    finally:
        with admin(pg_standby) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    assert run.outcome("pg-16", "pg-standby") == "failed"
    # Which of the two wordings depends on whether the replica had replayed a transaction since it
    # started (pg_last_xact_replay_timestamp): both name the pause and the expectation.
    assert re.search(r": (replay \d+(\.\d)? s behind \(received [0-9A-F/]+, replayed [0-9A-F/]+, replay paused\)"
                     r"|WAL received up to [0-9A-F/]+ but no transaction replayed yet, replay paused); expected lag within 1 s$",
                     run.message("pg-16", "pg-standby")), run.message("pg-16", "pg-standby")


def _write(instance: Instance) -> None:
    with admin(instance) as conn:
        conn.execute(WAL_FILLER)
        conn.execute(WAL_FILLER_ROW)


def _streaming(standby: Instance) -> bool:
    with admin(standby) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'").fetchone()
    return bool(row and row[0])


def _caught_up(standby: Instance) -> bool:
    with admin(standby) as conn:
        row = conn.execute("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()").fetchone()
    return bool(row and row[0])


# --------------------------------------------------------------------------- the handle, dead targets


def test_session_is_read_only(pg_good: Instance, tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "inventory.yml", [pg_good])
    with environment(pg_good.env):
        target = load_inventory(inventory).get("postgres", "pg-good")
    handle = PostgresTarget(target, Reachability())
    try:
        assert handle.value("SHOW default_transaction_read_only") == "on"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            handle.query("CREATE TABLE must_not_exist (id integer)")
        assert handle.value("SELECT 1") == 1  # the session survives a refused write
    finally:
        handle.close()


def test_unreachable_and_silent_servers_end_as_errors(pytester: pytest.Pytester) -> None:
    """Nothing listening: refused at once.  A socket that accepts TCP and never answers: one
    connect timeout, then every other check on it ends at once, citing the first failure."""
    with SilentListener() as silent:
        silent_port = silent.port
        targets = [
            Instance(name=name, kind="postgres", entry={"dsn": f"postgresql://app@{LOOPBACK}:{port}/app"}, env={}, server=None)
            for name, port in (("pg-refused", free_port()), ("pg-silent", silent_port))
        ]
        run = run_catalog(pytester, CATALOG, targets=targets, timeout=1, active_probes=True)
        attempts = silent.accepted()
    assert outcomes(run, "pg-refused") == dict.fromkeys(CHECK_IDS, "error")
    assert outcomes(run, "pg-silent") == dict.fromkeys(CHECK_IDS, "error")
    assert "connection refused" in run.message("pg-01", "pg-refused")
    assert "timeout" in run.message("pg-01", "pg-silent").lower()
    assert all("not checked, target unusable since an earlier check" in run.message(c, "pg-silent") for c in CHECK_IDS[1:])
    # The TCP pre-flight and one libpq connection: the silent server cost a single timeout.
    assert attempts <= 3, attempts

