"""The monitoring launchers of the test bed: Prometheus and Alertmanager start, answer their real
HTTP APIs, stop cleanly, and the ``bad`` variants really differ from the ``good`` ones in each
way a monitoring check will look at (targets, rules, firing alerts, Alertmanager, routing,
retention, authentication)."""

from __future__ import annotations

import os
import string
from typing import Any

import pytest
import requests
import yaml

from tests.servers.base import Instance, wait_until
from tests.servers.monitoring import (
    ALWAYS_FIRING,
    BROKEN_RECORD,
    CONCERNS,
    WebhookSink,
    api,
    launch_alertmanager,
    launch_prometheus,
    post_alert,
    wait_for_webhook,
)


def _auth(instance: Instance) -> tuple[str, str] | None:
    """Basic-auth credentials from the entry, its ``${VAR}`` resolved from the instance's env as a runner would."""
    if "password" not in instance.entry:
        return None
    return instance.entry["username"], string.Template(instance.entry["password"]).substitute(instance.env)


def _get(instance: Instance, path: str, **params: str) -> Any:
    return api(instance.entry["url"], path, _auth(instance), **params)


def _alertmanager_config(instance: Instance) -> dict[str, Any]:
    status = requests.get(f"{instance.entry['url']}/api/v2/status", timeout=5).json()
    config: dict[str, Any] = yaml.safe_load(status["config"]["original"])
    return config


# --- Prometheus ---


def test_prometheus_entries_look_like_inventory_entries(prometheus_good: Instance, prometheus_bad: Instance) -> None:
    assert prometheus_good.kind == prometheus_bad.kind == "prometheus"
    assert prometheus_good.entry == {
        "url": f"http://127.0.0.1:{prometheus_good.admin['port']}",
        "username": "monitor",
        "password": "${DC_PROMETHEUS_GOOD_PASSWORD}",
    }
    assert prometheus_good.env["DC_PROMETHEUS_GOOD_PASSWORD"] == prometheus_good.admin["password"]
    assert prometheus_bad.entry == {"url": f"http://127.0.0.1:{prometheus_bad.admin['port']}"}
    assert prometheus_bad.env == {}


def test_good_prometheus_requires_basic_auth_bad_does_not(prometheus_good: Instance, prometheus_bad: Instance) -> None:
    url = prometheus_good.entry["url"]
    assert requests.get(f"{url}/api/v1/status/buildinfo", timeout=5).status_code == 401
    assert requests.get(f"{url}/api/v1/status/buildinfo", auth=("monitor", "wrong"), timeout=5).status_code == 401
    assert requests.get(f"{url}/api/v1/status/buildinfo", auth=_auth(prometheus_good), timeout=5).status_code == 200
    assert requests.get(f"{prometheus_bad.entry['url']}/api/v1/status/buildinfo", timeout=5).status_code == 200


def test_good_targets_are_all_up_bad_has_one_down(prometheus_good: Instance, prometheus_bad: Instance, sample_app_good: Instance) -> None:
    good = {(t["labels"]["job"], t["health"]) for t in _get(prometheus_good, "/api/v1/targets")["activeTargets"]}
    assert good == {("prometheus", "up"), ("app", "up"), ("blackbox", "up")}
    # The blackbox exporter probes the app (it answers) and a retired site (nothing listens): real probes.
    probes = {s["metric"]["instance"]: s["value"][1] for s in _get(prometheus_good, "/api/v1/query", query="probe_success")["result"]}
    assert probes == {prometheus_good.admin["probes"][0]: "1", prometheus_good.admin["probes"][1]: "0"}
    bad = {t["labels"]["job"]: t for t in _get(prometheus_bad, "/api/v1/targets")["activeTargets"]}
    assert bad["prometheus"]["health"] == "up"
    assert bad["node"]["health"] == "down"
    assert bad["node"]["labels"]["instance"] == prometheus_bad.admin["down_targets"][0]
    assert "connection refused" in bad["node"]["lastError"]
    # The good Prometheus really stores the app's metrics, not only a target marked up.
    result = _get(prometheus_good, "/api/v1/query", query='app_info{job="app"}')["result"]
    assert [series["metric"]["variant"] for series in result] == [sample_app_good.admin["variant"]]


def test_good_rules_cover_every_concern_and_evaluate_bad_rules_do_not(prometheus_good: Instance, prometheus_bad: Instance) -> None:
    good_groups = _get(prometheus_good, "/api/v1/rules")["groups"]
    good_rules = {rule["name"]: rule for group in good_groups for rule in group["rules"]}
    assert set(CONCERNS.values()) <= {name for name, rule in good_rules.items() if rule["type"] == "alerting"}
    assert {rule["health"] for rule in good_rules.values()} == {"ok"}
    assert all(not rule.get("lastError") for rule in good_rules.values())
    assert all(rule["labels"].get("severity") in ("critical", "warning") for rule in good_rules.values())

    bad_rules = {rule["name"]: rule for group in _get(prometheus_bad, "/api/v1/rules")["groups"] for rule in group["rules"]}
    assert set(CONCERNS.values()).isdisjoint(bad_rules)
    assert bad_rules[BROKEN_RECORD]["health"] == "err"
    assert "match" in bad_rules[BROKEN_RECORD]["lastError"]  # many-to-many / duplicate series: a real evaluation error
    assert bad_rules[ALWAYS_FIRING]["state"] == "firing"
    assert bad_rules[ALWAYS_FIRING]["labels"]["severity"] == "critical"


def test_good_has_no_firing_alert_bad_has_a_critical_one(prometheus_good: Instance, prometheus_bad: Instance) -> None:
    assert [a for a in _get(prometheus_good, "/api/v1/alerts")["alerts"] if a["state"] == "firing"] == []
    firing = [a["labels"] for a in _get(prometheus_bad, "/api/v1/alerts")["alerts"] if a["state"] == "firing"]
    assert {"alertname": ALWAYS_FIRING, "severity": "critical"} in firing


def test_good_sends_to_an_alertmanager_bad_to_none(
    prometheus_good: Instance, prometheus_bad: Instance, alertmanager_good: Instance
) -> None:
    good = _get(prometheus_good, "/api/v1/alertmanagers")
    assert [am["url"] for am in good["activeAlertmanagers"]] == [f"{alertmanager_good.entry['url']}/api/v2/alerts"]
    assert _get(prometheus_bad, "/api/v1/alertmanagers")["activeAlertmanagers"] == []


def test_good_keeps_fifteen_days_bad_two(prometheus_good: Instance, prometheus_bad: Instance) -> None:
    assert _get(prometheus_good, "/api/v1/status/flags")["storage.tsdb.retention.time"] == "15d"
    assert _get(prometheus_bad, "/api/v1/status/flags")["storage.tsdb.retention.time"] == "2d"
    assert _get(prometheus_good, "/api/v1/status/runtimeinfo")["storageRetention"].startswith("15d")
    assert _get(prometheus_bad, "/api/v1/status/runtimeinfo")["storageRetention"].startswith("2d")


def test_bad_prometheus_runs_a_configuration_whose_reload_failed(prometheus_good: Instance, prometheus_bad: Instance) -> None:
    assert _get(prometheus_good, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is True
    assert _get(prometheus_bad, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is False
    assert prometheus_bad.admin["reload_failed"] is True
    # It still runs the configuration it had: ready, and its jobs still scraped.
    assert requests.get(f"{prometheus_bad.entry['url']}/-/ready", timeout=5).status_code == 200
    assert {t["labels"]["job"] for t in _get(prometheus_bad, "/api/v1/targets")["activeTargets"]} == {"prometheus", "node"}


def test_bad_prometheus_firing_alert_reaches_a_bad_alertmanager_and_goes_nowhere() -> None:
    alertmanager = launch_alertmanager("bad", name="alertmanager-bad-chain")
    try:
        prometheus = launch_prometheus("bad", alertmanager=alertmanager, name="prometheus-bad-chain")
        try:

            def delivered() -> list[dict[str, Any]]:
                alerts = requests.get(f"{alertmanager.entry['url']}/api/v2/alerts", timeout=5).json()
                return [a for a in alerts if a["labels"].get("alertname") == ALWAYS_FIRING]

            wait_until(lambda: bool(delivered()), 30.0, "the firing alert to reach the Alertmanager")
            assert [r["name"] for r in delivered()[0]["receivers"]] == ["null"]
        finally:
            prometheus.stop()
    finally:
        alertmanager.stop()


# --- Alertmanager ---


def test_alertmanager_entries(alertmanager_good: Instance, alertmanager_bad: Instance) -> None:
    for instance in (alertmanager_good, alertmanager_bad):
        assert instance.kind == "alertmanager"
        assert instance.entry == {"url": f"http://127.0.0.1:{instance.admin['port']}"}
        assert requests.get(f"{instance.entry['url']}/-/ready", timeout=5).status_code == 200


def test_good_alertmanager_routes_critical_to_a_real_receiver_bad_to_null(alertmanager_good: Instance, alertmanager_bad: Instance) -> None:
    good = _alertmanager_config(alertmanager_good)
    receivers = {r["name"]: r for r in good["receivers"]}
    critical_route = next(r for r in good["route"]["routes"] if 'severity="critical"' in r.get("matchers", []))
    assert receivers[critical_route["receiver"]]["webhook_configs"][0]["url"].startswith("http://127.0.0.1:")

    bad = _alertmanager_config(alertmanager_bad)
    assert bad["route"]["receiver"] == "null"
    assert "routes" not in bad["route"]
    assert bad["receivers"] == [{"name": "null"}]


@pytest.mark.parametrize("variant", ["good", "bad"])
def test_a_critical_alert_is_delivered_only_by_the_good_alertmanager(variant: str) -> None:
    # A fresh Alertmanager: posting alerts to the session's would leave them active for other tests.
    instance = launch_alertmanager(variant, name=f"alertmanager-{variant}-delivery")  # type: ignore[arg-type]
    try:
        post_alert(instance, {"alertname": "DiskFull", "severity": "critical", "instance": "db-1"})
        alerts = requests.get(f"{instance.entry['url']}/api/v2/alerts", timeout=5).json()
        assert [[r["name"] for r in a["receivers"]] for a in alerts] == [[instance.admin["critical_receiver"]]]
        if variant == "good":
            sink: WebhookSink = instance.admin["webhook"]
            notification = wait_for_webhook(sink, "/critical", "DiskFull")
            assert notification["receiver"] == "oncall-critical"
            assert notification["status"] == "firing"
            assert sink.notifications("/default") == []
        else:
            assert instance.admin["webhook"] is None
    finally:
        instance.stop()


def test_stop_ends_the_processes_and_removes_their_directories() -> None:
    alertmanager = launch_alertmanager("good", name="alertmanager-stop")
    sink: WebhookSink = alertmanager.admin["webhook"]
    assert alertmanager.server is not None
    pid, workdir = alertmanager.server.pid, alertmanager.server.workdir
    alertmanager.stop()
    assert not alertmanager.server.alive()
    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.post(sink.url, json={}, timeout=2)
