"""PostgreSQL for the test bed: one cluster per instance, set up well (``good``) or badly (``bad``).

``good`` is what a go-live checklist asks for: TLS with a certificate from the test CA, only
``hostssl``/SCRAM in pg_hba, an unprivileged application role with timeouts, no PUBLIC
privileges, indexed foreign keys, connection and slow-statement logging, migrations at head.
``bad`` gets each of those wrong, on purpose and all at once, so every check has something real
to fail on.

Both preload ``pg_stat_statements`` (``stat_statements=False`` starts one without it) and leave
a small workload in it.  The deeper checks find on ``bad`` what ``good`` lacks: a slow statement
at the top of pg_stat_statements, a table without a primary key, an invalid index, a NOT VALID
constraint, two identical indexes, an int4 sequence near its end, a low buffer hit ratio, a
session idle in a transaction and a query running for hours (both held open by the launcher and
ended with the server), and the history tables of five migration tools behind, failed or dirty.
``SCHEMA_FILE_TEXT`` is the plain schema file of ``good``, written next to each cluster.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import threading
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from tests.servers.base import (
    LOOPBACK,
    Instance,
    LauncherError,
    ServerProcess,
    chown_tree,
    env_name,
    find_binary,
    free_port,
    make_tempdir,
    run,
    unprivileged_user,
    wait_until,
)
from tests.servers.certs import TestCA

Variant = Literal["good", "bad"]

#: The Alembic revision the application expects; ``good`` is at it, ``bad`` lags one behind.
MIGRATION_HEAD = "3f2a9c1d7e4b"
MIGRATION_BEHIND = "1a0b2c3d4e5f"

#: What each migration tool's history says on ``good`` (the head) and on ``bad``.  Names follow
#: each tool's own convention: knex and Sequelize keep the file name, Prisma the folder name,
#: TypeORM the class name ending in a JavaScript timestamp, golang-migrate the version number.
TOOL_HEADS: dict[str, str] = {
    "knex": "20240401000000_add_refunds.js",
    "sequelize": "20240401000000-add-refunds.js",
    "prisma": "20240401000000_add_refunds",
    "typeorm": "AddRefunds1711929600000",
    "golang-migrate": "20240401000000",
}
TOOL_TABLES: dict[str, str] = {
    "knex": "knex_migrations",
    "sequelize": "SequelizeMeta",
    "prisma": "_prisma_migrations",
    "typeorm": "migrations",
    "golang-migrate": "schema_migrations",
}

#: Where ``bad`` stands: behind (knex, Sequelize, TypeORM; knex also left its lock taken), the
#: newest Prisma migration started and never finished, golang-migrate dirty at an older version.
TOOL_BAD: dict[str, str] = {
    "knex": "20240301000000_orders.js (lock held)",
    "sequelize": "20240301000000-orders.js",
    "prisma": "20240401000000_add_refunds (started, not finished)",
    "typeorm": "Orders1709251200000",
    "golang-migrate": "20240301000000 (dirty)",
}

#: Where ``CREATE EXTENSION pg_stat_statements`` put its views (find it through pg_extension).
STAT_STATEMENTS_SCHEMA = "extensions"

#: The int4 sequence of ``bad`` stands here: 97.8 % of 2,147,483,647 used.
SEQUENCE_NEAR_END = 2_100_000_000
#: Seconds each call of ``bad``'s slow report function sleeps, and how often it is called.
SLOW_CALL_S = 0.3
SLOW_CALLS = 3

SUPERUSER = "postgres"
APP = "app"

# Settings for a throw-away cluster: durability is worthless here and start-up time is not.
_FAST = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "'16MB'",
    "max_connections": "20",
    "logging_collector": "off",
}

_SETTINGS: dict[Variant, dict[str, str]] = {
    "good": {
        "ssl": "on",
        "ssl_cert_file": "'server.crt'",
        "ssl_key_file": "'server.key'",
        "ssl_min_protocol_version": "'TLSv1.2'",
        "password_encryption": "'scram-sha-256'",
        "log_connections": "on",
        "log_min_duration_statement": "500",
        "timezone": "'UTC'",
    },
    "bad": {
        "ssl": "off",
        "password_encryption": "'md5'",
        "log_connections": "off",
        "log_min_duration_statement": "-1",
        "timezone": "'Europe/Berlin'",  # the installer's local zone, left as it was
    },
}

# The superuser's socket line lets the launcher set the cluster up; everything else is TCP.
_HBA: dict[Variant, list[str]] = {
    "good": [
        f"local all {SUPERUSER} scram-sha-256",
        f"hostssl all all {LOOPBACK}/32 scram-sha-256",
    ],
    "bad": [
        "local all all trust",
        f"host all all {LOOPBACK}/32 md5",
    ],
}

_SCHEMA = [
    "CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE)",
    (
        "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " customer_id bigint NOT NULL REFERENCES customers (id), total_cents integer NOT NULL)"
    ),
    "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)",
    # Each tool's history table exactly as the tool creates it (knex table-creator.js, sequelize-cli's
    # umzug 2 SequelizeStorage, prisma-engines' postgres flavour, TypeORM's MigrationExecutor,
    # golang-migrate's postgres driver).  PostgreSQL drops Sequelize's UNIQUE as redundant with
    # its PRIMARY KEY, so "name" has one index (MariaDB keeps both).
    'CREATE TABLE "knex_migrations" ("id" serial primary key, "name" varchar(255), "batch" integer, "migration_time" timestamptz)',
    'CREATE TABLE "knex_migrations_lock" ("index" serial primary key, "is_locked" integer)',
    'CREATE TABLE IF NOT EXISTS "SequelizeMeta" ("name" VARCHAR(255) NOT NULL UNIQUE , PRIMARY KEY ("name"))',
    (
        "CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY NOT NULL, checksum VARCHAR(64) NOT NULL,"
        " finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ,"
        " started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0)"
    ),
    (
        'CREATE TABLE "migrations" ("id" SERIAL NOT NULL, "timestamp" bigint NOT NULL, "name" character varying NOT NULL,'
        ' CONSTRAINT "PK_8c82d7f526340ab734260ea46be" PRIMARY KEY ("id"))'
    ),
    'CREATE TABLE IF NOT EXISTS "public"."schema_migrations" (version bigint not null primary key, dirty boolean not null)',
]


def _migration_rows(variant: Variant) -> list[str]:
    """Each tool's history rows, as the tool writes them: ``good`` at ``TOOL_HEADS``."""
    good = variant == "good"
    knex = ["('20240101000000_init.js', 1, now() - interval '90 days')", "('20240301000000_orders.js', 2, now() - interval '30 days')"]
    sequelize = ["('20240101000000-init.js')", "('20240301000000-orders.js')"]
    prisma = [
        "(gen_random_uuid()::text, repeat('a', 64), now() - interval '90 days', '20240101000000_init', NULL, NULL,"
        " now() - interval '90 days', 1)",
        "(gen_random_uuid()::text, repeat('b', 64), now() - interval '30 days', '20240301000000_orders', NULL, NULL,"
        " now() - interval '30 days', 1)",
    ]
    typeorm = ["(1704067200000, 'Init1704067200000')", "(1709251200000, 'Orders1709251200000')"]
    if good:
        knex.append("('20240401000000_add_refunds.js', 3, now() - interval '1 day')")
        sequelize.append("('20240401000000-add-refunds.js')")
        prisma.append("(gen_random_uuid()::text, repeat('c', 64), now() - interval '1 day', '20240401000000_add_refunds', NULL, NULL,"
                      " now() - interval '1 day', 1)")
        typeorm.append("(1711929600000, 'AddRefunds1711929600000')")
    else:
        # prisma migrate deploy died half-way through the newest migration: started, never finished.
        prisma.append("(gen_random_uuid()::text, repeat('c', 64), NULL, '20240401000000_add_refunds',"
                      " 'ERROR: column \"refund_cents\" already exists', NULL, now() - interval '1 day', 0)")
    return [
        'INSERT INTO "knex_migrations" ("name", "batch", "migration_time") VALUES ' + ", ".join(knex),
        # knex's lock row: 1 while a migration runs; a crashed run leaves it taken.
        f'INSERT INTO "knex_migrations_lock" ("is_locked") VALUES ({0 if good else 1})',
        'INSERT INTO "SequelizeMeta" ("name") VALUES ' + ", ".join(sequelize),
        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at,"
        " applied_steps_count) VALUES " + ", ".join(prisma),
        'INSERT INTO "migrations" ("timestamp", "name") VALUES ' + ", ".join(typeorm),
        # golang-migrate keeps one row; a failed run leaves the version it tried, marked dirty.
        "INSERT INTO schema_migrations (version, dirty) VALUES " + ("(20240401000000, false)" if good else "(20240301000000, true)"),
    ]

# Run in database ``app`` as the application role, after ``_SCHEMA``.
_APP_SETUP: dict[Variant, list[str]] = {
    "good": [
        "CREATE INDEX orders_customer_id_idx ON orders (customer_id)",
        f"INSERT INTO alembic_version VALUES ('{MIGRATION_HEAD}')",
    ],
    "bad": [
        # orders.customer_id stays without an index.
        "GRANT ALL ON customers TO PUBLIC",
        f"INSERT INTO alembic_version VALUES ('{MIGRATION_BEHIND}')",
        # Rows without a key: nothing identifies one row, logical replication cannot update it.
        "CREATE TABLE event_log (occurred_at timestamptz NOT NULL DEFAULT now(), kind text NOT NULL, detail text)",
        "INSERT INTO event_log (kind, detail) VALUES ('signup', 'first'), ('signup', 'second')",
        # Added without checking the rows already there; the planner and readers cannot trust it.
        "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total_cents > 0) NOT VALID",
        # Two indexes that are one: every write pays twice.
        "CREATE INDEX orders_total_cents_idx ON orders (total_cents)",
        "CREATE INDEX orders_total_idx ON orders (total_cents)",
        # serial is int4: 97.8 % used, a few weeks of inserts from "integer out of range".
        "CREATE TABLE tickets (id serial PRIMARY KEY, subject text NOT NULL)",
        f"SELECT setval('tickets_id_seq', {SEQUENCE_NEAR_END})",
        # The report that takes a third of a second every time it runs.
        f"CREATE FUNCTION monthly_report() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders, pg_sleep({SLOW_CALL_S}) $$",
        # Larger than a quarter of shared_buffers: a sequential scan reads it through a small ring,
        # from outside the buffer cache every time.  CREATE TABLE AS writes through a ring too
        # (INSERT ... SELECT would leave the whole table cached).
        "CREATE TABLE report_rows AS SELECT g AS id, repeat(md5(g::text), 4) AS payload FROM generate_series(1, 60000) g",
        "ALTER TABLE report_rows ADD PRIMARY KEY (id)",
    ],
}

# Needs autocommit and must fail: the unique index built concurrently over duplicate rows is
# left behind INVALID (pg_index.indisvalid = false), as after any failed CONCURRENTLY build.
_INVALID_INDEX = "CREATE UNIQUE INDEX CONCURRENTLY event_log_kind_key ON event_log (kind)"

#: The plain schema file of a team without migrations: ``good``'s tables, keys and indexes.
SCHEMA_FILE_TEXT = (
    "-- schema.sql: the application's schema, applied with psql -f\n"
    + "".join(statement + ";\n" for statement in [*_SCHEMA, _APP_SETUP["good"][0]])
)

# Run in database ``app`` as the superuser, after ``_APP_SETUP``.
_ADMIN_SETUP: dict[Variant, list[str]] = {
    "good": [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        "REVOKE ALL ON DATABASE app FROM PUBLIC",
        f"ALTER ROLE {APP} SET statement_timeout = '30s'",
        f"ALTER ROLE {APP} SET idle_in_transaction_session_timeout = '60s'",
    ],
    "bad": [
        # PostgreSQL 15 no longer lets PUBLIC create in schema public; give that back.
        "GRANT CREATE ON SCHEMA public TO PUBLIC",
    ],
}


def launch_postgres(variant: Variant, ca: TestCA, name: str | None = None, *, stat_statements: bool = True,
                    held_sessions: bool | None = None) -> Instance:
    """Start a PostgreSQL cluster configured as ``variant`` and return its inventory entry.

    ``entry``: ``dsn`` (role ``app``, database ``app``; ``sslmode=verify-full`` against the CA
    for ``good``, ``sslmode=disable`` for ``bad``) and ``password`` as ``${DC_<NAME>_PASSWORD}``.
    ``admin``: superuser ``dsn`` over the Unix socket (password inline), ``port``, ``ca_file``,
    ``migration_head`` (the revision the application expects), ``datadir``, ``log``,
    ``stat_statements`` (preloaded, and created in ``app`` in schema ``extensions``), ``tool_heads`` (``TOOL_HEADS``),
    ``schema_file`` (``SCHEMA_FILE_TEXT`` written into the cluster's directory) and, with held
    sessions, ``idle_in_transaction_pid`` and ``long_running_pid`` (their backends' pids).

    ``stat_statements=False``: no ``shared_preload_libraries``, no extension.  ``held_sessions``
    (default: ``bad`` only): two connections as ``app`` held open until the server stops, one
    idle in a transaction, one running ``pg_sleep(86400)``; the server then stops with a fast
    shutdown (SIGINT), which ends them, where a smart shutdown would wait for them forever.
    """
    held = variant == "bad" if held_sessions is None else held_sessions
    name = name or f"pg-{variant}"
    user = unprivileged_user()
    workdir = make_tempdir(name, owner=user)
    datadir = workdir / "data"
    port = free_port()
    # The well-known default password is part of what makes ``bad`` bad.
    superuser_password = secrets.token_urlsafe(18) if variant == "good" else "postgres"
    app_password = secrets.token_urlsafe(18)
    admin_dsn = f"postgresql://{SUPERUSER}:{superuser_password}@/{APP}?host={workdir}&port={port}"

    server = ServerProcess(
        name=name,
        argv=[find_binary("postgres"), "-D", str(datadir)],
        workdir=workdir,
        log=workdir / "server.log",
        user=user,
        stop_signal=signal.SIGINT if held else signal.SIGTERM,
    )
    if variant == "good":
        dsn = f"postgresql://{APP}@{LOOPBACK}:{port}/{APP}?sslmode=verify-full&sslrootcert={ca.ca_file}"
    else:
        dsn = f"postgresql://{APP}@{LOOPBACK}:{port}/{APP}?sslmode=disable"
    extra: dict[str, Any] = {}
    try:
        _initdb(datadir, superuser_password, user)
        _configure(variant, ca, workdir, datadir, port, stat_statements)
        (workdir / "schema.sql").write_text(SCHEMA_FILE_TEXT)
        if user is not None:
            chown_tree(workdir, user)
        # Database ``app`` does not exist yet: probe and create it from the maintenance database.
        server.start(lambda: _can_login(admin_dsn))
        _set_up(variant, admin_dsn, app_password)
        _workload(variant, admin_dsn, dsn, app_password, stat_statements)
        if held:
            extra = _hold_sessions(admin_dsn, dsn, app_password)
    except BaseException:
        server.stop()
        raise

    password_var = env_name(name, "password")
    return Instance(
        name=name,
        kind="postgres",
        entry={"dsn": dsn, "password": f"${{{password_var}}}"},
        env={password_var: app_password},
        server=server,
        admin={
            "dsn": admin_dsn,
            "port": port,
            "ca_file": str(ca.ca_file),
            "migration_head": MIGRATION_HEAD,
            "datadir": str(datadir),
            "log": str(server.log),
            "stat_statements": stat_statements,
            "tool_heads": dict(TOOL_HEADS),
            "schema_file": str(workdir / "schema.sql"),
            **extra,
        },
    )


def _initdb(datadir: Path, superuser_password: str, user: str | None) -> None:
    # Readable by the server's account because the directory around it is private to that account.
    pwfile = datadir.parent / "pwfile"
    pwfile.write_text(superuser_password + "\n")
    run([
        find_binary("initdb"), "-D", str(datadir), "-U", SUPERUSER, f"--pwfile={pwfile}",
        "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
    ], user=user)
    pwfile.unlink()


def _configure(variant: Variant, ca: TestCA, workdir: Path, datadir: Path, port: int, stat_statements: bool = True) -> None:
    """Replace initdb's postgresql.conf and pg_hba.conf with the variant's own."""
    settings = {
        **_FAST,
        "listen_addresses": f"'{LOOPBACK}'",
        "port": str(port),
        "unix_socket_directories": f"'{workdir}'",
        **_SETTINGS[variant],
    }
    if stat_statements:
        settings["shared_preload_libraries"] = "'pg_stat_statements'"
    (datadir / "postgresql.conf").write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
    (datadir / "pg_hba.conf").write_text("".join(line + "\n" for line in _HBA[variant]))
    if variant == "good":
        # The CA's directory is not readable by the server's account, and PostgreSQL insists on
        # owning its key, so the pair is copied into the data directory.
        files = ca.issue(f"{workdir.name}-server")
        shutil.copyfile(files.chain, datadir / "server.crt")
        shutil.copyfile(files.key, datadir / "server.key")
        (datadir / "server.key").chmod(0o600)


def _can_login(admin_dsn: str) -> bool:
    with psycopg.connect(admin_dsn, dbname="postgres", connect_timeout=2) as conn:
        conn.execute("SELECT 1")
    return True


def _set_up(variant: Variant, admin_dsn: str, app_password: str) -> None:
    role_options = "LOGIN SUPERUSER" if variant == "bad" else "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    with psycopg.connect(admin_dsn, dbname="postgres", autocommit=True) as conn:
        if variant == "bad":
            # initdb stored the superuser password with SCRAM; store it again under md5.
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(SUPERUSER), sql.Literal("postgres")))
        conn.execute(sql.SQL("CREATE ROLE {} " + role_options + " PASSWORD {}").format(sql.Identifier(APP), sql.Literal(app_password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(APP), sql.Identifier(APP)))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        # Created as the application role so that it owns its tables, as migrations would.
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP)))
        for statement in [*_SCHEMA, *_APP_SETUP[variant], *_migration_rows(variant)]:
            conn.execute(statement)
        if variant == "bad":
            try:
                conn.execute(_INVALID_INDEX)
            except psycopg.errors.UniqueViolation:
                pass  # the point: the failed build leaves its index behind, INVALID
            else:
                raise LauncherError(f"{_INVALID_INDEX} succeeded; expected it to fail on the duplicate rows of event_log")
        conn.execute("RESET ROLE")
        for statement in _ADMIN_SETUP[variant]:
            conn.execute(statement)


def _workload(variant: Variant, admin_dsn: str, dsn: str, app_password: str, stat_statements: bool) -> None:
    """What the application did since the statistics were reset: on ``good`` quick lookups that
    the buffer cache answers; on ``bad`` the slow report, and scans of a table the cache cannot hold."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if stat_statements:
            # In a schema of its own, as hosted PostgreSQL does (not among the application's tables).
            conn.execute(f"CREATE SCHEMA {STAT_STATEMENTS_SCHEMA}")
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(STAT_STATEMENTS_SCHEMA), sql.Identifier(APP)))
            conn.execute(f"CREATE EXTENSION pg_stat_statements SCHEMA {STAT_STATEMENTS_SCHEMA}")
            if variant == "good":
                # The extension lets every role read every role's query texts; good keeps that to
                # the application role.
                schema = sql.Identifier(STAT_STATEMENTS_SCHEMA)
                conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM PUBLIC").format(schema))
                conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, sql.Identifier(APP)))
            conn.execute(f"SELECT {STAT_STATEMENTS_SCHEMA}.pg_stat_statements_reset()")
        # The set-up's own reads and writes say nothing about the application.
        conn.execute("SELECT pg_stat_reset()")
    with psycopg.connect(dsn, password=app_password, autocommit=True, application_name="orders-api") as conn:
        conn.execute("INSERT INTO customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 200) g")
        for customer in (1, 2, 3):
            conn.execute("SELECT id, email FROM customers WHERE id = %s", (customer,))
        if variant == "good":
            conn.execute("SELECT count(*) FROM generate_series(1, 5000) g JOIN LATERAL (SELECT id FROM customers WHERE id = g % 200 + 1) c ON true")
        else:
            for _ in range(SLOW_CALLS):
                conn.execute("SELECT monthly_report()")
            # Enough reads that the ratio stays low after other tests' writes add their hits.
            for _ in range(20):
                conn.execute("SELECT count(*) FROM report_rows WHERE payload LIKE '%zz%'")


def _hold_sessions(admin_dsn: str, dsn: str, app_password: str) -> dict[str, int]:
    """Two sessions of ``app`` held open by a daemon thread until the server stops: one idle in a
    transaction (it read event_log and never committed), one in the middle of a day-long query.
    Returns their backend pids once both are visible in pg_stat_activity."""
    pids: dict[str, int] = {}
    ready = threading.Event()

    def hold() -> None:
        sessions: list[psycopg.Connection[Any]] = []
        try:
            idle = psycopg.connect(dsn, password=app_password, application_name="billing-worker")
            sessions.append(idle)
            busy = psycopg.connect(dsn, password=app_password, autocommit=True, application_name="nightly-export")
            sessions.append(busy)
            idle.execute("SELECT count(*) FROM event_log")  # opens the transaction that stays open
            pids["idle_in_transaction_pid"] = idle.info.backend_pid
            pids["long_running_pid"] = busy.info.backend_pid
            ready.set()
            busy.execute("SELECT pg_sleep(86400)")
        except Exception:  # noqa: BLE001 - the server stopping ends both sessions; nothing to report
            pass
        finally:
            ready.set()
            # close(), not the context manager: a rollback on a terminated session only logs noise.
            for session in sessions:
                session.close()

    threading.Thread(target=hold, name="pg-held-sessions", daemon=True).start()
    if not ready.wait(30) or len(pids) != 2:
        raise LauncherError("the held sessions (idle in transaction, long-running query) did not start")

    def visible() -> bool:
        with psycopg.connect(admin_dsn, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE (pid = %s AND state = 'idle in transaction')"
                " OR (pid = %s AND state = 'active' AND query LIKE 'SELECT pg_sleep%%')",
                (pids["idle_in_transaction_pid"], pids["long_running_pid"]),
            ).fetchone()
        return row is not None and row[0] == 2

    wait_until(visible, 30, "the held sessions to show in pg_stat_activity")
    return pids
