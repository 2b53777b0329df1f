"""PgBouncer for the test bed: one pooler per instance in front of a PostgreSQL of the test bed.

``good`` pools per transaction with a client limit the server can carry and no client waiting;
``bad`` pools per session, accepts 10,000 clients for a pool of one, and has two clients queued
behind a third that holds the only server connection (held open by the launcher until the
pooler stops).  Both have an admin console user and a read-only console user (``stats_users``),
the one an inventory names: ``SHOW POOLS`` and ``SHOW CONFIG`` need nothing more.
"""

from __future__ import annotations

import secrets
import select
import shutil
import threading
from typing import Any, Literal

import psycopg

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
    unprivileged_user,
    wait_until,
)

Variant = Literal["good", "bad"]

MONITOR = "dc_monitor"
ADMIN = "dc_admin"
APP = "app"

_SETTINGS: dict[Variant, dict[str, str]] = {
    "good": {
        "pool_mode": "transaction",
        "max_client_conn": "200",
        "default_pool_size": "10",
    },
    "bad": {
        "pool_mode": "session",
        "max_client_conn": "10000",
        "default_pool_size": "1",
        # Queued clients would otherwise be dropped after 120 s, and the queue with them.
        "query_wait_timeout": "0",
    },
}

#: Clients ``bad`` keeps queued behind the one that holds its only server connection.
WAITING_CLIENTS = 2


def launch_pgbouncer(variant: Variant, postgres: Instance, name: str | None = None) -> Instance:
    """Start PgBouncer configured as ``variant`` in front of ``postgres`` (a ``launch_postgres``
    instance; database ``app`` as role ``app``) and return its inventory entry.

    ``entry``: ``dsn`` ``postgresql://dc_monitor@127.0.0.1:PORT/pgbouncer`` (the read-only console
    user) and ``password`` as ``${DC_<NAME>_PASSWORD}``.  ``admin``: ``port``, ``admin_user`` and
    ``admin_password`` (the admin console), ``app_dsn`` (database ``app`` through the pooler,
    password inline), ``settings`` (what the variant set), ``waiting_clients``, ``config``, ``log``.
    """
    name = name or f"pgbouncer-{variant}"
    user = unprivileged_user()  # PgBouncer refuses to run as root
    workdir = make_tempdir(name, owner=user)
    port = free_port()
    monitor_password = secrets.token_urlsafe(18)
    admin_password = secrets.token_urlsafe(18)
    app_password = next(iter(postgres.env.values()))
    pg_port = postgres.admin["port"]

    # The CA's directory is not readable by the pooler's account: bring the CA along.
    ca_copy = workdir / "server-ca.crt"
    shutil.copyfile(postgres.admin["ca_file"], ca_copy)
    # Plain passwords: PgBouncer needs the application's to log in to PostgreSQL with SCRAM.
    auth_file = workdir / "userlist.txt"
    auth_file.write_text("".join(f'"{u}" "{p}"\n' for u, p in ((APP, app_password), (MONITOR, monitor_password), (ADMIN, admin_password))))
    auth_file.chmod(0o600)
    server_tls = "verify-full" if postgres.entry["dsn"].find("sslmode=verify-full") >= 0 else "disable"
    settings = {
        "listen_addr": LOOPBACK,
        "listen_port": str(port),
        "unix_socket_dir": "",
        "auth_type": "scram-sha-256",
        "auth_file": str(auth_file),
        "admin_users": ADMIN,
        "stats_users": MONITOR,
        "server_tls_sslmode": server_tls,
        "server_tls_ca_file": str(ca_copy),
        **_SETTINGS[variant],
    }
    config = workdir / "pgbouncer.ini"
    config.write_text(
        f"[databases]\n{APP} = host={LOOPBACK} port={pg_port} dbname={APP}\n\n[pgbouncer]\n"
        + "".join(f"{key} = {value}\n" for key, value in settings.items())
    )
    if user is not None:
        chown_tree(workdir, user)

    console = f"postgresql://{ADMIN}:{admin_password}@{LOOPBACK}:{port}/pgbouncer?sslmode=disable"
    app_dsn = f"postgresql://{APP}:{app_password}@{LOOPBACK}:{port}/{APP}?sslmode=disable"
    server = ServerProcess(name=name, argv=[find_binary("pgbouncer"), str(config)], workdir=workdir, log=workdir / "server.log", user=user)
    try:
        server.start(lambda: bool(console_rows(console, "SHOW VERSION")))
        # One real query through the pool: the pool exists and has served, as in production.
        with psycopg.connect(app_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        if variant == "bad":
            _queue_clients(console, app_dsn)
    except BaseException:
        server.stop()
        raise

    password_var = env_name(name, "password")
    return Instance(
        name=name,
        kind="pgbouncer",
        entry={"dsn": f"postgresql://{MONITOR}@{LOOPBACK}:{port}/pgbouncer", "password": f"${{{password_var}}}"},
        env={password_var: monitor_password},
        server=server,
        admin={
            "port": port,
            "admin_user": ADMIN,
            "admin_password": admin_password,
            "app_dsn": app_dsn,
            "settings": dict(_SETTINGS[variant]),
            "waiting_clients": WAITING_CLIENTS if variant == "bad" else 0,
            "config": str(config),
            "log": str(server.log),
        },
    )


def console_rows(dsn: str, command: str, password: str | None = None) -> list[dict[str, Any]]:
    """Run a console command (``SHOW POOLS``) and return its rows as dicts.  The console speaks
    only the simple query protocol, which psycopg's client-side cursor uses."""
    with psycopg.connect(dsn, password=password, autocommit=True, connect_timeout=5, cursor_factory=psycopg.ClientCursor) as conn, \
            conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(command)
        return cur.fetchall()


def _queue_clients(console: str, app_dsn: str) -> None:
    """One client takes the only server connection (session pooling keeps it until the client
    leaves) and others queue behind it, each in a daemon thread that ends when the pooler stops."""
    holding = threading.Event()

    def client(hold: bool) -> None:
        conn: psycopg.Connection[Any] | None = None
        try:
            conn = psycopg.connect(app_dsn, autocommit=True, connect_timeout=5, application_name="report-worker")
            conn.execute("SELECT 1")  # the holder gets the server connection; the others wait here
            if hold:
                holding.set()
                # Idle, not in a transaction, yet the session keeps its server connection; wait
                # for the pooler to close the socket.
                select.select([conn.fileno()], [], [])
        except Exception:  # noqa: BLE001 - the pooler stopping ends every client; nothing to report
            pass
        finally:
            holding.set()
            if conn is not None:
                conn.close()

    threading.Thread(target=client, args=(True,), name="pgbouncer-holder", daemon=True).start()
    if not holding.wait(30):
        raise LauncherError("the client holding PgBouncer's only server connection did not start")
    for n in range(WAITING_CLIENTS):
        threading.Thread(target=client, args=(False,), name=f"pgbouncer-waiter-{n}", daemon=True).start()

    def queued() -> bool:
        pools = [row for row in console_rows(console, "SHOW POOLS") if row["database"] == APP]
        return sum(int(row["cl_waiting"]) for row in pools) == WAITING_CLIENTS

    wait_until(queued, 30, f"{WAITING_CLIENTS} clients to queue in PgBouncer")
