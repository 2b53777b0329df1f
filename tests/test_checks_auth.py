"""The authentication checks (checks/test_auth.py) against the good and bad sample app.

The good app refuses anonymous access, issues 15-minute HS256 tokens, refuses admin/admin and
unsigned tokens and rate-limits /api/search (10 a minute); the bad app has an open /admin,
30-day tokens, admin/admin, honours ``alg: none`` and has no rate limit.  The active probes must
send nothing unless the inventory enables them: the apps count every request they answer
(``/metrics``), and a run without ``active_probes`` must not move those counters.
"""

from __future__ import annotations

import re

import pytest
import requests

from tests.servers.app import launch_app
from tests.servers.base import Instance
from tests.servers.inventory import run_catalog

CHECK_IDS = [f"auth-{n:02d}" for n in range(1, 8)]
ACTIVE = ("auth-05", "auth-06", "auth-07")
COUNTER = re.compile(r'^http_requests_total\{method="(\w+)",path="([^"]*)",status="(\d+)"\} (\d+)$', re.MULTILINE)


def _requests_seen(app: Instance) -> dict[tuple[str, str, str], int]:
    """The app's own request counters, except the reads of /metrics that ask for them."""
    session = requests.Session()
    session.trust_env = False  # straight to 127.0.0.1, no proxy from the environment
    with session:
        text = session.get(app.entry["url"] + app.entry["paths"]["metrics"], timeout=5).text
    return {(m, p, s): int(n) for m, p, s, n in COUNTER.findall(text) if p != app.entry["paths"]["metrics"]}


def test_auth_checks_with_active_probes(pytester: pytest.Pytester, sample_app_good: Instance, sample_app_bad: Instance) -> None:
    run = run_catalog(pytester, "test_auth.py", targets=[sample_app_good, sample_app_bad], active_probes=True)

    assert {target: {check: run.outcome(check, target) for check in CHECK_IDS} for target in ("app-good", "app-bad")} == {
        "app-good": dict.fromkeys(CHECK_IDS, "passed"),
        # /api/me refuses anonymous requests on both; both sign with HS256.
        "app-bad": {"auth-01": "passed", "auth-02": "failed", "auth-03": "failed", "auth-04": "passed",
                    "auth-05": "failed", "auth-06": "failed", "auth-07": "failed"},
    }

    bad = "app-bad"
    assert run.message("auth-02", bad).endswith("without credentials /admin answers 200; expected 401/403 (or a redirect to a login page)")
    assert run.message("auth-03", bad).endswith("the login token lives 30 days (2592000 s, exp - iat); "
                                                 "expected <= 1 h (3600 s, token_max_lifetime)")
    assert "accepts the default credentials admin/admin (HTTP 200)" in run.message("auth-05", bad)
    assert "30 requests to /api/search" in run.message("auth-06", bad)
    assert run.message("auth-06", bad).endswith("none answered 429 (30x 200); "
                                                 "expected 429 Too Many Requests within 30 requests (rate_limit_burst)")
    assert "/api/me answers 200 to an unsigned (alg none) copy of the login token" in run.message("auth-07", bad)

    assert run.evidence("auth-01", "app-good") == {"statuses": {"/api/me": "401"}}
    assert run.evidence("auth-02", "app-good") == {"statuses": {"/admin": "401"}}
    assert run.evidence("auth-03", "app-good")["lifetime_s"] == 900
    assert run.evidence("auth-04", "app-good")["alg"] == "HS256"
    assert set(run.evidence("auth-05", "app-good")["tried"].values()) == {401}
    assert len(run.evidence("auth-05", "app-good")["tried"]) == 6
    assert run.evidence("auth-05", bad)["tried"] == {"admin/admin": 200}  # stops at the first accepted
    limited = run.evidence("auth-06", "app-good")
    assert limited["requests_sent"] <= 11  # 10 a minute, fewer if earlier tests used some
    headers = {name.lower(): value for name, value in limited["headers"].items()}
    assert int(headers["retry-after"]) > 0
    assert headers["ratelimit-limit"] == "10"
    assert run.evidence("auth-06", bad)["requests_sent"] == 30
    assert run.evidence("auth-07", "app-good") == {"path": "/api/me", "genuine_token_status": 200, "unsigned_token_status": 401}

    # Neither the test password nor a token ever reaches a report.
    reported = repr([(r.message, r.evidence) for r in run.summary.results])
    for app in (sample_app_good, sample_app_bad):
        assert app.admin["password"] not in reported
    assert "eyJ" not in reported


def test_active_probes_send_nothing_unless_enabled(pytester: pytest.Pytester, sample_app_good: Instance,
                                                   sample_app_bad: Instance) -> None:
    apps = (sample_app_good, sample_app_bad)
    before = [_requests_seen(app) for app in apps]
    run = run_catalog(pytester, "test_auth.py", targets=apps, args=["-k", " or ".join(ACTIVE)])
    after = [_requests_seen(app) for app in apps]

    assert after == before  # not one request: no login, no burst, no forged token
    for check in ACTIVE:
        for app in apps:
            assert run.outcome(check, app.name) == "n/a"
            assert "active probe not enabled; set active_probes: true" in run.message(check, app.name)
    assert len(run.summary.results) == len(ACTIVE) * len(apps)


def test_unsigned_tokens_fail_the_algorithm_check(pytester: pytest.Pytester) -> None:
    """An app that issues ``alg: none`` tokens: anyone can forge them.  auth-04 reads the issued
    token's header and fails, naming the algorithm; it never prints the token."""
    app = launch_app("bad", token_alg="none", name="app-unsigned")
    try:
        run = run_catalog(pytester, "test_auth.py", targets=[app], args=["-k", "auth-04"])
    finally:
        app.stop()
    assert run.outcome("auth-04", "app-unsigned") == "failed"
    assert "none" in run.message("auth-04", "app-unsigned")
    assert run.evidence("auth-04", "app-unsigned")["alg"] == "none"
