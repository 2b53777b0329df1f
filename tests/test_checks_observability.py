"""The observability catalog (checks/test_observability.py) against the sample app and nginx.

One catalog run: the good site (nginx with TLS, gzip, in front of the good app) passes every
check; the bad app reached directly, a good app with shallow endpoints, an app whose dependency
is down and an entry that names nothing each fail (or are n/a) for their own reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers.app import HEALTH_PATHS, WEBSOCKET_PATH, launch_app
from tests.servers.base import LOOPBACK, Instance, free_port
from tests.servers.inventory import run_catalog

CHECKS = [f"obs-{n:02d}" for n in range(1, 12)]
#: A GET that makes the sample app raise (see tests/servers/app.py).
ERROR_PATH = "/api/search?limit=oops"
#: The sample app's answers are small; judge compression on anything of this size or more.
SMALL_RESPONSES = {"compression_min_bytes": 64}


def _http(name: str, url: str, **entry: Any) -> Instance:
    """An http target with only the keys these checks read (no login: none of them logs in)."""
    return Instance(name=name, kind="http", entry={"url": url, **entry}, env={}, server=None)


@pytest.fixture(scope="module")
def app_dependency_down() -> Iterator[Instance]:
    """The good app configured with a Redis nobody listens on: readiness must say so."""
    instance = launch_app("good", redis_url=f"redis://{LOOPBACK}:{free_port()}/0")
    try:
        yield instance
    finally:
        instance.stop()


def test_observability_catalog(
    pytester: pytest.Pytester,
    nginx_sites: dict[str, Instance],
    sample_app_good: Instance,
    sample_app_bad: Instance,
    app_dependency_down: Instance,
) -> None:
    good = nginx_sites["good"]
    targets = [
        _http(
            "nginx-good",
            good.entry["url"],
            ca_bundle=good.entry["ca_bundle"],
            paths={**HEALTH_PATHS, "error": ERROR_PATH},
            websocket_path=WEBSOCKET_PATH,
            thresholds=SMALL_RESPONSES,
        ),
        _http(
            "app-bad",
            sample_app_bad.entry["url"],
            paths={**HEALTH_PATHS, "error": ERROR_PATH},
            websocket_path=WEBSOCKET_PATH,
            thresholds=SMALL_RESPONSES,
        ),
        # Readiness that is a copy of liveness, "metrics" that are JSON, a WebSocket path that is
        # plain HTTP, and a latency budget nothing can meet.
        _http(
            "app-shallow",
            sample_app_good.entry["url"],
            paths={**HEALTH_PATHS, "ready": "/health/live", "metrics": "/health"},
            websocket_path="/health",
            thresholds={"latency_p95_ms": 0, "latency_samples": 5},
        ),
        _http("app-dependency-down", app_dependency_down.entry["url"], paths=dict(HEALTH_PATHS)),
        _http("app-unnamed", sample_app_good.entry["url"]),
    ]
    run = run_catalog(pytester, "test_observability.py", targets=targets)

    def outcomes(target: str) -> dict[str, str]:
        return {check: run.outcome(check, target) for check in CHECKS}

    assert outcomes("nginx-good") == dict.fromkeys(CHECKS, "passed")
    assert run.evidence("obs-07", "nginx-good")["content_encoding"] == "gzip"
    assert run.evidence("obs-06", "nginx-good")["samples"] == 20
    assert run.evidence("obs-09", "nginx-good")["status"] == 101

    bad = outcomes("app-bad")
    assert {c: bad[c] for c in ("obs-07", "obs-08", "obs-10", "obs-11")} == dict.fromkeys(
        ("obs-07", "obs-08", "obs-10", "obs-11"), "failed"
    )
    assert {c: bad[c] for c in ("obs-01", "obs-02", "obs-03", "obs-04", "obs-05", "obs-06", "obs-09")} == dict.fromkeys(
        ("obs-01", "obs-02", "obs-03", "obs-04", "obs-05", "obs-06", "obs-09"), "passed"
    )
    label = f"app-bad ({sample_app_bad.entry['url']})"
    assert run.message("obs-07", "app-bad").startswith(f"{label}: GET / (text/html; charset=utf-8, ") and "came back uncompressed" in run.message("obs-07", "app-bad")
    assert (
        run.message("obs-08", "app-bad") == f"{label}: GET /health has no Cache-Control; expected "
        "Cache-Control on the health answer (e.g. no-store) and max-age > 0 on static assets"
    )
    assert f"GET {ERROR_PATH} answered 500 with a Python traceback" in run.message("obs-10", "app-bad")
    assert run.message("obs-11", "app-bad") == f"{label}: /debug answered 200; expected 404 or 401/403 for every debug endpoint"

    shallow = outcomes("app-shallow")
    assert {c: shallow[c] for c in ("obs-04", "obs-05", "obs-06", "obs-09")} == dict.fromkeys(
        ("obs-04", "obs-05", "obs-06", "obs-09"), "failed"
    )
    assert "GET /health/live names no dependencies (keys: status)" in run.message("obs-04", "app-shallow")
    assert "GET /health: content type application/json, no '# TYPE' line" in run.message("obs-05", "app-shallow")
    assert "p95 of 5 sequential GET /health was" in run.message("obs-06", "app-shallow")
    assert "expected <= 0 ms" in run.message("obs-06", "app-shallow")
    assert "GET /health with Upgrade: websocket answered 403" in run.message("obs-09", "app-shallow")
    assert "expected 101 Switching Protocols" in run.message("obs-09", "app-shallow")

    down = outcomes("app-dependency-down")
    assert (down["obs-01"], down["obs-02"], down["obs-03"], down["obs-04"]) == ("passed", "failed", "passed", "failed")
    assert "GET /health/ready answered 503" in run.message("obs-02", "app-dependency-down")
    assert "reports redis: error" in run.message("obs-04", "app-dependency-down")

    unnamed = outcomes("app-unnamed")
    assert {
        c: unnamed[c] for c in ("obs-01", "obs-02", "obs-03", "obs-04", "obs-05", "obs-06", "obs-07", "obs-08", "obs-09")
    } == dict.fromkeys(("obs-01", "obs-02", "obs-03", "obs-04", "obs-05", "obs-06", "obs-07", "obs-08", "obs-09"), "n/a")
    assert (unnamed["obs-10"], unnamed["obs-11"]) == ("passed", "passed")
    assert "no 'health' path in the inventory" in run.message("obs-01", "app-unnamed")
    assert "no websocket_path in the inventory" in run.message("obs-09", "app-unnamed")
