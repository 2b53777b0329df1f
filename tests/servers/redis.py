"""Redis for the test bed: one server per instance, set up well (``good``) or badly (``bad``).

``good`` has ACL users (the default user off), protected mode, a memory cap with an eviction
policy fit for the instance's role, append-only persistence where losing data loses work
(a broker), and an application user that may not run administrative or destructive commands.
``bad`` is Redis out of the box with protected mode turned off: no password, no memory cap.
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


def launch_redis(variant: Variant, name: str | None = None, role: Role = "cache", *, tls: bool = False, ca: TestCA | None = None) -> Instance:
    """Start a Redis server configured as ``variant`` for ``role`` and return its inventory entry.

    ``entry``: ``url`` (user ``app`` for ``good``, no user for ``bad``), ``role`` and, for
    ``good`` only, ``password`` as ``${DC_<NAME>_PASSWORD}``.  With ``tls=True`` (needs ``ca``)
    the server listens only for TLS, the URL is ``rediss://`` and ``ca_bundle`` is added.
    ``admin``: ``user``/``password`` of a full-rights user (None for ``bad``), ``port``, ``config``, ``log``.
    """
    if tls and ca is None:
        raise LauncherError("launch_redis(tls=True) needs the test CA to issue the server certificate")
    tls_ca = ca if tls else None
    name = name or f"redis-{variant}" + ("" if role == "cache" else f"-{role}")
    workdir = make_tempdir(name)
    port = free_port()
    app_password = secrets.token_urlsafe(18)
    admin_password = secrets.token_urlsafe(18) if variant == "good" else None

    settings = {"bind": LOOPBACK, "dir": str(workdir), "daemonize": "no", "logfile": '""', "save": '""'}
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
    config = workdir / "redis.conf"
    config.write_text("".join(line + "\n" for line in lines))

    server = ServerProcess(name=name, argv=[find_binary("redis-server"), str(config)], workdir=workdir, log=workdir / "server.log")
    admin_user = ADMIN if variant == "good" else None
    server.start(lambda: _can_login(port, admin_user, admin_password, tls_ca.ca_file if tls_ca else None))

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
        admin={"user": admin_user, "password": admin_password, "port": port, "config": str(config), "log": str(server.log)},
    )


def _can_login(port: int, user: str | None, password: str | None, ca_file: Path | None) -> bool:
    with redis.Redis(
        host=LOOPBACK, port=port, username=user, password=password, socket_timeout=2,
        ssl=ca_file is not None, ssl_ca_certs=str(ca_file) if ca_file else None,
    ) as client:
        return bool(client.ping())
