"""A small production-shaped web application for the test bed, and its launcher.

The app has what a go-live checklist asks about: health, readiness (PostgreSQL and Redis),
liveness, Prometheus metrics, JWT login, a protected API, an admin area, a rate-limited
search, a session cookie and a WebSocket.  It comes in two variants, chosen by configuration:

* ``good``: debug off, rate limit on (``DC_APP_RATE_LIMIT`` requests per
  ``DC_APP_RATE_WINDOW`` seconds per client), ``Cache-Control: no-store``, tokens valid 15 minutes, session cookie
  ``Secure; HttpOnly; SameSite=Lax``, ``/admin`` refused (401 anonymous, 403 otherwise).
* ``bad``: debug on (``/debug`` page, tracebacks in error pages, ``X-Powered-By``,
  ``Server: uvicorn``, TRACE echoed), no rate limit, tokens valid 30 days, ``admin``/``admin``
  accepted, unsigned ``alg: none`` tokens accepted, cookie without flags, ``/admin`` open.

Both variants let ``GET /api/search?limit=oops`` fail with an unhandled error, so what an
unexpected error reveals (a bare 500 or a traceback) differs only by the debug setting.

The app runs under uvicorn in its own process (``launch_app``) and reads its configuration,
secrets included, from ``DC_APP_*`` environment variables, never from the command line.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
import struct
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import jwt
import starlette
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.servers import base

Variant = Literal["good", "bad"]

ISSUER = "deploycheck-sample-app"
SESSION_COOKIE = "session"
USERNAME = "qa-robot"  # not a word reports contain: it comes from ${VAR}, so it is masked
#: What a careless deployment leaves enabled and the bad variant accepts.
DEFAULT_CREDENTIALS = ("admin", "admin")
TOKEN_LIFETIME = {"good": 15 * 60, "bad": 30 * 24 * 3600}
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Where the inventory finds each endpoint; shared by the app and the nginx sites in front of it.
HEALTH_PATHS = {"health": "/health", "ready": "/health/ready", "live": "/health/live", "metrics": "/metrics"}
LOGIN_PATH = "/auth/login"
PROTECTED_PATHS = ["/api/me"]
ADMIN_PATHS = ["/admin"]
RATE_LIMITED_PATH = "/api/search"
WEBSOCKET_PATH = "/ws/echo"


@dataclass(frozen=True)
class Settings:
    """The app's configuration, read from ``DC_APP_*`` environment variables."""

    variant: Variant
    jwt_secret: str
    username: str
    password: str
    postgres_url: str | None = None
    redis_url: str | None = None
    rate_limit: int = 10
    rate_window: int = 60
    token_alg: str = "HS256"  # "none": the bad app's unsigned tokens, for auth-04

    @property
    def hardened(self) -> bool:
        return self.variant == "good"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        missing = [name for name in ("DC_APP_VARIANT", "DC_APP_JWT_SECRET", "DC_APP_PASSWORD") if not environ.get(name)]
        if missing:
            raise RuntimeError(f"sample app: set {', '.join(missing)} in the environment")
        variant = environ["DC_APP_VARIANT"]
        if variant not in ("good", "bad"):
            raise RuntimeError(f"sample app: DC_APP_VARIANT must be 'good' or 'bad', got {variant!r}")
        return cls(
            variant=variant,  # type: ignore[arg-type]  # checked just above
            jwt_secret=environ["DC_APP_JWT_SECRET"],
            username=environ.get("DC_APP_USERNAME", USERNAME),
            password=environ["DC_APP_PASSWORD"],
            postgres_url=environ.get("DC_APP_POSTGRES_URL") or None,
            redis_url=environ.get("DC_APP_REDIS_URL") or None,
            rate_limit=int(environ.get("DC_APP_RATE_LIMIT", "10")),
            rate_window=int(environ.get("DC_APP_RATE_WINDOW", "60")),
            token_alg=environ.get("DC_APP_TOKEN_ALG", "HS256"),
        )

    def to_env(self) -> dict[str, str]:
        """The environment ``from_env`` reads these settings back from."""
        return {
            "DC_APP_VARIANT": self.variant,
            "DC_APP_JWT_SECRET": self.jwt_secret,
            "DC_APP_USERNAME": self.username,
            "DC_APP_PASSWORD": self.password,
            "DC_APP_POSTGRES_URL": self.postgres_url or "",
            "DC_APP_REDIS_URL": self.redis_url or "",
            "DC_APP_RATE_LIMIT": str(self.rate_limit),
            "DC_APP_RATE_WINDOW": str(self.rate_window),
            "DC_APP_TOKEN_ALG": self.token_alg,
        }


@dataclass
class _State:
    """What the app remembers between requests: counters for /metrics, rate-limit windows."""

    started: float = field(default_factory=time.time)
    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)


# --- dependency probes: speak just enough of each protocol to know a real server answers ---


def _address(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or base.LOOPBACK, parts.port or default_port


async def _probe_postgres(url: str) -> None:
    reader, writer = await asyncio.open_connection(*_address(url, 5432))
    try:
        # An SSLRequest is answered with one byte, S or N, by any PostgreSQL before authentication.
        writer.write(struct.pack("!ii", 8, 80877103))
        answer = await reader.readexactly(1)
    finally:
        writer.close()
    if answer not in (b"S", b"N"):
        raise ConnectionError(f"not a PostgreSQL server (answered {answer!r})")


def _resp_command(*words: str) -> bytes:
    encoded = [word.encode() for word in words]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded)


async def _probe_redis(url: str) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(*_address(url, 6379))
    try:
        if parts.password:
            auth = [unquote(parts.username)] if parts.username else []
            writer.write(_resp_command("AUTH", *auth, unquote(parts.password)))
            reply = await reader.readline()
            if not reply.startswith(b"+OK"):
                raise ConnectionError(f"AUTH refused: {reply.decode(errors='replace').strip()}")
        writer.write(_resp_command("PING"))
        reply = await reader.readline()
    finally:
        writer.close()
    if not reply.startswith(b"+PONG"):
        raise ConnectionError(f"PING answered {reply.decode(errors='replace').strip()!r}")


async def _dependency_status(url: str | None, probe: Callable[[str], Awaitable[None]]) -> str:
    if url is None:
        return "not configured"
    try:
        await asyncio.wait_for(probe(url), timeout=2.0)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
        return f"error: {exc or type(exc).__name__}"
    return "ok"


# --- the application ---


def make_app(environ: Mapping[str, str] | None = None) -> Starlette:
    """The ASGI app, configured from ``environ`` (default: the process environment).

    Run it with ``python -m uvicorn tests.servers.app:make_app --factory``.
    """
    settings = Settings.from_env(os.environ if environ is None else environ)
    state = _State()

    def current_user(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            if not settings.hardened and jwt.get_unverified_header(token).get("alg") == "none":
                # The classic flaw: letting the token itself say that it needs no signature.
                claims = jwt.decode(token, options={"verify_signature": False})
            else:
                claims = jwt.decode(
                    token, settings.jwt_secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "iat", "sub"]}
                )
        except jwt.InvalidTokenError:
            return None
        subject = claims.get("sub")
        return subject if isinstance(subject, str) else None

    def unauthorized() -> JSONResponse:
        return JSONResponse({"detail": "authentication required"}, 401, headers={"WWW-Authenticate": "Bearer"})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def ready(request: Request) -> JSONResponse:
        checks = {
            "postgres": await _dependency_status(settings.postgres_url, _probe_postgres),
            "redis": await _dependency_status(settings.redis_url, _probe_redis),
        }
        ok = all(status in ("ok", "not configured") for status in checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503)

    async def metrics(request: Request) -> PlainTextResponse:
        lines = [
            "# HELP app_info Sample application variant.",
            "# TYPE app_info gauge",
            f'app_info{{variant="{settings.variant}"}} 1',
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {state.started:.3f}",
            "# HELP http_requests_total HTTP requests answered, by method, route and status.",
            "# TYPE http_requests_total counter",
        ]
        lines += [
            f'http_requests_total{{method="{method}",path="{path}",status="{status}"}} {count}'
            for (method, path, status), count in sorted(state.requests.items())
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")

    async def login(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            username, password = str(body["username"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"detail": 'expected JSON {"username": ..., "password": ...}'}, 400)
        accepted = hmac.compare_digest(username.encode(), settings.username.encode()) and hmac.compare_digest(
            password.encode(), settings.password.encode()
        )
        if not settings.hardened and (username, password) == DEFAULT_CREDENTIALS:
            accepted = True
        if not accepted:
            return JSONResponse({"detail": "invalid credentials"}, 401)
        now = int(time.time())
        lifetime = TOKEN_LIFETIME[settings.variant]
        claims = {"sub": username, "iss": ISSUER, "iat": now, "exp": now + lifetime}
        if settings.token_alg == "none" and not settings.hardened:
            token = jwt.encode(claims, None, algorithm="none")
        else:
            token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
        response = JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": lifetime})
        if settings.hardened:
            response.set_cookie(SESSION_COOKIE, token, max_age=lifetime, secure=True, httponly=True, samesite="lax")
        else:
            response.set_cookie(SESSION_COOKIE, token, max_age=lifetime, samesite=None)
        return response

    async def me(request: Request) -> JSONResponse:
        user = current_user(request)
        return unauthorized() if user is None else JSONResponse({"username": user})

    async def admin(request: Request) -> JSONResponse:
        if not settings.hardened:
            return JSONResponse({"page": "admin console", "users": [settings.username, DEFAULT_CREDENTIALS[0]]})
        if current_user(request) is None:
            return unauthorized()
        return JSONResponse({"detail": "admin role required"}, 403)

    async def search(request: Request) -> JSONResponse:
        # Deliberately unvalidated: ?limit=oops raises, see the module docstring.  Parsed before
        # the limiter, so provoking the error never uses up a client's allowance.
        limit = int(request.query_params.get("limit", "10"))
        query = request.query_params.get("q", "")
        headers: dict[str, str] = {}
        if settings.hardened:
            allowed, headers = _take_from_window(state, settings, request.client.host if request.client else "unknown")
            if not allowed:
                return JSONResponse({"detail": "too many requests"}, 429, headers=headers)
        return JSONResponse({"query": query, "results": [f"{query}-{n}" for n in range(min(limit, 3))]}, headers=headers)

    async def debug_page(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "debug": True,
                "python": sys.version,
                "starlette": starlette.__version__,
                "variant": settings.variant,
                "environment": sorted(name for name in os.environ if name.startswith("DC_APP_")),
            }
        )

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "TRACE" and not settings.hardened:
            # Cross-site tracing: echo the request, headers (and so cookies) included.
            echoed = "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
            response: Response = PlainTextResponse(f"TRACE {request.url.path} HTTP/1.1\r\n{echoed}", media_type="message/http")
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        state.requests[(request.method, getattr(route, "path", "unmatched"), response.status_code)] += 1
        if not settings.hardened:
            response.headers["X-Powered-By"] = f"Starlette/{starlette.__version__} Python/{sys.version.split()[0]}"
        else:
            # Every answer is per-user or live state: no shared cache may keep it.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    routes = [
        Route(HEALTH_PATHS["health"], health),
        Route(HEALTH_PATHS["ready"], ready),
        Route(HEALTH_PATHS["live"], live),
        Route(HEALTH_PATHS["metrics"], metrics),
        Route(LOGIN_PATH, login, methods=["POST"]),
        Route(PROTECTED_PATHS[0], me),
        Route(ADMIN_PATHS[0], admin),
        Route(RATE_LIMITED_PATH, search),
        WebSocketRoute(WEBSOCKET_PATH, echo),
    ]
    if not settings.hardened:
        routes.append(Route("/debug", debug_page))
    return Starlette(debug=not settings.hardened, routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=observe)])


def _take_from_window(state: _State, settings: Settings, client: str) -> tuple[bool, dict[str, str]]:
    """Fixed-window limiter; the headers follow the IETF RateLimit header fields draft."""
    now = time.monotonic()
    start, used = state.windows.get(client, (now, 0))
    if now - start >= settings.rate_window:
        start, used = now, 0
    allowed = used < settings.rate_limit
    if allowed:
        used += 1
    state.windows[client] = (start, used)
    reset = max(1, int(start + settings.rate_window - now + 0.999))
    headers = {
        "RateLimit-Limit": str(settings.rate_limit),
        "RateLimit-Remaining": str(settings.rate_limit - used),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{settings.rate_limit};w={settings.rate_window}",
    }
    if not allowed:
        headers["Retry-After"] = str(reset)
    return allowed, headers


# --- the launcher ---


def http_entry(url: str, instance: str) -> dict[str, Any]:
    """The inventory entry for this app at ``url``; credentials as ``${VAR}`` named for ``instance``."""
    return {
        "url": url,
        "paths": dict(HEALTH_PATHS),
        "auth": {
            "login_path": LOGIN_PATH,
            "username": "${" + base.env_name(instance, "username") + "}",
            "password": "${" + base.env_name(instance, "password") + "}",
            "protected_paths": list(PROTECTED_PATHS),
        },
        "admin_paths": list(ADMIN_PATHS),
        "rate_limited_path": RATE_LIMITED_PATH,
        "websocket_path": WEBSOCKET_PATH,
    }


def credentials_env(instance: str, username: str, password: str) -> dict[str, str]:
    """The values behind the ``${VAR}`` references of ``http_entry(..., instance)``."""
    return {base.env_name(instance, "username"): username, base.env_name(instance, "password"): password}


def _answers(port: int, path: str) -> bool:
    # http.client rather than urllib/requests: no proxy from the environment can get in between.
    connection = HTTPConnection(base.LOOPBACK, port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    finally:
        connection.close()


def launch_app(
    variant: Variant, *, postgres_url: str | None = None, redis_url: str | None = None, rate_limit: int = 10, rate_window: int = 60,
    token_alg: str = "HS256", name: str | None = None,
) -> base.Instance:
    """Start the sample app (``good`` or ``bad``) under uvicorn on a free port.

    ``postgres_url``/``redis_url`` make ``/health/ready`` probe those servers; without them it
    reports them as "not configured" and stays ready.  The Instance (kind ``http``) has
    ``http_entry``'s keys, ``env`` with the login, and ``admin`` with ``port``, ``variant``,
    ``username``, ``password``, ``jwt_secret``, ``rate_limit``, ``rate_window``, ``token_lifetime``.
    ``token_alg="none"`` makes the bad app issue unsigned tokens.
    """
    name = name or f"app-{variant}"
    workdir = base.make_tempdir(name)
    port = base.free_port()
    settings = Settings(
        variant,
        jwt_secret=secrets.token_hex(32),
        username=USERNAME,
        password=secrets.token_urlsafe(18),
        postgres_url=postgres_url,
        redis_url=redis_url,
        rate_limit=rate_limit,
        rate_window=rate_window,
        token_alg=token_alg,
    )
    env = {"PYTHONPATH": str(PROJECT_ROOT), **settings.to_env()}
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.servers.app:make_app",
        "--factory",
        "--host",
        base.LOOPBACK,
        "--port",
        str(port),
        "--ws",
        "websockets-sansio",
        "--server-header" if variant == "bad" else "--no-server-header",
    ]
    server = base.ServerProcess(name, argv, workdir, workdir / "uvicorn.log", env=env)
    server.start(lambda: _answers(port, HEALTH_PATHS["live"]))
    return base.Instance(
        name=name,
        kind="http",
        entry=http_entry(f"http://{base.LOOPBACK}:{port}", name),
        env=credentials_env(name, settings.username, settings.password),
        server=server,
        admin={
            "port": port,
            "variant": variant,
            "username": settings.username,
            "password": settings.password,
            "jwt_secret": settings.jwt_secret,
            "rate_limit": rate_limit,
            "rate_window": rate_window,
            "token_lifetime": TOKEN_LIFETIME[variant],
        },
    )
