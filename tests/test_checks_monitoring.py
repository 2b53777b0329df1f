"""The monitoring catalog (checks/test_monitoring.py) against real Prometheus and Alertmanager servers.

One catalog run: the good pair (Prometheus scraping the sample app, rules for every concern,
sending to an Alertmanager that pages a webhook) passes every check; the bad pair (a down
node exporter, one copied rule, a critical test alert firing, a rule in error, a failed
reload, no Alertmanager, two days of retention; an Alertmanager whose only receiver is
``null``) fails each with target, observed and expected.  Dead servers and refused
credentials end as errors.  obs-05 learns ``required_metrics`` for a raw ``/metrics`` page.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Target
from pytest_deploycheck.targets.prometheus import PrometheusTarget
from pytest_deploycheck.targets.reach import Reachability
from pytest_deploycheck.thresholds import defaults
from tests.servers import hostile
from tests.servers.base import LOOPBACK, Instance, free_port
from tests.servers.hostile import HostileServer
from tests.servers.inventory import run_catalog
from tests.servers.monitoring import ALWAYS_FIRING, BROKEN_RECORD, CONCERNS

PROMETHEUS_CHECKS = ["mon-01", "mon-02", "mon-03", "mon-04", "mon-05", "mon-06", "mon-07", "mon-09", "mon-10", "mon-11", "mon-12"]
ALERTMANAGER_CHECKS = ["mon-08"]
#: What the inventory asks of both Prometheus servers: the app scraped and exporting its metrics.
REQUIRED = {"required_jobs": ["prometheus", "app"], "required_metrics": ["http_requests_total", "app_.*", "up"], "probed_sites": ["app-good"]}


def _view(instance: Instance, name: str, **entry: Any) -> Instance:
    """Another inventory name for a running server (server=None: stopping it is not ours)."""
    return Instance(name=name, kind=instance.kind, entry={**instance.entry, **entry}, env=dict(instance.env), server=None)


def _dead(kind: str) -> Instance:
    return Instance(name=f"{kind}-dead", kind=kind, entry={"url": f"http://{LOOPBACK}:{free_port()}"}, env={}, server=None)


def test_monitoring_catalog(
    pytester: pytest.Pytester,
    prometheus_good: Instance,
    prometheus_bad: Instance,
    alertmanager_good: Instance,
    alertmanager_bad: Instance,
    sample_app_good: Instance,
) -> None:
    wrong = _view(prometheus_good, "prometheus-wrong-password", password="${DC_PROMETHEUS_WRONG_PASSWORD}")
    wrong.env = {"DC_PROMETHEUS_WRONG_PASSWORD": "not-the-password"}
    targets = [
        _view(prometheus_good, "prometheus-good", **REQUIRED),
        _view(prometheus_bad, "prometheus-bad", **REQUIRED),
        # The bad server judged by an inventory that asks less: only a target-down alert, two days kept.
        _view(prometheus_bad, "prometheus-bad-lenient", required_alerts=["target_down"], thresholds={"prometheus_retention_min_days": 2}),
        _view(alertmanager_good, "alertmanager-good"),
        _view(alertmanager_bad, "alertmanager-bad"),
        # Routing judged for a label set the good configuration sends to its default webhook.
        _view(alertmanager_good, "alertmanager-good-warning", critical_labels={"severity": "warning", "team": "web"}),
        _dead("prometheus"),
        _dead("alertmanager"),
        wrong,
        # The sites the probes watch: the app, and one being retired whose probe fails.
        _view(sample_app_good, "app-good"),
        Instance(name="retired-site", kind="http", entry={"url": prometheus_good.admin["probes"][1].rstrip("/")}, env={}, server=None),
        _view(prometheus_good, "prometheus-good-retired", probed_sites=["app-good", "retired-site"]),
    ]
    run = run_catalog(pytester, "test_monitoring.py", targets=targets, timeout=3)

    def outcomes(target: str, checks: list[str]) -> dict[str, str]:
        return {check: run.outcome(check, target) for check in checks}

    bad_label = f"prometheus-bad ({prometheus_bad.entry['url']})"

    # --- good: every check passes, with the evidence that says why
    assert outcomes("prometheus-good", PROMETHEUS_CHECKS) == dict.fromkeys(PROMETHEUS_CHECKS, "passed")
    assert outcomes("alertmanager-good", ALERTMANAGER_CHECKS) == {"mon-08": "passed"}
    assert run.evidence("mon-02", "prometheus-good")["jobs"] == {"prometheus": {"up": 1, "down": 0}, "app": {"up": 1, "down": 0},
                                                               "blackbox": {"up": 2, "down": 0}}  # the exporter answers; a probe's result is mon-11's
    assert run.evidence("mon-11", "prometheus-good")["probes"]["app-good"][0]["probe_success"] == "1"
    coverage = run.evidence("mon-05", "prometheus-good")["coverage"]
    assert {concern: CONCERNS[concern] in rules for concern, rules in coverage.items()} == dict.fromkeys(CONCERNS, True)
    assert run.evidence("mon-08", "alertmanager-good")["receivers"] == ["oncall-critical"]
    assert run.evidence("mon-08", "alertmanager-good")["integrations"] == {"oncall-critical": {"webhook_configs": 1}}
    assert run.evidence("mon-09", "prometheus-good")["days"] == 15
    assert set(run.evidence("mon-10", "prometheus-good")["series"]["app_.*"]) == {"app_info"}
    assert run.evidence("mon-07", "prometheus-good")["active"] == [f"{alertmanager_good.entry['url']}/api/v2/alerts"]

    # --- bad: every check fails, naming target, observed and expected
    assert outcomes("prometheus-bad", PROMETHEUS_CHECKS) == dict.fromkeys(PROMETHEUS_CHECKS, "failed")
    assert outcomes("alertmanager-bad", ALERTMANAGER_CHECKS) == {"mon-08": "failed"}
    for check in PROMETHEUS_CHECKS:
        message = run.message(check, "prometheus-bad")
        assert message.startswith(f"{bad_label}: ") and "; expected " in message, (check, message)
    message = run.message("mon-01", "prometheus-bad")
    assert "the last configuration reload failed" in message and "expected the configuration file loaded" in message
    node = prometheus_bad.admin["down_targets"][0]
    assert f"1 target(s) not up: node/{node} down: " in run.message("mon-02", "prometheus-bad")
    assert "connection refused" in run.message("mon-02", "prometheus-bad")
    assert run.message("mon-03", "prometheus-bad") == (
        f"{bad_label}: no scrape job app (jobs: node, prometheus); expected an active target in each of prometheus, app"
    )
    assert f"1 of 3 rules not healthy: default/{BROKEN_RECORD} err: " in run.message("mon-04", "prometheus-bad")
    missing = run.message("mon-05", "prometheus-bad")
    assert "no alerting rule for error ratio (5xx) [error_ratio], latency [latency], disk filling [disk]" in missing
    assert "backup age [backup]; expected an alerting rule for each required concern (target_down, error_ratio" in missing
    assert "[target_down]" not in missing  # InstanceDown covers it
    assert f"1 critical alert(s) firing: {ALWAYS_FIRING} (since " in run.message("mon-06", "prometheus-bad")
    assert run.message("mon-07", "prometheus-bad") == (
        f"{bad_label}: sends alerts to no Alertmanager; expected at least one active Alertmanager (alerting.alertmanagers in prometheus.yml)"
    )
    assert run.message("mon-09", "prometheus-bad") == (
        f"{bad_label}: retention is 2 days (storage.tsdb.retention.time); expected >= 15 days (--storage.tsdb.retention.time)"
    )
    assert run.message("mon-10", "prometheus-bad").startswith(f"{bad_label}: no current series for http_requests_total, app_.*; expected ")
    assert run.message("mon-08", "alertmanager-bad") == (
        f"alertmanager-bad ({alertmanager_bad.entry['url']}): a critical alert (severity=\"critical\") is routed to null "
        "(no notification configs); expected a receiver with a notification integration (email, PagerDuty, Opsgenie, Slack, webhook, ...)"
    )

    assert run.message("mon-11", "prometheus-bad") == (
        f"{bad_label}: no probe watches app-good ({sample_app_good.entry['url'].rstrip('/')}); "
        "expected a passing probe_success series for every site in probed_sites")
    assert run.message("mon-12", "prometheus-bad") == (
        f"{bad_label}: 1 of 1 critical alerting rules lack annotations: {ALWAYS_FIRING} (no runbook); "
        "expected a summary and a runbook_url annotation on every critical alerting rule")
    assert run.evidence("mon-12", "prometheus-good") == {"critical_rules": 6, "lacking": {}}
    retired = run.message("mon-11", "prometheus-good-retired")
    assert run.outcome("mon-11", "prometheus-good-retired") == "failed"
    assert f"the probe of retired-site fails now (probe_success 0 for {prometheus_good.admin['probes'][1]})" in retired
    assert "app-good" not in retired.split(";")[0]

    # --- the inventory decides what is required
    assert run.outcome("mon-05", "prometheus-bad-lenient") == "passed"
    assert run.outcome("mon-09", "prometheus-bad-lenient") == "passed"
    assert run.outcome("mon-03", "prometheus-bad-lenient") == "n/a"
    assert "no required_jobs in the inventory" in run.message("mon-03", "prometheus-bad-lenient")
    assert run.outcome("mon-10", "prometheus-bad-lenient") == "n/a"
    assert run.outcome("mon-11", "prometheus-bad-lenient") == "n/a"
    assert run.outcome("mon-08", "alertmanager-good-warning") == "passed"
    assert run.evidence("mon-08", "alertmanager-good-warning")["receivers"] == ["team-default"]

    # --- could not look: errors, never a pass or n/a; a dead server costs one timeout, a refused login one request
    for target, checks in (("prometheus-dead", PROMETHEUS_CHECKS), ("alertmanager-dead", ALERTMANAGER_CHECKS),
                           ("prometheus-wrong-password", PROMETHEUS_CHECKS)):
        assert outcomes(target, checks) == dict.fromkeys(checks, "error"), target
    assert "connection refused" in run.message("mon-01", "prometheus-dead")
    refused = run.message("mon-01", "prometheus-wrong-password")
    assert "authentication refused: GET /-/ready answered HTTP 401 with username/password" in refused
    assert "not-the-password" not in refused
    assert "target unusable since an earlier check: authentication refused" in run.message("mon-10", "prometheus-wrong-password")
    assert refused.startswith(f"prometheus-wrong-password ({prometheus_good.entry['url']}): ")


def test_obs05_learns_required_metrics(pytester: pytest.Pytester, sample_app_good: Instance) -> None:
    def app(name: str, required: list[str]) -> Instance:
        entry = {"url": sample_app_good.entry["url"], "paths": {"metrics": "/metrics"}, "required_metrics": required}
        return Instance(name=name, kind="http", entry=entry, env={}, server=None)

    targets = [app("app-metrics", ["http_requests_total", "app_.*", "process_start_time_seconds"]),
               app("app-missing-metrics", ["http_requests_total", "celery_.*", "db_pool_connections"])]
    run = run_catalog(pytester, "test_observability.py", targets=targets, args=["-k", "test_metrics"])
    assert run.outcome("obs-05", "app-metrics") == "passed"
    assert run.evidence("obs-05", "app-metrics")["missing_metrics"] == []
    assert run.outcome("obs-05", "app-missing-metrics") == "failed"
    assert run.message("obs-05", "app-missing-metrics") == (
        f"app-missing-metrics ({sample_app_good.entry['url']}): GET /metrics exposes no celery_.*, db_pool_connections; "
        "expected every entry of required_metrics exposed"
    )


def test_header_drip_costs_one_timeout(pytester: pytest.Pytester) -> None:
    """A "Prometheus" that sends its status line and then one header byte every 50 ms keeps
    every read within any per-read timeout; the API client's one deadline (connect, headers and
    body together) ends the first exchange, and every later check on the target cites it
    without connecting again: the pre-flight plus one exchange, whatever the catalog's size."""
    with HostileServer(hostile.header_drip, name="drip") as server:
        drip = Instance(name="prometheus-drip", kind="prometheus", entry={"url": f"http://{LOOPBACK}:{server.port}", "timeout": 1},
                        env={}, server=None)
        run = run_catalog(pytester, "test_monitoring.py", targets=[drip])
        connections = server.connections
    results = [r for r in run.summary.results if r.target == "prometheus-drip"]
    assert {r.check_id for r in results} == set(PROMETHEUS_CHECKS)
    assert {r.outcome.value for r in results} == {"error"}, [(r.check_id, r.outcome.value, r.message) for r in results]
    first = [r.message for r in results if "target unusable since an earlier check" not in r.message]
    assert len(first) == 1, [r.message for r in results]
    assert first[0] == f"prometheus-drip (http://{LOOPBACK}:{server.port}): no complete answer within 1s (connect, headers and body together)"
    assert connections <= 2, connections


def _handle(instance: Instance, **spec: Any) -> PrometheusTarget:
    entry = {**instance.entry, **spec}
    if "password" in entry:
        entry["password"] = instance.admin["password"]
    target = Target(kind="prometheus", name=instance.name, spec=entry, roles=(), tags=(), timeout=5.0, thresholds=defaults(),
                    active_probes=False, source="test", endpoint=(LOOPBACK, instance.admin["port"]))
    return PrometheusTarget(target, Reachability())


def test_handle_caps_answers_and_reports_api_errors(prometheus_good: Instance) -> None:
    handle = _handle(prometheus_good)
    try:
        assert handle.api("/api/v1/status/buildinfo")["version"]
        with pytest.raises(TargetError, match=r"answered more than 100 bytes, the size cap"):
            handle.get("/api/v1/status/flags", limit=100)
        with pytest.raises(TargetError, match=r"GET /api/v1/query failed: bad_data: "):
            handle.query("up ==")
        with pytest.raises(TargetError, match=r"GET /no/such/path answered HTTP 404 with no JSON"):
            handle.json("/no/such/path")
    finally:
        handle.close()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"required_alerts": ["disk", "uptime"]}, "prometheus.p.required_alerts: unknown concern 'uptime'; choose from target_down, error_ratio"),
        ({"required_metrics": ["ok_name", "bad[regex"]}, "prometheus.p.required_metrics: neither a metric name nor a regular expression: 'bad[regex'"),
        ({"username": "monitor"}, "prometheus.p.password: basic auth needs both username and password; add password"),
        ({"username": "m", "password": "x", "bearer_token": "t"}, "prometheus.p.bearer_token: give either bearer_token or username/password"),
        ({"url": "http://monitor:secret@prom:9090"}, "prometheus.p.url: holds a password"),
    ],
)
def test_inventory_mistakes_are_reported(tmp_path: Any, entry: dict[str, Any], expected: str) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"name": "t", "prometheus": {"p": {"url": "http://prom:9090", **entry}}}))
    with pytest.raises(pytest.UsageError) as info:
        load_inventory(path, environ={})
    assert expected in str(info.value)
