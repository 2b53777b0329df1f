"""The data-store launchers of the test bed: they start, answer real clients, stop cleanly, and
their ``bad`` variants are really bad, so a check that passes on ``good`` and fails on ``bad``
is tested against the thing it claims to detect."""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest
import redis
from psycopg.conninfo import make_conninfo

from tests.servers.base import Instance
from tests.servers.certs import TestCA
from tests.servers.mariadb import launch_mariadb
from tests.servers.postgres import MIGRATION_BEHIND, MIGRATION_HEAD, launch_postgres
from tests.servers.redis import launch_redis


def _password(instance: Instance) -> str | None:
    """The entry's password with its ``${VAR}`` resolved from the instance's env, as a runner would."""
    reference = instance.entry.get("password")
    return None if reference is None else string.Template(reference).substitute(instance.env)


def _one(cursor: psycopg.Cursor[Any] | pymysql.cursors.Cursor, query: str) -> tuple[Any, ...]:
    cursor.execute(query)
    row = cursor.fetchone()
    assert row is not None, f"no row from {query}"
    return tuple(row)


def _pg(instance: Instance, **overrides: str) -> psycopg.Connection[Any]:
    dsn = make_conninfo(instance.entry["dsn"], **overrides)
    return psycopg.connect(dsn, password=_password(instance), connect_timeout=5)


def _mysql(instance: Instance, *, tls: bool = True) -> pymysql.Connection[pymysql.cursors.Cursor]:
    url = urlsplit(instance.entry["dsn"])
    ca_bundle = instance.entry.get("ca_bundle") if tls else None
    return pymysql.connect(
        host=url.hostname, port=url.port, user=url.username, password=_password(instance) or "",
        database=url.path.lstrip("/"), connect_timeout=5,
        # Left alone, PyMySQL quietly prefers TLS without verifying it: say which one is meant.
        ssl_disabled=ca_bundle is None, ssl_ca=ca_bundle, ssl_verify_identity=ca_bundle is not None,
    )


def _redis(instance: Instance, *, authenticate: bool = True) -> redis.Redis:
    url = urlsplit(instance.entry["url"])
    if not authenticate:
        url = url._replace(netloc=f"{url.hostname}:{url.port}")
    # redis-py accepts TLS options only for rediss:// URLs.
    tls = {"ssl_ca_certs": instance.entry["ca_bundle"]} if "ca_bundle" in instance.entry else {}
    return redis.Redis.from_url(url.geturl(), password=_password(instance) if authenticate else None, socket_timeout=5, **tls)


def _logged_in_user(instance: Instance) -> str:
    if instance.kind == "postgres":
        with _pg(instance) as conn:
            return str(_one(conn.cursor(), "SELECT current_user")[0])
    if instance.kind == "mysql":
        with _mysql(instance) as conn, conn.cursor() as cur:
            return str(_one(cur, "SELECT CURRENT_USER()")[0])
    with _redis(instance) as client:
        return str(client.acl_whoami())


# --- every launcher: start, answer, stop without leftovers ------------------------------------

LAUNCHERS: dict[str, Callable[[TestCA], Instance]] = {
    "postgres": lambda ca: launch_postgres("good", ca, name="pg-lifecycle"),
    "mariadb": lambda ca: launch_mariadb("good", ca, name="mariadb-lifecycle"),
    "redis": lambda _ca: launch_redis("good", name="redis-lifecycle"),
    "redis-tls": lambda ca: launch_redis("good", name="redis-tls-lifecycle", tls=True, ca=ca),
}


@pytest.mark.parametrize("launch", LAUNCHERS.values(), ids=LAUNCHERS.keys())
def test_launcher_answers_and_stops_without_leftovers(launch: Callable[[TestCA], Instance], test_ca: TestCA) -> None:
    instance = launch(test_ca)
    try:
        assert instance.server is not None
        pid, workdir = instance.server.pid, instance.server.workdir
        assert _logged_in_user(instance) in {"app", "app@127.0.0.1"}
    finally:
        instance.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # Nothing of its process group (PostgreSQL backends, ...) outlives it either.
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not workdir.exists()


@pytest.mark.parametrize("fixture", ["pg_good", "pg_bad", "mariadb_good", "mariadb_bad", "redis_good"])
def test_password_is_an_env_reference_generated_per_run(fixture: str, request: pytest.FixtureRequest) -> None:
    instance: Instance = request.getfixturevalue(fixture)
    [(var, value)] = instance.env.items()
    assert instance.entry["password"] == f"${{{var}}}"
    assert var.startswith("DC_")
    assert len(value) >= 16
    assert value not in str(instance.entry)


# --- PostgreSQL -----------------------------------------------------------------------------


def test_pg_good_accepts_app_over_verified_tls_only(pg_good: Instance) -> None:
    with _pg(pg_good) as conn:
        assert _one(conn.cursor(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == (True,)
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        _pg(pg_good, sslmode="disable").close()


def test_pg_bad_accepts_plain_text(pg_bad: Instance) -> None:
    with _pg(pg_bad) as conn:
        assert _one(conn.cursor(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == (False,)


PG_PROBES = {
    "superuser": "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
    "statement_timeout": "SHOW statement_timeout",
    "password_encryption": "SHOW password_encryption",
    "log_connections": "SHOW log_connections",
    "log_min_duration_statement": "SHOW log_min_duration_statement",
    "public_can_create": "SELECT has_schema_privilege('public', 'public', 'CREATE')",
    "public_table_grants": "SELECT count(DISTINCT table_name) FROM information_schema.table_privileges"
    " WHERE grantee = 'PUBLIC' AND table_schema = 'public'",
    # A foreign key is covered when an index starts with its (first) column.
    "unindexed_fks": "SELECT count(*) FROM pg_constraint c WHERE c.contype = 'f' AND NOT EXISTS"
    " (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
    "migration": "SELECT version_num FROM alembic_version",
}


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("pg_good", {"superuser": False, "statement_timeout": "30s", "password_encryption": "scram-sha-256",
                     "log_connections": "on", "log_min_duration_statement": "500ms", "public_can_create": False,
                     "public_table_grants": 0, "unindexed_fks": 0, "migration": MIGRATION_HEAD}),
        ("pg_bad", {"superuser": True, "statement_timeout": "0", "password_encryption": "md5",
                    "log_connections": "off", "log_min_duration_statement": "-1", "public_can_create": True,
                    "public_table_grants": 1, "unindexed_fks": 1, "migration": MIGRATION_BEHIND}),
    ],
)
def test_pg_variant_is_what_it_claims(fixture: str, expected: dict[str, object], request: pytest.FixtureRequest) -> None:
    instance: Instance = request.getfixturevalue(fixture)
    with _pg(instance) as conn:
        observed = {name: _one(conn.cursor(), query)[0] for name, query in PG_PROBES.items()}
    assert observed == expected
    assert instance.admin["migration_head"] == MIGRATION_HEAD


def test_pg_bad_keeps_the_default_superuser_password(pg_bad: Instance) -> None:
    url = urlsplit(pg_bad.entry["dsn"])
    with psycopg.connect(host=url.hostname, port=url.port, user="postgres", password="postgres", dbname="postgres", sslmode="disable") as conn:
        assert _one(conn.cursor(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == (True,)


# --- MariaDB --------------------------------------------------------------------------------


def test_mariadb_good_accepts_app_over_verified_tls_only(mariadb_good: Instance) -> None:
    with _mysql(mariadb_good) as conn, conn.cursor() as cur:
        assert _one(cur, "SHOW SESSION STATUS LIKE 'Ssl_version'")[1].startswith("TLSv1.")
    with pytest.raises(pymysql.OperationalError):
        _mysql(mariadb_good, tls=False).close()


def test_mariadb_bad_accepts_plain_text(mariadb_bad: Instance) -> None:
    with _mysql(mariadb_bad, tls=False) as conn, conn.cursor() as cur:
        assert _one(cur, "SHOW SESSION STATUS LIKE 'Ssl_version'") == ("Ssl_version", "")


@pytest.mark.parametrize(
    ("fixture", "grant", "expected"),
    [
        ("mariadb_good", "GRANT SELECT, INSERT, UPDATE, DELETE ON `app`.* TO `app`@`127.0.0.1`",
         {"anonymous": 0, "empty_passwords": 0, "remote_root": 0, "test_db": 0, "local_infile": 0, "slow_query_log": 1}),
        ("mariadb_bad", "GRANT ALL PRIVILEGES ON *.* TO `app`@`127.0.0.1`",
         {"anonymous": 1, "empty_passwords": 2, "remote_root": 1, "test_db": 1, "local_infile": 1, "slow_query_log": 0}),
    ],
)
def test_mariadb_variant_is_what_it_claims(fixture: str, grant: str, expected: dict[str, int], request: pytest.FixtureRequest) -> None:
    instance: Instance = request.getfixturevalue(fixture)
    with _mysql(instance) as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = " ".join(row[0] for row in cur.fetchall())
    admin = instance.admin
    with pymysql.connect(unix_socket=admin["socket"], user=admin["user"], password=admin["password"], ssl_disabled=True) as conn, conn.cursor() as cur:
        accounts = _one(cur, (
            "SELECT SUM(user = ''),"
            " SUM(authentication_string = '' AND plugin IN ('', 'mysql_native_password') AND user <> 'mariadb.sys'),"
            " SUM(user = 'root' AND host NOT IN ('localhost', '127.0.0.1', '::1')),"
            " (SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'test') FROM mysql.user"
        ))
        # A query of its own: MariaDB reads system variables as 0 inside an aggregate query.
        variables = _one(cur, "SELECT @@local_infile, @@slow_query_log")
    names = ("anonymous", "empty_passwords", "remote_root", "test_db", "local_infile", "slow_query_log")
    assert grant in grants
    assert dict(zip(names, map(int, (*accounts, *variables)), strict=True)) == expected


# --- Redis ----------------------------------------------------------------------------------


def test_redis_good_refuses_clients_without_password(redis_good: Instance) -> None:
    with _redis(redis_good) as client:
        assert client.ping()
    with _redis(redis_good, authenticate=False) as client, pytest.raises(redis.AuthenticationError):
        client.ping()


def test_redis_bad_accepts_clients_without_password(redis_bad: Instance) -> None:
    with _redis(redis_bad, authenticate=False) as client:
        assert client.ping()


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("redis_good", {"maxmemory": 64 * 1024 * 1024, "maxmemory_policy": "allkeys-lru", "aof_enabled": 0}),
        ("redis_broker_good", {"maxmemory": 64 * 1024 * 1024, "maxmemory_policy": "noeviction", "aof_enabled": 1}),
        ("redis_bad", {"maxmemory": 0, "maxmemory_policy": "noeviction", "aof_enabled": 0}),
    ],
)
def test_redis_variant_is_what_it_claims(fixture: str, expected: dict[str, object], request: pytest.FixtureRequest) -> None:
    instance: Instance = request.getfixturevalue(fixture)
    with _redis(instance) as client:
        info = {**client.info("memory"), **client.info("persistence")}
    assert {key: info[key] for key in expected} == expected


def test_redis_good_app_user_cannot_reconfigure_or_wipe(redis_good: Instance, redis_bad: Instance) -> None:
    with _redis(redis_good) as client:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.config_set("maxmemory", "0")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushall()
    with _redis(redis_bad) as client:
        assert client.config_get("protected-mode") == {"protected-mode": "no"}
