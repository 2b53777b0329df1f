"""Mail servers for the test bed: one aiosmtpd process (``smtp_server.py``) on 127.0.0.1 with one
listener per setup, each an inventory target.

- ``smtp-good``: submission with STARTTLS (a certificate of the test CA), AUTH only after it,
  relaying only for logged-in clients; the inventory gives the right password.
- ``smtp-wrongpass``: the same listener, with the password the provider revoked.
- ``smtps-good``: the same over TLS from the first byte (``smtps://``).
- ``smtp-bad``: no STARTTLS, AUTH offered in plain text, and an open relay.
- ``smtp-expired``: STARTTLS with an expired certificate; otherwise as good.

Mail is accepted only for ``mail.test`` unless the client logged in; whatever is accepted is
discarded.  The accounts' passwords reach the process in its configuration file (mode 0600),
never on its command line.
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass

from tests.servers.base import LOOPBACK, Instance, ServerProcess, connectable, env_name, free_port, make_tempdir
from tests.servers.certs import TestCA
from tests.servers.inventory import REPO

USER = "app@mail.test"


@dataclass
class MailBed:
    """The mail server process and its targets by name."""

    server: ServerProcess
    targets: dict[str, Instance]

    def stop(self) -> None:
        self.server.stop()


def launch_mail(ca: TestCA) -> MailBed:
    workdir = make_tempdir("smtp")
    good_cert = ca.issue(f"{workdir.name}-smtp")
    expired_cert = ca.issue(f"{workdir.name}-smtp-expired", expired=True)
    ports = {name: free_port() for name in ("good", "implicit", "bad", "expired")}
    password = secrets.token_urlsafe(18)
    listeners = [
        {"port": ports["good"], "tls": "starttls", "cert": str(good_cert.chain), "key": str(good_cert.key)},
        {"port": ports["implicit"], "tls": "implicit", "cert": str(good_cert.chain), "key": str(good_cert.key)},
        {"port": ports["bad"], "tls": "none", "auth_before_tls": True, "open_relay": True},
        {"port": ports["expired"], "tls": "starttls", "cert": str(expired_cert.chain), "key": str(expired_cert.key)},
    ]
    config = workdir / "smtp.json"
    config.touch(mode=0o600)
    config.write_text(json.dumps({"listeners": listeners, "users": {USER: password}, "local_domains": ["mail.test"]}))
    server = ServerProcess(name="smtp", argv=[sys.executable, "-m", "tests.servers.smtp_server", str(config)], workdir=workdir,
                           log=workdir / "server.log", env={"PYTHONPATH": str(REPO)})
    server.start(lambda: all(connectable(LOOPBACK, port) for port in ports.values()))

    def target(name: str, url: str, secret: str | None) -> Instance:
        entry: dict[str, object] = {"url": url, "username": USER, "ca_bundle": str(ca.ca_file)}
        env: dict[str, str] = {}
        if secret is not None:
            var = env_name(name, "password")
            entry["password"] = f"${{{var}}}"
            env[var] = secret
        return Instance(name=name, kind="smtp", entry=entry, env=env, server=None, admin={"password": password})

    revoked = secrets.token_urlsafe(18)
    targets = {
        "smtp-good": target("smtp-good", f"smtp://{LOOPBACK}:{ports['good']}", password),
        "smtp-wrongpass": target("smtp-wrongpass", f"smtp://{LOOPBACK}:{ports['good']}", revoked),
        "smtps-good": target("smtps-good", f"smtps://{LOOPBACK}:{ports['implicit']}", password),
        "smtp-bad": target("smtp-bad", f"smtp://{LOOPBACK}:{ports['bad']}", password),
        "smtp-expired": target("smtp-expired", f"smtp://{LOOPBACK}:{ports['expired']}", password),
    }
    return MailBed(server, targets)
