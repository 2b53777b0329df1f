"""The monitoring judgements (targets/prometheus_facts.py, targets/alertmanager_routes.py) on API
answers captured from the test bed's real servers (tests/servers/monitoring_captures/, written
by capture.py there), plus the routing, retention and metric cases the captures do not reach."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_deploycheck.targets import alertmanager_routes as routes
from pytest_deploycheck.targets import prometheus_facts as facts

CAPTURES = Path(__file__).parent / "servers" / "monitoring_captures"


def capture(name: str) -> Any:
    return json.loads((CAPTURES / f"{name}.json").read_text())


def prom(variant: str, what: str) -> Any:
    return capture(f"prometheus_{variant}_{what}")


def routing_of(status: Any, labels: dict[str, str] | None = None) -> routes.Routing:
    return routes.critical_routing(routes.alertmanager_config(status), labels)


# --- against the captures ---


def test_down_targets_and_jobs() -> None:
    assert facts.down_targets(prom("good", "targets")) == []
    [down] = facts.down_targets(prom("bad", "targets"))
    assert (down.job, down.health) == ("node", "down")
    assert down.instance.startswith("127.0.0.1:")
    assert "connection refused" in down.last_error
    assert down.describe().startswith(f"node/{down.instance} down: Get ")
    # The data part alone is accepted too.
    assert facts.down_targets(prom("bad", "targets")["data"]) == [down]
    assert facts.jobs(prom("bad", "targets")) == {"node": {"up": 0, "down": 1}, "prometheus": {"up": 1, "down": 0}}


def test_unhealthy_rules() -> None:
    assert facts.unhealthy_rules(prom("good", "rules")) == []
    [problem] = facts.unhealthy_rules(prom("bad", "rules"))
    assert (problem.group, problem.rule, problem.health) == ("default", "job:up:ratio", "err")
    assert "many-to-many" in problem.last_error
    assert facts.rule_count(prom("bad", "rules")) == (1, 3)


def test_concern_coverage() -> None:
    good = facts.concern_coverage(prom("good", "rules"))
    assert all(good.values()), good
    assert good["database"] == ["PostgresDown", "MySQLDown"]
    assert good["target_down"] == ["TargetDown"]  # not PostgresDown, whose summary says "... is down"
    assert facts.missing_concerns(prom("good", "rules")) == []
    bad = facts.concern_coverage(prom("bad", "rules"))
    assert bad["target_down"] == ["InstanceDown"]
    # The always-firing test alert and the recording rule cover nothing.
    assert facts.missing_concerns(prom("bad", "rules")) == [c for c in facts.CONCERNS if c != "target_down"]
    # The inventory's choice narrows the list.
    assert facts.missing_concerns(prom("bad", "rules"), ["target_down", "disk"]) == ["disk"]
    # An uptime probe's alert is a target-down alert too (blackbox exporter's probe_success).
    probe = {"status": "success", "data": {"groups": [{"name": "uptime", "rules": [
        {"type": "alerting", "name": "SiteUnreachable", "query": "probe_success{job=\"blackbox\"} == 0", "labels": {}, "annotations": {}}]}]}}
    assert facts.concern_coverage(probe, ["target_down"]) == {"target_down": ["SiteUnreachable"]}


def test_undocumented_alerts() -> None:
    def rule(name: str, severity: str | None, **annotations: str) -> dict[str, Any]:
        return {"type": "alerting", "name": name, "query": "up == 0", "labels": {"severity": severity} if severity else {},
                "annotations": annotations}
    rules = {"status": "success", "data": {"groups": [{"name": "g", "rules": [
        rule("Documented", "critical", summary="down", runbook_url="https://runbooks.example.com/down"),
        rule("Playbook", "Critical", description="down", playbook="https://wiki.example.com/p"),  # other names count
        rule("NoRunbook", "critical", summary="down"),
        rule("EmptyAnnotations", "critical", summary=" ", runbook_url=""),  # blank is not a summary
        rule("Warning", "warning"),  # not paging: not judged
        rule("Unlabelled", None),
        {"type": "recording", "name": "job:up:sum", "query": "sum(up)", "labels": {"severity": "critical"}},
    ]}]}}
    assert facts.undocumented_alerts(rules) == (4, {"NoRunbook": ["runbook"], "EmptyAnnotations": ["summary", "runbook"]})
    assert facts.undocumented_alerts(rules, severities=("warning",)) == (1, {"Warning": ["summary", "runbook"]})


def test_firing_alerts() -> None:
    assert facts.firing_alerts(prom("good", "alerts")) == []
    [alert] = facts.firing_alerts(prom("bad", "alerts"))
    assert (alert.name, alert.severity) == ("TestAlertPleaseIgnore", "critical")
    # InstanceDown is pending (for: 5m), so not listed even with any severity.
    assert [a.name for a in facts.firing_alerts(prom("bad", "alerts"), severities=None)] == ["TestAlertPleaseIgnore"]


def test_active_alertmanagers() -> None:
    [url] = facts.active_alertmanagers(prom("good", "alertmanagers"))
    assert url.endswith("/api/v2/alerts")
    assert facts.active_alertmanagers(prom("bad", "alertmanagers")) == []


def test_retention_from_flags_and_runtimeinfo() -> None:
    assert facts.retention(prom("good", "flags")).days == 15
    assert facts.retention(prom("bad", "flags")).days == 2
    assert facts.retention(prom("bad", "flags")).source == "storage.tsdb.retention.time"
    assert facts.retention(runtimeinfo=prom("good", "runtimeinfo")).days == 15
    assert facts.retention(runtimeinfo=prom("bad", "runtimeinfo")).days == 2


def test_alertmanager_config_and_critical_routing() -> None:
    good_status, bad_status = capture("alertmanager_good_status"), capture("alertmanager_bad_status")
    good = routing_of(good_status)
    assert good.receivers == ("oncall-critical",)
    assert good.integrations == {"oncall-critical": {"webhook_configs": 1}}
    assert good.delivered
    assert good.describe() == "oncall-critical (webhook_configs x1)"
    warning = routing_of(good_status, {"severity": "warning", "alertname": "X"})
    assert warning.receivers == ("team-default",)
    bad = routing_of(bad_status)
    assert bad.receivers == ("null",)
    assert not bad.delivered
    assert bad.null_receivers == ("null",)
    assert bad.describe() == "null (no notification configs)"


def test_critical_routing_on_a_wrapped_capture() -> None:
    # A Slack receiver whose long strings Alertmanager wrapped beyond 80 columns.
    routing = routing_of(capture("alertmanager_wrapped_status"))
    assert routing.receivers == ("slack",)
    assert routing.integrations == {"slack": {"slack_configs": 1}}


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"config": {"original": ""}}, "holds no configuration"),
        ({"config": {"original": "route: [unclosed"}}, "not YAML"),
        ({"config": {"original": "- a list"}}, "not a mapping"),
    ],
)
def test_alertmanager_config_refuses_what_it_cannot_read(status: dict[str, Any], message: str) -> None:
    with pytest.raises(routes.ConfigError, match=message):
        routes.alertmanager_config(status)


# --- cases the captures do not reach ---

NESTED = """\
global:
  resolve_timeout: 5m
route:
  receiver: default
  routes:
  - receiver: blackhole
    matchers:
    - alertname=~"Watchdog|InfoInhibitor"
  - receiver: db-pager
    match:
      team: dba
      severity: critical
  - matchers:
    - severity=~"critical|page"
    - env!="staging"
    continue: true
    routes:
    - receiver: "null"
      match_re:
        service: ^legacy-.*
  - receiver: slack
    matchers:
    - '{severity="critical", env!~"dev|test"}'
receivers:
- name: default
  email_configs:
  - to: ops@example.com
- name: blackhole
- name: "null"
- name: db-pager
  pagerduty_configs:
  - routing_key: <secret>
- name: slack
  slack_configs:
  - channel: '#alerts'
    api_url: <secret>
templates: []
"""


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        # continue: true on the third route, then the fourth also matches.
        ({"severity": "critical", "env": "prod", "alertname": "X"}, ["default", "slack"]),
        # the third route's child sends legacy services to the null receiver.
        ({"severity": "critical", "env": "prod", "service": "legacy-billing"}, ["null", "slack"]),
        ({"severity": "critical", "team": "dba"}, ["db-pager"]),
        ({"alertname": "Watchdog", "severity": "critical"}, ["blackhole"]),
        ({"severity": "critical", "env": "staging"}, ["slack"]),
        ({"severity": "critical", "env": "dev"}, ["default"]),
        ({"severity": "warning"}, ["default"]),
    ],
)
def test_route_alert_follows_alertmanager_semantics(labels: dict[str, str], receivers: list[str]) -> None:
    config = yaml.safe_load(NESTED)
    assert routes.route_alert(config["route"], labels) == receivers


def test_critical_routing_with_a_null_receiver_beside_a_real_one() -> None:
    routing = routing_of({"config": {"original": NESTED}}, {"severity": "critical", "service": "legacy-x", "env": "prod"})
    assert routing.receivers == ("null", "slack")
    assert routing.delivered
    assert routing.null_receivers == ("null",)


def test_routing_probe_is_not_singled_out_by_a_watchdog_route() -> None:
    # The default probe carries its own alertname, so the Watchdog blackhole does not catch it.
    routing = routing_of({"config": {"original": NESTED}})
    assert routing.labels["alertname"] == routes.PROBE_ALERTNAME
    assert "blackhole" not in routing.receivers


@pytest.mark.parametrize(
    ("flags", "days", "source"),
    [
        ({"storage.tsdb.retention.time": "0s", "storage.tsdb.retention": "0s", "storage.tsdb.retention.size": "0B"}, 15, "default"),
        ({"storage.tsdb.retention.time": "0s", "storage.tsdb.retention": "30d", "storage.tsdb.retention.size": "0B"}, 30, "storage.tsdb.retention"),
        ({"storage.tsdb.retention.time": "0s", "storage.tsdb.retention": "0s", "storage.tsdb.retention.size": "10GB"}, None, "default"),
        ({"storage.tsdb.retention.time": "2w1d", "storage.tsdb.retention.size": "10GB"}, 15, "storage.tsdb.retention.time"),
        ({"storage.tsdb.retention.time": "360h"}, 15, "storage.tsdb.retention.time"),
    ],
)
def test_retention_flag_cases(flags: dict[str, str], days: float | None, source: str) -> None:
    found = facts.retention({"status": "success", "data": flags})
    assert (found.days, found.source) == (days, source)


def test_retention_from_runtimeinfo_with_a_size_limit() -> None:
    assert facts.retention(runtimeinfo={"storageRetention": "15d or 512MiB"}) == facts.Retention(15, "storageRetention", "512MiB")
    assert facts.retention(runtimeinfo={"storageRetention": "512MiB"}) == facts.Retention(None, "storageRetention", "512MiB")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15d", 15 * 86400), ("1d12h", 129600), ("90m", 5400), ("1y", 365 * 86400), ("500ms", 0.5), ("0s", 0), ("x", None), ("15", None)],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert facts.parse_duration(text) == seconds


def test_keywords_do_not_overmatch() -> None:
    rule = {"type": "alerting", "name": "GroupSyncSlowdown", "query": "rate(sync_total[5m]) < 1", "labels": {"severity": "info"}}
    coverage = facts.concern_coverage({"groups": [{"name": "g", "rules": [rule]}]})
    # "slowdown" starts with "slow": a latency alert by its name, nothing else (no "up", "backup", "ram").
    assert [c for c, names in coverage.items() if names] == ["latency"]


EXPOSITION = """\
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 3
http_request_duration_seconds_sum 0.2
http_request_duration_seconds_count 3
# TYPE app_info gauge
app_info{variant="good"} 1
queue_depth 0
"""


def test_required_metrics_against_an_exposition() -> None:
    names = facts.exposition_names(EXPOSITION)
    assert names == {"http_request_duration_seconds", "http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
                     "http_request_duration_seconds_count", "app_info", "queue_depth"}
    assert facts.missing_metrics(["http_request_duration_seconds", "app_.*", "queue_depth", "celery_.*", "db_up"], names) == [
        "celery_.*", "db_up"]
    # A regex matches whole names: "app" alone is a name, and no metric is called that.
    assert facts.missing_metrics(["app", "app_inf."], names) == ["app"]


def test_required_metric_selectors_and_patterns() -> None:
    assert facts.promql_selector("http_requests_total") == "http_requests_total"
    assert facts.promql_selector('app_.*"x\\d') == '{__name__=~"app_.*\\"x\\\\d"}'
    assert facts.pattern_problems(["ok_name", "app_.*", "bad[regex"]) == ["'bad[regex': unterminated character set at position 3"]
