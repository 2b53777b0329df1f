"""The application-behaviour checks (checks/test_app_behaviour.py, app-NN) and the password-storage
checks (checks/test_app_passwords.py, pwd-NN) against the good and bad sample app and users tables.

The apps run with ``http_entry(..., app_behaviour=True)`` as their inventory entry (the
``behaviour_entry`` of ``launch_app``): a low-privilege login, another user's object, refresh and
logout paths, a cookie session, a CSRF-guarded form and an OpenAPI document.  The good app serves
the test login everywhere, keeps the low-privilege account out, rotates refresh tokens, revokes on
logout, ends sessions after 8 h (15 min idle), refuses foreign origins and answers every API
operation; the bad app fails each of those.  The password tables hold bcrypt-12 and argon2id
(good) or bcrypt-4, unsalted MD5 and plain text (bad).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pymysql
import pytest
import requests

from pytest_deploycheck.markers import CheckMeta, Severity
from pytest_deploycheck.targets.base import Target
from pytest_deploycheck.targets.http import HttpTarget
from pytest_deploycheck.targets.reach import Reachability
from pytest_deploycheck.thresholds import defaults
from tests.servers.app import launch_app
from tests.servers.base import Instance
from tests.servers.inventory import run_catalog

APP_IDS = [f"app-{n:02d}" for n in range(1, 11)]
ACTIVE = ("app-05", "app-06", "app-09")
COUNTER = re.compile(r'^http_requests_total\{method="(\w+)",path="([^"]*)",status="(\d+)"\} (\d+)$', re.MULTILINE)


def _behaviour(app: Instance) -> Instance:
    """``app`` with the inventory entry that names its application-behaviour paths."""
    return Instance(name=app.name, kind=app.kind, entry=app.admin["behaviour_entry"], env=app.env, server=None, admin=app.admin)


def _requests_seen(app: Instance) -> dict[tuple[str, str, str], int]:
    """The app's own request counters, except the reads of /metrics that ask for them."""
    with requests.Session() as session:
        session.trust_env = False  # straight to 127.0.0.1, no proxy from the environment
        text = session.get(app.entry["url"] + app.entry["paths"]["metrics"], timeout=5).text
    return {(m, p, s): int(n) for m, p, s, n in COUNTER.findall(text) if p != app.entry["paths"]["metrics"]}


@pytest.fixture(scope="module")
def unsigned_app() -> Iterator[Instance]:
    """A bad app issuing ``alg: none`` tokens: the only way the pinned-algorithm check can fail."""
    app = launch_app("bad", token_alg="none", name="app-unsigned")
    try:
        yield _behaviour(app)
    finally:
        app.stop()


def test_app_behaviour_checks(pytester: pytest.Pytester, sample_app_good: Instance, sample_app_bad: Instance) -> None:
    good, bad = _behaviour(sample_app_good), _behaviour(sample_app_bad)
    run = run_catalog(pytester, "test_app_behaviour.py", targets=[good, bad], active_probes=True)

    assert {target: {check: run.outcome(check, target) for check in APP_IDS} for target in ("app-good", "app-bad")} == {
        "app-good": dict.fromkeys(APP_IDS, "passed"),
        # The bad app signs HS256 as pinned: app-04 fails only on an app issuing alg none (below).
        "app-bad": {**dict.fromkeys(APP_IDS, "failed"), "app-04": "passed"},
    }

    message = {check: run.message(check, "app-bad") for check in APP_IDS}
    label = f"app-bad ({bad.entry['url']})"
    assert all(message[check].startswith(label + ": ") for check in APP_IDS if check != "app-04")
    assert message["app-01"].endswith("with the test login /api/orders answers 401; expected 2xx on every auth.protected_paths entry")
    assert message["app-02"].endswith("with the low-privilege login /admin answers 200, /api/admin/users answers 200; "
                                      "expected 401/403 on every admin path")
    assert message["app-03"].endswith("with the low-privilege login /api/users/3 (another user's object) answers 200; expected 401/403")
    assert message["app-05"].endswith("the refresh handed back the same refresh token; the spent refresh token was accepted again (200); "
                                      "expected a new refresh token on each refresh and the spent one refused (4xx)")
    assert message["app-06"].endswith("after logout at /api/auth/logout the same credential still gets 200 on /api/me; "
                                      "expected 401/403 once logged out")
    assert message["app-07"].endswith("the session cookie set at /auth/form-login lives 365 days (31536000 s, Max-Age); "
                                      "expected <= 12 h (43200 s, session_max_lifetime)")
    assert message["app-08"].endswith("/api/session reports no idle timeout (idle_timeout_s: null); "
                                      "expected an idle timeout <= 1800 s (session_idle_max_s)")
    assert message["app-09"].endswith("POST /api/profile from Origin https://deploycheck-csrf-probe.invalid was accepted (200); "
                                      "expected 4xx (403) for a foreign Origin")
    assert "2 of 9 GET operations failed: GET /api/orders refused the test login (401); GET /api/reports/summary answered 500" \
        in message["app-10"]
    assert message["app-10"].endswith("expected no 5xx, the test login accepted where security applies, each within 2000 ms (api_latency_max_ms)")

    evidence = {check: run.evidence(check, "app-good") for check in APP_IDS}
    assert evidence["app-01"] == {"statuses": {"/api/me": 200, "/api/orders": 200}}
    assert evidence["app-02"] == {"account": "low_privilege", "statuses": {"/admin": 403, "/api/admin/users": 403}}
    assert evidence["app-03"] == {"path": "/api/users/3", "account": "low_privilege", "status": 403}
    assert evidence["app-04"] == {"alg": "HS256", "pinned": "HS256"}
    # The probes say exactly what they sent, in order, and never a token.
    assert evidence["app-05"]["sent"] == [
        "POST /auth/login (the test login, a session of the probe's own) -> 200",
        "POST /api/auth/refresh {refresh_token: the login's refresh token} -> 200",
        "POST /api/auth/refresh {refresh_token: the same, spent, refresh token} -> 401",
    ]
    assert evidence["app-06"]["sent"] == [
        "POST /auth/login (the test login, a session of the probe's own) -> 200",
        "GET /api/me with that login -> 200",
        "POST /api/auth/logout with that login -> 204",
        "GET /api/me with the same credential after logout -> 401",
    ]
    assert evidence["app-07"] == {"persistent": True, "lifetime_s": 28800, "source": "Max-Age", "session_max_lifetime": 43200}
    assert evidence["app-08"] == {"path": "/api/session", "idle_timeout_s": 900, "session_idle_max_s": 1800}
    assert evidence["app-09"]["foreign_origin_status"] == 403
    assert [line.rsplit(" -> ", 1)[1] for line in evidence["app-09"]["sent"]] == ["200", "403"]
    assert "Origin: https://deploycheck-csrf-probe.invalid" in evidence["app-09"]["sent"][1]
    operations = evidence["app-10"]["operations"]
    assert set(operations) == {"GET /health", "GET /health/ready", "GET /health/live", "GET /api/search", "GET /api/me",
                               "GET /api/orders", "GET /api/profile", "GET /api/admin/users", "GET /api/reports/summary"}
    assert operations["GET /api/orders"].startswith("200 in ") and operations["GET /api/orders"].endswith("(test login)")
    assert evidence["app-10"]["skipped_need_parameters"] == ["GET /api/users/{id}"]

    # No password, token, refresh token or session id reaches a report.
    reported = repr([(r.message, r.evidence) for r in run.summary.results])
    for app in (sample_app_good, sample_app_bad):
        assert app.admin["password"] not in reported
        assert app.admin["low_password"] not in reported
    assert "eyJ" not in reported


def test_pinned_algorithm_fails_on_unsigned_tokens(pytester: pytest.Pytester, unsigned_app: Instance) -> None:
    run = run_catalog(pytester, "test_app_behaviour.py", targets=[unsigned_app], args=["-k", "app-04"])
    assert run.outcome("app-04", "app-unsigned") == "failed"
    assert run.message("app-04", "app-unsigned").endswith("the login token is signed with alg 'none'; expected 'HS256' (auth.signing_algorithm)")
    assert run.evidence("app-04", "app-unsigned") == {"alg": "none", "pinned": "HS256"}


def test_active_probes_send_nothing_unless_enabled(pytester: pytest.Pytester, sample_app_good: Instance, sample_app_bad: Instance) -> None:
    apps = (_behaviour(sample_app_good), _behaviour(sample_app_bad))
    before = [_requests_seen(app) for app in apps]
    run = run_catalog(pytester, "test_app_behaviour.py", targets=apps, args=["-k", " or ".join(ACTIVE)])
    after = [_requests_seen(app) for app in apps]

    assert after == before  # not one request: no login, no refresh, no logout, no form post
    for check in ACTIVE:
        for app in apps:
            assert run.outcome(check, app.name) == "n/a"
            assert "active probe not enabled; set active_probes: true" in run.message(check, app.name)
    assert len(run.summary.results) == len(ACTIVE) * len(apps)


def test_inventory_without_the_keys_is_not_applicable(pytester: pytest.Pytester, sample_app_good: Instance) -> None:
    """The plain entry (no low-privilege login, session, CSRF form or OpenAPI document): n/a, naming the key."""
    run = run_catalog(pytester, "test_app_behaviour.py", targets=[sample_app_good], active_probes=True)
    assert run.outcome("app-01", "app-good") == "passed"  # auth.protected_paths is in the plain entry too
    for check, key in (("app-02", "auth.low_privilege.username"), ("app-04", "auth.signing_algorithm"), ("app-07", "session.login_path"),
                       ("app-09", "csrf.path"), ("app-10", "openapi_path")):
        assert run.outcome(check, "app-good") == "n/a", check
        assert key in run.message(check, "app-good"), check


def _stored_hashes_pg(instance: Instance) -> list[str]:
    storage = instance.admin["password_storage"]
    with psycopg.connect(instance.admin["dsn"]) as conn:
        return [row[0] for row in conn.execute(f'SELECT "{storage["column"]}" FROM "{storage["table"]}"').fetchall()]


def _with_storage(instance: Instance) -> Instance:
    return Instance(name=instance.name, kind=instance.kind, entry={**instance.entry, "password_storage": instance.admin["password_storage"]},
                    env=instance.env, server=None, admin=instance.admin)


def test_password_storage_postgres(pytester: pytest.Pytester, app_users_pg_good: Instance, app_users_pg_bad: Instance) -> None:
    good, bad = _with_storage(app_users_pg_good), _with_storage(app_users_pg_bad)
    run = run_catalog(pytester, "test_app_passwords.py", targets=[good, bad], args=["-k", "pwd-01"])

    assert run.outcome("pwd-01", good.name) == "passed"
    assert run.evidence("pwd-01", good.name)["accounts_by_scheme"] == {"argon2id m=19456,t=2,p=1": 1, "bcrypt cost=12": 1}
    assert run.outcome("pwd-01", bad.name) == "failed"
    assert run.message("pwd-01", bad.name) == (
        f"{bad.name} ({bad.entry['dsn']}): users.password_hash: 1 account bcrypt cost 4 < 10, 1 account unrecognised (plain text?), "
        "1 account unsalted md5; expected bcrypt cost >= 10 (bcrypt_min_cost), argon2id/scrypt/pbkdf2 at OWASP's minimums; "
        "no plain or unsalted fast hashes")
    assert run.evidence("pwd-01", bad.name)["accounts_by_scheme"] == {
        "bcrypt cost=04": 1, "unrecognised (plain text?)": 1, "unsalted md5": 1}

    # Only scheme and cost leave the database: no hash (nor the plaintext password) in any report.
    reported = repr([(r.message, r.evidence) for r in run.summary.results])
    for stored in _stored_hashes_pg(app_users_pg_good) + _stored_hashes_pg(app_users_pg_bad):
        assert stored not in reported
        assert stored[-22:] not in reported  # not even the tail of a hash


def test_password_storage_mysql(pytester: pytest.Pytester, app_users_mysql_good: Instance, app_users_mysql_bad: Instance) -> None:
    good, bad = _with_storage(app_users_mysql_good), _with_storage(app_users_mysql_bad)
    run = run_catalog(pytester, "test_app_passwords.py", targets=[good, bad], args=["-k", "pwd-02"])

    assert run.outcome("pwd-02", good.name) == "passed"
    assert run.evidence("pwd-02", good.name)["accounts_by_scheme"] == {"argon2id m=19456,t=2,p=1": 1, "bcrypt cost=12": 1}
    assert run.outcome("pwd-02", bad.name) == "failed"
    assert "1 account bcrypt cost 4 < 10, 1 account unrecognised (plain text?), 1 account unsalted md5; expected bcrypt cost >= 10" \
        in run.message("pwd-02", bad.name)

    conn = pymysql.connect(unix_socket=app_users_mysql_bad.admin["socket"], user="root", password=app_users_mysql_bad.admin["password"],
                           ssl_disabled=True)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT password_hash FROM app.users")
        stored = [str(row[0]) for row in cur.fetchall()]
    reported = repr([(r.message, r.evidence) for r in run.summary.results])
    assert stored and not any(value in reported for value in stored)


def test_password_storage_without_the_key_is_not_applicable(pytester: pytest.Pytester, app_users_pg_good: Instance) -> None:
    run = run_catalog(pytester, "test_app_passwords.py", targets=[app_users_pg_good], args=["-k", "pwd-01"])
    assert run.outcome("pwd-01", app_users_pg_good.name) == "n/a"
    assert "no password_storage in the inventory" in run.message("pwd-01", app_users_pg_good.name)


def test_probe_post_refuses_checks_that_are_not_active_probes(sample_app_good: Instance) -> None:
    """``HttpTarget.probe_post`` sends nothing for a check without ``@pytest.mark.active_probe`` nor
    on a target without ``active_probes``; ``login`` stays the one POST other checks may send."""
    def handle(active_probes: bool) -> HttpTarget:
        target = Target(kind="http", name="app-good", spec={"url": sample_app_good.entry["url"]}, roles=(), tags=(), timeout=5,
                        thresholds=defaults(), active_probes=active_probes, source="test")
        return HttpTarget(target, Reachability())

    def meta(active_probe: bool) -> CheckMeta:
        return CheckMeta(id="app-99", title="t", severity=Severity.parse("low"), section="app", section_title="App", rationale="r",
                         active_probe=active_probe)

    before = _requests_seen(sample_app_good)
    for active_probes, active_probe in ((True, False), (False, True)):
        with pytest.raises(ValueError, match="probe_post is for active probes"):
            handle(active_probes).probe_post(meta(active_probe), "/api/profile", json={"display_name": "x"})
        with pytest.raises(ValueError, match="not a read-only method"):
            handle(active_probes).request("POST", "/api/profile")
    assert _requests_seen(sample_app_good) == before
    assert handle(True).probe_post(meta(True), "/api/auth/logout").status_code == 401  # sent: no credential, refused
