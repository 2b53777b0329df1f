"""The ``redis`` kind: a Redis server through redis-py, with socket and connect timeouts."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import urllib.parse
from typing import Any

from pytest_deploycheck.outcomes import NotApplicable, TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.http import url_address
from pytest_deploycheck.targets.reach import Reachability, first_line
from pytest_deploycheck.targets.sql import chain, connection_rules, validate_dsn


class RedisTarget(TargetHandle):
    """A Redis target through redis-py, with socket and connect timeouts."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._client: Any = None

    def client(self, **overrides: Any) -> Any:
        import redis

        if self._client is None or overrides:
            kwargs: dict[str, Any] = {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout, "decode_responses": True}
            if self.target.get("username"):
                kwargs["username"] = self.target.get("username")
            if self.target.get("password") is not None:
                kwargs["password"] = self.target.get("password")
            if self.target.get("ca_bundle"):
                kwargs["ssl_ca_certs"] = str(self.target.get("ca_bundle"))
            kwargs.update(overrides)
            client = redis.Redis.from_url(str(self.target.spec["url"]), **kwargs)
            if overrides:
                return client
            self._client = client
        return self._client

    def warm(self) -> None:
        self.command("PING")  # connects and logs in

    def command(self, *args: Any) -> Any:
        """Run one (read-only) command, e.g. ``command("CONFIG", "GET", "maxmemory")``."""
        import redis

        with self.reach.guard(self.target, unreachable=(redis.ConnectionError, redis.TimeoutError), unusable=(redis.AuthenticationError,)):
            try:
                return self.client().execute_command(*args)
            except redis.exceptions.InvalidResponse as exc:
                # Not the Redis protocol (garbage, another service on the port): unusable, like a reset.
                raise redis.ConnectionError(f"the answer is not the Redis protocol ({first_line(exc)})") from None

    def permitted(self, *args: Any) -> Any:
        """``command(*args)``; a command this login may not run (or the server does not know)
        ends the check as not applicable, naming the ACL permission to grant (``+config|get``)."""
        import redis

        try:
            return self.command(*args)
        except redis.exceptions.NoPermissionError as exc:
            text = str(exc)
            permission = text.split("run the '", 1)[1].split("'", 1)[0] if "run the '" in text else str(args[0]).lower()
            raise NotApplicable(f"{self.label}: user {self.user} may not run {' '.join(map(str, args[:2]))} (ACL permission "
                                f"+{permission}); grant it to the user deploycheck logs in as, or check this by hand", unexamined=True) from None
        except redis.exceptions.ResponseError as exc:
            if "unknown command" in str(exc).lower() or "unknown subcommand" in str(exc).lower():
                raise NotApplicable(f"{self.label}: the server does not know {' '.join(map(str, args[:2]))} ({first_line(exc)})") from None
            raise

    def anonymous(self, *args: str) -> str:
        """Send one command on a new connection that presents no credentials; return the reply
        line (``+PONG``, ``-NOAUTH Authentication required.``): whether anyone who reaches the
        server gets in.  TLS (verified with ``ca_bundle``) for rediss:// URLs."""
        address = self.target.endpoint
        if address is None:
            raise TargetError(f"{self.label}: the URL names no host and port")
        payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        reply = b""
        with self.reach.guard(self.target, unreachable=(socket.timeout,)):
            sock: socket.socket = socket.create_connection(address, timeout=self.timeout)
            try:
                if str(self.target.spec["url"]).startswith("rediss://"):
                    ca_bundle = self.target.get("ca_bundle")
                    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
                    sock = context.wrap_socket(sock, server_hostname=address[0])
                sock.sendall(payload)
                deadline = time.monotonic() + self.timeout  # a reply dripped byte by byte still ends in time
                while b"\r\n" not in reply and len(reply) < 4096:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no complete reply within {self.timeout:g}s")
                    sock.settimeout(left)
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            finally:
                sock.close()
        return reply.split(b"\r\n", 1)[0].decode(errors="replace")

    @property
    def user(self) -> str:
        """The ACL user the checks log in as: ``username``, else the URL's, else ``default``."""
        from_url = urllib.parse.urlsplit(str(self.target.spec["url"])).username
        return str(self.target.get("username") or (urllib.parse.unquote(from_url) if from_url else "default"))

    @property
    def role(self) -> str:
        return str(self.target.get("role") or "cache")

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()



FIELDS: dict[str, Field] = {
    "url": Field("url", "redis:// or rediss:// URL; a password in it only from the environment (url: ${REDIS_URL})", required=True),
    "username": Field("str", "ACL user (default: from the URL)"),
    "password": Field("str", "password (use ${VAR})"),
    "role": Field("choice", "what the instance is for: decides the eviction and persistence checks", choices=("cache", "broker", "session", "queue")),
    "ca_bundle": Field("path", "CA bundle for rediss://", must_exist=True),
    "app_user": Field("str", "ACL user the application connects as, for the dangerous-commands check (default: the user the checks log in as)"),
    "supported_until": Field("str", "YYYY-MM-DD until which the vendor (e.g. a distribution's security team) supports this build; replaces the upstream end-of-life date"),
}


def address(target: Target) -> tuple[str, int] | None:
    return url_address(str(target.spec["url"]), {"redis": 6379, "rediss": 6379})


KIND = TargetKind(
    name="redis", fixture="redis", handle=RedisTarget, fields=FIELDS, address=address,
    validate=chain(validate_dsn("url"), connection_rules("url", ("redis", "rediss", "unix"), url_only=True)),
    summary="""A ``redis`` target: ``redis.command("CONFIG", "GET", "maxmemory")`` with timeouts.""",
)
