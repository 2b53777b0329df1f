"""RabbitMQ for the test bed: a private node with the management plugin, as a plain process.

Nothing is shared with a system RabbitMQ: the node has its own name (``dc-<random>@localhost``),
its own Erlang cookie (``HOME`` is the temporary directory), its own epmd on a free port (started
by us in the foreground, so it is stopped by its pid like the node), and its AMQP, AMQPS (TLS, a
certificate of a throw-away CA), distribution and management ports on 127.0.0.1.  There is no ``guest``: an ``admin`` user (administrator tag)
is created at boot from the config file, and the application user ``app`` (``management`` tag,
full rights on its vhost only) through the management API, as an operator would.

The management HTTP API (``/api/queues/<vhost>``) is what shows queue depth and consumers.
"""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import amqp
import requests

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

APP = "app"
ADMIN = "admin"
#: The application user's rights on its own vhost (and on no other).
ALL_RIGHTS = {"configure": ".*", "write": ".*", "read": ".*"}

#: Where Debian puts the node's own start script; ``/usr/sbin/rabbitmq-server`` is a wrapper
#: that switches to the ``rabbitmq`` account and its shared data directory, which we avoid.
SERVER_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


#: How often a node is started again on fresh ports when a port chosen free was taken before the
#: node bound it (``free_port`` can only say a port is free now; the suite starts servers in parallel).
PORT_CLASH_ATTEMPTS = 3


def launch_rabbitmq(name: str = "rabbitmq", vhost: str = "app", *, timeout: float = 120.0) -> Instance:
    """Start a private RabbitMQ node (``_launch``), again on fresh ports when one it was given was
    taken meanwhile; see ``_launch`` for the entry."""
    for attempt in range(1, PORT_CLASH_ATTEMPTS + 1):
        try:
            return _launch(name, vhost, timeout=timeout)
        except LauncherError as exc:
            if attempt == PORT_CLASH_ATTEMPTS or not any(s in str(exc) for s in ("could_not_start_listener", "eaddrinuse")):
                raise
    raise AssertionError("unreachable")


def _launch(name: str, vhost: str, *, timeout: float) -> Instance:
    """Start a private RabbitMQ node and return its inventory entry.

    ``entry``: ``url`` (``amqp://app@127.0.0.1:PORT/<vhost>``), ``password`` as
    ``${DC_<NAME>_PASSWORD}``, ``management_url`` (``http://127.0.0.1:PORT``).
    ``admin``: ``user``/``password`` of the administrator, ``app_password``, ``vhost``,
    ``amqp_port``, ``tls_port`` (AMQPS) and ``ca_file`` (the CA its certificate chains to),
    ``management_port``, ``dist_port``, ``epmd_port``, ``nodename``, ``log``,
    ``startup_seconds`` (epmd + node boot + management API answering), ``epmd`` (its ServerProcess).
    """
    if not SERVER_SCRIPT.exists():
        find_binary("rabbitmq-server")  # raises naming the Debian package
        raise LauncherError(f"{SERVER_SCRIPT} not found: install it with 'apt-get install -y rabbitmq-server'")
    started = time.monotonic()
    workdir = make_tempdir(name)
    amqp_port, dist_port, epmd_port, mgmt_port, tls_port = free_port(), free_port(), free_port(), free_port(), free_port()
    ca = TestCA.create(workdir / "ca")
    tls = ca.issue("rabbitmq", ("localhost", LOOPBACK))
    nodename = f"dc-{secrets.token_hex(4)}@localhost"
    admin_password = secrets.token_urlsafe(18)
    app_password = secrets.token_urlsafe(18)

    for sub in ("mnesia", "log"):
        (workdir / sub).mkdir()
    config = workdir / "rabbitmq.conf"
    config.write_text(
        "\n".join([
            f"default_vhost = {vhost}",
            f"default_user = {ADMIN}",
            f"default_pass = {admin_password}",
            "default_user_tags.administrator = true",
            "default_permissions.configure = .*",
            "default_permissions.read = .*",
            "default_permissions.write = .*",
            f"management.tcp.port = {mgmt_port}",
            f"management.tcp.ip = {LOOPBACK}",
            # AMQP over TLS beside the plain listener (RABBITMQ_NODE_PORT): clients choose amqps://.
            f"listeners.ssl.1 = {LOOPBACK}:{tls_port}",
            f"ssl_options.cacertfile = {ca.ca_file}",
            f"ssl_options.certfile = {tls.cert}",
            f"ssl_options.keyfile = {tls.key}",
            "ssl_options.verify = verify_none",
            "ssl_options.fail_if_no_peer_cert = false",
            "log.console = false",
            "log.file.level = info",
            # The machine is shared: a node that stops accepting messages because another
            # engineer filled the disk or memory would make the tests flaky, not more real.
            "disk_free_limit.absolute = 10MB",
            "",
        ])
    )
    config.chmod(0o600)
    plugins = workdir / "enabled_plugins"
    plugins.write_text("[rabbitmq_management].\n")
    env_file = workdir / "rabbitmq-env.conf"
    env_file.write_text("")  # so /etc/rabbitmq/rabbitmq-env.conf is not read

    epmd = ServerProcess(
        name=f"{name}-epmd", argv=[find_binary("epmd"), "-port", str(epmd_port), "-address", LOOPBACK],
        workdir=workdir / "log", log=workdir / "epmd.log",
    )
    epmd.start(lambda: connectable(epmd_port))

    env = {
        "HOME": str(workdir),  # the node writes its own .erlang.cookie here
        "RABBITMQ_NODENAME": nodename,
        "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": LOOPBACK,
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(workdir / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_CONF_ENV_FILE": str(env_file),
        # Erlang distribution on loopback only; the node is never clustered.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    server = ServerProcess(
        name=name, argv=[str(SERVER_SCRIPT)], workdir=workdir, log=workdir / "log" / "console.log",
        env=env,
    )
    management_url = f"http://{LOOPBACK}:{mgmt_port}"
    admin_auth = (ADMIN, admin_password)
    try:
        server.start(lambda: _amqp_login(amqp_port, vhost, ADMIN, admin_password) and _api_ok(management_url, admin_auth), timeout=timeout)
        _put(management_url, admin_auth, f"/api/users/{APP}", {"password": app_password, "tags": "management"})
        _put(management_url, admin_auth, f"/api/permissions/{quote(vhost, safe='')}/{APP}", ALL_RIGHTS)
    except BaseException:
        server.stop()
        epmd.stop()
        raise
    startup = time.monotonic() - started

    password_var = env_name(name, "password")
    entry: dict[str, Any] = {
        "url": f"amqp://{APP}@{LOOPBACK}:{amqp_port}/{quote(vhost, safe='')}",
        "password": f"${{{password_var}}}",
        "management_url": management_url,
    }
    return RabbitInstance(
        name=name,
        kind="rabbitmq",
        entry=entry,
        env={password_var: app_password},
        server=server,
        admin={
            "user": ADMIN, "password": admin_password, "app_password": app_password, "vhost": vhost,
            "amqp_port": amqp_port, "management_port": mgmt_port, "management_url": management_url,
            "tls_port": tls_port, "ca_file": str(ca.ca_file),
            "dist_port": dist_port, "epmd_port": epmd_port, "nodename": nodename,
            "log": str(workdir / "log"), "startup_seconds": round(startup, 2), "epmd": epmd,
        },
    )


class RabbitInstance(Instance):
    """A RabbitMQ node: stopping it stops the node, then its private epmd."""

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            epmd = self.admin.get("epmd")
            if isinstance(epmd, ServerProcess):
                epmd.stop()


def add_vhost(instance: Instance, vhost: str) -> str:
    """Create ``vhost`` on the node and give the ``app`` user full rights on it; return its AMQP URL
    (``amqp://app@127.0.0.1:PORT/<vhost>``, no password).  One node serves several test setups
    this way, each isolated in its own vhost (queues, exchanges and Celery's pidbox alike)."""
    url, auth = instance.admin["management_url"], (instance.admin["user"], instance.admin["password"])
    quoted = quote(vhost, safe="")
    _put(url, auth, f"/api/vhosts/{quoted}", {})
    _put(url, auth, f"/api/permissions/{quoted}/{APP}", ALL_RIGHTS)
    return f"amqp://{APP}@{LOOPBACK}:{instance.admin['amqp_port']}/{quoted}"


def management_get(instance: Instance, path: str, *, admin: bool = False) -> Any:
    """GET a management API path (``/api/queues/app``) as ``app`` (or the administrator); JSON."""
    user, password = (instance.admin["user"], instance.admin["password"]) if admin else (APP, instance.admin["app_password"])
    response = requests.get(instance.admin["management_url"] + path, auth=(user, password), timeout=10)
    response.raise_for_status()
    return response.json()


def queue_depths(instance: Instance, vhost: str) -> dict[str, dict[str, int]]:
    """``{queue: {"messages": n, "consumers": n}}`` for ``vhost``, as the management API reports it.

    The API refreshes its statistics every few seconds (``collect_statistics_interval``), so a
    number read right after publishing may still be the previous one."""
    rows = management_get(instance, f"/api/queues/{quote(vhost, safe='')}")
    return {row["name"]: {"messages": int(row.get("messages", 0)), "consumers": int(row.get("consumers", 0))} for row in rows}


def _put(base: str, auth: tuple[str, str], path: str, body: dict[str, Any]) -> None:
    response = requests.put(base + path, json=body, auth=auth, timeout=10)
    if response.status_code not in (200, 201, 204):
        raise LauncherError(f"PUT {path} on the RabbitMQ management API failed: {response.status_code} {response.text}")


def _api_ok(base: str, auth: tuple[str, str]) -> bool:
    return requests.get(base + "/api/overview", auth=auth, timeout=2).status_code == 200


def _amqp_login(port: int, vhost: str, user: str, password: str) -> bool:
    connection = amqp.Connection(f"{LOOPBACK}:{port}", userid=user, password=password, virtual_host=vhost, connect_timeout=2)
    try:
        connection.connect()
        return True
    finally:
        connection.collect()


def connectable(port: int) -> bool:
    with socket.create_connection((LOOPBACK, port), timeout=0.5):
        return True


def wait_for_queue(instance: Instance, vhost: str, queue: str, *, messages: int, timeout: float = 30.0) -> None:
    """Wait until the management API reports at least ``messages`` ready in ``queue``."""
    wait_until(lambda: queue_depths(instance, vhost).get(queue, {}).get("messages", 0) >= messages, timeout, f"{messages} in {queue}")
