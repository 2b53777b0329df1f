"""The ``alertmanager`` kind: an Alertmanager's HTTP API (``/api/v2``), read with GET requests only.

Same client as ``prometheus`` (one deadline, credentials, CA bundle, 1 MiB cap).  The checks read the
running configuration from ``/api/v2/status`` and work out locally where a critical alert
would go (``alertmanager_routes.py``): no alert is sent, nothing is silenced or reloaded.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.alertmanager_routes import ConfigError, alertmanager_config
from pytest_deploycheck.targets.base import Field, TargetKind
from pytest_deploycheck.targets.prometheus import API_FIELDS, ApiTarget, address, validate_api_auth


class AlertmanagerTarget(ApiTarget):
    """An ``alertmanager`` target: GET on Alertmanager's API v2."""

    def api(self, path: str, **params: Any) -> Any:
        """The JSON answer of ``GET path`` (``api("/api/v2/status")``); anything but 200 is a ``TargetError``."""
        response = self.get(path, **params)
        if response.status != 200:
            raise TargetError(f"{self.label}: GET {path} answered HTTP {response.status}: {' '.join(response.text.split())[:120]!r}")
        try:
            return json.loads(response.body)
        except ValueError:
            raise TargetError(f"{self.label}: GET {path} answered no JSON; is the URL Alertmanager's?") from None

    def config(self) -> dict[str, Any]:
        """The running configuration (``config.original`` of ``/api/v2/status``) as a dict."""
        status = self.api("/api/v2/status")
        try:
            return alertmanager_config(status)
        except ConfigError as exc:
            raise TargetError(f"{self.label}: GET /api/v2/status: {exc}") from None

    @property
    def critical_labels(self) -> dict[str, str]:
        """The labels of a critical alert, for the routing check (default ``severity: critical``)."""
        labels = self.target.get("critical_labels")
        return {str(k): str(v) for k, v in labels.items()} if labels else {"severity": "critical"}


FIELDS: dict[str, Field] = {
    "url": Field("url", "Alertmanager base URL (https:// in production), without credentials", required=True),
    **API_FIELDS,
    "username": Field("str", "HTTP basic auth user (e.g. of a proxy in front)"),  # keeps its place among API_FIELDS
    "critical_labels": Field("map[str]", "labels of a critical alert, for the routing check (default {severity: critical})"),
}


KIND = TargetKind(
    name="alertmanager", fixture="alertmanager", handle=AlertmanagerTarget, fields=FIELDS, address=address, validate=validate_api_auth,
    summary="""An ``alertmanager`` target: ``alertmanager.api("/api/v2/status")`` and ``alertmanager.config()``
    (the running configuration), GET only, with the target's timeout, credentials, CA bundle and a 1 MiB cap.""",
)
