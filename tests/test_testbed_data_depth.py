"""The test bed for the deeper data-layer checks: each defect is really there on ``bad`` and
really absent on ``good``, seen with the plain client libraries through the statements a check
would send (the ``*_SQL`` constants below are those statements, all reads)."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest
import redis
from psycopg import sql

from tests.servers.base import Instance
from tests.servers.certs import TestCA
from tests.servers.mariadb import launch_mariadb
from tests.servers.pgbouncer import WAITING_CLIENTS, console_rows
from tests.servers.postgres import SCHEMA_FILE_TEXT, SEQUENCE_NEAR_END, SLOW_CALL_S, SLOW_CALLS, STAT_STATEMENTS_SCHEMA, TOOL_HEADS


def _password(instance: Instance) -> str | None:
    reference = instance.entry.get("password")
    return None if reference is None else string.Template(reference).substitute(instance.env)


def _pg(instance: Instance) -> psycopg.Connection[Any]:
    """The inventory's own connection: role ``app``, as a check would connect."""
    return psycopg.connect(instance.entry["dsn"], password=_password(instance), connect_timeout=5, autocommit=True)


def _pg_admin(instance: Instance, dbname: str | None = None) -> psycopg.Connection[Any]:
    extra = {"dbname": dbname} if dbname else {}
    return psycopg.connect(instance.admin["dsn"], connect_timeout=5, autocommit=True, **extra)


def _rows(conn: psycopg.Connection[Any], query: str | sql.Composed, params: Any = None) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(query, params).fetchall()]


# --- PostgreSQL -----------------------------------------------------------------------------

#: Slowest statements of this database by mean time, over a threshold in ms (pg_stat_statements,
#: qualified with the schema PG_STATEMENTS_PRESENT_SQL found).
PG_SLOWEST_SQL = (
    "SELECT s.calls, s.mean_exec_time, s.query FROM {}.pg_stat_statements s"
    " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND s.userid = (SELECT oid FROM pg_roles WHERE rolname = %s) AND s.mean_exec_time > %s ORDER BY s.mean_exec_time DESC LIMIT 5"
)
#: The schema the extension lives in, in this database: no row, the check is n/a.  (Not
#: to_regclass('pg_stat_statements'): the schema need not be on the search path.  Reading
#: shared_preload_libraries needs pg_read_all_settings, which an application role lacks; a view
#: whose library is not preloaded fails on SELECT with "must be loaded via shared_preload_libraries".)
PG_STATEMENTS_PRESENT_SQL = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements'"
PG_NO_PRIMARY_KEY_SQL = (
    "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'"
    " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') ORDER BY 1"
)
PG_INVALID_INDEXES_SQL = "SELECT indexrelid::regclass::text, indrelid::regclass::text FROM pg_index WHERE NOT indisvalid ORDER BY 1"
PG_NOT_VALID_SQL = "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE NOT convalidated ORDER BY 1, 2"
#: Indexes on the same table with the same columns, operator classes, expressions and predicate.
PG_DUPLICATE_INDEXES_SQL = (
    "SELECT indrelid::regclass::text, array_agg(indexrelid::regclass::text ORDER BY indexrelid::regclass::text) FROM pg_index"
    " GROUP BY indrelid, indkey::text, indclass::text, indcollation::text,"
    " coalesce(pg_get_expr(indexprs, indrelid), ''), coalesce(pg_get_expr(indpred, indrelid), '')"
    " HAVING count(*) > 1 ORDER BY 1"
)
PG_SEQUENCES_SQL = (
    "SELECT schemaname || '.' || sequencename, data_type::text, last_value, max_value,"
    " round(100.0 * last_value / max_value, 1) FROM pg_sequences WHERE last_value IS NOT NULL ORDER BY 5 DESC"
)
PG_HIT_RATIO_SQL = (
    "SELECT blks_hit, blks_read, round(100.0 * blks_hit / nullif(blks_hit + blks_read, 0), 2)"
    " FROM pg_stat_database WHERE datname = current_database()"
)
#: Sessions in a transaction (idle in it, or running) for longer than a threshold in seconds.
PG_LONG_TRANSACTIONS_SQL = (
    "SELECT pid, state, application_name, now() - xact_start, left(query, 60) FROM pg_stat_activity"
    " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
    " AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"
    " AND now() - xact_start > make_interval(secs => %s) ORDER BY xact_start"
)


def test_pg_slowest_statement_tops_pg_stat_statements_on_bad_only(pg_good: Instance, pg_bad: Instance) -> None:
    threshold_ms = SLOW_CALL_S * 1000 * 0.8
    slowest = sql.SQL(PG_SLOWEST_SQL).format(sql.Identifier(STAT_STATEMENTS_SCHEMA))
    with _pg(pg_bad) as conn:
        assert _rows(conn, PG_STATEMENTS_PRESENT_SQL) == [(STAT_STATEMENTS_SCHEMA,)]
        [(calls, mean_ms, query)] = _rows(conn, slowest, ("app", threshold_ms))
    assert (calls, query) == (SLOW_CALLS, "SELECT monthly_report()")
    assert mean_ms >= SLOW_CALL_S * 1000
    with _pg(pg_good) as conn:
        assert _rows(conn, PG_STATEMENTS_PRESENT_SQL) == [(STAT_STATEMENTS_SCHEMA,)]
        assert _rows(conn, slowest, ("app", threshold_ms)) == []
        # The view is there and filled: an empty answer means fast, not unknown.
        assert conn.execute("SELECT count(*) FROM extensions.pg_stat_statements").fetchone()[0] > 0  # type: ignore[index]


def test_pg_stat_statements_absent_where_not_created(pg_good: Instance) -> None:
    """The maintenance database never ran CREATE EXTENSION: what a check reports as n/a."""
    with _pg_admin(pg_good, dbname="postgres") as conn:
        assert _rows(conn, PG_STATEMENTS_PRESENT_SQL) == []
        assert _rows(conn, "SHOW shared_preload_libraries") == [("pg_stat_statements",)]
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT 1 FROM extensions.pg_stat_statements")


@pytest.mark.parametrize(
    ("query", "bad"),
    [
        (PG_NO_PRIMARY_KEY_SQL, [("event_log",)]),
        (PG_INVALID_INDEXES_SQL, [("event_log_kind_key", "event_log")]),
        (PG_NOT_VALID_SQL, [("orders", "orders_total_positive")]),
        (PG_DUPLICATE_INDEXES_SQL, [("orders", ["orders_total_cents_idx", "orders_total_idx"])]),
    ],
    ids=["no-primary-key", "invalid-index", "not-valid-constraint", "duplicate-indexes"],
)
def test_pg_schema_defects_on_bad_only(query: str, bad: list[tuple[Any, ...]], pg_good: Instance, pg_bad: Instance) -> None:
    with _pg(pg_bad) as conn:
        assert _rows(conn, query) == bad
    with _pg(pg_good) as conn:
        assert _rows(conn, query) == []


def test_pg_int4_sequence_near_exhaustion_on_bad_only(pg_good: Instance, pg_bad: Instance) -> None:
    with _pg(pg_bad) as conn:
        name, data_type, last_value, max_value, pct = _rows(conn, PG_SEQUENCES_SQL)[0]
    assert (name, data_type, last_value, max_value, float(pct)) == ("public.tickets_id_seq", "integer", SEQUENCE_NEAR_END, 2**31 - 1, 97.8)
    with _pg(pg_good) as conn:
        assert all(pct < 1 for *_, pct in _rows(conn, PG_SEQUENCES_SQL))


def test_pg_buffer_hit_ratio_low_on_bad_only(pg_good: Instance, pg_bad: Instance) -> None:
    with _pg(pg_bad) as conn:
        [(hits, reads, ratio)] = _rows(conn, PG_HIT_RATIO_SQL)
    assert reads > 1000 and ratio < 90, (hits, reads, ratio)
    with _pg(pg_good) as conn:
        [(hits, reads, ratio)] = _rows(conn, PG_HIT_RATIO_SQL)
    assert hits > 1000 and ratio > 98, (hits, reads, ratio)


def test_pg_long_transactions_held_on_bad_only(pg_good: Instance, pg_bad: Instance) -> None:
    with _pg(pg_bad) as conn:
        found = {(pid, state, app, query) for pid, state, app, _age, query in _rows(conn, PG_LONG_TRANSACTIONS_SQL, (0,))}
    assert found == {
        (pg_bad.admin["idle_in_transaction_pid"], "idle in transaction", "billing-worker", "SELECT count(*) FROM event_log"),
        (pg_bad.admin["long_running_pid"], "active", "nightly-export", "SELECT pg_sleep(86400)"),
    }
    with _pg_admin(pg_good) as conn:
        assert _rows(conn, PG_LONG_TRANSACTIONS_SQL, (0,)) == []


#: The statement each tool's head check would send, and what it reads from the answer.
PG_TOOL_SQL = {
    "knex": 'SELECT name FROM "knex_migrations" ORDER BY id DESC LIMIT 1',
    "knex-lock": 'SELECT is_locked FROM "knex_migrations_lock"',
    "sequelize": 'SELECT name FROM "SequelizeMeta" ORDER BY name DESC LIMIT 1',
    # Applied: finished and not rolled back; started and neither finished nor rolled back: failed.
    "prisma": "SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM _prisma_migrations ORDER BY started_at DESC LIMIT 1",
    "typeorm": 'SELECT name FROM "migrations" ORDER BY "timestamp" DESC LIMIT 1',
    "golang-migrate": "SELECT version, dirty FROM schema_migrations LIMIT 1",
}

TOOL_STATE = {
    "good": {
        "knex": (TOOL_HEADS["knex"],), "knex-lock": (0,), "sequelize": (TOOL_HEADS["sequelize"],),
        "prisma": (TOOL_HEADS["prisma"], True, False), "typeorm": (TOOL_HEADS["typeorm"],),
        "golang-migrate": (int(TOOL_HEADS["golang-migrate"]), False),
    },
    "bad": {
        "knex": ("20240301000000_orders.js",), "knex-lock": (1,), "sequelize": ("20240301000000-orders.js",),
        "prisma": (TOOL_HEADS["prisma"], False, False), "typeorm": ("Orders1709251200000",),
        "golang-migrate": (20240301000000, True),
    },
}


@pytest.mark.parametrize("fixture", ["pg_good", "pg_bad"])
def test_pg_migration_tools_at_head_on_good_only(fixture: str, request: pytest.FixtureRequest) -> None:
    instance: Instance = request.getfixturevalue(fixture)
    with _pg(instance) as conn:
        observed = {tool: _rows(conn, query)[0] for tool, query in PG_TOOL_SQL.items()}
    assert observed == TOOL_STATE[fixture.removeprefix("pg_")]


#: The live schema as a comparable set: base tables' columns, constraints and indexes.
PG_SCHEMA_SIGNATURE_SQL = (
    "SELECT 'column ' || c.table_name || '.' || c.column_name || ' ' || c.data_type || ' ' || c.is_nullable"
    " FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)"
    " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
    " UNION ALL SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid <> 0"
    " UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'"
)


@pytest.fixture
def schema_from_file(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Load the plain schema file into a scratch database of the same server (as ``app``, who owns
    the real schema) and return that database's signature; the database is dropped after."""
    created: list[Instance] = []

    def load(instance: Instance) -> set[str]:
        with _pg_admin(instance, dbname="postgres") as conn:
            conn.execute("CREATE DATABASE schema_file OWNER app")
        created.append(instance)
        with _pg_admin(instance, dbname="schema_file") as conn:
            conn.execute("SET ROLE app")
            for statement in Path(instance.admin["schema_file"]).read_text().split(";\n"):
                body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
                if body:
                    conn.execute(body)
            return {row[0] for row in _rows(conn, PG_SCHEMA_SIGNATURE_SQL)}

    yield load
    for instance in created:
        with _pg_admin(instance, dbname="postgres") as conn:
            conn.execute("DROP DATABASE schema_file WITH (FORCE)")


def test_pg_schema_file_matches_good_and_not_bad(schema_from_file: Any, pg_good: Instance, pg_bad: Instance) -> None:
    for instance in (pg_good, pg_bad):
        assert Path(instance.admin["schema_file"]).read_text() == SCHEMA_FILE_TEXT
    expected = schema_from_file(pg_good)
    with _pg(pg_good) as conn:
        assert {row[0] for row in _rows(conn, PG_SCHEMA_SIGNATURE_SQL)} == expected
    with _pg(pg_bad) as conn:
        live = {row[0] for row in _rows(conn, PG_SCHEMA_SIGNATURE_SQL)}
    missing, extra = expected - live, live - expected
    assert missing == {"index CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id)"}
    assert {line.split(" ")[1] for line in extra if line.startswith("column ")} == {"event_log.occurred_at", "event_log.kind",
        "event_log.detail", "tickets.id", "tickets.subject", "report_rows.id", "report_rows.payload"}
    assert "constraint orders orders_total_positive CHECK ((total_cents > 0)) NOT VALID" in extra


# --- PgBouncer ------------------------------------------------------------------------------


def _console(instance: Instance, command: str) -> list[dict[str, Any]]:
    """A console command as the inventory's read-only console user (stats_users)."""
    return console_rows(instance.entry["dsn"], command, _password(instance))


def test_pgbouncer_pools_and_config(pgbouncer_good: Instance, pgbouncer_bad: Instance) -> None:
    expected = {
        "pgbouncer-good": ({"pool_mode": "transaction", "max_client_conn": "200", "default_pool_size": "10"}, 0),
        "pgbouncer-bad": ({"pool_mode": "session", "max_client_conn": "10000", "default_pool_size": "1"}, WAITING_CLIENTS),
    }
    for instance in (pgbouncer_good, pgbouncer_bad):
        config, waiting = expected[instance.name]
        assert instance.entry["dsn"] == f"postgresql://dc_monitor@127.0.0.1:{instance.admin['port']}/pgbouncer"
        settings = {row["key"]: row["value"] for row in _console(instance, "SHOW CONFIG")}
        assert {key: settings[key] for key in config} == config
        [pool] = [row for row in _console(instance, "SHOW POOLS") if row["database"] == "app"]
        assert (pool["pool_mode"], pool["cl_waiting"]) == (config["pool_mode"], waiting)
        if waiting:
            assert pool["sv_active"] == 1 and (pool["maxwait"], pool["maxwait_us"]) > (0, 0)


def test_pgbouncer_console_user_is_read_only(pgbouncer_good: Instance) -> None:
    with pytest.raises(psycopg.Error, match="admin access needed"):
        _console(pgbouncer_good, "PAUSE")


# --- MariaDB --------------------------------------------------------------------------------

MYSQL_DIGESTS_SQL = (
    "SELECT COUNT_STAR, AVG_TIMER_WAIT / 1e9 AS avg_ms, DIGEST_TEXT FROM performance_schema.events_statements_summary_by_digest"
    " WHERE SCHEMA_NAME = DATABASE() AND AVG_TIMER_WAIT / 1e9 > %s ORDER BY AVG_TIMER_WAIT DESC LIMIT 5"
)
MYSQL_NO_PRIMARY_KEY_SQL = (
    "SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'"
    " AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA"
    " AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') ORDER BY 1"
)
#: A foreign key is covered when some index starts with its first column.
MYSQL_UNINDEXED_FKS_SQL = (
    "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE k"
    " WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL AND k.ORDINAL_POSITION = 1"
    " AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = k.TABLE_SCHEMA"
    " AND s.TABLE_NAME = k.TABLE_NAME AND s.SEQ_IN_INDEX = 1 AND s.COLUMN_NAME = k.COLUMN_NAME) ORDER BY 1, 2"
)
MYSQL_HIT_RATIO_SQL = (
    "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
    " WHERE VARIABLE_NAME IN ('INNODB_BUFFER_POOL_READ_REQUESTS', 'INNODB_BUFFER_POOL_READS')"
)
MYSQL_TOOL_SQL = {
    "knex": "SELECT name FROM knex_migrations ORDER BY id DESC LIMIT 1",
    "knex-lock": "SELECT is_locked FROM knex_migrations_lock",
    "sequelize": "SELECT name FROM SequelizeMeta ORDER BY name DESC LIMIT 1",
    "prisma": "SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM _prisma_migrations"
              " ORDER BY started_at DESC LIMIT 1",
    "typeorm": "SELECT name FROM migrations ORDER BY `timestamp` DESC LIMIT 1",
    "golang-migrate": "SELECT version, dirty FROM schema_migrations LIMIT 1",
}


def _mysql(instance: Instance) -> pymysql.Connection[pymysql.cursors.Cursor]:
    url = urlsplit(instance.entry["dsn"])
    ca_bundle = instance.entry.get("ca_bundle")
    return pymysql.connect(
        host=url.hostname, port=url.port, user=url.username, password=_password(instance) or "", database=url.path.lstrip("/"),
        connect_timeout=5, ssl_disabled=ca_bundle is None, ssl_ca=ca_bundle, ssl_verify_identity=ca_bundle is not None,
    )


def _mysql_root(instance: Instance) -> pymysql.Connection[pymysql.cursors.Cursor]:
    a = instance.admin
    return pymysql.connect(unix_socket=a["socket"], user=a["user"], password=a["password"], database="app", ssl_disabled=True, connect_timeout=5)


def _my_rows(conn: pymysql.Connection[pymysql.cursors.Cursor], query: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return [tuple(row) for row in cur.fetchall()]


@pytest.fixture(scope="module")
def mariadb_without_performance_schema(test_ca: TestCA) -> Iterator[Instance]:
    instance = launch_mariadb("good", test_ca, name="mariadb-nops", performance_schema=False)
    try:
        yield instance
    finally:
        instance.stop()


def test_mariadb_slow_digest_on_bad_only(mariadb_good: Instance, mariadb_bad: Instance) -> None:
    threshold_ms = SLOW_CALL_S * 1000 * 0.8
    # performance_schema needs its own grant: the application account of good has none.
    with _mysql(mariadb_good) as conn, pytest.raises(pymysql.err.OperationalError) as denied:
        _my_rows(conn, MYSQL_DIGESTS_SQL, (threshold_ms,))
    assert denied.value.args[0] == 1142
    with _mysql_root(mariadb_good) as conn:
        assert _my_rows(conn, "SELECT @@performance_schema") == [(1,)]
        assert _my_rows(conn, MYSQL_DIGESTS_SQL, (threshold_ms,)) == []
        assert _my_rows(conn, "SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = 'app'")[0][0] > 0
    with _mysql(mariadb_bad) as conn:  # ALL PRIVILEGES: it may read performance_schema
        [(calls, avg_ms, digest)] = _my_rows(conn, MYSQL_DIGESTS_SQL, (threshold_ms,))
    assert (calls, digest) == (SLOW_CALLS, "SELECT COUNT ( * ) , `SLEEP` (?) FROM `orders` ")
    assert avg_ms >= SLOW_CALL_S * 1000


def test_mariadb_performance_schema_off(mariadb_without_performance_schema: Instance) -> None:
    with _mysql_root(mariadb_without_performance_schema) as conn:
        assert _my_rows(conn, "SELECT @@performance_schema") == [(0,)]
        assert _my_rows(conn, "SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest") == [(0,)]


@pytest.mark.parametrize(
    ("query", "good", "bad"),
    [
        ("SELECT @@GLOBAL.max_statement_time", [(30.0,)], [(0.0,)]),
        (MYSQL_NO_PRIMARY_KEY_SQL, [], [("event_log",)]),
        (MYSQL_UNINDEXED_FKS_SQL, [], [("orders", "orders_customer_fk", "customer_id")]),
    ],
    ids=["max-statement-time", "no-primary-key", "unindexed-foreign-key"],
)
def test_mariadb_defects_on_bad_only(query: str, good: list[tuple[Any, ...]], bad: list[tuple[Any, ...]],
                                     mariadb_good: Instance, mariadb_bad: Instance) -> None:
    with _mysql(mariadb_good) as conn:
        assert _my_rows(conn, query) == good
    with _mysql(mariadb_bad) as conn:
        assert _my_rows(conn, query) == bad


def test_mariadb_bad_foreign_key_is_still_enforced(mariadb_bad: Instance) -> None:
    """The constraint without its index still holds: only the index is missing."""
    with _mysql_root(mariadb_bad) as conn, pytest.raises(pymysql.err.IntegrityError):
        _my_rows(conn, "INSERT INTO orders (customer_id, total_cents) VALUES (999999, 1)")


def test_mariadb_buffer_pool_hit_ratio_readable(mariadb_good: Instance, mariadb_bad: Instance) -> None:
    ratios = {}
    for instance in (mariadb_good, mariadb_bad):
        with _mysql(instance) as conn:
            status = {name.upper(): int(value) for name, value in _my_rows(conn, MYSQL_HIT_RATIO_SQL)}
        requests, reads = status["INNODB_BUFFER_POOL_READ_REQUESTS"], status["INNODB_BUFFER_POOL_READS"]
        assert requests > reads > 0
        ratios[instance.name] = 100 * (1 - reads / requests)
    assert ratios["mariadb-good"] > 97, ratios


@pytest.mark.parametrize("fixture", ["mariadb_good", "mariadb_bad"])
def test_mariadb_migration_tools_at_head_on_good_only(fixture: str, request: pytest.FixtureRequest) -> None:
    instance: Instance = request.getfixturevalue(fixture)
    with _mysql(instance) as conn:
        observed = {tool: _my_rows(conn, query)[0] for tool, query in MYSQL_TOOL_SQL.items()}
    expected = TOOL_STATE[fixture.removeprefix("mariadb_")]
    # MySQL returns booleans as integers.
    assert observed == {tool: tuple(int(v) if isinstance(v, bool) else v for v in row) for tool, row in expected.items()}


# --- Redis ----------------------------------------------------------------------------------


def _redis(instance: Instance) -> redis.Redis:
    return redis.Redis.from_url(instance.entry["url"], password=_password(instance), socket_timeout=5)


def test_redis_cache_hit_ratio(redis_good: Instance, redis_bad: Instance) -> None:
    ratios = {}
    for instance in (redis_good, redis_bad):
        with _redis(instance) as client:
            stats = client.info("stats")
        lookups = stats["keyspace_hits"] + stats["keyspace_misses"]
        assert lookups >= 500
        ratios[instance.name] = stats["keyspace_hits"] / lookups
    assert ratios["redis-good"] > 0.9 and ratios["redis-bad"] < 0.1, ratios


def test_redis_replication_link(redis_good: Instance, redis_replica_good: Instance, redis_replica_bad: Instance) -> None:
    with _redis(redis_replica_good) as client:
        replica = client.info("replication")
    assert (replica["role"], replica["master_link_status"], replica["master_port"]) == ("slave", "up", redis_good.admin["port"])
    with _redis(redis_good) as client:
        master = client.info("replication")
    assert master["connected_slaves"] >= 1 and master["slave0"]["state"] == "online"
    with _redis(redis_replica_bad) as client:
        broken = client.info("replication")
    assert (broken["role"], broken["master_link_status"], broken["master_port"]) == ("slave", "down", redis_replica_bad.admin["replica_of"])


def test_redis_last_save(redis_good: Instance, redis_bad: Instance) -> None:
    with _redis(redis_good) as client:
        saved = client.info("persistence")
    assert saved["rdb_saves"] >= 1 and saved["rdb_last_bgsave_status"] == "ok"
    with _redis(redis_bad) as client:
        never = client.info("persistence")
        assert client.config_get("save") == {"save": ""}
    # Never saved: rdb_last_save_time is the start-up time, rdb_saves says the truth.
    assert never["rdb_saves"] == 0 and never["rdb_changes_since_last_save"] > 0
