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

For the application-behaviour checks the app also has accounts in two roles, refresh tokens,
logout, a cookie session, a CSRF-guarded form and an OpenAPI document (``app_behaviour=True``
in ``http_entry`` names them all):

* the test account (``DC_APP_USERNAME``) has role ``admin``; a second, low-privilege account
  (``DC_APP_LOW_USERNAME``/``DC_APP_LOW_PASSWORD``) role ``user``; account 3 belongs to neither.
  ``good``: ``/api/admin/users`` refuses role ``user`` (403) and ``/api/users/{id}`` serves only
  the caller's own object (403 for another's).  ``bad``: both serve any authenticated caller.
* ``POST /api/auth/refresh`` trades a refresh token for a new pair.  ``good`` rotates (the old
  one is then refused, and presenting it again revokes the new one too); ``bad`` hands the same
  refresh token back, valid for 90 days.
* ``POST /api/auth/logout``: ``good`` revokes the presented token (or session); ``bad`` only
  clears the cookies and the token stays valid.
* ``POST /auth/form-login`` starts a server-side session, cookie ``sid``: ``good`` 8 hours and
  15 minutes idle, ``bad`` a year and no idle timeout; ``GET /api/session`` reports both.
* ``POST /api/profile``: ``good`` refuses a foreign ``Origin`` (or ``Referer``) with 403; ``bad``
  accepts it.
* ``GET /openapi.json``: both serve the same document; ``bad``'s ``/api/reports/summary``
  answers 500 and its ``/api/orders`` refuses every genuine token (a verification key that was
  never rotated in).
* ``GET /``: a small HTML front page.  ``good`` answers only for the hosts it serves
  (``localhost``, ``127.0.0.1``; any other ``Host`` gets 400, as Django's ``ALLOWED_HOSTS``
  does) and links relatively; ``bad`` builds its canonical and sign-in links from
  ``X-Forwarded-Host``, else ``Host``, whatever they say.

The app runs under uvicorn in its own process (``launch_app``) and reads its configuration,
secrets included, from ``DC_APP_*`` environment variables, never from the command line.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hmac
import json
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
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
import starlette
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.servers import base

Variant = Literal["good", "bad"]
#: The host names the good app answers for (any other Host header: 400).
SERVED_HOSTS = ("localhost", "127.0.0.1")

ISSUER = "deploycheck-sample-app"
SESSION_COOKIE = "session"
USERNAME = "qa-robot"  # not a word reports contain: it comes from ${VAR}, so it is masked
LOW_USERNAME = "qa-viewer"
#: An account neither test login owns: the "other user" whose object must stay out of reach.
OTHER_USERNAME = "dana.k"
Role = Literal["admin", "user"]
#: What a careless deployment leaves enabled and the bad variant accepts.
DEFAULT_CREDENTIALS = ("admin", "admin")
TOKEN_LIFETIME = {"good": 15 * 60, "bad": 30 * 24 * 3600}
TOKEN_ALGORITHM = "HS256"
REFRESH_LIFETIME = {"good": 8 * 3600, "bad": 90 * 24 * 3600}
#: The cookie session of the form flow: absolute lifetime and idle timeout (None: no idle timeout).
SESSION_LIFETIME = {"good": 8 * 3600, "bad": 365 * 24 * 3600}
SESSION_IDLE_TIMEOUT: dict[Variant, int | None] = {"good": 15 * 60, "bad": None}
SESSION_ID_COOKIE = "sid"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Where the inventory finds each endpoint; shared by the app and the nginx sites in front of it.
HEALTH_PATHS = {"health": "/health", "ready": "/health/ready", "live": "/health/live", "metrics": "/metrics"}
LOGIN_PATH = "/auth/login"
PROTECTED_PATHS = ["/api/me"]
ADMIN_PATHS = ["/admin"]
RATE_LIMITED_PATH = "/api/search"
WEBSOCKET_PATH = "/ws/echo"
# --- the application-behaviour endpoints (``http_entry(..., app_behaviour=True)``) ---
REFRESH_PATH = "/api/auth/refresh"
LOGOUT_PATH = "/api/auth/logout"
SESSION_LOGIN_PATH = "/auth/form-login"
SESSION_INFO_PATH = "/api/session"
ORDERS_PATH = "/api/orders"
ROLE_ADMIN_PATHS = ["/api/admin/users"]
USER_OBJECT_PATH = "/api/users/{id}"
USER_IDS = {"test": 1, "low_privilege": 2, "other": 3, "default_admin": 4}
OTHER_USER_PATH = USER_OBJECT_PATH.format(id=USER_IDS["other"])
PROFILE_PATH = "/api/profile"
REPORTS_PATH = "/api/reports/summary"
OPENAPI_PATH = "/openapi.json"


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
    low_username: str = LOW_USERNAME
    low_password: str | None = None  # None: no low-privilege account
    session_idle_timeout: int | None = None  # None: the variant's (SESSION_IDLE_TIMEOUT)

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
            low_username=environ.get("DC_APP_LOW_USERNAME") or LOW_USERNAME,
            low_password=environ.get("DC_APP_LOW_PASSWORD") or None,
            session_idle_timeout=int(environ["DC_APP_SESSION_IDLE_TIMEOUT"]) if environ.get("DC_APP_SESSION_IDLE_TIMEOUT") else None,
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
            "DC_APP_LOW_USERNAME": self.low_username,
            "DC_APP_LOW_PASSWORD": self.low_password or "",
            "DC_APP_SESSION_IDLE_TIMEOUT": "" if self.session_idle_timeout is None else str(self.session_idle_timeout),
        }

    @property
    def idle_timeout(self) -> int | None:
        return self.session_idle_timeout if self.session_idle_timeout is not None else SESSION_IDLE_TIMEOUT[self.variant]

    def accounts(self) -> dict[str, Account]:
        """Who can log in, by user name; the ids are ``USER_IDS``."""
        accounts = [Account(USER_IDS["test"], self.username, "admin", self.password)]
        if self.low_password:
            accounts.append(Account(USER_IDS["low_privilege"], self.low_username, "user", self.low_password))
        accounts.append(Account(USER_IDS["other"], OTHER_USERNAME, "user", None))
        if not self.hardened:
            accounts.append(Account(USER_IDS["default_admin"], DEFAULT_CREDENTIALS[0], "admin", DEFAULT_CREDENTIALS[1]))
        return {account.username: account for account in accounts}


@dataclass(frozen=True)
class Account:
    """A user of the app; ``password`` None: the account exists but cannot log in."""

    id: int
    username: str
    role: Role
    password: str | None

    def public(self, display_name: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "role": self.role, "display_name": display_name or self.username}


@dataclass
class _Refresh:
    username: str
    family: str  # every token rotated out of one login shares it: a replay revokes them all
    expires: float


@dataclass
class _Session:
    username: str
    created: float
    last_seen: float


@dataclass(frozen=True)
class _Principal:
    """Who sent a request, and through which credential (for logout to revoke exactly that)."""

    username: str
    jti: str | None = None
    sid: str | None = None


@dataclass
class _State:
    """What the app remembers between requests: counters for /metrics, rate-limit windows,
    revoked tokens, refresh tokens, cookie sessions and profile changes (one process, in memory)."""

    started: float = field(default_factory=time.time)
    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    refresh: dict[str, _Refresh] = field(default_factory=dict)
    spent_refresh: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    display_names: dict[str, str] = field(default_factory=dict)


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
    accounts = settings.accounts()
    accounts_by_id = {account.id: account for account in accounts.values()}
    # What the bad app's orders service still verifies with: a key that was never rotated in.
    stale_secret = settings.jwt_secret[::-1]

    def token_claims(token: str, secret: str) -> dict[str, Any] | None:
        try:
            if not settings.hardened and jwt.get_unverified_header(token).get("alg") == "none":
                # The classic flaw: letting the token itself say that it needs no signature.
                claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
            else:
                claims = jwt.decode(
                    token, secret, algorithms=[TOKEN_ALGORITHM], issuer=ISSUER, options={"require": ["exp", "iat", "sub"]}
                )
        except jwt.InvalidTokenError:
            return None
        if settings.hardened and claims.get("jti") in state.revoked:
            return None
        return claims

    def session_principal(sid: str) -> _Principal | None:
        session = state.sessions.get(sid)
        if session is None:
            return None
        now, idle = time.time(), settings.idle_timeout
        if now - session.created > SESSION_LIFETIME[settings.variant] or (idle is not None and now - session.last_seen > idle):
            del state.sessions[sid]
            return None
        session.last_seen = now
        return _Principal(session.username, sid=sid)

    def authenticate(request: Request, secret: str | None = None) -> _Principal | None:
        """A Bearer token, else the ``session`` cookie (a token), else the ``sid`` cookie session."""
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE)
        if token:
            claims = token_claims(token, secret or settings.jwt_secret)
            subject = claims.get("sub") if claims else None
            if not isinstance(subject, str):
                return None
            jti = claims.get("jti") if claims else None
            return _Principal(subject, jti=jti if isinstance(jti, str) else None)
        sid = request.cookies.get(SESSION_ID_COOKIE)
        return session_principal(sid) if sid else None

    def current_user(request: Request) -> str | None:
        principal = authenticate(request)
        return None if principal is None else principal.username

    def check_password(username: str, password: str) -> bool:
        account = accounts.get(username)
        if account is None or account.password is None:
            return False
        return hmac.compare_digest(password.encode(), account.password.encode())

    def issue_access(username: str) -> tuple[str, int]:
        now = int(time.time())
        lifetime = TOKEN_LIFETIME[settings.variant]
        # jti: what logout revokes.
        claims = {"sub": username, "iss": ISSUER, "iat": now, "exp": now + lifetime, "jti": secrets.token_hex(12)}
        if settings.token_alg == "none" and not settings.hardened:
            return jwt.encode(claims, "", algorithm="none"), lifetime  # PyJWT takes "" as no key
        return jwt.encode(claims, settings.jwt_secret, algorithm=TOKEN_ALGORITHM), lifetime

    def issue_refresh(username: str, family: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        state.refresh[token] = _Refresh(username, family or secrets.token_hex(8), time.time() + REFRESH_LIFETIME[settings.variant])
        return token

    def forbidden(detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, 403)

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
        # The bad app's accounts include admin/admin (DEFAULT_CREDENTIALS).
        if not check_password(username, password):
            return JSONResponse({"detail": "invalid credentials"}, 401)
        token, lifetime = issue_access(username)
        response = JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": lifetime, "refresh_token": issue_refresh(username)}
        )
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

    async def refresh(request: Request) -> JSONResponse:
        body = await _form_or_json(request)
        presented = body.get("refresh_token") if body else None
        if not isinstance(presented, str) or not presented:
            return JSONResponse({"detail": 'expected {"refresh_token": ...}'}, 400)
        if settings.hardened:
            record = state.refresh.pop(presented, None)
            if record is None:
                family = state.spent_refresh.get(presented)
                if family is not None:
                    # A spent token came back: someone holds a copy.  End the whole family.
                    for token in [t for t, r in state.refresh.items() if r.family == family]:
                        del state.refresh[token]
                return JSONResponse({"detail": "invalid refresh token"}, 401)
            state.spent_refresh[presented] = record.family
        else:
            record = state.refresh.get(presented)
            if record is None:
                return JSONResponse({"detail": "invalid refresh token"}, 401)
        if record.expires < time.time():
            state.refresh.pop(presented, None)
            return JSONResponse({"detail": "refresh token expired"}, 401)
        token, lifetime = issue_access(record.username)
        # The bad app never rotates: the same refresh token, again and again.
        renewed = issue_refresh(record.username, record.family) if settings.hardened else presented
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": lifetime, "refresh_token": renewed})

    async def logout(request: Request) -> Response:
        principal = authenticate(request)
        if principal is None:
            return unauthorized()
        if settings.hardened:
            if principal.jti is not None:
                state.revoked.add(principal.jti)
            if principal.sid is not None:
                state.sessions.pop(principal.sid, None)
            body = await _form_or_json(request)
            presented = body.get("refresh_token") if body else None
            record = state.refresh.get(presented) if isinstance(presented, str) else None
            if record is not None and record.username == principal.username:
                for token in [t for t, r in state.refresh.items() if r.family == record.family]:
                    del state.refresh[token]
        # The bad app only tells the browser to forget: the token itself stays valid.
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE)
        response.delete_cookie(SESSION_ID_COOKIE)
        return response

    async def form_login(request: Request) -> JSONResponse:
        body = await _form_or_json(request)
        username, password = (str(body.get("username", "")), str(body.get("password", ""))) if body else ("", "")
        if not username or not password:
            return JSONResponse({"detail": "expected username and password (form or JSON)"}, 400)
        if not check_password(username, password):
            return JSONResponse({"detail": "invalid credentials"}, 401)
        sid = secrets.token_urlsafe(32)
        now = time.time()
        state.sessions[sid] = _Session(username, now, now)
        lifetime = SESSION_LIFETIME[settings.variant]
        response = JSONResponse({"username": username, "expires_in": lifetime, "idle_timeout": settings.idle_timeout})
        # Max-Age and Expires both: old clients read only Expires.
        if settings.hardened:
            response.set_cookie(SESSION_ID_COOKIE, sid, max_age=lifetime, expires=lifetime, secure=True, httponly=True, samesite="lax")
        else:
            response.set_cookie(SESSION_ID_COOKIE, sid, max_age=lifetime, expires=lifetime, samesite=None)
        return response

    async def session_info(request: Request) -> JSONResponse:
        sid = request.cookies.get(SESSION_ID_COOKIE)
        principal = session_principal(sid) if sid else None
        if principal is None:
            return unauthorized()
        session = state.sessions[sid or ""]
        lifetime = SESSION_LIFETIME[settings.variant]
        return JSONResponse({
            "username": session.username,
            "created_at": _iso(session.created),
            "expires_at": _iso(session.created + lifetime),
            "absolute_timeout_s": lifetime,
            "idle_timeout_s": settings.idle_timeout,
        })

    async def admin_users(request: Request) -> JSONResponse:
        principal = authenticate(request)
        if principal is None:
            return unauthorized()
        account = accounts.get(principal.username)
        if settings.hardened and (account is None or account.role != "admin"):
            return forbidden("admin role required")
        return JSONResponse({"users": [a.public(state.display_names.get(a.username)) for a in accounts.values()]})

    async def user_object(request: Request) -> JSONResponse:
        principal = authenticate(request)
        if principal is None:
            return unauthorized()
        account = accounts_by_id.get(request.path_params["id"])
        if account is None:
            return JSONResponse({"detail": "no such user"}, 404)
        # Object-level authorisation (OWASP API1): the bad app checks only that someone logged in.
        if settings.hardened and account.username != principal.username:
            return forbidden("not your user object")
        return JSONResponse(account.public(state.display_names.get(account.username)))

    async def orders(request: Request) -> JSONResponse:
        principal = authenticate(request, None if settings.hardened else stale_secret)
        if principal is None:
            return unauthorized()
        return JSONResponse({"orders": [{"id": 1, "owner": principal.username, "total_cents": 4200}]})

    async def profile(request: Request) -> JSONResponse:
        if request.method == "POST" and settings.hardened and not _same_origin(request):
            return forbidden("cross-site request refused")
        principal = authenticate(request)
        if principal is None:
            return unauthorized()
        if request.method == "POST":
            body = await _form_or_json(request)
            name = body.get("display_name") if body else None
            if not isinstance(name, str) or not name.strip():
                return JSONResponse({"detail": "expected display_name (form or JSON)"}, 400)
            state.display_names[principal.username] = name.strip()[:80]
        return JSONResponse({"username": principal.username, "display_name": state.display_names.get(principal.username, principal.username)})

    async def reports(request: Request) -> JSONResponse:
        if authenticate(request) is None:
            return unauthorized()
        if not settings.hardened:
            # The one listed operation the bad deployment breaks: its backing store was never set up.
            return JSONResponse({"detail": "internal error: reports store not configured"}, 500)
        return JSONResponse({"users": len(accounts), "orders": 1})

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document())

    async def sitemap(request: Request) -> Response:
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                "<url><loc>/</loc></url></urlset>\n")
        return Response(body, media_type="application/xml")

    async def security_txt(request: Request) -> PlainTextResponse:
        # RFC 9116: a contact, and an expiry the good app keeps ahead; the bad one's lapsed long ago.
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=180) if settings.hardened else dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        return PlainTextResponse(f"Contact: mailto:security@example.com\nExpires: {expires:%Y-%m-%dT%H:%M:%SZ}\nPreferred-Languages: en\n")

    async def robots(request: Request) -> PlainTextResponse:
        if settings.hardened:
            return PlainTextResponse("User-agent: *\nDisallow: /api/\nAllow: /\n\nSitemap: /sitemap.xml\n")
        return PlainTextResponse("# staging\nUser-agent: *\nDisallow: /\n")  # carried over from staging

    async def index(request: Request) -> HTMLResponse:
        if settings.hardened:
            base = ""  # relative links: the host a client names never reaches a URL
            # Subresources by relative and protocol-relative URL: secure on an HTTPS page.
            assets = '<img src="/static/icon.png" alt=""><img srcset="//cdn.example.com/logo.png 1x" alt="">'
        else:
            host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
            base = f"{request.headers.get('x-forwarded-proto', request.url.scheme)}://{host}"
            # A script written with http:// by hand: mixed content behind the HTTPS proxy.
            assets = f'<script src="http://{host}/static/app.js"></script>'
        noindex = "" if settings.hardened else '<meta content="noindex, nofollow" name="robots">'
        # The bad front page kept its scaffold's title, and has no description and no icon.
        head = ('<title>Sample app</title><meta name="description" content="The deploycheck sample application.">'
                '<link rel="icon" href="/static/icon.png" type="image/png">') if settings.hardened else "<title>React App</title>"
        return HTMLResponse(f'<!doctype html><html><head>{head}<link rel="canonical" href="{base}/">{noindex}'
                            f'</head><body>{assets}<a href="{base}{SESSION_LOGIN_PATH}">Sign in</a></body></html>')

    async def icon(request: Request) -> Response:
        # A 1x1 PNG.
        return Response(base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="),
                        media_type="image/png")

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
        Route("/", index),
        Route(HEALTH_PATHS["health"], health),
        Route(HEALTH_PATHS["ready"], ready),
        Route(HEALTH_PATHS["live"], live),
        Route(HEALTH_PATHS["metrics"], metrics),
        Route(LOGIN_PATH, login, methods=["POST"]),
        Route(PROTECTED_PATHS[0], me),
        Route(ADMIN_PATHS[0], admin),
        Route(RATE_LIMITED_PATH, search),
        WebSocketRoute(WEBSOCKET_PATH, echo),
        Route(REFRESH_PATH, refresh, methods=["POST"]),
        Route(LOGOUT_PATH, logout, methods=["POST"]),
        Route(SESSION_LOGIN_PATH, form_login, methods=["POST"]),
        Route(SESSION_INFO_PATH, session_info),
        Route(ROLE_ADMIN_PATHS[0], admin_users),
        Route(USER_OBJECT_PATH.replace("{id}", "{id:int}"), user_object),
        Route(ORDERS_PATH, orders),
        Route(PROFILE_PATH, profile, methods=["GET", "POST"]),
        Route(REPORTS_PATH, reports),
        Route(OPENAPI_PATH, openapi),
        Route("/robots.txt", robots),
        Route("/.well-known/security.txt", security_txt),
        *([Route("/static/icon.png", icon)] if settings.hardened else []),
        *([Route("/sitemap.xml", sitemap)] if settings.hardened else []),
    ]
    if not settings.hardened:
        routes.append(Route("/debug", debug_page))
    middleware = [Middleware(BaseHTTPMiddleware, dispatch=observe)]
    if settings.hardened:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=list(SERVED_HOSTS)))
    return Starlette(debug=not settings.hardened, routes=routes, middleware=middleware)


async def _form_or_json(request: Request) -> dict[str, Any] | None:
    """A JSON object or an urlencoded form body (parsed here: no multipart library needed)."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode(errors="replace")))
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _same_origin(request: Request) -> bool:
    """The CSRF rule of OWASP's cheat sheet: the Origin (else the Referer) must name this host.

    Behind nginx the Host header is ``$host``, without the port, so a bare host name matches
    any port of it.  A request with neither header is not a browser's cross-site request.
    """
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed:
        return True
    source = urlsplit(claimed)
    host = request.headers.get("host", "").lower()
    return bool(source.hostname) and host in (source.netloc.lower(), (source.hostname or "").lower())


def _iso(timestamp: float) -> str:
    return str(dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds"))


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI 3.1 document: every operation but /metrics, /admin, /debug, the
    WebSocket and the cookie-only /api/session; ``security`` names bearer auth where it applies."""
    bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]

    def get(summary: str, *, secured: bool = True, parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        operation: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK"}}}
        if secured:
            operation["security"] = bearer
            operation["responses"]["401"] = {"description": "authentication required"}
        if parameters:
            operation["parameters"] = parameters
        return operation

    def post(summary: str, properties: list[str], *, secured: bool = False) -> dict[str, Any]:
        schema = {"type": "object", "properties": {name: {"type": "string"} for name in properties}, "required": properties}
        operation: dict[str, Any] = {"summary": summary, "requestBody": {"required": bool(properties), "content": {"application/json": {"schema": schema}}},
                     "responses": {"200": {"description": "OK"}}}
        if secured:
            operation["security"] = bearer
        return operation

    query = [{"name": "q", "in": "query", "schema": {"type": "string"}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}]
    user_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "deploycheck sample app", "version": "1.0.0"},
        "paths": {
            HEALTH_PATHS["health"]: {"get": get("Health", secured=False)},
            HEALTH_PATHS["ready"]: {"get": get("Readiness (PostgreSQL, Redis)", secured=False)},
            HEALTH_PATHS["live"]: {"get": get("Liveness", secured=False)},
            RATE_LIMITED_PATH: {"get": get("Search (rate-limited)", secured=False, parameters=query)},
            LOGIN_PATH: {"post": post("Log in for a bearer token", ["username", "password"])},
            SESSION_LOGIN_PATH: {"post": post("Log in for a cookie session", ["username", "password"])},
            REFRESH_PATH: {"post": post("Trade a refresh token for a new pair", ["refresh_token"])},
            LOGOUT_PATH: {"post": post("Log out: revoke the token", [], secured=True)},
            PROTECTED_PATHS[0]: {"get": get("The caller")},
            ORDERS_PATH: {"get": get("The caller's orders")},
            PROFILE_PATH: {"get": get("The caller's profile"), "post": post("Change the display name", ["display_name"], secured=True)},
            USER_OBJECT_PATH: {"get": get("One user (the caller's own)", parameters=user_id)},
            ROLE_ADMIN_PATHS[0]: {"get": get("All users (role admin)")},
            REPORTS_PATH: {"get": get("Summary report")},
        },
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


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


def http_entry(url: str, instance: str, *, app_behaviour: bool = False) -> dict[str, Any]:
    """The inventory entry for this app at ``url``; credentials as ``${VAR}`` named for ``instance``.

    ``app_behaviour=True`` adds what the application-behaviour checks (``checks/test_app_behaviour.py``)
    read, off by default so the older checks' tests keep their inventory: the low-privilege login, another user's
    object, refresh/logout paths, the pinned algorithm, the cookie session, the CSRF form and
    the OpenAPI document; ``/api/orders`` joins the protected paths and ``/api/admin/users`` the
    admin paths.  Its extra ``${VAR}`` values come from ``low_privilege_env``.
    """
    entry: dict[str, Any] = {
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
    if app_behaviour:
        entry["auth"].update({
            "protected_paths": [*PROTECTED_PATHS, ORDERS_PATH],
            "low_privilege": {
                "username": "${" + base.env_name(instance, "low_privilege_username") + "}",
                "password": "${" + base.env_name(instance, "low_privilege_password") + "}",
            },
            "other_user_path": OTHER_USER_PATH,
            # Not "token_algorithm"/"refresh_token_field": a key naming a token is a secret key, its value masked.
            "signing_algorithm": TOKEN_ALGORITHM,
            "refresh_path": REFRESH_PATH,
            "refresh_field": "refresh_token",
            "logout_path": LOGOUT_PATH,
        })
        entry["admin_paths"] = [*ADMIN_PATHS, *ROLE_ADMIN_PATHS]
        entry["session"] = {"login_path": SESSION_LOGIN_PATH, "cookie": SESSION_ID_COOKIE, "info_path": SESSION_INFO_PATH,
                            "idle_timeout_field": "idle_timeout_s"}
        entry["csrf"] = {"path": PROFILE_PATH, "body": {"display_name": "deploycheck probe"}}
        entry["openapi_path"] = OPENAPI_PATH
    return entry


def credentials_env(instance: str, username: str, password: str) -> dict[str, str]:
    """The values behind the ``${VAR}`` references of ``http_entry(..., instance)``."""
    return {base.env_name(instance, "username"): username, base.env_name(instance, "password"): password}


def low_privilege_env(instance: str, username: str, password: str) -> dict[str, str]:
    """The values behind ``auth.low_privilege`` of ``http_entry(..., instance, app_behaviour=True)``."""
    return {base.env_name(instance, "low_privilege_username"): username, base.env_name(instance, "low_privilege_password"): password}


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
    token_alg: str = "HS256", name: str | None = None, session_idle_timeout: int | None = None,
) -> base.Instance:
    """Start the sample app (``good`` or ``bad``) under uvicorn on a free port.

    ``postgres_url``/``redis_url`` make ``/health/ready`` probe those servers; without them it
    reports them as "not configured" and stays ready.  The Instance (kind ``http``) has
    ``http_entry``'s keys, ``env`` with the login and the low-privilege login, and ``admin`` with
    ``port``, ``variant``, ``username``, ``password``, ``jwt_secret``, ``rate_limit``,
    ``rate_window``, ``token_lifetime``, ``low_username``, ``low_password``, ``user_ids`` (user
    name -> id), ``refresh_lifetime``, ``session_lifetime``, ``session_idle_timeout`` and
    ``behaviour_entry`` (``http_entry(..., app_behaviour=True)``).
    ``token_alg="none"`` makes the bad app issue unsigned tokens; ``session_idle_timeout``
    (seconds) replaces the variant's idle timeout of cookie sessions.
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
        low_username=LOW_USERNAME,
        low_password=secrets.token_urlsafe(18),
        session_idle_timeout=session_idle_timeout,
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
    url = f"http://{base.LOOPBACK}:{port}"
    assert settings.low_password is not None
    return base.Instance(
        name=name,
        kind="http",
        entry=http_entry(url, name),
        env={**credentials_env(name, settings.username, settings.password),
             **low_privilege_env(name, settings.low_username, settings.low_password)},
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
            "low_username": settings.low_username,
            "low_password": settings.low_password,
            "user_ids": {account.username: account.id for account in settings.accounts().values()},
            "refresh_lifetime": REFRESH_LIFETIME[variant],
            "session_lifetime": SESSION_LIFETIME[variant],
            "session_idle_timeout": settings.idle_timeout,
            "behaviour_entry": http_entry(url, name, app_behaviour=True),
        },
    )
