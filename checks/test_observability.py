"""Observability and runtime behaviour: every ``http`` target.

Health, readiness and liveness endpoints, Prometheus metrics, the health endpoint's latency,
compression, caching headers, the WebSocket upgrade, and what error pages and debug endpoints
reveal.  Endpoints come from the inventory's named ``paths`` (``health``, ``ready``, ``live``,
``metrics``, and optionally ``static``: a static asset, ``error``: a GET that makes the app
fail) and ``websocket_path``; a check whose path is not named is not applicable.

Every request is a read-only GET, one at a time.  The latency check sends ``latency_samples``
(+1 warm-up) sequential requests to the health endpoint: the traffic of a load balancer's
probe, not load, so it is not an active probe.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Mapping

import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, read_ahead, require
from pytest_deploycheck.targets.prometheus_facts import exposition_names, missing_metrics, pattern_problems

pytestmark = pytest.mark.section("observability", "Observability and runtime behaviour")

#: Dependency statuses that mean "up"; NEUTRAL ones say the app does not use that dependency.
UP = frozenset({"ok", "up", "pass", "passed", "healthy", "ready", "true", "green", "available", "connected", "alive"})
NEUTRAL = frozenset({"not configured", "disabled", "skipped", "not used", "n/a"})
#: Where readiness bodies list what they checked (Spring: components, MicroProfile/IETF draft: checks).
DEPENDENCY_KEYS = ("checks", "dependencies", "components", "details", "services")
TEXTUAL = ("text/", "application/json", "application/javascript", "application/xml", "+json", "+xml")
BODY_LIMIT = 65536
#: A metrics page is read further when ``required_metrics`` are looked for in it.
METRICS_LIMIT = 1 << 20

#: What an error page shows when a framework's debug mode is on.
TRACES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Traceback \(most recent call last\)|File \"[^\"\n]+\", line \d+"), "a Python traceback"),
    (re.compile(r"^\s*at [\w$.<>]+ \(.*:\d+:\d+\)|&nbsp;at \S+ \(", re.M), "a JavaScript stack trace"),
    (re.compile(r"^\s*at [\w$.]+\([\w$]+\.(?:java|kt|scala):\d+\)", re.M), "a Java stack trace"),
    (re.compile(r"goroutine \d+ \[running\]"), "a Go panic"),
    (re.compile(r"Using the URLconf defined in"), "the Django debug page"),
    (re.compile(r"Werkzeug Debugger|The debugger caught an exception"), "the Werkzeug debugger"),
    (re.compile(r"Whoops! There was an error|Symfony\\Component\\ErrorHandler"), "a PHP debug page"),
    (re.compile(r"Action Controller: Exception caught"), "the Rails debug page"),
    (re.compile(r"Server Error in '[^']*' Application"), "the ASP.NET error page"),
    (re.compile(r"\"(?:trace|stackTrace|stack_trace)\"\s*:\s*[\[\"]"), "a stack trace in JSON"),
)

#: Debug and introspection endpoints of common frameworks (Go pprof/expvar, Spring actuator,
#: Django debug toolbar, Symfony profiler, Werkzeug/Rails console, PHP, Apache, ASP.NET).
DEBUG_PATHS = (
    "/debug",
    "/debug/pprof/",
    "/debug/vars",
    "/__debug__/",
    "/_debug",
    "/actuator/env",
    "/actuator/heapdump",
    "/_profiler/",
    "/console",
    "/phpinfo.php",
    "/server-status",
    "/elmah.axd",
    "/trace.axd",
)


def _fetch(http_endpoint, path: str, limit: int = BODY_LIMIT, **kwargs) -> tuple[int, Mapping[str, str], bytes]:
    """GET ``path``; status, headers (case-insensitive) and at most ``limit`` bytes of the (decoded) body."""
    with http_endpoint.get(path, stream=True, **kwargs) as response:
        body = b""
        for chunk in response.iter_content(16384):
            body += chunk
            if len(body) >= limit:
                break
        return response.status_code, response.headers, body[:limit]


#: A path no site has: its answer is the server's error page (obs-10) and the catch-all baseline (obs-11).
MISSING_PATH = f"/deploycheck-missing-{secrets.token_hex(6)}"


def _answer(http_endpoint, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, Mapping[str, str], bytes, float]:
    """``_fetch`` once per run for this path and these request headers, and how long it took (ms):
    shared by the checks that judge the answer, and read ahead for every target at once."""

    def read() -> tuple[int, Mapping[str, str], bytes, float]:
        started = time.perf_counter()
        status, answer_headers, body = _fetch(http_endpoint, path, headers=dict(headers or {}))
        return status, answer_headers, body, (time.perf_counter() - started) * 1000

    return http_endpoint.shared(("answer", path, *sorted((headers or {}).items())), read, path)[0]


def _digest(http_endpoint, path: str) -> tuple[int, str]:
    """The status and the body's SHA-256 of ``GET path``, once per run (obs-11 keeps no more: a
    debug path may answer a large page)."""

    def read() -> tuple[int, str]:
        status, _, body = _fetch(http_endpoint, path)
        return status, hashlib.sha256(body).hexdigest()

    return http_endpoint.shared(("digest", path), read, path)[0]


def _named(http_endpoint, *names: str) -> list[str]:
    """The inventory's ``paths`` of these names that it names."""
    paths = dict(http_endpoint.setting("paths") or {})
    return [str(paths[name]) for name in names if name in paths]


def _answers_200(http_endpoint, evidence, name: str) -> None:
    path = http_endpoint.path(name)
    status, headers, body, elapsed_ms = _answer(http_endpoint, path)
    evidence.record(path=path, status=status, elapsed_ms=round(elapsed_ms, 1))
    detail = f" -> {headers['Location']}" if "Location" in headers else f": {_snippet(body)}" if body else ""
    require(status == 200, http_endpoint, f"GET {path} answered {status}{detail}", f"200 within {http_endpoint.timeout:g}s")


def _snippet(body: bytes, size: int = 120) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= size else text[:size] + "..."


@pytest.mark.check("obs-01", "Health endpoint answers", severity="high", refs=("Kubernetes: liveness, readiness and startup probes",),
                   answers=("health_check|health endpoint|check|url|route|path|basic|pass|respond|ok|200|working?", "health", "/health",
                            "health_check|health return|returns|up|ok|healthy|green|200 actuator|spring?",
                            "application|app starts|started|boots|launches successfully|cleanly|ok?",
                            "application|app|service accessible|reachable|available|responding|online url|via?"),
                   answers_unless=("docker", "compose", "container", "dockerfile", "kubernetes", "pod", "worker", "celery", "liveness",
                                   "readiness", "health live", "health ready", "boot",
                                   # the balancer's own view of its targets, not whether the endpoint answers:
                                   "loadbalancer configur|set|setup|target|targets|pool|member|members|group|green|healthy|interval",
                                   "only|vpn|restricted|publicly|internally|internal",  # who may reach it is not whether it answers
                                   # a search cluster's status (green/yellow/red) is not an app's health endpoint answering:
                                   "elasticsearch|opensearch|solr"),
                   answers_accepts=("monitor",))
@read_ahead(lambda http_endpoint: [_answer(http_endpoint, path) for path in _named(http_endpoint, "health")])
def test_health(http_endpoint, evidence):
    """Load balancers, orchestrators and uptime monitors decide from the health endpoint; one
    that does not answer 200 takes the service out of rotation or hides an outage.  Passes
    when ``paths.health`` answers 200 within the target's timeout (a redirect fails)."""
    _answers_200(http_endpoint, evidence, "health")


@pytest.mark.check("obs-02", "Readiness endpoint answers", severity="high", refs=("Kubernetes: readiness probes",),
                   answers=("readiness probe|endpoint|check|route?", "health ready",
                            "readiness endpoint|probe|check? respond|responds|answer|answers|200|ok"),
                   answers_accepts=("monitor",))
@read_ahead(lambda http_endpoint: [_answer(http_endpoint, path) for path in _named(http_endpoint, "ready")])
def test_ready(http_endpoint, evidence):
    """Readiness says the instance can serve: its database, cache and queues answer.  Not
    ready at go-live means requests fail or the orchestrator never routes to it.  Passes when
    ``paths.ready`` answers 200 within the timeout."""
    _answers_200(http_endpoint, evidence, "ready")


@pytest.mark.check("obs-03", "Liveness endpoint answers", severity="medium", refs=("Kubernetes: liveness probes",),
                   answers=("liveness probe|endpoint|check|route?", "health live"),
                   answers_accepts=("monitor",))
@read_ahead(lambda http_endpoint: [_answer(http_endpoint, path) for path in _named(http_endpoint, "live")])
def test_live(http_endpoint, evidence):
    """A liveness probe that fails makes the orchestrator restart a healthy process in a loop.
    Passes when ``paths.live`` answers 200 within the timeout."""
    _answers_200(http_endpoint, evidence, "live")


@pytest.mark.check(
    "obs-04", "Readiness reports its dependencies", severity="low", refs=("IETF draft: Health Check Response Format for HTTP APIs",),
                   answers=("health_check|readiness mongo|mongodb|redis|postgres|mysql|database|db|dependenc|broker|queue", "health_check|health|readiness check|checks|cover|covers|includ|report|verif mongo|mongodb|redis|postgres|mysql|database|db|dependenc|dependency|dependencies|broker|queue", "^health_check|health|readiness|status database|redis|cache|dependency|dependencies|elasticsearch|queue|broker|downstream connection|check|reachable|status",
                            "health_check|readiness|health report|include|list dependency|dependencies|component|database|downstream",
                            "dependency|dependencies health|status"),
                   answers_accepts=("monitor",),
                   answers_unless=("vulnerability|owasp|audit|scan|licence|license|outdated",)
)
@read_ahead(lambda http_endpoint: [_answer(http_endpoint, path) for path in _named(http_endpoint, "ready")])
def test_ready_dependencies(http_endpoint, evidence):
    """A readiness endpoint that only says "ok" cannot tell an operator which dependency is
    down, and often checks none.  Passes when ``paths.ready`` answers JSON that names the
    dependencies it checked (``checks``, ``dependencies``, ``components``, ...) and each is up
    (or declared not configured); fails on a body without them or a dependency reported down."""
    path = http_endpoint.path("ready")
    status, headers, body, _ = _answer(http_endpoint, path)
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        fail(
            http_endpoint,
            f"GET {path} answered {status} with {headers.get('Content-Type', 'no content type')}, not a JSON object",
            "a JSON object with a status and the dependencies checked",
        )
    dependencies = _dependencies(document)
    evidence.record(path=path, status=status, overall=document.get("status"), dependencies=dependencies)
    require(
        dependencies,
        http_endpoint,
        f"GET {path} names no dependencies (keys: {', '.join(sorted(document)) or 'none'})",
        f"the dependencies it checked under one of {', '.join(DEPENDENCY_KEYS)}",
    )
    down = {name: state for name, state in dependencies.items() if state.lower() not in UP | NEUTRAL}
    require(
        not down,
        http_endpoint,
        f"GET {path} ({status}) reports " + ", ".join(f"{n}: {s}" for n, s in sorted(down.items())),
        "every dependency up",
    )


def _dependencies(document: dict) -> dict[str, str]:
    """name -> status text, from the first dependency section found."""
    for key in DEPENDENCY_KEYS:
        section = document.get(key)
        if isinstance(section, dict) and section:
            return {str(name): _state(value) for name, value in section.items()}
        if isinstance(section, list) and section:
            return {str(item.get("name", i)) if isinstance(item, dict) else str(i): _state(item) for i, item in enumerate(section)}
    return {}


def _state(value) -> str:
    if isinstance(value, dict):
        value = value.get("status", value.get("state", value.get("healthy", "unknown")))
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.mark.check("obs-05", "Metrics exposed for Prometheus", severity="medium", refs=("Prometheus: exposition formats",),
                   answers=("prometheus metric|endpoint|exporter|scrape|exposed|format",
                            "metric endpoint|exposed|collect|export|route application?", "/metrics", "application metric"),
                   answers_unless=("publicly", "public", "internet", "external", "protected", "authenticat",  # keeping them private: not this
                                   "success|kpi|kpis"),  # what counts as success, not an exposition endpoint
                   answers_accepts=("monitor",))
def test_metrics(http_endpoint, evidence):
    """Without metrics an incident is diagnosed blind and alerts have nothing to fire on.
    Passes when ``paths.metrics`` answers 200 with the Prometheus or OpenMetrics text format
    (its content type and at least one ``# TYPE`` line) and, when the inventory lists
    ``required_metrics`` (names, or regular expressions matching whole names), exposes each."""
    path = http_endpoint.path("metrics")
    required = tuple(http_endpoint.setting("required_metrics") or ())
    status, headers, body = _fetch(http_endpoint, path, limit=METRICS_LIMIT if required else BODY_LIMIT)
    content_type = headers.get("Content-Type", "")
    types = len(re.findall(rb"^# TYPE \S+ \S+", body, re.M))
    evidence.record(path=path, status=status, content_type=content_type, type_lines=types)
    require(status == 200, http_endpoint, f"GET {path} answered {status}", "200 (name a URL the checker may read in paths.metrics)")
    problems = []
    if not content_type.startswith(("text/plain", "application/openmetrics-text")):
        problems.append(f"content type {content_type or 'none'}")
    if not types:
        problems.append("no '# TYPE' line")
    require(
        not problems,
        http_endpoint,
        f"GET {path}: {', '.join(problems)}",
        "text/plain (version=0.0.4) or application/openmetrics-text with '# TYPE' lines",
    )
    if required:
        bad = pattern_problems(required)
        if bad:
            raise TargetError(f"{http_endpoint.label}: required_metrics entries that are neither names nor regular expressions: {'; '.join(bad)}")
        missing = missing_metrics(required, exposition_names(body.decode("utf-8", "replace")))
        evidence.record(required_metrics=list(required), missing_metrics=missing)
        if missing and len(body) >= METRICS_LIMIT:
            raise TargetError(f"{http_endpoint.label}: GET {path} is longer than {METRICS_LIMIT} bytes, the size cap, "
                              f"and {', '.join(missing)} were not in the part read")
        require(not missing, http_endpoint, f"GET {path} exposes no {', '.join(missing)}", "every entry of required_metrics exposed")


@pytest.mark.check("obs-06", "Health endpoint latency (p95) within budget", severity="medium", refs=("Google SRE: latency SLIs",),
                   answers=("health_check|health response_time|fast|slow|ms|percentile|timing",),
                   answers_accepts=("monitor",))
def test_latency_p95(http_endpoint, evidence):
    """A health endpoint that is slow when idle is slower under traffic, and probes with short
    timeouts start failing.  Sends ``latency_samples`` GETs to ``paths.health`` one after
    another (after one warm-up request: connection and TLS set-up are not the endpoint's
    latency) and passes when their 95th percentile (nearest rank) is at most ``latency_p95_ms``."""
    path = http_endpoint.path("health")
    samples = int(http_endpoint.threshold("latency_samples"))
    budget = http_endpoint.threshold("latency_p95_ms")
    if samples < 1:
        not_applicable(f"{http_endpoint.name}: latency_samples is {samples}", unexamined=True)
    http_endpoint.get(path)
    timings = []
    for n in range(samples):
        started = time.perf_counter()
        response = http_endpoint.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise TargetError(f"{http_endpoint.label}: cannot measure latency: request {n + 1} to {path} answered {response.status_code}")
    ordered = sorted(timings)
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]
    evidence.record(
        path=path, samples=len(ordered), p95_ms=round(p95, 1), median_ms=round(ordered[len(ordered) // 2], 1), max_ms=round(ordered[-1], 1)
    )
    require(
        p95 <= budget,
        http_endpoint,
        f"p95 of {len(ordered)} sequential GET {path} was {p95:.1f} ms (max {ordered[-1]:.1f} ms)",
        f"<= {budget} ms",
    )


#: The request header obs-07 sends.
GZIP = {"Accept-Encoding": "gzip"}


def _compression_paths(http_endpoint) -> list[str]:
    """``/`` and the named paths, but metrics and error: the answers obs-07 may judge."""
    paths = dict(http_endpoint.setting("paths") or {})
    return list(dict.fromkeys(["/", *(str(p) for name, p in paths.items() if name not in ("metrics", "error"))]))


@pytest.mark.check("obs-07", "Responses compressed", severity="low", refs=("Mozilla: HTTP compression", "web.dev: text compression"),
                   answers=("compression response? http?", "response compress"),
                   answers_unless=("file|files|export|exports|archive|archives|dump|dumps|backup|backups|log|logs|image|images",)
)
@read_ahead(lambda http_endpoint: [_answer(http_endpoint, path, GZIP) for path in _compression_paths(http_endpoint)])
def test_compression(http_endpoint, evidence):
    """Uncompressed text costs bandwidth and time on every slow link.  Asks for ``/`` and the
    named paths (not metrics or error) with ``Accept-Encoding: gzip`` and judges the first
    200 text response of at least ``compression_min_bytes``: passes when it comes back
    compressed; not applicable when no response is that large."""
    minimum = http_endpoint.threshold("compression_min_bytes")
    seen = []
    for path in _compression_paths(http_endpoint):
        status, headers, body, _ = _answer(http_endpoint, path, GZIP)
        content_type = headers.get("Content-Type", "")
        seen.append(f"{path} {status} {len(body)} B")
        if status == 200 and any(t in content_type for t in TEXTUAL) and len(body) >= minimum:
            encoding = headers.get("Content-Encoding", "")
            evidence.record(path=path, content_type=content_type, size=len(body), content_encoding=encoding or None)
            require(
                encoding.lower() in ("gzip", "br", "zstd", "deflate"),
                http_endpoint,
                f"GET {path} ({content_type}, {len(body)} bytes) came back uncompressed",
                "Content-Encoding gzip or br",
            )
            return
    evidence.record(examined=seen)
    not_applicable(
        f"{http_endpoint.name}: no 200 text response of >= {minimum} bytes among {', '.join(seen)}; "
        "name a larger one in paths.static or lower compression_min_bytes", unexamined=True
    )


@pytest.mark.check("obs-08", "Caching headers set", severity="info", refs=("RFC 9111: HTTP caching", "Mozilla: Cache-Control"),
                   answers=("far future cach|caching|expir|expires|header|headers", "long lived? cach|caching max_age|expir", "browser cach|caching", "static asset|file|image|images|css|js cach|caching|expir|max_age", "cache|caching header|control|max_age|etag http?", "cache_control", "static asset|file|content cach"))
@read_ahead(lambda http_endpoint: [_answer(http_endpoint, path) for path in _named(http_endpoint, "health", "static")])
def test_caching_headers(http_endpoint, evidence):
    """Without Cache-Control, proxies and browsers guess: a cached health answer hides an
    outage, an uncached asset is fetched on every view.  Passes when ``paths.health`` sends a
    Cache-Control header and ``paths.static`` (if named) allows caching (``max-age`` > 0 or
    ``immutable``); not applicable when neither is named."""
    paths = dict(http_endpoint.setting("paths") or {})
    if "health" not in paths and "static" not in paths:
        not_applicable(f"{http_endpoint.name}: neither paths.health nor paths.static is named in the inventory", unexamined=True)
    problems, seen = [], {}
    if "health" in paths:
        _, headers, _, _ = _answer(http_endpoint, paths["health"])
        seen[paths["health"]] = headers.get("Cache-Control")
        if not headers.get("Cache-Control"):
            problems.append(f"GET {paths['health']} has no Cache-Control")
    if "static" in paths:
        _, headers, _, _ = _answer(http_endpoint, paths["static"])
        value = headers.get("Cache-Control", "")
        seen[paths["static"]] = value or None
        age = re.search(r"(?:^|,)\s*max-age=(\d+)", value)
        if not ("immutable" in value or (age and int(age.group(1)) > 0)):
            problems.append(f"GET {paths['static']} Cache-Control is {value or 'missing'}")
    evidence.record(cache_control=seen)
    require(
        not problems,
        http_endpoint,
        "; ".join(problems),
        "Cache-Control on the health answer (e.g. no-store) and max-age > 0 on static assets",
    )


@pytest.mark.check(
    "obs-09", "WebSocket upgrade works", severity="high", refs=("RFC 6455: the WebSocket opening handshake", "nginx: WebSocket proxying"),
                   answers=("websocket connection|upgrade|handshake|work|proxy|support?",
                            "websocket endpoint|connection? upgrade|upgrades|work|works correctly? behind|through|via proxy|ingress|load_balancer|webserver"),
    answers_unless=("survive|survives|drain|draining",),  # connections kept across a deploy: a drill, not the upgrade
)
def test_websocket(http_endpoint, evidence):
    """A proxy that drops the Upgrade and Connection headers breaks every WebSocket feature
    while plain HTTP looks fine.  Passes when ``websocket_path`` completes the opening
    handshake (101 with the matching Sec-WebSocket-Accept) within the timeout; the connection
    is closed at once, no message is sent."""
    path = http_endpoint.setting("websocket_path")
    if not path:
        not_applicable(f"{http_endpoint.name}: no websocket_path in the inventory (http.{http_endpoint.name}.websocket_path)", unexamined=True)
    handshake = http_endpoint.websocket_handshake(str(path))
    evidence.record(path=path, status=handshake.status, upgrade=handshake.headers.get("upgrade"))
    require(
        handshake.status == 101,
        http_endpoint,
        f"GET {path} with Upgrade: websocket answered {handshake.status or 'no HTTP status'} {handshake.reason}".rstrip(),
        "101 Switching Protocols",
    )
    require(
        handshake.accept_ok,
        http_endpoint,
        f"GET {path} answered 101 without the matching Sec-WebSocket-Accept",
        "the accept value RFC 6455 derives from the key sent",
    )


@pytest.mark.check(
    "obs-10",
    "Error pages reveal no stack traces",
    severity="medium",
    refs=("OWASP ASVS V7.4.1: generic error messages", "OWASP WSTG-ERRH-02"),
                   answers=("developer|debug exception|error page|pages disabl|off|hidden|removed", "stacktrace|traceback not? exposed|hidden|leak|show|shown|displayed|visible|returned? user|users|client|clients|visitor|visitors|public?",
                            "error_page detail|generic|custom|leak|stack|verbose|exposed", "custom|generic|friendly|branded error|404|500 page",
                            "verbose|detailed error disabl|hidden|off|production|message", "error message leak|exposed|generic|sanitiz",
                            "errorpage|error_page"),
                   answers_unless=("login|signin|sign_in|username|enumeration", "password reset")
)
@read_ahead(lambda http_endpoint: [_answer(http_endpoint, path) for path in [MISSING_PATH, *_named(http_endpoint, "error")]])
def test_no_stack_traces(http_endpoint, evidence):
    """A stack trace maps the code, its paths and library versions for an attacker, and often
    comes with debug mode and its consoles.  Requests a path that does not exist and, if named,
    ``paths.error`` (a GET that makes the app fail); passes when no answer shows a traceback or
    a framework's debug page."""
    found, seen = [], {}
    for path in [MISSING_PATH, *_named(http_endpoint, "error")]:
        status, _, body, _ = _answer(http_endpoint, path)
        text = body.decode("utf-8", "replace")
        kinds = [kind for pattern, kind in TRACES if pattern.search(text)]
        seen[path] = status
        if kinds:
            found.append(f"GET {path} answered {status} with {kinds[0]}")
    evidence.record(probed=seen)
    require(not found, http_endpoint, "; ".join(found), "a generic error page (turn the framework's debug mode off)")


@pytest.mark.check(
    "obs-11",
    "Debug endpoints not exposed",
    severity="high",
    refs=("OWASP WSTG-CONF-05", "Go net/http/pprof", "Spring Boot actuator security"),
                   answers=("telescope|debugbar|debug_toolbar disabl|off|removed|not|hidden", "spring? boot? actuator endpoint|endpoints? secur|secured|protect|protected|restrict|restricted|lock|locked|disabl|hidden|expos", "actuator|pprof|phpinfo|heapdump secur|secured|protect|protected|restrict|restricted|lock|locked|disabl|hidden", "debug_endpoint|debug_endpoints|debug_routes not? exposed|disabl|remov?",
                            "debug|profil|pprof|actuator|phpinfo console|endpoint|route|page|path|toolbar|panel exposed|disabl|remov|not?",
                            "pprof|actuator|phpinfo|heapdump"),
    # "Actuator health endpoint returns UP" is about the health endpoint answering, not exposure.
    answers_unless=("health_check|health return|returns|report|reports|up|ok|respond|responds|200|green|healthy|pass|passes",),
)
@read_ahead(lambda http_endpoint: [_answer(http_endpoint, MISSING_PATH), *(_digest(http_endpoint, path) for path in DEBUG_PATHS)])
def test_no_debug_endpoints(http_endpoint, evidence):
    """Profilers, heap dumps, environment and debug consoles hand out secrets and, for a
    console, code execution.  GETs a fixed list of well-known debug paths (bodies read at most
    64 KiB); passes when none answers 200 with a page of its own (a catch-all that answers 200
    to any path with the same page does not count)."""
    baseline_status, _, baseline, _ = _answer(http_endpoint, MISSING_PATH)
    baseline_digest = hashlib.sha256(baseline).hexdigest() if baseline_status == 200 else None
    exposed = []
    for path in DEBUG_PATHS:
        status, digest = _digest(http_endpoint, path)
        if status == 200 and digest != baseline_digest:
            exposed.append(path)
    evidence.record(probed=list(DEBUG_PATHS), exposed=exposed, catch_all=baseline_digest is not None)
    require(not exposed, http_endpoint, f"{', '.join(exposed)} answered 200", "404 or 401/403 for every debug endpoint")
