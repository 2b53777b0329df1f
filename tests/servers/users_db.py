"""An application ``users`` table in a test-bed PostgreSQL, for the password-storage check.

The sample app keeps its accounts in memory; what the check reads is the table an application
stores its password hashes in.  ``seed_users`` creates ``users (id, username, password_hash)``,
owned by the application role (as a migration would), so the inventory's DSN can read it:

* ``good``: bcrypt at cost 12 (``$2b$12$``) and argon2id at OWASP's first recommended
  setting (``$argon2id$v=19$m=19456,t=2,p=1$``);
* ``bad``: bcrypt at cost 4 (``$2b$04$``), an unsalted MD5 hex digest and a plaintext password.

Every hash is real, of a random password: bcrypt from the ``bcrypt`` package, argon2id from
``cryptography`` (RFC 9106, encoded as the PHC string argon2-cffi and libsodium write).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse
from typing import Literal

import bcrypt
import psycopg
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from psycopg import sql

from tests.servers.base import Instance
from tests.servers.postgres import APP

Variant = Literal["good", "bad"]
Scheme = Literal["bcrypt-12", "argon2id", "bcrypt-4", "md5", "plaintext"]

TABLE = "users"
COLUMN = "password_hash"
#: The user names and how each one's password is stored, per variant.
ROWS: dict[Variant, tuple[tuple[str, Scheme], ...]] = {
    "good": (("ana", "bcrypt-12"), ("ben", "argon2id")),
    "bad": (("carl", "bcrypt-4"), ("dora", "md5"), ("eve", "plaintext")),
}
#: OWASP Password Storage Cheat Sheet: argon2id with 19 MiB, 2 iterations, 1 degree of parallelism.
ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES = 19456, 2, 1


def bcrypt_hash(password: str, cost: int) -> str:
    """``$2b$<cost>$<salt><hash>``."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


def argon2id_hash(password: str, *, memory_kib: int = ARGON2_MEMORY_KIB, iterations: int = ARGON2_ITERATIONS,
                  lanes: int = ARGON2_LANES) -> str:
    """The PHC string ``$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>`` (unpadded base64)."""
    salt = secrets.token_bytes(16)
    digest = Argon2id(salt=salt, length=32, iterations=iterations, lanes=lanes, memory_cost=memory_kib).derive(password.encode())

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return f"$argon2id$v=19$m={memory_kib},t={iterations},p={lanes}${b64(salt)}${b64(digest)}"


def stored_form(password: str, scheme: Scheme) -> str:
    """What an application following ``scheme`` writes into the password column."""
    if scheme == "bcrypt-12":
        return bcrypt_hash(password, 12)
    if scheme == "bcrypt-4":
        return bcrypt_hash(password, 4)
    if scheme == "argon2id":
        return argon2id_hash(password)
    if scheme == "md5":
        return hashlib.md5(password.encode(), usedforsecurity=False).hexdigest()  # the defect on show
    return password


def seed_users(admin_dsn: str, variant: Variant, *, role: str = APP, table: str = TABLE, column: str = COLUMN) -> dict[str, Scheme]:
    """Create (or refill) ``table`` in the database of ``admin_dsn`` as ``role`` with ``variant``'s rows.

    ``admin_dsn`` is a superuser's (``launch_postgres(...).admin["dsn"]``); returns user name ->
    scheme.  Idempotent: a second call replaces the rows with fresh ones.
    """
    rows = ROWS[variant]
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        # Owned by the application role, as its migrations would leave it: the check reads as that role.
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                             " username text NOT NULL UNIQUE, {} text NOT NULL)").format(sql.Identifier(table), sql.Identifier(column)))
        conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        for username, scheme in rows:
            conn.execute(sql.SQL("INSERT INTO {} (username, {}) VALUES (%s, %s)").format(sql.Identifier(table), sql.Identifier(column)),
                         (username, stored_form(secrets.token_urlsafe(12), scheme)))
        conn.execute("RESET ROLE")
    return dict(rows)


ACCOUNTS_DB = "accounts"


def _with_dbname(dsn: str, dbname: str) -> str:
    """``dsn`` (a libpq URL) naming another database of the same server."""
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def with_users_table(postgres: Instance, variant: Variant) -> Instance:
    """``postgres`` (a ``launch_postgres`` Instance) with ``seed_users`` applied, as a new Instance.

    Same name, ``entry`` and ``env``; ``server`` None (stopping it leaves the cluster to its own
    fixture); ``admin`` adds ``password_storage`` ({"table", "column"}, what the inventory names)
    and ``password_schemes`` (user name -> scheme).
    """
    # A database of its own on the same cluster: the users table must not show up in what other
    # checks of the ``app`` database see (pg-24 compares that database with its schema file).
    admin_dsn = _with_dbname(postgres.admin["dsn"], "postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (ACCOUNTS_DB,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(ACCOUNTS_DB), sql.Identifier(APP)))
    schemes = seed_users(_with_dbname(postgres.admin["dsn"], ACCOUNTS_DB), variant)
    return Instance(
        name=postgres.name,
        kind=postgres.kind,
        entry={**postgres.entry, "dsn": _with_dbname(postgres.entry["dsn"], ACCOUNTS_DB)},
        env=dict(postgres.env),
        server=None,
        admin={**postgres.admin, "dsn": _with_dbname(postgres.admin["dsn"], ACCOUNTS_DB), "password_storage": {"table": TABLE, "column": COLUMN}, "password_schemes": schemes},
    )
