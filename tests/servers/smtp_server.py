"""The test bed's mail server process: aiosmtpd (a complete SMTP server, Apache-2.0) listening on
the ports a JSON configuration names, each set up as a mail provider would be, well or badly.

    python -m tests.servers.smtp_server CONFIG.json

The configuration (a file, never the command line: it holds the accounts' passwords) lists
listeners: ``{"port", "tls": "starttls"|"implicit"|"none", "cert", "key", "auth_before_tls",
"open_relay"}`` and ``users`` (name -> password).  Mail is accepted only for ``local_domains``
unless the client logged in (or the listener is an open relay), and every accepted message is
discarded.  Runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class Handler:
    def __init__(self, local_domains: list[str], open_relay: bool) -> None:
        self.local_domains = {d.lower() for d in local_domains}
        self.open_relay = open_relay

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        domain = address.rpartition("@")[2].lower()
        if not (self.open_relay or session.authenticated or domain in self.local_domains):
            return "554 5.7.1 Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Discarded"


class Accounts:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and self.users.get(data.login.decode()) == data.password.decode():
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def _context(listener: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(listener["cert"], listener["key"])
    return context


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    controllers = []
    for listener in config["listeners"]:
        tls = listener.get("tls", "none")
        smtp_args: dict[str, Any] = {
            "server_hostname": "mail.test", "authenticator": Accounts(config["users"]),
            "auth_require_tls": not listener.get("auth_before_tls", False),
        }
        if tls == "starttls":
            smtp_args |= {"tls_context": _context(listener), "require_starttls": listener.get("require_starttls", True)}
        if tls == "implicit":
            # The whole connection is TLS; aiosmtpd's AUTH-needs-TLS rule knows only STARTTLS.
            smtp_args |= {"ssl_context": _context(listener), "auth_require_tls": False}
        controller = Controller(Handler(config["local_domains"], listener.get("open_relay", False)), hostname="127.0.0.1",
                                port=int(listener["port"]), **smtp_args)
        controller.start()
        controllers.append(controller)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        for controller in controllers:
            controller.stop()


if __name__ == "__main__":
    main(sys.argv[1])
