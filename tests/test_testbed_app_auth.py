"""The sample app's application-behaviour features, good against bad, with a plain HTTP client.

Each test proves one thing a coming check reads: the two roles and object-level access, refresh
rotation, logout, the cookie session's lifetime and idle timeout, CSRF on the profile form, the
OpenAPI document and its smoke test, the pinned signing algorithm, and the password hashes in
the application's ``users`` table.  The good app must show the safe behaviour and the bad app
the defect, or a check tested against them would prove nothing.

All traffic goes to 127.0.0.1; the client takes no proxy from the environment and keeps no
cookies (the good app's are ``Secure`` and would not come back over plain HTTP anyway), so each
request carries exactly the credential the test gives it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
import time
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import bcrypt
import jwt
import psycopg
import pytest
import requests
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from tests.servers import app as sample
from tests.servers.app import launch_app
from tests.servers.base import Instance
from tests.servers.users_db import argon2id_hash, bcrypt_hash, stored_form

FOREIGN_ORIGIN = "https://evil.example"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxy or netrc from the environment: traffic stays on 127.0.0.1
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # keep none
        yield session


def _entry(app: Instance) -> dict[str, Any]:
    entry: dict[str, Any] = app.admin["behaviour_entry"]
    return entry


def _resolve(value: str, app: Instance) -> str:
    """A ``${VAR}`` of the entry, resolved from ``env`` as a runner would."""
    return string.Template(value).substitute(app.env)


def _logins(app: Instance) -> dict[str, dict[str, str]]:
    auth = _entry(app)["auth"]
    return {
        "test": {key: _resolve(auth[key], app) for key in ("username", "password")},
        "low": {key: _resolve(auth["low_privilege"][key], app) for key in ("username", "password")},
    }


def _login(http: requests.Session, app: Instance, who: str = "test") -> dict[str, Any]:
    response = http.post(app.entry["url"] + sample.LOGIN_PATH, json=_logins(app)[who])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _get(http: requests.Session, app: Instance, path: str, token: str | None = None) -> requests.Response:
    return http.get(app.entry["url"] + path, headers=_bearer(token) if token else {})


def _set_cookie(response: requests.Response, name: str) -> dict[str, str]:
    """The attributes of the Set-Cookie header for ``name``, lower-cased names: {"max-age": "28800", ...}."""
    header = next(h for h in response.raw.headers.getlist("Set-Cookie") if h.startswith(f"{name}="))
    value, *attributes = header.split(";")
    parsed = {"value": value.split("=", 1)[1]}
    for attribute in attributes:
        key, _, val = attribute.strip().partition("=")
        parsed[key.lower()] = val
    return parsed


# --- the inventory entry ---


def test_default_entry_is_unchanged_and_behaviour_entry_adds_its_keys(sample_app_good: Instance) -> None:
    app = sample_app_good
    url = app.entry["url"]
    assert app.entry == sample.http_entry(url, app.name)
    assert set(app.entry) == {"url", "paths", "auth", "admin_paths", "rate_limited_path", "websocket_path"}
    assert app.entry["auth"]["protected_paths"] == ["/api/me"]
    assert app.entry["admin_paths"] == ["/admin"]

    entry = _entry(app)
    assert set(entry) - set(app.entry) == {"session", "csrf", "openapi_path"}
    assert entry["auth"]["protected_paths"] == ["/api/me", "/api/orders"]
    assert entry["admin_paths"] == ["/admin", "/api/admin/users"]
    assert entry["auth"]["low_privilege"] == {
        "username": "${DC_APP_GOOD_LOW_PRIVILEGE_USERNAME}",
        "password": "${DC_APP_GOOD_LOW_PRIVILEGE_PASSWORD}",
    }
    assert {key: entry["auth"][key] for key in ("other_user_path", "signing_algorithm", "refresh_path", "logout_path")} == {
        "other_user_path": "/api/users/3",
        "signing_algorithm": "HS256",
        "refresh_path": "/api/auth/refresh",
        "logout_path": "/api/auth/logout",
    }
    assert entry["session"] == {"login_path": "/auth/form-login", "cookie": "sid", "info_path": "/api/session", "idle_timeout_field": "idle_timeout_s"}
    assert (entry["csrf"]["path"], entry["openapi_path"]) == ("/api/profile", "/openapi.json")
    assert _logins(app)["low"] == {"username": app.admin["low_username"], "password": app.admin["low_password"]}
    assert app.admin["user_ids"] == {"qa-robot": 1, "qa-viewer": 2, "dana.k": 3}


# --- roles and object-level access ---


@pytest.mark.parametrize("fixture", ["sample_app_good", "sample_app_bad"])
def test_test_login_token_on_protected_paths(fixture: str, request: pytest.FixtureRequest, http: requests.Session) -> None:
    app: Instance = request.getfixturevalue(fixture)
    token = _login(http, app)["access_token"]
    statuses = {path: _get(http, app, path, token).status_code for path in _entry(app)["auth"]["protected_paths"]}
    anonymous = {path: _get(http, app, path).status_code for path in _entry(app)["auth"]["protected_paths"]}
    assert anonymous == {"/api/me": 401, "/api/orders": 401}
    if app.admin["variant"] == "good":
        assert statuses == {"/api/me": 200, "/api/orders": 200}
    else:
        # The orders service verifies with a key that was never rotated in: genuine tokens bounce.
        assert statuses == {"/api/me": 200, "/api/orders": 401}


def test_good_app_refuses_low_privilege_admin_and_other_objects(sample_app_good: Instance, http: requests.Session) -> None:
    app = sample_app_good
    admin_token = _login(http, app, "test")["access_token"]
    low_token = _login(http, app, "low")["access_token"]
    admin_paths = _entry(app)["admin_paths"]

    assert {path: _get(http, app, path, low_token).status_code for path in admin_paths} == {"/admin": 403, "/api/admin/users": 403}
    assert _get(http, app, "/api/admin/users").status_code == 401
    users = _get(http, app, "/api/admin/users", admin_token)
    assert users.status_code == 200
    assert {user["username"]: user["role"] for user in users.json()["users"]} == {"qa-robot": "admin", "qa-viewer": "user", "dana.k": "user"}

    own = _get(http, app, "/api/users/2", low_token)
    assert own.json() == {"id": 2, "username": "qa-viewer", "role": "user", "display_name": "qa-viewer"}
    other = _entry(app)["auth"]["other_user_path"]
    assert _get(http, app, other, low_token).status_code == 403
    assert _get(http, app, other, admin_token).status_code == 403  # no one reads another's object here
    assert _get(http, app, "/api/users/1", low_token).status_code == 403
    assert _get(http, app, other).status_code == 401
    assert _get(http, app, "/api/users/99", low_token).status_code == 404


def test_bad_app_lets_low_privilege_into_admin_and_other_objects(sample_app_bad: Instance, http: requests.Session) -> None:
    app = sample_app_bad
    low_token = _login(http, app, "low")["access_token"]
    assert {path: _get(http, app, path, low_token).status_code for path in _entry(app)["admin_paths"]} == {
        "/admin": 200, "/api/admin/users": 200,
    }
    other = _get(http, app, _entry(app)["auth"]["other_user_path"], low_token)
    assert other.json() == {"id": 3, "username": "dana.k", "role": "user", "display_name": "dana.k"}
    assert _get(http, app, "/api/users/1", low_token).json()["role"] == "admin"
    assert _get(http, app, "/api/admin/users").status_code == 401  # it still wants a login, just any login


# --- tokens: algorithm, refresh, logout ---


def test_good_app_signs_with_the_pinned_algorithm(sample_app_good: Instance, http: requests.Session) -> None:
    token = _login(http, sample_app_good)["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == _entry(sample_app_good)["auth"]["signing_algorithm"] == "HS256"
    claims = jwt.decode(token, sample_app_good.admin["jwt_secret"], algorithms=["HS256"], issuer="deploycheck-sample-app")
    assert claims["sub"] == "qa-robot"
    assert claims["jti"]


def _refresh(http: requests.Session, app: Instance, refresh_token: str) -> requests.Response:
    return http.post(app.entry["url"] + _entry(app)["auth"]["refresh_path"], json={"refresh_token": refresh_token})


def test_good_app_rotates_refresh_tokens(sample_app_good: Instance, http: requests.Session) -> None:
    app = sample_app_good
    first = _login(http, app)["refresh_token"]
    renewed = _refresh(http, app, first)
    assert renewed.status_code == 200
    pair = renewed.json()
    assert pair["refresh_token"] != first
    assert _get(http, app, "/api/me", pair["access_token"]).json() == {"username": "qa-robot"}
    # The spent token is refused, and its replay ends the family: the new one goes too.
    assert _refresh(http, app, first).status_code == 401
    assert _refresh(http, app, pair["refresh_token"]).status_code == 401
    assert _refresh(http, app, "not-a-token").status_code == 401
    assert http.post(app.entry["url"] + sample.REFRESH_PATH, json={}).status_code == 400


def test_bad_app_does_not_rotate_refresh_tokens(sample_app_bad: Instance, http: requests.Session) -> None:
    app = sample_app_bad
    first = _login(http, app)["refresh_token"]
    renewed = _refresh(http, app, first)
    assert renewed.status_code == 200
    assert renewed.json()["refresh_token"] == first
    again = _refresh(http, app, first)
    assert again.status_code == 200
    assert _get(http, app, "/api/me", again.json()["access_token"]).status_code == 200


@pytest.mark.parametrize("fixture", ["sample_app_good", "sample_app_bad"])
def test_logout(fixture: str, request: pytest.FixtureRequest, http: requests.Session) -> None:
    app: Instance = request.getfixturevalue(fixture)
    logout_url = app.entry["url"] + _entry(app)["auth"]["logout_path"]
    login = _login(http, app)
    token = login["access_token"]
    assert _get(http, app, "/api/me", token).status_code == 200
    assert http.post(logout_url).status_code == 401
    out = http.post(logout_url, headers=_bearer(token), json={"refresh_token": login["refresh_token"]})
    assert out.status_code == 204
    assert {_set_cookie(out, name)["max-age"] for name in ("session", "sid")} == {"0"}  # both variants clear the cookies
    after = _get(http, app, "/api/me", token).status_code
    refreshed = _refresh(http, app, login["refresh_token"]).status_code
    if app.admin["variant"] == "good":
        assert (after, refreshed) == (401, 401)
        assert _get(http, app, "/api/me", _login(http, app)["access_token"]).status_code == 200  # only that token
    else:
        assert (after, refreshed) == (200, 200)


# --- cookie session ---


@pytest.mark.parametrize(
    ("fixture", "lifetime", "idle", "flags"),
    [
        ("sample_app_good", 8 * 3600, 15 * 60, {"secure", "httponly", "samesite"}),
        ("sample_app_bad", 365 * 24 * 3600, None, set()),
    ],
)
def test_session_cookie_lifetime_and_idle_timeout(
    fixture: str, lifetime: int, idle: int | None, flags: set[str], request: pytest.FixtureRequest, http: requests.Session
) -> None:
    app: Instance = request.getfixturevalue(fixture)
    session = _entry(app)["session"]
    # A browser's form post; the login also takes JSON.
    login = http.post(app.entry["url"] + session["login_path"], data=_logins(app)["test"])
    assert login.status_code == 200
    cookie = _set_cookie(login, session["cookie"])
    assert int(cookie["max-age"]) == lifetime
    assert cookie["expires"].endswith("GMT")
    assert {"secure", "httponly", "samesite"} & set(cookie) == flags
    assert http.post(app.entry["url"] + session["login_path"], json=_logins(app)["low"]).status_code == 200

    info = http.get(app.entry["url"] + session["info_path"], headers={"Cookie": f"{session['cookie']}={cookie['value']}"})
    assert info.status_code == 200
    body = info.json()
    assert (body["username"], body["absolute_timeout_s"], body["idle_timeout_s"]) == ("qa-robot", lifetime, idle)
    assert http.get(app.entry["url"] + session["info_path"]).status_code == 401
    # The session authenticates the API like a token does.
    me = http.get(app.entry["url"] + "/api/me", headers={"Cookie": f"{session['cookie']}={cookie['value']}"})
    assert me.json() == {"username": "qa-robot"}


def test_good_app_enforces_the_idle_timeout(http: requests.Session) -> None:
    app = launch_app("good", name="app-idle", session_idle_timeout=1)
    try:
        session = _entry(app)["session"]
        login = http.post(app.entry["url"] + session["login_path"], data=_logins(app)["test"])
        cookie = {"Cookie": f"sid={_set_cookie(login, 'sid')['value']}"}
        time.sleep(1.5)  # longer than the idle timeout: the point of the test, not a wait for readiness
        expired = http.get(app.entry["url"] + session["info_path"], headers=cookie)
    finally:
        app.stop()
    assert expired.status_code == 401


# --- CSRF ---


def test_good_app_refuses_cross_site_profile_changes(sample_app_good: Instance, http: requests.Session) -> None:
    app = sample_app_good
    url = app.entry["url"] + _entry(app)["csrf"]["path"]
    token = _login(http, app)["access_token"]
    foreign = http.post(url, headers={**_bearer(token), "Origin": FOREIGN_ORIGIN}, data={"display_name": "pwned"})
    assert foreign.status_code == 403
    assert http.post(url, headers={**_bearer(token), "Referer": FOREIGN_ORIGIN + "/form"}, json={"display_name": "pwned"}).status_code == 403
    assert http.post(url, headers={**_bearer(token), "Origin": "null"}, json={"display_name": "pwned"}).status_code == 403
    assert _get(http, app, "/api/profile", token).json()["display_name"] != "pwned"

    same_site = http.post(url, headers={**_bearer(token), "Origin": app.entry["url"]}, data={"display_name": "Robot"})
    assert same_site.json() == {"username": "qa-robot", "display_name": "Robot"}
    assert http.post(url, headers=_bearer(token), json={"display_name": "QA Robot"}).status_code == 200  # not a browser
    assert http.post(url, json={"display_name": "anonymous"}).status_code == 401


def test_bad_app_accepts_cross_site_profile_changes(sample_app_bad: Instance, http: requests.Session) -> None:
    app = sample_app_bad
    url = app.entry["url"] + _entry(app)["csrf"]["path"]
    token = _login(http, app, "low")["access_token"]
    foreign = http.post(url, headers={**_bearer(token), "Origin": FOREIGN_ORIGIN}, data={"display_name": "pwned"})
    assert foreign.status_code == 200
    assert _get(http, app, "/api/profile", token).json() == {"username": "qa-viewer", "display_name": "pwned"}


# --- OpenAPI ---


def _smoke(http: requests.Session, app: Instance) -> dict[str, int]:
    """Every GET operation without a path parameter, with the test login where ``security`` applies."""
    document = http.get(app.entry["url"] + _entry(app)["openapi_path"]).json()
    token = _login(http, app)["access_token"]
    statuses = {}
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        if operation is None or "{" in path:
            continue
        statuses[path] = _get(http, app, path, token if operation.get("security") else None).status_code
    return statuses


def test_openapi_document(sample_app_good: Instance, http: requests.Session) -> None:
    document = http.get(sample_app_good.entry["url"] + "/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    gets = {path: ops["get"] for path, ops in document["paths"].items() if "get" in ops}
    assert {path for path, op in gets.items() if "security" not in op} == {"/health", "/health/ready", "/health/live", "/api/search"}
    assert {"/api/me", "/api/orders", "/api/profile", "/api/admin/users", "/api/users/{id}", "/api/reports/summary"} <= set(gets)
    assert gets["/api/users/{id}"]["parameters"][0]["in"] == "path"
    assert "post" in document["paths"]["/api/profile"]


def test_openapi_smoke_good_passes_bad_has_one_failing_get(sample_app_good: Instance, sample_app_bad: Instance,
                                                           http: requests.Session) -> None:
    good, bad = _smoke(http, sample_app_good), _smoke(http, sample_app_bad)
    assert "/api/users/{id}" not in good
    assert set(good) == set(bad)
    assert {path for path, status in good.items() if status >= 500} == set()
    assert {path: status for path, status in bad.items() if status >= 500} == {"/api/reports/summary": 500}
    assert good["/api/reports/summary"] == 200


# --- password storage ---


def _stored(instance: Instance) -> dict[str, str]:
    """user name -> password column, read as the application role through the inventory's DSN."""
    storage = instance.admin["password_storage"]
    password = _resolve(instance.entry["password"], instance)
    with psycopg.connect(instance.entry["dsn"], password=password, connect_timeout=10) as conn:
        rows = conn.execute(f'SELECT username, "{storage["column"]}" FROM "{storage["table"]}" ORDER BY id').fetchall()
    return {str(username): str(value) for username, value in rows}


def test_users_table_good_hashes(app_users_pg_good: Instance) -> None:
    stored = _stored(app_users_pg_good)
    assert app_users_pg_good.admin["password_storage"] == {"table": "users", "column": "password_hash"}
    assert set(stored) == {"ana", "ben"}
    assert re.fullmatch(r"\$2b\$12\$[./A-Za-z0-9]{53}", stored["ana"])
    assert re.fullmatch(r"\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}", stored["ben"])


def test_users_table_bad_hashes(app_users_pg_bad: Instance) -> None:
    stored = _stored(app_users_pg_bad)
    assert app_users_pg_bad.admin["password_schemes"] == {"carl": "bcrypt-4", "dora": "md5", "eve": "plaintext"}
    assert re.fullmatch(r"\$2b\$04\$[./A-Za-z0-9]{53}", stored["carl"])
    assert re.fullmatch(r"[0-9a-f]{32}", stored["dora"])
    assert not stored["eve"].startswith("$")
    assert len(stored["eve"]) == 16  # token_urlsafe(12): the password itself


def test_hash_helpers_write_verifiable_hashes() -> None:
    assert bcrypt.checkpw(b"correct horse", bcrypt_hash("correct horse", 4).encode())
    encoded = argon2id_hash("correct horse", memory_kib=8, iterations=1)
    _, name, version, params, salt, digest = encoded.split("$")
    assert (name, version, params) == ("argon2id", "v=19", "m=8,t=1,p=1")

    def unb64(text: str) -> bytes:
        return base64.b64decode(text + "=" * (-len(text) % 4))

    # verify() raises InvalidKey unless the digest is argon2id of that password with that salt.
    Argon2id(salt=unb64(salt), length=32, iterations=1, lanes=1, memory_cost=8).verify(b"correct horse", unb64(digest))
    assert stored_form("correct horse", "md5") == hashlib.md5(b"correct horse", usedforsecurity=False).hexdigest()
