"""The ``prometheus`` kind: a Prometheus server's HTTP API, read with GET requests only.

``ApiTarget`` is the client ``prometheus`` and ``alertmanager`` targets share: GET with the
target's timeout as one deadline for the whole exchange (``http_transport``), CA bundle and
credentials (HTTP basic auth or a bearer token, from ``${VAR}``), the answer read to at most 1 MiB.  Nothing is ever posted: no silence, no reload,
no alert; the admin and lifecycle endpoints are never called.  What the answers mean is worked
out in ``prometheus_facts.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.http import url_address
from pytest_deploycheck.targets.prometheus_facts import CONCERNS, pattern_problems
from pytest_deploycheck.targets.reach import Reachability, ssl_reason
from pytest_deploycheck.targets.sql import validate_dsn
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode

#: Largest API answer read (bytes); a larger one is an error naming the cap, never a silent cut.
MAX_BYTES = 1 << 20


class ApiResponse(NamedTuple):
    """One GET answer: status, the body (at most the cap) and the content type."""

    status: int
    body: bytes
    content_type: str

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _AuthRefused(Exception):
    """Raised inside the guard so that refused credentials end every later check at once."""


class ApiTarget(TargetHandle):
    """GET requests to a monitoring server's HTTP API, with the target's timeout, CA bundle,
    credentials and a size cap.  Base of ``PrometheusTarget`` and ``AlertmanagerTarget``."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return str(self.target.spec["url"]).rstrip("/")

    @property
    def verify(self) -> str | bool:
        return str(self.target.get("ca_bundle")) if self.target.get("ca_bundle") else True

    @property
    def session(self) -> Any:
        from pytest_deploycheck.targets import http_transport

        with self._lock:
            if self._session is None:
                session = http_transport.bounded_session(user_agent="pytest-deploycheck", verify=self.verify)
                if self.target.get("bearer_token"):
                    session.headers["Authorization"] = f"Bearer {self.target.get('bearer_token')}"
                elif self.target.get("username"):
                    session.auth = (str(self.target.get("username")), str(self.target.get("password") or ""))
                self._session = session
            return self._session

    def get(self, path: str, *, limit: int = MAX_BYTES, **params: Any) -> ApiResponse:
        """GET ``path`` (``/-/ready``, ``/api/v1/targets``) with query ``params``; the body is read
        to at most ``limit`` bytes, and a longer one is a ``TargetError`` saying the cap was hit.
        One deadline, the target's timeout, bounds connect, TLS, headers and body together
        (``http_transport``): a server that drips its answer costs one timeout.  Refused
        credentials (401/403) are an error that ends every later check on the target."""
        import requests

        from pytest_deploycheck.targets import http_transport

        url = self.url + "/" + path.lstrip("/")
        with self.reach.guard(self.target, unreachable=(requests.ConnectionError, requests.Timeout), unusable=(_AuthRefused,)):
            try:
                # Per request: requests lets REQUESTS_CA_BUNDLE override session.verify.
                response = http_transport.request(self.session, "GET", url, deadline=self.timeout, body_limit=limit, params=params,
                                                  verify=self.verify)
            except requests.exceptions.SSLError as exc:
                raise TargetError(f"{self.label}: TLS verification failed ({ssl_reason(exc)}); set ca_bundle or fix the certificate") from None
            if response.status_code == 401:
                raise _AuthRefused(f"GET {path} answered HTTP 401 with {self._credentials}; check the target's credentials")
        if response.status_code == 403:
            # Forbidden for this path only (a proxy may guard some endpoints): this check, not the target.
            raise TargetError(f"{self.label}: GET {path} answered HTTP 403 with {self._credentials}; let the checker's credentials read it")
        if getattr(response, "deploycheck_truncated", False):
            raise TargetError(f"{self.label}: GET {path} answered more than {limit} bytes, the size cap; "
                              "ask for less (a narrower query) or raise the cap")
        return ApiResponse(response.status_code, response.content, response.headers.get("Content-Type", ""))

    @property
    def _credentials(self) -> str:
        return "the bearer token" if self.target.get("bearer_token") else "username/password" if self.target.get("username") else "no credentials"

    def json(self, path: str, **params: Any) -> Any:
        """GET ``path`` and parse the JSON answer; an answer that is not JSON is a ``TargetError``."""
        response = self.get(path, **params)
        try:
            return json.loads(response.body)
        except ValueError:
            snippet = " ".join(response.text.split())[:120]
            raise TargetError(f"{self.label}: GET {path} answered HTTP {response.status} with no JSON ({snippet!r}); "
                              "is the URL the server's API?") from None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class PrometheusTarget(ApiTarget):
    """A ``prometheus`` target: GET on Prometheus' HTTP API (``/api/v1/...``)."""

    def api(self, path: str, **params: Any) -> Any:
        """The ``data`` of ``GET path`` (``api("/api/v1/targets")``, ``api("/api/v1/query", query="up")``).

        The answer must be JSON with ``status: success``; an ``error`` answer is a ``TargetError``
        quoting Prometheus' ``errorType`` and ``error``.
        """
        document = self.json(path, **params)
        if not isinstance(document, Mapping) or "status" not in document:
            raise TargetError(f"{self.label}: GET {path} did not answer a Prometheus API document; is the URL Prometheus?")
        if document.get("status") != "success":
            raise TargetError(f"{self.label}: GET {path} failed: {document.get('errorType', 'error')}: {document.get('error', '')}")
        return document.get("data")

    def query(self, promql: str) -> list[Any]:
        """The result of an instant query (``[{"metric": {...}, "value": [t, "1"]}, ...]``)."""
        data = self.api("/api/v1/query", query=promql)
        if not isinstance(data, Mapping) or data.get("resultType") != "vector":
            raise TargetError(f"{self.label}: query {promql!r} did not answer an instant vector")
        return list(data.get("result") or [])

    @property
    def required_alerts(self) -> tuple[str, ...]:
        """The alerting concerns the inventory asks for (default: every one of ``CONCERNS``)."""
        chosen = self.target.get("required_alerts")
        return tuple(chosen) if chosen is not None else tuple(CONCERNS)


#: How every ``ApiTarget`` kind is reached, after its ``url`` (``validate_api_auth`` checks them).
API_FIELDS: dict[str, Field] = {
    "username": Field("str", "HTTP basic auth user"),
    "password": Field("str", "HTTP basic auth password (use ${VAR})"),
    "bearer_token": Field("str", "bearer token instead of basic auth (use ${VAR})"),
    "ca_bundle": Field("path", "CA bundle to verify the certificate (default: system store)", must_exist=True),
}

FIELDS: dict[str, Field] = {
    "url": Field("url", "Prometheus base URL (https:// in production), without credentials", required=True),
    **API_FIELDS,
    "required_jobs": Field("list[str]", "scrape jobs that must exist, e.g. [app, node, postgres, redis]"),
    "required_alerts": Field("list[str]", "alerting concerns that need a rule (default: all): " + ", ".join(CONCERNS)),
    "required_metrics": Field("list[str]", "metric names, or regular expressions matching whole names, that must have series"),
    "probed_sites": Field("list[str]", "http targets of the inventory (by name) an uptime probe must watch: a probe_success "
                                       "series (blackbox exporter) whose instance is the site's URL or a page of it"),
}


def validate_api_auth(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    """One kind of credentials, complete, and none inside the URL."""
    validate_dsn("url")(ld, spec, raw, keypath)
    if "bearer_token" in raw and ("username" in raw or "password" in raw):
        ld.problem(raw["bearer_token"].line, f"{keypath}.bearer_token", "give either bearer_token or username/password, not both")
    elif ("username" in raw) != ("password" in raw):
        given, other = ("username", "password") if "username" in raw else ("password", "username")
        ld.problem(raw[given].line, f"{keypath}.{other}", f"basic auth needs both username and password; add {other}")


def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    validate_api_auth(ld, spec, raw, keypath)
    unknown = [name for name in spec.get("required_alerts") or () if name not in CONCERNS]
    if unknown:
        ld.problem(raw["required_alerts"].line, f"{keypath}.required_alerts",
                   f"unknown concern {', '.join(map(repr, unknown))}; choose from {', '.join(CONCERNS)}")
    for problem in pattern_problems(spec.get("required_metrics") or ()):
        ld.problem(raw["required_metrics"].line, f"{keypath}.required_metrics", f"neither a metric name nor a regular expression: {problem}")


def address(target: Target) -> tuple[str, int] | None:
    return url_address(str(target.spec["url"]), {"https": 443, "http": 80})


KIND = TargetKind(
    name="prometheus", fixture="prometheus", handle=PrometheusTarget, fields=FIELDS, address=address, validate=validate,
    summary="""A ``prometheus`` target: ``prometheus.api("/api/v1/targets")`` returns the ``data`` of a GET on
    Prometheus' HTTP API, with the target's timeout, credentials, CA bundle and a 1 MiB cap.""",
)
