"""The application ``users`` table of ``tests.servers.users_db``, in a test-bed MariaDB.

Same rows and hashes as the PostgreSQL one (``users_db.ROWS``, ``users_db.stored_form``), in the
application database ``app``, which the application account can read; created as root over the
local socket, as a migration would.
"""

from __future__ import annotations

import secrets

import pymysql

from tests.servers.base import Instance
from tests.servers.mariadb import APP
from tests.servers.users_db import COLUMN, ROWS, TABLE, Scheme, Variant, stored_form


def seed_users_mysql(mariadb: Instance, variant: Variant) -> dict[str, Scheme]:
    """Create (or refill) ``app.users`` in a ``launch_mariadb`` Instance with ``variant``'s rows;
    returns user name -> scheme."""
    conn = pymysql.connect(unix_socket=mariadb.admin["socket"], user="root", password=mariadb.admin["password"],
                           ssl_disabled=True, autocommit=True, connect_timeout=5)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {APP}.{TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
                    f" username VARCHAR(64) NOT NULL UNIQUE, {COLUMN} VARCHAR(255) NOT NULL)")
        cur.execute(f"DELETE FROM {APP}.{TABLE}")
        for username, scheme in ROWS[variant]:
            cur.execute(f"INSERT INTO {APP}.{TABLE} (username, {COLUMN}) VALUES (%s, %s)",
                        (username, stored_form(secrets.token_urlsafe(12), scheme)))
    return dict(ROWS[variant])


def with_users_table_mysql(mariadb: Instance, variant: Variant) -> Instance:
    """``mariadb`` with ``seed_users_mysql`` applied, as a new Instance (``server`` None; ``admin``
    adds ``password_storage`` and ``password_schemes`` as ``users_db.with_users_table`` does)."""
    schemes = seed_users_mysql(mariadb, variant)
    return Instance(name=mariadb.name, kind=mariadb.kind, entry=dict(mariadb.entry), env=dict(mariadb.env), server=None,
                    admin={**mariadb.admin, "password_storage": {"table": TABLE, "column": COLUMN}, "password_schemes": schemes})
