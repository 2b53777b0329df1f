"""MariaDB for the test bed: one server per instance, set up well (``good``) or badly (``bad``).

``good`` follows the usual hardening list (mysql_secure_installation plus the dev-sec MySQL
baseline): TLS required, no anonymous users, no ``test`` database, root only on the local
socket, an application user limited to DML on its own schema, no LOCAL INFILE, a slow-query log.
``bad`` gets each of those wrong at once, so every check has something real to fail on.

For the deeper checks ``good`` also limits statement time (``max_statement_time`` 30 s), keeps
a primary key on every table and an index on every foreign key, and has only quick statements
in performance_schema's digests; ``bad`` has no statement time limit, a table without a primary
key, a foreign key whose index was dropped with foreign_key_checks off (InnoDB creates one for
every foreign key; that is the way to lose it), and a slow statement at the top of the digests.
``good`` keeps a binary log, strict SQL mode (MariaDB's default) and utf8mb4; ``bad`` none of
them.  ``start_replication`` makes a server a replica of a ``good`` one, healthy or broken.
Both keep the history tables of five migration tools (``TOOL_HEADS``): ``good`` at head, ``bad``
behind, failed or dirty.  ``performance_schema=False`` starts a server without it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pymysql

from tests.servers.base import (
    LOOPBACK,
    Instance,
    ServerProcess,
    env_name,
    find_binary,
    free_port,
    make_tempdir,
    run,
    wait_until,
)
from tests.servers.certs import TestCA
from tests.servers.postgres import SLOW_CALL_S, SLOW_CALLS, TOOL_HEADS

Variant = Literal["good", "bad"]

APP = "app"

# Settings for a throw-away server: durability is worthless here and start-up time is not.
_FAST = {
    "innodb-buffer-pool-size": "16M",
    "innodb-flush-log-at-trx-commit": "0",
    "innodb-doublewrite": "0",
    "skip-name-resolve": "ON",
}

_SETTINGS: dict[Variant, dict[str, str]] = {
    "good": {
        "require-secure-transport": "ON",
        "tls-version": "TLSv1.2,TLSv1.3",
        "local-infile": "OFF",
        "slow-query-log": "ON",
        "long-query-time": "1",
        "max-statement-time": "30",
        "server-id": "1",
        "binlog-format": "ROW",
        "character-set-server": "utf8mb4",
        "collation-server": "utf8mb4_unicode_ci",
        "default-time-zone": "+00:00",
    },
    "bad": {
        "local-infile": "ON",
        "slow-query-log": "OFF",
        "sql-mode": "NO_ENGINE_SUBSTITUTION",  # not strict: bad data stored with a warning
        "default-time-zone": "+01:00",  # a local offset instead of UTC
        # no binary log, and MariaDB 10.11's latin1 as the server's character set
    },
}

_SCHEMA = [
    f"CREATE DATABASE {APP}",
    f"CREATE TABLE {APP}.customers (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE)",
    # InnoDB gives the foreign key an index of its own (orders_customer_fk) when none exists.
    (
        f"CREATE TABLE {APP}.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT NOT NULL, total_cents INT NOT NULL,"
        f" CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES {APP}.customers (id))"
    ),
    # Each tool's history table as the tool creates it on MySQL/MariaDB (knex table-creator.js,
    # sequelize-cli's umzug 2 SequelizeStorage, prisma-engines' mysql flavour, TypeORM's
    # MigrationExecutor, golang-migrate's mysql driver).
    f"CREATE TABLE {APP}.`knex_migrations` (`id` int unsigned not null auto_increment primary key, `name` varchar(255), `batch` int,"
    " `migration_time` timestamp NULL)",
    f"CREATE TABLE {APP}.`knex_migrations_lock` (`index` int unsigned not null auto_increment primary key, `is_locked` int)",
    f"CREATE TABLE IF NOT EXISTS {APP}.`SequelizeMeta` (`name` VARCHAR(255) NOT NULL UNIQUE , PRIMARY KEY (`name`))"
    " ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE utf8_unicode_ci",
    (
        f"CREATE TABLE {APP}._prisma_migrations (id VARCHAR(36) PRIMARY KEY NOT NULL, checksum VARCHAR(64) NOT NULL,"
        " finished_at DATETIME(3), migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at DATETIME(3),"
        " started_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), applied_steps_count INTEGER UNSIGNED NOT NULL DEFAULT 0)"
        " DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    ),
    f"CREATE TABLE {APP}.`migrations` (`id` int NOT NULL AUTO_INCREMENT, `timestamp` bigint NOT NULL, `name` varchar(255) NOT NULL,"
    " PRIMARY KEY (`id`)) ENGINE=InnoDB",
    f"CREATE TABLE {APP}.`schema_migrations` (version bigint not null primary key, dirty boolean not null)",
]


def _migration_rows(variant: Variant) -> list[str]:
    """Each tool's history rows as the tool writes them: ``good`` at ``TOOL_HEADS``, ``bad`` as
    ``tests.servers.postgres.TOOL_BAD`` says."""
    good = variant == "good"
    knex = ["('20240101000000_init.js', 1, NOW() - INTERVAL 90 DAY)", "('20240301000000_orders.js', 2, NOW() - INTERVAL 30 DAY)"]
    sequelize = ["('20240101000000-init.js')", "('20240301000000-orders.js')"]
    prisma = [
        "(UUID(), REPEAT('a', 64), NOW(3) - INTERVAL 90 DAY, '20240101000000_init', NULL, NULL, NOW(3) - INTERVAL 90 DAY, 1)",
        "(UUID(), REPEAT('b', 64), NOW(3) - INTERVAL 30 DAY, '20240301000000_orders', NULL, NULL, NOW(3) - INTERVAL 30 DAY, 1)",
    ]
    typeorm = ["(1704067200000, 'Init1704067200000')", "(1709251200000, 'Orders1709251200000')"]
    if good:
        knex.append(f"('{TOOL_HEADS['knex']}', 3, NOW() - INTERVAL 1 DAY)")
        sequelize.append(f"('{TOOL_HEADS['sequelize']}')")
        prisma.append(f"(UUID(), REPEAT('c', 64), NOW(3) - INTERVAL 1 DAY, '{TOOL_HEADS['prisma']}', NULL, NULL, NOW(3) - INTERVAL 1 DAY, 1)")
        typeorm.append(f"(1711929600000, '{TOOL_HEADS['typeorm']}')")
    else:
        prisma.append(f"(UUID(), REPEAT('c', 64), NULL, '{TOOL_HEADS['prisma']}', 'Duplicate column name `refund_cents`', NULL,"
                      " NOW(3) - INTERVAL 1 DAY, 0)")
    return [
        f"INSERT INTO {APP}.knex_migrations (name, batch, migration_time) VALUES " + ", ".join(knex),
        f"INSERT INTO {APP}.knex_migrations_lock (is_locked) VALUES ({0 if good else 1})",
        f"INSERT INTO {APP}.SequelizeMeta (name) VALUES " + ", ".join(sequelize),
        f"INSERT INTO {APP}._prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at,"
        " applied_steps_count) VALUES " + ", ".join(prisma),
        f"INSERT INTO {APP}.migrations (`timestamp`, name) VALUES " + ", ".join(typeorm),
        f"INSERT INTO {APP}.schema_migrations (version, dirty) VALUES " + ("(20240401000000, false)" if good else "(20240301000000, true)"),
    ]


# Run as root after the schema.
_BAD_SCHEMA = [
    f"CREATE TABLE {APP}.event_log (occurred_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, kind VARCHAR(40) NOT NULL, detail TEXT)",
    # What a restore or a migration run with foreign_key_checks off can do: the constraint stays,
    # enforced by scanning orders, and nothing recreates the index.
    "SET SESSION foreign_key_checks = 0",
    f"ALTER TABLE {APP}.orders DROP INDEX orders_customer_fk",
    "SET SESSION foreign_key_checks = 1",
]

def launch_mariadb(variant: Variant, ca: TestCA, name: str | None = None, *, performance_schema: bool = True) -> Instance:
    """Start a MariaDB server configured as ``variant`` and return its inventory entry.

    ``entry``: ``dsn`` (user ``app``, database ``app``), ``password`` as
    ``${DC_<NAME>_PASSWORD}`` and, for ``good`` only, ``ca_bundle`` (the test CA's file).
    ``admin``: ``user`` (root), ``password``, ``socket``, ``port``, ``ca_file``, ``datadir``, ``log``,
    ``performance_schema`` (on unless ``performance_schema=False``), ``tool_heads``.
    """
    name = name or f"mariadb-{variant}"
    workdir = make_tempdir(name)
    datadir = workdir / "data"
    socket_path = workdir / "mysqld.sock"
    port = free_port()
    root_password = secrets.token_urlsafe(18)
    app_password = secrets.token_urlsafe(18)
    run_as = ["--user=root"] if os.geteuid() == 0 else []

    # A private temporary directory: two bootstraps at once in the shared /tmp have failed with
    # "Error on delete of '/tmp/#sql-temptable-...'".
    private_tmp = workdir / "tmp"
    private_tmp.mkdir(exist_ok=True)
    settings = {
        **_FAST,
        "tmpdir": str(private_tmp),
        "datadir": str(datadir),
        "socket": str(socket_path),
        "pid-file": str(workdir / "mysqld.pid"),
        "port": str(port),
        "bind-address": LOOPBACK,
        "performance-schema": "ON" if performance_schema else "OFF",
        **_SETTINGS[variant],
    }
    if variant == "good":
        files = ca.issue(f"{workdir.name}-server")
        settings |= {
            "ssl-cert": str(files.chain), "ssl-key": str(files.key), "ssl-ca": str(ca.ca_file),
            "slow-query-log-file": str(workdir / "slow.log"),
            "log-bin": str(workdir / "binlog"),
        }

    server = ServerProcess(
        name=name,
        # --no-defaults: nothing from /etc/mysql may leak into the variant under test.
        argv=[find_binary("mariadbd"), "--no-defaults", *run_as, *(f"--{key}={value}" for key, value in settings.items())],
        workdir=workdir,
        log=workdir / "server.log",
    )
    try:
        # Root starts without a password on the socket; _set_up gives it one last.
        run([
            find_binary("mariadb-install-db"), "--no-defaults", *run_as, f"--datadir={datadir}", f"--tmpdir={private_tmp}",
            "--auth-root-authentication-method=normal", "--skip-test-db",
        ])
        server.start(lambda: _can_login(socket_path))
        _set_up(variant, socket_path, root_password, app_password)
        _workload(variant, port, app_password, ca.ca_file if variant == "good" else None)
    except BaseException:
        server.stop()
        raise

    password_var = env_name(name, "password")
    entry = {"dsn": f"mysql://{APP}@{LOOPBACK}:{port}/{APP}", "password": f"${{{password_var}}}"}
    if variant == "good":
        entry["ca_bundle"] = str(ca.ca_file)
    return Instance(
        name=name,
        kind="mysql",
        entry=entry,
        env={password_var: app_password},
        server=server,
        admin={
            "user": "root",
            "password": root_password,
            "socket": str(socket_path),
            "port": port,
            "ca_file": str(ca.ca_file),
            "datadir": str(datadir),
            "log": str(server.log),
            "performance_schema": performance_schema,
            "tool_heads": dict(TOOL_HEADS),
        },
    )


def _connect_root(socket_path: Path, password: str) -> pymysql.Connection[pymysql.cursors.Cursor]:
    # PyMySQL would negotiate TLS even on the local socket, where it protects nothing.
    return pymysql.connect(unix_socket=str(socket_path), user="root", password=password, ssl_disabled=True, autocommit=True, connect_timeout=2)


def _can_login(socket_path: Path) -> bool:
    # PyMySQL leaks its socket when connect() itself fails, so first see that the server listens.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.connect(str(socket_path))
    with _connect_root(socket_path, "") as conn:
        conn.ping()
    return True


def _accounts(variant: Variant, root_password: str, app_password: str) -> list[tuple[str, tuple[str, ...]]]:
    """The variant's accounts, as statements with their PyMySQL ``%s`` arguments."""
    app = (APP, LOOPBACK)
    if variant == "good":
        return [
            ("CREATE USER %s@%s IDENTIFIED BY %s", (*app, app_password)),
            (f"GRANT SELECT, INSERT, UPDATE, DELETE ON {APP}.* TO %s@%s", app),
        ]
    return [
        ("CREATE USER %s@%s IDENTIFIED BY %s", (*app, app_password)),
        ("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", app),
        ("CREATE USER %s@%s IDENTIFIED BY %s", ("root", "%", root_password)),
        ("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", ("root", "%")),
        ("CREATE USER %s@%s", ("", "localhost")),  # anonymous
        ("CREATE USER %s@%s", ("legacy", "%")),  # no password at all
        ("CREATE USER %s@%s IDENTIFIED BY %s", ("admin", "%", "admin")),  # a well-known default login
        (f"GRANT SELECT ON {APP}.* TO %s@%s", ("legacy", "%")),
        ("CREATE DATABASE test", ()),
    ]


def _set_up(variant: Variant, socket_path: Path, root_password: str, app_password: str) -> None:
    with _connect_root(socket_path, "") as conn, conn.cursor() as cur:
        # mariadb-install-db also makes root@<hostname>, root@127.0.0.1 and root@::1 without a
        # password; root stays on the socket only, and ``bad`` adds root@'%' instead.
        cur.execute("SELECT user, host FROM mysql.user WHERE user = 'root' AND host <> 'localhost'")
        for user, host in cur.fetchall():
            cur.execute("DROP USER %s@%s", (user, host))
        for statement in [*_SCHEMA, *_migration_rows(variant), *(_BAD_SCHEMA if variant == "bad" else [])]:
            cur.execute(statement)
        for statement, args in _accounts(variant, root_password, app_password):
            cur.execute(statement, args)
        cur.execute("ALTER USER root@localhost IDENTIFIED BY %s", (root_password,))


def _workload(variant: Variant, port: int, app_password: str, ca_file: Path | None) -> None:
    """What the application did once set up: quick lookups on ``good``; on ``bad`` also a report
    that sleeps ``SLOW_CALL_S`` seconds each of ``SLOW_CALLS`` times (the slowest digest)."""
    with pymysql.connect(
        host=LOOPBACK, port=port, user=APP, password=app_password, database=APP, autocommit=True, connect_timeout=5,
        ssl_disabled=ca_file is None, ssl_ca=str(ca_file) if ca_file else None, ssl_verify_identity=ca_file is not None,
    ) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO customers (email) VALUES (%s)", [(f"c{n}@example.com",) for n in range(1, 101)])
        for customer in (1, 2, 3):
            cur.execute("SELECT id, email FROM customers WHERE id = %s", (customer,))
            cur.execute("SELECT COUNT(*) FROM orders WHERE customer_id = %s", (customer,))
        if variant == "good":
            # A freshly started server has read every page it touched from disk (hit ratio ~85 %);
            # an application that has run a while answers nearly every lookup from the pool.
            cur.execute("SELECT SUM(c.id) FROM seq_1_to_100000 s JOIN customers c ON c.id = s.seq % 100 + 1")
        else:
            for _ in range(SLOW_CALLS):
                cur.execute(f"SELECT COUNT(*), SLEEP({SLOW_CALL_S}) FROM orders")


def start_replication(replica: Instance, primary: Instance, *, broken: bool = False) -> Instance:
    """Make ``replica`` (a ``good`` server of its own) replicate, over TLS, the database
    ``repl_<name>`` from ``primary`` (a ``good`` server: its binary log is on), and let its ``app``
    account read the replication status (SLAVE MONITOR).

    ``broken``: someone wrote a row into the replica by hand, so the primary's insert of the same
    key stops its SQL thread with error 1062, as in production.  Returns once the replica has
    applied the primary's insert, or stopped on it.
    """
    database = "repl_" + replica.name.replace("-", "_")
    password = secrets.token_urlsafe(18)
    primary_socket, replica_socket = Path(primary.admin["socket"]), Path(replica.admin["socket"])
    with _connect_root(primary_socket, primary.admin["password"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'repl'@%s IDENTIFIED BY %s", (LOOPBACK, password))
        cur.execute("ALTER USER 'repl'@%s IDENTIFIED BY %s", (LOOPBACK, password))
        cur.execute("GRANT REPLICATION SLAVE ON *.* TO 'repl'@%s", (LOOPBACK,))
        cur.execute("SHOW MASTER STATUS")
        log_file, log_pos = cur.fetchone()[:2]
    with _connect_root(replica_socket, replica.admin["password"]) as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL server_id = %s", (replica.admin["port"],))  # the primary's is 1
        cur.execute("SET GLOBAL replicate_do_db = %s", (database,))
        cur.execute("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = 'repl', MASTER_PASSWORD = %s,"
                    " MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s, MASTER_SSL = 1, MASTER_SSL_CA = %s, MASTER_USE_GTID = no",
                    (LOOPBACK, primary.admin["port"], password, log_file, log_pos, primary.admin["ca_file"]))
        cur.execute("START SLAVE")
        cur.execute("GRANT SLAVE MONITOR ON *.* TO %s@%s", (APP, LOOPBACK))
    with _connect_root(primary_socket, primary.admin["password"]) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database}")
        cur.execute(f"USE {database}")  # statement-logged DDL is filtered by its default database
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    _replica_settles(replica, lambda status, cur: _has_table(cur, database))
    if broken:
        with _connect_root(replica_socket, replica.admin["password"]) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO {database}.t VALUES (1)")
    with _connect_root(primary_socket, primary.admin["password"]) as conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {database}.t VALUES (1)")
    if broken:
        return _replica_settles(replica, lambda status, cur: status.get("Slave_SQL_Running") == "No")
    return _replica_settles(replica, lambda status, cur: status.get("Seconds_Behind_Master") == 0 and _rows(cur, f"{database}.t") == 1)


def _replica_settles(replica: Instance, settled: Callable[[dict[str, Any], Any], bool]) -> Instance:
    """Once ``settled(SHOW SLAVE STATUS, cursor)`` holds; else the replica's log says why."""
    with _connect_root(Path(replica.admin["socket"]), replica.admin["password"]) as conn:
        def ready() -> bool:
            with conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute("SHOW SLAVE STATUS")
                return settled(cur.fetchone() or {}, cur)

        wait_until(ready, 20, f"{replica.name}'s replication to settle", log=Path(replica.admin["log"]))
    return replica


def _has_table(cur: Any, database: str) -> bool:
    cur.execute("SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 't'", (database,))
    return bool(cur.fetchone()["n"])


def _rows(cur: Any, table: str) -> int:
    cur.execute(f"SELECT COUNT(*) AS n FROM {table}")
    return int(cur.fetchone()["n"])
