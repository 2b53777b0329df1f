"""Authentication and access control: every ``http`` target with ``auth``, ``admin_paths`` or a
``rate_limited_path`` in the inventory.

Paths and the test account come from the inventory (the password through ``${VAR}``).  The test
account logs in once per run (``HttpTarget.sign_in``); its token is registered with the
redactor and never appears in a message or evidence.  Active probes (default credentials, a
burst, a forged token) send nothing unless the inventory sets ``active_probes: true``, and are
bounded by count and by ``active_probe_max_s``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import urllib.parse
from collections import Counter
from typing import Any

import jwt
import pytest

from pytest_deploycheck import Evidence, TargetError, not_applicable, require
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.targets.http import HttpTarget

pytestmark = pytest.mark.section("auth", "Authentication and access control")

#: Signature algorithms a server may issue tokens with (RFC 7518, RFC 8037); never "none".
SAFE_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                             "ES256", "ES384", "ES512", "ES256K", "EdDSA"})
#: Well-known default accounts tried by auth-05, at most one request each, in this order.
DEFAULT_CREDENTIALS = (("admin", "admin"), ("admin", "password"), ("admin", "changeme"),
                       ("root", "root"), ("test", "test"), ("guest", "guest"))
#: Where a redirect for an anonymous request may lead and still count as a refusal.
LOGIN_PAGE = re.compile(r"log-?in|sign-?in|auth|sso|oauth|saml|openid", re.IGNORECASE)


# --------------------------------------------------------------------------- helpers


def _auth(http_endpoint: HttpTarget) -> Any:
    return http_endpoint.setting("auth") or {}


def _refuses_anonymous(http_endpoint: HttpTarget, paths: Any, key: str, evidence: Evidence) -> None:
    """GET each path with no credentials: 401/403 (or a redirect to a login page) passes."""
    if not paths:
        not_applicable(f"{http_endpoint.name}: no {key} in the inventory (http.{http_endpoint.name}.{key})", unexamined=True)
    statuses: dict[str, str] = {}
    open_paths: list[str] = []
    unclear: list[str] = []
    for path in paths:
        response = http_endpoint.get(str(path))
        location = response.headers.get("Location", "")
        statuses[str(path)] = f"{response.status_code}" + (f" -> {location}" if location else "")
        if response.status_code in (401, 403):
            continue
        target = urllib.parse.urlsplit(location)
        if 300 <= response.status_code < 400 and LOGIN_PAGE.search(f"{target.path}?{target.query}"):
            continue
        if response.status_code == 404 or response.status_code >= 500:
            unclear.append(f"{path} answers {response.status_code}")
        else:
            open_paths.append(f"{path} answers {statuses[str(path)]}")
    evidence.record(statuses=statuses)
    require(not open_paths, http_endpoint, f"without credentials {', '.join(open_paths)}", "401/403 (or a redirect to a login page)")
    if unclear:
        raise TargetError(f"{http_endpoint.label}: {', '.join(unclear)}: neither refused nor served; "
                          f"check the paths in http.{http_endpoint.name}.{key}")


def _token(http_endpoint: HttpTarget, redactor: Redactor) -> tuple[str, dict[str, Any]]:
    """The test account's token (registered with the redactor) and the login's JSON body."""
    response = http_endpoint.sign_in()
    field = str(_auth(http_endpoint).get("token_field") or "access_token")
    try:
        body = response.json()
    except ValueError:
        raise TargetError(f"{http_endpoint.label}: the login answered {response.headers.get('Content-Type', 'no content type')}, "
                          f"not JSON; expected a JSON field '{field}'") from None
    value: Any = body
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        fields = sorted(body) if isinstance(body, dict) else []
        raise TargetError(f"{http_endpoint.label}: no '{field}' in the login response (fields: {', '.join(fields) or 'none'}); "
                          f"set http.{http_endpoint.name}.auth.token_field")
    redactor.add(value)
    return value, body if isinstance(body, dict) else {}


def _jwt_header(token: str) -> dict[str, Any] | None:
    try:
        return dict(jwt.get_unverified_header(token))
    except jwt.DecodeError:
        return None


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


# --------------------------------------------------------------------------- access control


@pytest.mark.check("auth-01", "Protected paths refuse anonymous requests", severity="critical",
                   refs=("OWASP ASVS 4.0.3 V4.1.1", "OWASP API Security Top 10 2023: API2"),
                   answers=("protected_paths|protected_endpoints|protected_routes",
                            "unauthenticated_requests|anonymous_access|anonymous_requests api|endpoint|route?",
                            "api|endpoint|route|page authentication|login|auth require|enforc|protect",
                            "authentication|auth require|enforc api|endpoint|route", "401|403 unauthenticated|anonymous|without",
                            "api|endpoint|route require|requires|need jwt|token|bearer|authentication|auth|login valid?"),
                   answers_unless=("rate limit",))
def test_protected_paths(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """An API path that answers without credentials is public, whatever the design says.  Every
    ``auth.protected_paths`` entry is requested with no cookie and no Authorization header; passes
    on 401 or 403 (or a redirect to a login page).  A 404 or 5xx proves nothing: an error, naming
    the path to fix in the inventory.
    """
    _refuses_anonymous(http_endpoint, _auth(http_endpoint).get("protected_paths"), "auth.protected_paths", evidence)


@pytest.mark.check("auth-02", "Admin paths refuse anonymous requests", severity="critical",
                   refs=("OWASP WSTG-CONF-05", "OWASP ASVS 4.0.3 V4.1.1"),
                   answers=("livedashboard|live_dashboard|oban_web|admin_ui|horizon|telescope behind|protect|auth|authentication|password|login|restrict|secured", "flower|bull_board|sidekiq_web|rabbitmq_management|pgadmin|phpmyadmin|kibana|dashboard protect|auth|authentication|password|login|restrict|behind|secured|secur", "admin restrict|protect|lock|authentication|login|auth|anonymous|vpn|whitelist|allowlist access? vpn? whitelist|allowlist?",
                            "admin not? public|exposed|reachable|accessible"),
                   answers_unless=("admin user|account password|default", "admin can login"),
                   answers_accepts=("monitor",))  # "Admin dashboard behind login", "Flower dashboard protected"
def test_admin_paths(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """An admin console reachable without logging in hands the system to whoever finds it.
    Every ``admin_paths`` entry is requested anonymously; passes on 401 or 403 (or a redirect to
    a login page).
    """
    _refuses_anonymous(http_endpoint, http_endpoint.setting("admin_paths"), "admin_paths", evidence)


# --------------------------------------------------------------------------- tokens


@pytest.mark.check("auth-03", "Access tokens are short-lived", severity="medium",
                   refs=("RFC 8725", "OWASP ASVS 4.0.3 V3.3"),
                   answers=("token_lifetime|token_expiry|token_expiration short? appropriat?",
                            "jwt|access_token|bearer_token|token|session_token expiry|lifetime|short short? appropriat?",
                            "short lived token|jwt|access_token"))
def test_token_lifetime(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """A bearer token cannot be revoked once stolen: its lifetime is the attacker's window.  The
    test account logs in; for a JWT the lifetime is ``exp - iat`` (``exp`` - now without
    ``iat``), for an opaque token the response's ``expires_in``.  Passes when it is at most
    ``token_max_lifetime`` (default 1 h); a JWT without ``exp`` never expires and fails.
    """
    maximum = http_endpoint.threshold("token_max_lifetime")
    token, body = _token(http_endpoint, redactor)
    if _jwt_header(token) is None:
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool):
            not_applicable(f"{http_endpoint.name}: opaque token and no expires_in in the login response; its lifetime cannot be read", unexamined=True)
        lifetime, source = float(expires_in), "expires_in"
    else:
        claims = jwt.decode(token, options={"verify_signature": False})
        exp, iat = claims.get("exp"), claims.get("iat")
        evidence.record(exp=dt.datetime.fromtimestamp(exp, dt.timezone.utc).isoformat() if isinstance(exp, (int, float)) else exp)
        require(isinstance(exp, (int, float)), http_endpoint, "the token has no exp claim: it never expires",
                f"exp at most {maximum} s after issue (token_max_lifetime)")
        if isinstance(iat, (int, float)):
            lifetime, source = float(exp - iat), "exp - iat"
        else:
            lifetime, source = float(exp - time.time()), "exp - now (no iat)"
    evidence.record(lifetime_s=int(lifetime), lifetime_source=source, token_max_lifetime=maximum)
    require(lifetime <= maximum, http_endpoint, f"the login token lives {_duration(lifetime)} ({int(lifetime)} s, {source})",
            f"<= {_duration(maximum)} ({maximum} s, token_max_lifetime)")


@pytest.mark.check("auth-04", "Access tokens are signed with a safe algorithm", severity="critical",
                   refs=("RFC 8725 section 3.1", "OWASP WSTG-SESS-10"),
                   answers=("jwt|access_token|token sign|signature|signing_algorithm algorithm? rsa|rs256|hs256|es256|ecdsa|eddsa|hmac?",
                            "jwt algorithm|alg rsa|rs256|hs256|es256?"))
def test_token_algorithm(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """A JWT with ``alg: none`` carries no signature: anyone can write one.  The test account's
    token header is read (without the key, which the check never has); passes when ``alg`` is
    an HMAC, RSA, RSA-PSS, ECDSA or EdDSA algorithm.  Not applicable to an opaque token.
    """
    token, _ = _token(http_endpoint, redactor)
    header = _jwt_header(token)
    if header is None:
        not_applicable(f"{http_endpoint.name}: the login token is opaque (not a JWT); there is no algorithm to read")
    algorithm = header.get("alg")
    evidence.record(alg=algorithm, typ=header.get("typ"), kid=header.get("kid"))
    require(str(algorithm) in SAFE_ALGORITHMS, http_endpoint, f"the login token is signed with alg {algorithm!r}",
            f"a signature algorithm ({', '.join(sorted(SAFE_ALGORITHMS))}), never none")


# --------------------------------------------------------------------------- active probes


@pytest.mark.active_probe
@pytest.mark.check("auth-05", "Default credentials refused", severity="critical",
                   refs=("OWASP WSTG-ATHN-02", "OWASP ASVS 4.0.3 V2.5.4"),
                   answers=("admin_user|admin|login|account|user password? default_credentials",
                            "default_credentials login|account|user refus|reject|disabl", "admin password default",
                            "default_credentials component|components|system|systems|service|services|server|servers|everywhere|host|hosts", "no|zero|none default_credentials"))
def test_default_credentials(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """admin/admin is the first thing every scanner tries.  Active probe: at most six logins with
    well-known default accounts (admin/admin, admin/password, admin/changeme, root/root,
    test/test, guest/guest; never the test account's own name, which could be locked) at
    ``auth.login_path``, stopping at the first accepted, at a 429 or after ``active_probe_max_s``.
    Passes when none is accepted.
    """
    auth = _auth(http_endpoint)
    if not auth.get("login_path"):
        not_applicable(f"{http_endpoint.name}: no login path in the inventory (http.{http_endpoint.name}.auth.login_path)", unexamined=True)
    deadline = time.monotonic() + http_endpoint.threshold("active_probe_max_s")
    tried: dict[str, int] = {}
    accepted = None
    for username, password in DEFAULT_CREDENTIALS:
        if time.monotonic() > deadline:
            evidence.record(stopped=f"after {len(tried)} tries: active_probe_max_s reached")
            break
        if username == auth.get("username"):
            continue
        response = http_endpoint.login(str(auth["login_path"]), {"username": username, "password": password})
        tried[f"{username}/{password}"] = response.status_code
        if 200 <= response.status_code < 300:
            accepted = f"{username}/{password}"
            try:
                body = response.json()
                for value in body.values() if isinstance(body, dict) else ():
                    if isinstance(value, str) and len(value) >= 16:
                        redactor.add(value)  # a live token for that account
            except ValueError:
                pass
            break
        if response.status_code == 429:
            break  # the login is rate-limited: guessing is throttled, which is the point
    evidence.record(login_path=auth["login_path"], tried=tried)
    require(accepted is None, http_endpoint, f"login at {auth['login_path']} accepts the default credentials {accepted} "
            f"(HTTP {tried.get(accepted or '', '?')})", "default and common credentials refused")


@pytest.mark.active_probe
@pytest.mark.check("auth-06", "Rate limit answers a burst with 429", severity="medium",
                   refs=("OWASP API Security Top 10 2023: API4", "CIS NGINX Benchmark 5.2.5", "IETF draft-ietf-httpapi-ratelimit-headers"),
                   answers=("rate_limit api? endpoint|route|request|login|request? threshold? 429?", "throttl|429 request|api|login",
                            "brute force protect|lockout login"))
def test_rate_limit(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """Without a rate limit one client can exhaust the service or guess its way in.  Active
    probe: up to ``rate_limit_burst`` (default 30) GETs to ``rate_limited_path``, one after the
    other, within ``active_probe_max_s``, stopping at the first 429.  Passes when a 429 comes
    within the burst and tells the client when to retry (``Retry-After`` or ``RateLimit-*``).
    """
    path = http_endpoint.setting("rate_limited_path")
    if not path:
        not_applicable(f"{http_endpoint.name}: no rate_limited_path in the inventory (http.{http_endpoint.name}.rate_limited_path)", unexamined=True)
    burst = int(http_endpoint.threshold("rate_limit_burst"))
    limit_s = http_endpoint.threshold("active_probe_max_s")
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    limited = None
    for sent in range(1, burst + 1):
        if time.monotonic() - started > limit_s:
            raise TargetError(f"{http_endpoint.label}: only {sent - 1} of {burst} requests to {path} answered within "
                              f"{limit_s} s (active_probe_max_s), none 429; too slow to tell")
        response = http_endpoint.get(str(path))
        statuses[response.status_code] += 1
        if response.status_code == 429:
            limited = response
            break
    elapsed = time.monotonic() - started
    evidence.record(path=path, requests_sent=sum(statuses.values()), seconds=round(elapsed, 2),
                    statuses={str(k): v for k, v in sorted(statuses.items())})
    require(limited is not None, http_endpoint,
            f"{burst} requests to {path} in {elapsed:.1f} s, none answered 429 "
            f"({', '.join(f'{n}x {code}' for code, n in sorted(statuses.items()))})",
            f"429 Too Many Requests within {burst} requests (rate_limit_burst)")
    assert limited is not None
    advice = {k: v for k, v in limited.headers.items() if k.lower() == "retry-after" or k.lower().startswith(("ratelimit", "x-ratelimit"))}
    evidence.record(first_429_at=sum(statuses.values()), headers=advice)
    require(advice, http_endpoint, f"429 after {sum(statuses.values())} requests, without Retry-After or RateLimit headers",
            "a 429 with Retry-After or RateLimit-* headers")


@pytest.mark.active_probe
@pytest.mark.check("auth-07", "Unsigned tokens refused", severity="critical",
                   refs=("RFC 8725 section 2.1", "OWASP WSTG-SESS-10"),
                   answers=("alg_none|unsigned_token", "jwt|access_token|token signature verif|validat|check|reject",
                            "forged|tampered|unsigned jwt|token reject|refus"))
def test_unsigned_token_refused(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """A server that honours ``alg: none`` accepts a token anyone can write for any user.
    Active probe: the test account's own token is copied with ``alg: none`` and no signature and
    sent as a Bearer token to the first protected path, right after the genuine token (which
    must be accepted there, or the probe proves nothing: not applicable).  Passes when the
    unsigned copy gets 401 or 403.
    """
    paths = _auth(http_endpoint).get("protected_paths")
    if not paths:
        not_applicable(f"{http_endpoint.name}: no auth.protected_paths in the inventory to present a token to", unexamined=True)
    token, _ = _token(http_endpoint, redactor)
    if _jwt_header(token) is None:
        not_applicable(f"{http_endpoint.name}: the login token is opaque (not a JWT); alg none does not apply")
    unsigned = jwt.encode(jwt.decode(token, options={"verify_signature": False}), None, algorithm="none")
    redactor.add(unsigned)  # on a server that accepts it, it is a live credential
    path = str(paths[0])
    genuine = http_endpoint.get(path, headers={"Authorization": f"Bearer {token}"})
    if not 200 <= genuine.status_code < 300:
        not_applicable(f"{http_endpoint.name}: {path} answers {genuine.status_code} to the genuine token as a Bearer token; "
                       "a forged one proves nothing there", unexamined=True)
    forged = http_endpoint.get(path, headers={"Authorization": f"Bearer {unsigned}"})
    evidence.record(path=path, genuine_token_status=genuine.status_code, unsigned_token_status=forged.status_code)
    require(forged.status_code in (401, 403), http_endpoint,
            f"{path} answers {forged.status_code} to an unsigned (alg none) copy of the login token", "401/403 for an unsigned token")
