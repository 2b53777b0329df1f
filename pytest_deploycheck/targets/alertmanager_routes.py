"""Where an Alertmanager sends an alert, worked out from its configuration without sending one.

Alertmanager's ``GET /api/v2/status`` returns the running configuration as YAML text
(``config.original``, secrets shown as ``<secret>``).  ``critical_routing`` follows its routing
tree for a given label set the way Alertmanager does (children in order, the first match wins
unless it says ``continue: true``, receivers inherited) and says which receivers the alert
reaches and which of them notify anybody: a receiver without any ``*_configs`` (the usual
``null`` or ``blackhole``) accepts alerts and drops them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

#: The configuration text read at most (the API answer is capped before this already).
MAX_CONFIG_CHARS = 1 << 20


class ConfigError(ValueError):
    """The status answer holds no configuration that can be read."""


def alertmanager_config(status: Any) -> dict[str, Any]:
    """The configuration in an Alertmanager ``/api/v2/status`` answer, as a dict."""
    config = (status.get("config") or {}).get("original", "") if isinstance(status, Mapping) else status
    if isinstance(config, Mapping):
        return dict(config)
    text = str(config)
    if not text.strip():
        raise ConfigError("the status answer holds no configuration (config.original is empty)")
    if len(text) > MAX_CONFIG_CHARS:
        raise ConfigError(f"the configuration is longer than {MAX_CONFIG_CHARS} characters")
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the configuration is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(parsed, dict):
        raise ConfigError("the configuration is not a mapping")
    return parsed


_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*"|[^,"]*)\s*')


def parse_matchers(text: str) -> list[tuple[str, str, str]]:
    """``severity="critical"``, ``{team=~"db|ops", env!="dev"}`` -> [(name, op, value), ...]."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    found = []
    position = 0
    while position < len(text):
        match = _MATCHER.match(text, position)
        if match is None:
            raise ConfigError(f"unreadable matcher {text!r}")
        value = match.group(3).strip()
        found.append((match.group(1), match.group(2), json.loads(value) if value.startswith('"') else value))
        position = match.end()
        if position < len(text) and text[position] == ",":
            position += 1
    return found


def _matches(op: str, pattern: str, value: str) -> bool:
    if op in ("=", "!="):
        return (value == pattern) == (op == "=")
    try:
        # Alertmanager anchors regular expressions at both ends.
        hit = re.fullmatch(pattern, value) is not None
    except re.error:
        hit = False
    return hit == (op == "=~")


def route_matches(route: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether an alert with ``labels`` matches a route's ``matchers``, ``match`` and ``match_re``."""
    conditions: list[tuple[str, str, str]] = []
    for item in route.get("matchers") or []:
        conditions += parse_matchers(str(item))
    conditions += [(name, "=", str(value)) for name, value in (route.get("match") or {}).items()]
    conditions += [(name, "=~", str(value)) for name, value in (route.get("match_re") or {}).items()]
    return all(_matches(op, pattern, str(labels.get(name, ""))) for name, op, pattern in conditions)


def route_alert(route: Mapping[str, Any], labels: Mapping[str, str], receiver: str | None = None) -> list[str]:
    """The receivers Alertmanager notifies for an alert with ``labels`` (in order, may repeat).

    As Alertmanager does: children are tried in order, the first match wins unless it says
    ``continue: true``; a route that no child takes handles the alert itself; receivers inherit.
    """
    receiver = route.get("receiver") or receiver
    chosen: list[str] = []
    for child in route.get("routes") or []:
        if route_matches(child, labels):
            chosen += route_alert(child, labels, receiver)
            if not child.get("continue"):
                break
    if not chosen:
        return [str(receiver)] if receiver is not None else []
    return chosen


def receiver_integrations(receiver: Mapping[str, Any]) -> dict[str, int]:
    """``{"webhook_configs": 1, ...}``: the notification integrations a receiver has (empty: a null receiver)."""
    return {key: len(value) for key, value in receiver.items() if key.endswith("_configs") and value}


@dataclass(frozen=True)
class Routing:
    labels: Mapping[str, str]
    receivers: tuple[str, ...]  # where the alert goes
    integrations: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # receiver -> *_configs counts

    @property
    def delivered(self) -> bool:
        """At least one receiver the alert reaches notifies somebody."""
        return any(self.integrations.get(name) for name in self.receivers)

    @property
    def null_receivers(self) -> tuple[str, ...]:
        return tuple(name for name in self.receivers if not self.integrations.get(name))

    def describe(self) -> str:
        """``oncall (webhook_configs x1), null (no notification configs)``."""
        parts = []
        for name in dict.fromkeys(self.receivers):
            found = self.integrations.get(name) or {}
            parts.append(f"{name} ({', '.join(f'{k} x{n}' for k, n in found.items())})" if found else f"{name} (no notification configs)")
        return ", ".join(parts) or "no receiver"


#: The probe's alert name: one no route singles out (Watchdog, InfoInhibitor go to blackholes on purpose).
PROBE_ALERTNAME = "DeploycheckRoutingProbe"


def critical_routing(config: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> Routing:
    """Where Alertmanager, configured with ``config`` (``alertmanager_config(status)``), would
    send a critical alert (``{"severity": "critical"}`` by default, plus an ``alertname``);
    only the configuration is read, nothing is sent."""
    wanted = {"alertname": PROBE_ALERTNAME, **dict(labels or {"severity": "critical"})}
    receivers = {str(r.get("name")): r for r in config.get("receivers") or [] if isinstance(r, Mapping)}
    chosen = tuple(route_alert(config.get("route") or {}, wanted))
    return Routing(wanted, chosen, {name: receiver_integrations(receivers.get(name, {})) for name in chosen})
