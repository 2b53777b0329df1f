"""Application behaviour: authentication that works, authorization that holds, token and session
handling, CSRF and an API smoke test, on every ``http`` target whose inventory entry names the
paths (password storage is its own section, ``test_app_passwords.py``).

Refusing anonymous requests (the auth section) proves half of access control; these checks prove
the other half with real logins: the test account is served, a low-privilege account is kept out
of admin paths and another user's object.  Logins come from the inventory (passwords through
``${VAR}``); every token and cookie obtained is registered with the redactor.  Checks that
write (log out, spend a refresh token, post a form) are active probes: they send nothing unless
the inventory sets ``active_probes: true``, use a login of their own (never the run's shared
one), send at most four requests within ``active_probe_max_s``, and list in their evidence
exactly what they sent.
"""

from __future__ import annotations

import email.utils
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
import yaml

from pytest_deploycheck import Evidence, TargetError, not_applicable, require
from pytest_deploycheck.markers import CheckMeta
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.targets.http import HttpTarget

pytestmark = pytest.mark.section("app", "Application behaviour")

#: An origin no deployment serves (RFC 2606 reserves .invalid): the CSRF probe's "other site".
FOREIGN_ORIGIN = "https://deploycheck-csrf-probe.invalid"
#: Largest OpenAPI document read (bytes); a bigger one is not read (an error), a size cap like every read's.
OPENAPI_MAX_BYTES = 4 * 1024 * 1024


# --------------------------------------------------------------------------- helpers


def _auth(http_endpoint: HttpTarget) -> Any:
    return http_endpoint.setting("auth") or {}


def _json(response: Any, what: str, http_endpoint: HttpTarget) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TargetError(f"{http_endpoint.label}: {what} answered {response.headers.get('Content-Type', 'no content type')}, "
                          "not JSON") from None


_MISSING = object()


def _field(body: Any, dotted: str, missing: Any = None) -> Any:
    """``body["a"]["b"]`` for ``"a.b"``; ``missing`` when a key is absent (a null value is None)."""
    value = body
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return missing
        value = value[part]
    return value


def _set_cookies(response: Any) -> list[tuple[str, str, dict[str, str]]]:
    """Every Set-Cookie of a response as (name, value, {attribute: value}) (lower-case attribute names)."""
    headers = getattr(getattr(response, "raw", None), "headers", None)
    lines = list(headers.getlist("Set-Cookie")) if headers is not None and hasattr(headers, "getlist") else (
        [response.headers["Set-Cookie"]] if response.headers.get("Set-Cookie") else [])
    cookies = []
    for line in lines:
        first, *attributes = line.split(";")
        name, _, value = first.partition("=")
        attrs = {k.strip().lower(): v.strip() for k, _, v in (a.partition("=") for a in attributes)}
        cookies.append((name.strip(), value.strip().strip('"'), attrs))
    return cookies


def _credential(http_endpoint: HttpTarget, response: Any, redactor: Redactor) -> dict[str, str]:
    """Headers that present a login's credential: its token as a Bearer token, else the cookies
    it set.  Both are registered with the redactor."""
    field = str(_auth(http_endpoint).get("token_field") or "access_token")
    try:
        token = _field(response.json(), field)
    except ValueError:
        token = None
    if isinstance(token, str) and token:
        redactor.add(token)
        return {"Authorization": f"Bearer {token}"}
    cookies = [(name, value) for name, value, _ in _set_cookies(response) if value]
    if not cookies:
        raise TargetError(f"{http_endpoint.label}: the login answered {response.status_code} with neither a '{field}' field nor "
                          f"a cookie; set http.{http_endpoint.name}.auth.token_field")
    for _, value in cookies:
        redactor.add(value)
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies)}


def _statuses(http_endpoint: HttpTarget, paths: Any, headers: Mapping[str, str]) -> dict[str, int]:
    return {str(path): http_endpoint.get(str(path), headers=dict(headers)).status_code for path in paths}


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _deadline(http_endpoint: HttpTarget, started: float, sent: list[str]) -> None:
    """Between the requests of a probe: stop once ``active_probe_max_s`` is spent."""
    limit = http_endpoint.threshold("active_probe_max_s")
    if time.monotonic() - started > limit:
        raise TargetError(f"{http_endpoint.label}: probe stopped after {len(sent)} requests: active_probe_max_s ({limit} s) "
                          f"reached; sent {'; '.join(sent)}")


def _fresh_login(http_endpoint: HttpTarget, redactor: Redactor, sent: list[str]) -> Any:
    """A login of the probe's own (the run's shared ``sign_in`` must stay valid for later checks)."""
    path = str(_auth(http_endpoint).get("login_path") or "")
    credentials = http_endpoint.credentials("test", login_path=True)
    response = http_endpoint.login(path, credentials)
    sent.append(f"POST {path} (the test login, a session of the probe's own) -> {response.status_code}")
    if not 200 <= response.status_code < 300:
        raise TargetError(f"{http_endpoint.label}: login at {path} as the inventory's test account answered HTTP "
                          f"{response.status_code}; check auth.username and auth.password")
    with_body = _json(response, f"the login at {path}", http_endpoint)
    for value in (with_body.values() if isinstance(with_body, dict) else ()):
        if isinstance(value, str) and len(value) >= 16:
            redactor.add(value)  # access and refresh tokens of this login
    return response


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


# --------------------------------------------------------------------------- authentication and authorization


@pytest.mark.check("app-01", "Test login accepted on protected paths", severity="critical",
                   refs=("OWASP ASVS 4.0.3 V2.1", "OWASP WSTG-ATHN"),
                   answers=("authentication work|functional|operational|tested", "login|signin work|succeed",
                            "authenticated request|access work|succeed", "valid token accepted",
                            "authentication|login|sign_in|auth work|flow|function|functional|succeed|success|operational|test",
                            "user|admin|admin_user login|registration|sign_in|signup|sign_up flow? work|can|test?",
                            "login flow|page|form|works|test"),
                   answers_unless=("cache|cached|caching",))  # whether the login page is cached is obs-08's
def test_login_accepted(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """A service that refuses everyone also passes "anonymous requests refused": authentication
    is proven only when a genuine login gets in.  The inventory's test account logs in once
    (``auth.login_path``) and its token (``auth.token_field``, else the cookies the login set)
    is presented on every ``auth.protected_paths`` entry.  Passes when each answers 2xx; fails
    naming each path that refused the genuine credential (a verification key out of step with
    the issuer, a broken session store).
    """
    paths = _auth(http_endpoint).get("protected_paths")
    if not paths:
        not_applicable(f"{http_endpoint.name}: no auth.protected_paths in the inventory (http.{http_endpoint.name}.auth.protected_paths)", unexamined=True)
    statuses = _statuses(http_endpoint, paths, _credential(http_endpoint, http_endpoint.sign_in(), redactor))
    evidence.record(statuses=statuses)
    refused = [f"{path} answers {status}" for path, status in statuses.items() if not 200 <= status < 300]
    require(not refused, http_endpoint, f"with the test login {', '.join(refused)}", "2xx on every auth.protected_paths entry")


@pytest.mark.check("app-02", "Low-privilege login refused on admin paths", severity="critical",
                   refs=("OWASP API Security Top 10 2023: API5", "OWASP ASVS 4.0.3 V4.1.3", "OWASP WSTG-ATHZ-02"),
                   answers=("authorization enforce|work|tested", "rbac|permission enforce|check",
                            "admin endpoint|route|page|path|panel|console? restrict|protect|deny", "privilege escalation",
                            "rbac|authorization|permission|permissions|access_control enforc|test|work|implement|check|verif|role?",
                            "role permission|access enforc|check|test|work", "user|users cannot access other|others data|resource",
                            "role|roles check|checks|permission|permissions viewer|user|reader|readonly|low cannot|can't|refused admin api|apis|endpoint|path"),
                   answers_unless=("header|headers",))  # the Permissions-Policy header is not authorization
def test_low_privilege_refused_admin(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """Any logged-in user reaching an admin function is broken function-level authorization
    (OWASP API5).  The inventory's second, low-privilege account (``auth.low_privilege``) logs in
    once and requests every ``admin_paths`` entry with its own credential.  Passes on 401 or 403
    everywhere; fails naming each admin path that served it (2xx); a redirect, 404 or 5xx proves
    nothing (error).
    """
    paths = http_endpoint.setting("admin_paths")
    if not paths:
        not_applicable(f"{http_endpoint.name}: no admin_paths in the inventory (http.{http_endpoint.name}.admin_paths)", unexamined=True)
    statuses = _statuses(http_endpoint, paths, _credential(http_endpoint, http_endpoint.sign_in("low_privilege"), redactor))
    evidence.record(account="low_privilege", statuses=statuses)
    served = [f"{path} answers {status}" for path, status in statuses.items() if 200 <= status < 300]
    require(not served, http_endpoint, f"with the low-privilege login {', '.join(served)}", "401/403 on every admin path")
    unclear = [f"{path} answers {status}" for path, status in statuses.items() if status not in (401, 403)]
    if unclear:
        raise TargetError(f"{http_endpoint.label}: with the low-privilege login {', '.join(unclear)}: neither refused nor "
                          f"served; check http.{http_endpoint.name}.admin_paths")


@pytest.mark.check("app-03", "Another user's object refused", severity="critical",
                   refs=("OWASP API Security Top 10 2023: API1", "OWASP ASVS 4.0.3 V4.2.1", "OWASP WSTG-ATHZ-04"),
                   answers=("object level authorization", "idor|bola", "other user data|record|resource|order|object|account",
                            "broken access control", "tenant isolation",
                            "rbac|authorization|permission|permissions|access_control enforc|test|work|implement|check|verif|role?",
                            "role permission|access enforc|check|test|work", "user|users cannot access other|others data|resource"),
                   answers_unless=("header|headers",))
def test_other_users_object(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """Changing the id in ``/api/users/42`` to read someone else's record is the most common API
    flaw (OWASP API1, broken object-level authorization).  ``auth.other_user_path`` names an
    object that belongs to neither test login; it is requested with the low-privilege login
    (``auth.low_privilege``), else the test login (which should then not be an administrator).
    Passes on 401 or 403; fails when the object is served (2xx).  A 404 cannot tell a hidden object
    from a wrong path: an error asking for a path to an existing object.
    """
    path = _auth(http_endpoint).get("other_user_path")
    if not path:
        not_applicable(f"{http_endpoint.name}: no auth.other_user_path in the inventory (http.{http_endpoint.name}.auth.other_user_path)", unexamined=True)
    account = "low_privilege" if (_auth(http_endpoint).get("low_privilege") or {}).get("username") else "test"
    response = http_endpoint.get(str(path), headers=_credential(http_endpoint, http_endpoint.sign_in(account), redactor))
    evidence.record(path=path, account=account, status=response.status_code)
    require(not 200 <= response.status_code < 300, http_endpoint,
            f"with the {account.replace('_', '-')} login {path} (another user's object) answers {response.status_code}", "401/403")
    if response.status_code not in (401, 403):
        raise TargetError(f"{http_endpoint.label}: {path} answers {response.status_code} to the {account.replace('_', '-')} login: "
                          f"neither refused nor served; name an existing object of another user in auth.other_user_path")


@pytest.mark.check("app-04", "Tokens signed with the pinned algorithm", severity="high",
                   refs=("RFC 8725 section 3.1", "OWASP ASVS 4.0.3 V3.5.3"),
                   answers=("jwt|token validation|verification", "jwt sign|signing algorithm|alg",
                            "jwt|token sign|signing|signed|signature rsa|rs256|es256|ecdsa|eddsa",
                            "jwt validat|verif|signature|check|service|system|auth|authentication?", "jwt",
                            "token validation|verification"))
def test_pinned_algorithm(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """A verifier that takes the algorithm from the token lets an attacker pick the weakest one
    (``none``, or HS256 keyed with the RSA public key).  When the inventory pins the algorithm
    (``auth.signing_algorithm``, e.g. RS256), the test login's token header must carry exactly
    that ``alg``.  Not applicable without a pin or for an opaque (non-JWT) token.
    """
    pinned = _auth(http_endpoint).get("signing_algorithm")
    if not pinned:
        not_applicable(f"{http_endpoint.name}: no auth.signing_algorithm pinned in the inventory", unexamined=True)
    headers = _credential(http_endpoint, http_endpoint.sign_in(), redactor)
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        header = dict(jwt.get_unverified_header(token)) if token else None
    except jwt.DecodeError:
        header = None
    if header is None:
        not_applicable(f"{http_endpoint.name}: the login token is opaque (not a JWT); there is no algorithm to read")
    evidence.record(alg=header.get("alg"), pinned=pinned)
    require(header.get("alg") == pinned, http_endpoint, f"the login token is signed with alg {header.get('alg')!r}",
            f"{pinned!r} (auth.signing_algorithm)")


# --------------------------------------------------------------------------- active probes: tokens


@pytest.mark.active_probe
@pytest.mark.check("app-05", "Refresh tokens rotate; a spent one is refused", severity="high",
                   refs=("RFC 9700 section 4.14.2", "OWASP ASVS 4.0.3 V3.5"),
                   answers=("refresh token rotation|rotate", "refresh token reuse|revoke|revocation"))
def test_refresh_rotation(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor, check: CheckMeta) -> None:
    """A refresh token that keeps working after use lets whoever copied it stay logged in for
    its whole (long) life.  Active probe, three POSTs: a login of the probe's own, its refresh
    token (``auth.refresh_field``, default refresh_token) to ``auth.refresh_path``, then the same,
    now spent, refresh token again.  Passes when the refresh hands out a new refresh token and the
    replay is refused (4xx); fails when the same token comes back or the replay is accepted.
    """
    auth = _auth(http_endpoint)
    path = auth.get("refresh_path")
    if not path:
        not_applicable(f"{http_endpoint.name}: no auth.refresh_path in the inventory (http.{http_endpoint.name}.auth.refresh_path)", unexamined=True)
    field = str(auth.get("refresh_field") or "refresh_token")
    sent: list[str] = []
    started = time.monotonic()
    login = _fresh_login(http_endpoint, redactor, sent)
    first = _field(_json(login, "the login", http_endpoint), field)
    if not isinstance(first, str) or not first:
        evidence.record(sent=sent)
        raise TargetError(f"{http_endpoint.label}: no '{field}' in the login response; set auth.refresh_field")
    redactor.add(first)
    _deadline(http_endpoint, started, sent)
    renewed = http_endpoint.probe_post(check, str(path), json={field: first})
    sent.append(f"POST {path} {{{field}: the login's refresh token}} -> {renewed.status_code}")
    if not 200 <= renewed.status_code < 300:
        evidence.record(sent=sent)
        raise TargetError(f"{http_endpoint.label}: {path} answered {renewed.status_code} to a fresh refresh token; "
                          "check auth.refresh_path and auth.refresh_field")
    second = _field(_json(renewed, f"the refresh at {path}", http_endpoint), field)
    if isinstance(second, str) and second:
        redactor.add(second)
    access = _field(renewed.json(), str(auth.get("token_field") or "access_token"))
    if isinstance(access, str) and access:
        redactor.add(access)
    _deadline(http_endpoint, started, sent)
    replay = http_endpoint.probe_post(check, str(path), json={field: first})
    sent.append(f"POST {path} {{{field}: the same, spent, refresh token}} -> {replay.status_code}")
    evidence.record(sent=sent, rotated=second != first)
    problems = []
    if not isinstance(second, str) or not second or second == first:
        problems.append("the refresh handed back the same refresh token" if second == first else f"the refresh returned no '{field}'")
    if replay.status_code < 400:
        problems.append(f"the spent refresh token was accepted again ({replay.status_code})")
    require(not problems, http_endpoint, "; ".join(problems), "a new refresh token on each refresh and the spent one refused (4xx)")


@pytest.mark.active_probe
@pytest.mark.check("app-06", "Logout revokes the token", severity="high",
                   refs=("OWASP ASVS 4.0.3 V3.3.1", "OWASP WSTG-SESS-06"),
                   answers=("logout invalidate|revoke|terminate session|token", "token revocation", "session invalidation|termination"))
def test_logout_revokes(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor, check: CheckMeta) -> None:
    """A logout that only deletes the browser's cookie leaves a stolen token valid until it
    expires.  Active probe: a login of the probe's own, its token on the first
    ``auth.protected_paths`` entry (must be served, or the probe proves nothing), a POST to
    ``auth.logout_path`` with that token, the same GET again.  Passes when the GET after logout
    is refused (401/403); fails when the token still works.
    """
    auth = _auth(http_endpoint)
    path, paths = auth.get("logout_path"), auth.get("protected_paths")
    if not path or not paths:
        not_applicable(f"{http_endpoint.name}: needs auth.logout_path and auth.protected_paths in the inventory", unexamined=True)
    sent: list[str] = []
    started = time.monotonic()
    headers = _credential(http_endpoint, _fresh_login(http_endpoint, redactor, sent), redactor)
    probe = str(paths[0])
    before = http_endpoint.get(probe, headers=headers)
    sent.append(f"GET {probe} with that login -> {before.status_code}")
    if not 200 <= before.status_code < 300:
        evidence.record(sent=sent)
        raise TargetError(f"{http_endpoint.label}: {probe} answers {before.status_code} to a fresh login; a logout proves nothing there")
    _deadline(http_endpoint, started, sent)
    logout = http_endpoint.probe_post(check, str(path), headers=headers)
    sent.append(f"POST {path} with that login -> {logout.status_code}")
    if not 200 <= logout.status_code < 400:
        evidence.record(sent=sent)
        raise TargetError(f"{http_endpoint.label}: logout at {path} answered {logout.status_code}; check auth.logout_path")
    _deadline(http_endpoint, started, sent)
    after = http_endpoint.get(probe, headers=headers)
    sent.append(f"GET {probe} with the same credential after logout -> {after.status_code}")
    evidence.record(sent=sent, status_after_logout=after.status_code)
    require(after.status_code in (401, 403), http_endpoint,
            f"after logout at {path} the same credential still gets {after.status_code} on {probe}", "401/403 once logged out")


# --------------------------------------------------------------------------- sessions and CSRF


def _session_login(http_endpoint: HttpTarget, redactor: Redactor) -> tuple[dict[str, Any], str, str, dict[str, str], Any]:
    """(session settings, login path, cookie value, its attributes, the login response): the run's
    one cookie-session login with the test account."""
    session = http_endpoint.setting("session") or {}
    if not session.get("login_path") or not session.get("cookie"):
        not_applicable(f"{http_endpoint.name}: no cookie session in the inventory (http.{http_endpoint.name}.session.login_path, .cookie)", unexamined=True)
    response = http_endpoint.sign_in(path=str(session["login_path"]))
    for name, value, attrs in _set_cookies(response):
        if name == session["cookie"]:
            redactor.add(value)
            return dict(session), str(session["login_path"]), value, attrs, response
    names = ", ".join(name for name, _, _ in _set_cookies(response)) or "none"
    raise TargetError(f"{http_endpoint.label}: the login at {session['login_path']} set no cookie {session['cookie']!r} "
                      f"(cookies set: {names}); check session.cookie")


@pytest.mark.check("app-07", "Session cookie lifetime bounded", severity="medium",
                   refs=("OWASP ASVS 4.0.3 V3.3.2", "OWASP Session Management Cheat Sheet: session expiration"),
                   answers=("session management secure|hardening?", "session timeout|expiry|expiration|lifetime",
                            "session cookie lifetime|expiry|expiration",
                            "session management|timeout|expiry|invalidat|rotat",
                            "session_timeout|idle_timeout", "logout invalidat session|token"),
                   # a database pool's or a proxy's idle timeout ("Database connection pooling configured" / "Idle timeout: 30000ms")
                   answers_unless=("database|db|pool|pooling|connection|connections|postgres|mysql|redis|proxy|nginx|keepalive",))
def test_session_lifetime(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """A session cookie that lives for months keeps a shared or stolen browser logged in.  The
    test account logs in at ``session.login_path``; the ``session.cookie`` it sets must expire
    within ``session_max_lifetime`` (default 12 h, ASVS level 2): Max-Age, else Expires against
    the response's Date.  A cookie without either ends with the browser and passes.
    """
    maximum = http_endpoint.threshold("session_max_lifetime")
    _, path, _, attrs, response = _session_login(http_endpoint, redactor)
    if attrs.get("max-age", "").lstrip("-").isdigit():
        lifetime, source = float(attrs["max-age"]), "Max-Age"
    elif attrs.get("expires"):
        expires = email.utils.parsedate_to_datetime(attrs["expires"])
        sent = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp() if response.headers.get("Date") else time.time()
        lifetime, source = expires.timestamp() - sent, "Expires - Date"
    else:
        evidence.record(persistent=False)
        return  # a browser-session cookie: gone when the browser closes
    evidence.record(persistent=True, lifetime_s=int(lifetime), source=source, session_max_lifetime=maximum)
    require(lifetime <= maximum, http_endpoint,
            f"the session cookie set at {path} lives {_duration(lifetime)} ({int(lifetime)} s, {source})",
            f"<= {_duration(maximum)} ({maximum} s, session_max_lifetime)")


@pytest.mark.check("app-08", "Idle sessions expire", severity="medium",
                   refs=("OWASP ASVS 4.0.3 V3.3.2", "OWASP Session Management Cheat Sheet: idle timeout"),
                   answers=("automatic? logoff|logout|log_out|sign_out|signout inactivity|idle|inactive", "session idle|inactivity timeout|expiry", "idle|inactive session timeout|time|expire|expiry|logout",
                            "session management|timeout|expiry|invalidat|rotat",
                            "session_timeout|idle_timeout", "logout invalidat session|token"),
                   # a database pool's or a proxy's idle timeout ("Database connection pooling configured" / "Idle timeout: 30000ms")
                   answers_unless=("database|db|pool|pooling|connection|connections|postgres|mysql|redis|proxy|nginx|keepalive",))
def test_session_idle_timeout(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """An idle timeout ends a session left open on an unattended screen.  It cannot be waited out
    within a run, so the app's own report is read: ``session.info_path`` is requested with the
    session cookie of the test login, and its JSON field ``session.idle_timeout_field`` (default
    idle_timeout_s) must be at most ``session_idle_max_s`` (default 30 min).  Fails when the app
    reports no idle timeout (null or 0).
    """
    maximum = http_endpoint.threshold("session_idle_max_s")
    session, _, cookie, _, _ = _session_login(http_endpoint, redactor)
    if not session.get("info_path"):
        not_applicable(f"{http_endpoint.name}: no session.info_path in the inventory to read the idle timeout from", unexamined=True)
    path, field = str(session["info_path"]), str(session.get("idle_timeout_field") or "idle_timeout_s")
    response = http_endpoint.get(path, headers={"Cookie": f"{session['cookie']}={cookie}"})
    if response.status_code != 200:
        raise TargetError(f"{http_endpoint.label}: {path} answered {response.status_code} to the session cookie; check session.info_path")
    idle = _field(_json(response, path, http_endpoint), field, _MISSING)
    if idle is _MISSING:
        raise TargetError(f"{http_endpoint.label}: no '{field}' in {path}; set session.idle_timeout_field")
    evidence.record(path=path, idle_timeout_s=idle, session_idle_max_s=maximum)
    require(isinstance(idle, (int, float)) and not isinstance(idle, bool) and idle > 0, http_endpoint,
            f"{path} reports no idle timeout ({field}: {json.dumps(idle)})", f"an idle timeout <= {maximum} s (session_idle_max_s)")
    require(idle <= maximum, http_endpoint, f"idle sessions end after {_duration(idle)} ({idle} s)",
            f"<= {_duration(maximum)} ({maximum} s, session_idle_max_s)")


@pytest.mark.active_probe
@pytest.mark.check("app-09", "Cross-site form posts refused", severity="high",
                   refs=("OWASP ASVS 4.0.3 V4.2.2", "OWASP CSRF Prevention Cheat Sheet: verifying origin", "OWASP WSTG-SESS-05"),
                   answers=("csrf|xsrf protection|prevention|defense|protect|token", "cross site request forgery",
                            "origin header check|validate|validation", "csrf protect|token|enabl|middleware?"),
                   # "CSRF_COOKIE_SECURE = True" is the cookie's flag (http-09), not the origin check
                   answers_unless=("csrf_cookie secure|httponly|samesite|flag|flags",))
def test_csrf(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor, check: CheckMeta) -> None:
    """A browser attaches the session cookie to a form another site submits; only a check of the
    request's origin (or a CSRF token) stops it.  Active probe, two POSTs of ``csrf.body`` to
    ``csrf.path``, logged in (the cookie session of ``session`` if the inventory has one, else the
    test login's token): first with the app's own ``Origin``, which must succeed (else the probe
    proves nothing: error), then with ``Origin: https://deploycheck-csrf-probe.invalid``.  Passes
    when the foreign one is refused (4xx); fails when it is accepted.
    """
    settings = http_endpoint.setting("csrf") or {}
    path = settings.get("path")
    if not path:
        not_applicable(f"{http_endpoint.name}: no csrf.path in the inventory (http.{http_endpoint.name}.csrf.path)", unexamined=True)
    if (http_endpoint.setting("session") or {}).get("login_path"):
        session, _, cookie, _, _ = _session_login(http_endpoint, redactor)
        headers, via = {"Cookie": f"{session['cookie']}={cookie}"}, "the session cookie"
    else:
        headers, via = _credential(http_endpoint, http_endpoint.sign_in(), redactor), "the test login"
    body = dict(settings.get("body") or {})
    own = _origin(http_endpoint.url)
    sent: list[str] = []
    started = time.monotonic()
    control = http_endpoint.probe_post(check, str(path), json=body, headers={**headers, "Origin": own})
    sent.append(f"POST {path} {json.dumps(body)} with {via} and Origin: {own} -> {control.status_code}")
    if not 200 <= control.status_code < 300:
        evidence.record(sent=sent)
        raise TargetError(f"{http_endpoint.label}: the same-origin POST to {path} answered {control.status_code}; the probe needs a "
                          "request the app accepts (check csrf.path and csrf.body; a form needing a CSRF token cannot be probed)")
    _deadline(http_endpoint, started, sent)
    forged = http_endpoint.probe_post(check, str(path), json=body, headers={**headers, "Origin": FOREIGN_ORIGIN})
    sent.append(f"POST {path} {json.dumps(body)} with {via} and Origin: {FOREIGN_ORIGIN} -> {forged.status_code}")
    evidence.record(sent=sent, foreign_origin_status=forged.status_code)
    require(400 <= forged.status_code < 500, http_endpoint,
            f"POST {path} from Origin {FOREIGN_ORIGIN} was accepted ({forged.status_code})", "4xx (403) for a foreign Origin")


# --------------------------------------------------------------------------- API smoke


def _openapi(http_endpoint: HttpTarget, path: str) -> dict[str, Any]:
    with http_endpoint.get(path, stream=True) as response:
        raw = b""
        for chunk in response.iter_content(65536):
            raw += chunk
            if len(raw) > OPENAPI_MAX_BYTES:
                raise TargetError(f"{http_endpoint.label}: {path} is larger than {OPENAPI_MAX_BYTES} bytes; not read")
        status = response.status_code
    if status != 200:
        raise TargetError(f"{http_endpoint.label}: the OpenAPI document at {path} answered {status}; check openapi_path")
    try:
        document = json.loads(raw) if raw.lstrip()[:1] in (b"{", b"[") else yaml.safe_load(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise TargetError(f"{http_endpoint.label}: {path} is neither JSON nor YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise TargetError(f"{http_endpoint.label}: {path} is not an OpenAPI document (no paths)")
    return document


def _base_path(document: Mapping[str, Any]) -> str:
    """The path prefix of the API: OpenAPI 3 ``servers[0].url`` (variables at their defaults), Swagger 2 ``basePath``."""
    servers = document.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = str(servers[0].get("url") or "")
        for name, variable in (servers[0].get("variables") or {}).items():
            url = url.replace("{" + str(name) + "}", str((variable or {}).get("default", "")))
        return urllib.parse.urlsplit(url).path.rstrip("/")
    return str(document.get("basePath") or "").rstrip("/")


def _needs_input(path_item: Mapping[str, Any], operation: Mapping[str, Any]) -> bool:
    parameters = [*(path_item.get("parameters") or []), *(operation.get("parameters") or [])]
    return any(isinstance(p, dict) and (p.get("in") == "path" or p.get("required")) for p in parameters)


@pytest.mark.check("app-10", "API operations answer without server errors", severity="high",
                   refs=("OpenAPI Specification 3.1", "OWASP API Security Top 10 2023: API9"),
                   answers=("api endpoint respond|work|test|healthy", "api smoke test", "openapi|swagger endpoint|operation respond|test",
                            "smoke_test|smoke_tests pass|passing|passed|green|run?",
                            "api|endpoint|endpoints respond|responding|reachable|working|work|up|available|test|smoke|200 api? all?",
                            "api endpoint|endpoints test|tested|testing|smoke|check",
                            "openapi|swagger spec? endpoint|endpoints|operation|operations return|returns|answer no? 5xx|server_error|error",
                            "api|endpoint|endpoints|operation|operations return|returns|answer|answers no|without 5xx|server_error"),
                   # "Healthcheck endpoint /up returns 200" is the health check (obs-01), not every API operation
                   answers_unless=("health|healthcheck|healthz|liveness|readiness|heartbeat",))
def test_openapi_smoke(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """The API document is the list of what clients will call; an operation that answers 500
    after the deploy is an outage for whoever uses it.  Every GET operation of ``openapi_path``
    that needs no path parameter (nor a required one) is requested once, up to
    ``api_smoke_max_operations``, with the test login where the document says security applies.
    Passes when none answers 5xx, none refuses the test login (401/403) and each answers within
    ``api_latency_max_ms``; fails listing each operation that did not.  A 429 (rate limit) is no
    failure.
    """
    path = http_endpoint.setting("openapi_path")
    if not path:
        not_applicable(f"{http_endpoint.name}: no openapi_path in the inventory (http.{http_endpoint.name}.openapi_path)", unexamined=True)
    document = _openapi(http_endpoint, str(path))
    ceiling, limit = http_endpoint.threshold("api_latency_max_ms"), int(http_endpoint.threshold("api_smoke_max_operations"))
    base, default_security = _base_path(document), document.get("security") or []
    operations, skipped = [], []
    for route, item in sorted(document["paths"].items()):
        get = item.get("get") if isinstance(item, dict) else None
        if not isinstance(get, dict):
            continue
        if "{" in route or _needs_input(item, get):
            skipped.append(f"GET {route}")
            continue
        security = get.get("security", default_security) or []
        operations.append((route, any(isinstance(req, dict) and req for req in security)))
    if not operations:
        not_applicable(f"{http_endpoint.name}: {path} lists no GET operation without parameters")
    credential: dict[str, str] | None = None
    results: dict[str, str] = {}
    problems: list[str] = []
    for route, secured in operations[:limit]:
        if secured and credential is None:
            credential = _credential(http_endpoint, http_endpoint.sign_in(), redactor)
        response = http_endpoint.get(base + route, headers=credential if secured else None)
        elapsed_ms = response.elapsed.total_seconds() * 1000
        results[f"GET {route}"] = f"{response.status_code} in {elapsed_ms:.0f} ms" + (" (test login)" if secured else "")
        if response.status_code >= 500:
            problems.append(f"GET {route} answered {response.status_code}")
        elif secured and response.status_code in (401, 403):
            problems.append(f"GET {route} refused the test login ({response.status_code})")
        elif elapsed_ms > ceiling:
            problems.append(f"GET {route} took {elapsed_ms:.0f} ms")
    evidence.record(document=path, operations=results, skipped_need_parameters=skipped,
                    not_sent=[f"GET {route}" for route, _ in operations[limit:]])
    require(not problems, http_endpoint, f"{len(problems)} of {len(results)} GET operations failed: {'; '.join(problems)}",
            f"no 5xx, the test login accepted where security applies, each within {ceiling} ms (api_latency_max_ms)")
