"""MariaDB for the test bed: one server per instance, set up well (``good``) or badly (``bad``).

``good`` follows the usual hardening list (mysql_secure_installation plus the dev-sec MySQL
baseline): TLS required, no anonymous users, no ``test`` database, root only on the local
socket, an application user limited to DML on its own schema, no LOCAL INFILE, a slow-query log.
``bad`` gets each of those wrong at once, so every check has something real to fail on.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Literal

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
)
from tests.servers.certs import TestCA

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
    },
    "bad": {
        "local-infile": "ON",
        "slow-query-log": "OFF",
    },
}

_SCHEMA = [
    f"CREATE DATABASE {APP}",
    f"CREATE TABLE {APP}.customers (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE)",
]

def launch_mariadb(variant: Variant, ca: TestCA, name: str | None = None) -> Instance:
    """Start a MariaDB server configured as ``variant`` and return its inventory entry.

    ``entry``: ``dsn`` (user ``app``, database ``app``), ``password`` as
    ``${DC_<NAME>_PASSWORD}`` and, for ``good`` only, ``ca_bundle`` (the test CA's file).
    ``admin``: ``user`` (root), ``password``, ``socket``, ``port``, ``ca_file``, ``datadir``, ``log``.
    """
    name = name or f"mariadb-{variant}"
    workdir = make_tempdir(name)
    datadir = workdir / "data"
    socket_path = workdir / "mysqld.sock"
    port = free_port()
    root_password = secrets.token_urlsafe(18)
    app_password = secrets.token_urlsafe(18)
    run_as = ["--user=root"] if os.geteuid() == 0 else []

    settings = {
        **_FAST,
        "datadir": str(datadir),
        "socket": str(socket_path),
        "pid-file": str(workdir / "mysqld.pid"),
        "port": str(port),
        "bind-address": LOOPBACK,
        **_SETTINGS[variant],
    }
    if variant == "good":
        files = ca.issue(f"{workdir.name}-server")
        settings |= {
            "ssl-cert": str(files.chain), "ssl-key": str(files.key), "ssl-ca": str(ca.ca_file),
            "slow-query-log-file": str(workdir / "slow.log"),
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
            find_binary("mariadb-install-db"), "--no-defaults", *run_as, f"--datadir={datadir}",
            "--auth-root-authentication-method=normal", "--skip-test-db",
        ])
        server.start(lambda: _can_login(socket_path))
        _set_up(variant, socket_path, root_password, app_password)
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
        for statement in _SCHEMA:
            cur.execute(statement)
        for statement, args in _accounts(variant, root_password, app_password):
            cur.execute(statement, args)
        cur.execute("ALTER USER root@localhost IDENTIFIED BY %s", (root_password,))
