"""PostgreSQL for the test bed: one cluster per instance, set up well (``good``) or badly (``bad``).

``good`` is what a go-live checklist asks for: TLS with a certificate from the test CA, only
``hostssl``/SCRAM in pg_hba, an unprivileged application role with timeouts, no PUBLIC
privileges, indexed foreign keys, connection and slow-statement logging, migrations at head.
``bad`` gets each of those wrong, on purpose and all at once, so every check has something real
to fail on.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from tests.servers.base import (
    LOOPBACK,
    Instance,
    ServerProcess,
    chown_tree,
    env_name,
    find_binary,
    free_port,
    make_tempdir,
    run,
    unprivileged_user,
)
from tests.servers.certs import TestCA

Variant = Literal["good", "bad"]

#: The Alembic revision the application expects; ``good`` is at it, ``bad`` lags one behind.
MIGRATION_HEAD = "3f2a9c1d7e4b"
MIGRATION_BEHIND = "1a0b2c3d4e5f"

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
    },
    "bad": {
        "ssl": "off",
        "password_encryption": "'md5'",
        "log_connections": "off",
        "log_min_duration_statement": "-1",
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
    ],
}

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


def launch_postgres(variant: Variant, ca: TestCA, name: str | None = None) -> Instance:
    """Start a PostgreSQL cluster configured as ``variant`` and return its inventory entry.

    ``entry``: ``dsn`` (role ``app``, database ``app``; ``sslmode=verify-full`` against the CA
    for ``good``, ``sslmode=disable`` for ``bad``) and ``password`` as ``${DC_<NAME>_PASSWORD}``.
    ``admin``: superuser ``dsn`` over the Unix socket (password inline), ``port``, ``ca_file``,
    ``migration_head`` (the revision the application expects), ``datadir``, ``log``.
    """
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
    )
    try:
        _initdb(datadir, superuser_password, user)
        _configure(variant, ca, workdir, datadir, port)
        if user is not None:
            chown_tree(workdir, user)
        # Database ``app`` does not exist yet: probe and create it from the maintenance database.
        server.start(lambda: _can_login(admin_dsn))
        _set_up(variant, admin_dsn, app_password)
    except BaseException:
        server.stop()
        raise

    if variant == "good":
        dsn = f"postgresql://{APP}@{LOOPBACK}:{port}/{APP}?sslmode=verify-full&sslrootcert={ca.ca_file}"
    else:
        dsn = f"postgresql://{APP}@{LOOPBACK}:{port}/{APP}?sslmode=disable"
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


def _configure(variant: Variant, ca: TestCA, workdir: Path, datadir: Path, port: int) -> None:
    """Replace initdb's postgresql.conf and pg_hba.conf with the variant's own."""
    settings = {
        **_FAST,
        "listen_addresses": f"'{LOOPBACK}'",
        "port": str(port),
        "unix_socket_directories": f"'{workdir}'",
        **_SETTINGS[variant],
    }
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
        for statement in [*_SCHEMA, *_APP_SETUP[variant]]:
            conn.execute(statement)
        conn.execute("RESET ROLE")
        for statement in _ADMIN_SETUP[variant]:
            conn.execute(statement)
