"""Redis for the test bed: one server per instance, set up well (``good``) or badly (``bad``).

``good`` has ACL users (the default user off), protected mode, a memory cap with an eviction
policy fit for the instance's role, append-only persistence where losing data loses work
(a broker), and an application user that may not run administrative or destructive commands.
``bad`` is Redis out of the box with protected mode turned off: no password, no memory cap.

A cache sees lookups at start: ``good`` answers nearly all of them from memory, ``bad`` misses
nearly all.  ``good`` has written a snapshot (BGSAVE) once set up; ``bad`` never saves.
``replica_of`` starts a replica: of a test-bed instance (its link up before the launcher
returns), or of a port where nothing listens (its link down for good).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

import redis

from tests.servers.base import (
    LOOPBACK,
    Instance,
    LauncherError,
    ServerProcess,
    env_name,
    find_binary,
    free_port,
    make_tempdir,
    wait_until,
)
from tests.servers.certs import TestCA

Variant = Literal["good", "bad"]
Role = Literal["cache", "broker", "session"]

APP = "app"
ADMIN = "admin"

#: Eviction policy and append-only persistence each role needs: a cache may drop keys, a
#: broker or a session store must refuse writes instead, and a broker must survive a restart.
ROLE_POLICY: dict[Role, tuple[str, bool]] = {
    "cache": ("allkeys-lru", False),
    "broker": ("noeviction", True),
    "session": ("noeviction", False),
}

#: Lookups a cache sees at start: (keys written, lookups that hit, lookups that miss).
LOOKUPS: dict[Variant, tuple[int, int, int]] = {
    "good": (100, 1000, 20),
    "bad": (10, 20, 500),
}


def launch_redis(variant: Variant, name: str | None = None, role: Role = "cache", *, tls: bool = False, ca: TestCA | None = None,
                 replica_of: Instance | int | None = None) -> Instance:
    """Start a Redis server configured as ``variant`` for ``role`` and return its inventory entry.

    ``entry``: ``url`` (user ``app`` for ``good``, no user for ``bad``), ``role`` and, for
    ``good`` only, ``password`` as ``${DC_<NAME>_PASSWORD}``.  With ``tls=True`` (needs ``ca``)
    the server listens only for TLS, the URL is ``rediss://`` and ``ca_bundle`` is added.
    ``admin``: ``user``/``password`` of a full-rights user (None for ``bad``), ``port``, ``config``,
    ``log``, ``lookups`` (``LOOKUPS[variant]`` for a cache that is no replica, else None),
    ``saved`` (a BGSAVE finished: ``good``), ``replica_of`` (the master's port, or None).

    ``replica_of``: an instance to replicate from (as its admin user; a plain-TCP master) or the
    port of a master that is not there.
    """
    if tls and ca is None:
        raise LauncherError("launch_redis(tls=True) needs the test CA to issue the server certificate")
    tls_ca = ca if tls else None
    default_name = f"redis-{variant}" + ("" if role == "cache" else f"-{role}") + ("" if replica_of is None else "-replica")
    name = name or default_name
    workdir = make_tempdir(name)
    port = free_port()
    app_password = secrets.token_urlsafe(18)
    admin_password = secrets.token_urlsafe(18) if variant == "good" else None

    # A master sends a new replica its data at once rather than waiting 5 s for more replicas.
    settings = {"bind": LOOPBACK, "dir": str(workdir), "daemonize": "no", "logfile": '""', "save": '""', "repl-diskless-sync-delay": "0"}
    if tls_ca is not None:
        files = tls_ca.issue(f"{workdir.name}-server")
        settings |= {
            "port": "0", "tls-port": str(port), "tls-cert-file": str(files.chain), "tls-key-file": str(files.key),
            "tls-ca-cert-file": str(tls_ca.ca_file), "tls-auth-clients": "no", "tls-protocols": '"TLSv1.2 TLSv1.3"',
        }
    else:
        settings["port"] = str(port)
    lines = [f"{key} {value}" for key, value in settings.items()]
    if variant == "good":
        policy, append_only = ROLE_POLICY[role]
        lines += [
            "protected-mode yes",
            "maxmemory 64mb",
            f"maxmemory-policy {policy}",
            f"appendonly {'yes' if append_only else 'no'}",
            "user default off",
            f"user {ADMIN} on >{admin_password} ~* &* +@all",
            # The application may use data commands, never reconfigure or wipe the server.
            f"user {APP} on >{app_password} ~* &* +@all -@admin -flushall -flushdb",
        ]
    else:
        lines += ["protected-mode no", "maxmemory 0", "appendonly no"]
    master_port: int | None = None
    if isinstance(replica_of, Instance):
        master_port = int(replica_of.admin["port"])
        lines.append(f"replicaof {LOOPBACK} {master_port}")
        if replica_of.admin["user"] is not None:
            lines += [f"masteruser {replica_of.admin['user']}", f"masterauth {replica_of.admin['password']}"]
    elif replica_of is not None:
        master_port = replica_of
        lines.append(f"replicaof {LOOPBACK} {master_port}")
    config = workdir / "redis.conf"
    config.write_text("".join(line + "\n" for line in lines))

    server = ServerProcess(name=name, argv=[find_binary("redis-server"), str(config)], workdir=workdir, log=workdir / "server.log")
    admin_user = ADMIN if variant == "good" else None
    ca_file = tls_ca.ca_file if tls_ca else None
    server.start(lambda: _can_login(port, admin_user, admin_password, ca_file))
    lookups = LOOKUPS[variant] if role == "cache" and replica_of is None else None
    try:
        with _client(port, admin_user, admin_password, ca_file) as client:
            if isinstance(replica_of, Instance):
                wait_until(lambda: client.info("replication").get("master_link_status") == "up", 30, f"{name} to sync from its master")
            if lookups is not None:
                _look_up(client, *lookups)
            if variant == "good":
                _snapshot(client)
    except BaseException:
        server.stop()
        raise

    scheme = "rediss" if tls_ca is not None else "redis"
    user_part = f"{APP}@" if variant == "good" else ""
    entry = {"url": f"{scheme}://{user_part}{LOOPBACK}:{port}/0", "role": role}
    env: dict[str, str] = {}
    if variant == "good":
        password_var = env_name(name, "password")
        entry["password"] = f"${{{password_var}}}"
        env[password_var] = app_password
    if tls_ca is not None:
        entry["ca_bundle"] = str(tls_ca.ca_file)
    return Instance(
        name=name,
        kind="redis",
        entry=entry,
        env=env,
        server=server,
        admin={"user": admin_user, "password": admin_password, "port": port, "config": str(config), "log": str(server.log),
               "lookups": lookups, "saved": variant == "good", "replica_of": master_port},
    )


def _client(port: int, user: str | None, password: str | None, ca_file: Path | None) -> redis.Redis:
    return redis.Redis(
        host=LOOPBACK, port=port, username=user, password=password, socket_timeout=5,
        ssl=ca_file is not None, ssl_ca_certs=str(ca_file) if ca_file else None,
    )


def _can_login(port: int, user: str | None, password: str | None, ca_file: Path | None) -> bool:
    with _client(port, user, password, ca_file) as client:
        return bool(client.ping())


def _look_up(client: redis.Redis, keys: int, hits: int, misses: int) -> None:
    """Write ``keys`` keys, then read ``hits`` existing and ``misses`` absent ones (keyspace_hits/misses)."""
    pipe = client.pipeline(transaction=False)
    for n in range(keys):
        pipe.set(f"page:{n}", "cached page", ex=3600)
    for n in range(hits):
        pipe.get(f"page:{n % keys}")
    for n in range(misses):
        pipe.get(f"absent:{n}")
    pipe.execute()


def _snapshot(client: redis.Redis) -> None:
    """BGSAVE and wait until it finished well: rdb_saves up by one, rdb_last_bgsave_status ok."""
    before = int(client.info("persistence")["rdb_saves"])
    client.bgsave()

    def finished() -> bool:
        info = client.info("persistence")
        return not info["rdb_bgsave_in_progress"] and int(info["rdb_saves"]) > before

    wait_until(finished, 30, "BGSAVE to finish")
    if client.info("persistence")["rdb_last_bgsave_status"] != "ok":
        raise LauncherError("BGSAVE failed on a good Redis")
