"""Monitoring and alerting: every ``prometheus`` and ``alertmanager`` target.

Whether the monitoring a go-live relies on exists and works before the first user arrives:
Prometheus up and running the configuration on disk, every scrape target up and the jobs the
inventory names present (``required_jobs``: the app, node exporter, database and cache
exporters), rules that load and evaluate, alerting rules for each concern an on-call needs
(``required_alerts``), no critical alert already firing, alerts sent to an Alertmanager that
routes critical ones to a receiver that notifies somebody, enough retention to look back on an
incident, and the application metrics the dashboards and alerts are built on
(``required_metrics``).

Only GET requests to the HTTP APIs (``/-/ready``, ``/api/v1/...``, ``/api/v2/status``): nothing is
silenced, reloaded, deleted or sent.  Where an Alertmanager would deliver a critical alert is
worked out from its running configuration, without sending one.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, require
from pytest_deploycheck.targets import prometheus_facts as facts
from pytest_deploycheck.targets.alertmanager_routes import ConfigError, critical_routing

pytestmark = pytest.mark.section("monitoring", "Monitoring and alerting")

#: How many findings a message lists before "and N more" (the evidence has them all).
LISTED = 8


def _listing(items: Iterable[str]) -> str:
    items = list(items)
    shown = "; ".join(items[:LISTED])
    return shown + (f"; and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _snippet(text: str, size: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size] + "..."


@pytest.mark.check(
    "mon-01",
    "Prometheus ready and running its configuration",
    severity="high",
    refs=("Prometheus: management API, /-/ready", "Prometheus HTTP API: /api/v1/status/runtimeinfo (reloadConfigSuccess)"),
    answers=("prometheus deploy|deployed|installed|running|up|set_up|setup", "prometheus running", "prometheus healthy", "monitoring server ready", "prometheus configuration loaded",
             "monitoring system|systems|stack|server operational|running|up|working|healthy|live",
             "system|application|service? monitoring configur|active|enabled|in_place|set_up|deployed|running"),
    answers_accepts=("monitor",),  # "monitoring system running" is this check's state, not a request to monitor something
    answers_unless=("uptime",),  # an outside uptime probe is mon-11's
)
def test_prometheus_ready(prometheus, evidence):
    """Everything else in monitoring stands on Prometheus being up and running the
    configuration the team wrote.  A reload that failed (a typo, then SIGHUP) leaves Prometheus
    running the previous configuration while the file says otherwise: new jobs and rules
    silently absent.  Passes when ``/-/ready`` answers 200 and the last configuration (re)load
    succeeded (``reloadConfigSuccess``)."""
    ready = prometheus.get("/-/ready")
    evidence.record(ready_status=ready.status)
    require(ready.status == 200, prometheus, f"GET /-/ready answered {ready.status}: {_snippet(ready.text)!r}", "200 (started, storage open)")
    info = prometheus.api("/api/v1/status/runtimeinfo")
    build = prometheus.api("/api/v1/status/buildinfo")
    evidence.record(version=build.get("version"), reload_config_success=info.get("reloadConfigSuccess"),
                    last_config_time=info.get("lastConfigTime"), start_time=info.get("startTime"))
    if "reloadConfigSuccess" not in info:
        raise TargetError(f"{prometheus.label}: /api/v1/status/runtimeinfo has no reloadConfigSuccess; cannot tell whether the configuration loaded")
    require(
        info["reloadConfigSuccess"] is True,
        prometheus,
        f"the last configuration reload failed; it runs the configuration loaded at {info.get('lastConfigTime', '?')}",
        "the configuration file loaded (check it with promtool check config, then reload)",
    )


@pytest.mark.check(
    "mon-02",
    "Every scrape target up",
    severity="high",
    refs=("Prometheus HTTP API: /api/v1/targets", "Google SRE book, ch. 6: Monitoring Distributed Systems"),
    answers=("monitoring agent|agents installed|running|reporting|up|deployed", "metrics collection", "prometheus scraping", "scrape targets up", "exporters up", "metrics being collected",
             "prometheus scraping|scrapes all|every pod|pods|service|services|target|targets|node|nodes|instance|instances",
                            "prometheus target|targets|scrape up|healthy|down|reachable|configur?", "scrape target|targets|config|job",
                            "exporter running|installed|deploy|up",
                            "system|application|service? monitoring configur|active|enabled|in_place|set_up|deployed|running"),
                   answers_kind="monitor",
                   answers_unless=("uptime",),  # an outside uptime probe is mon-11's
)
def test_targets_up(prometheus, evidence):
    """A target Prometheus cannot scrape is a blind spot: its alerts cannot fire and its
    dashboards go flat.  Passes when Prometheus has active targets and the last scrape of
    each succeeded; fails naming the job and instance of every target down (or not scraped
    yet), with the scrape error."""
    targets = prometheus.api("/api/v1/targets", state="active")
    by_job = facts.jobs(targets)
    down = facts.down_targets(targets)
    evidence.record(jobs=by_job, down=[d.describe() for d in down])
    require(by_job, prometheus, "no active scrape targets", "the application and its exporters as scrape targets")
    require(not down, prometheus, f"{len(down)} target(s) not up: {_listing(d.describe() for d in down)}", "every active target up")


@pytest.mark.check(
    "mon-03",
    "Required scrape jobs present",
    severity="high",
    refs=("Prometheus: configuration, scrape_config", "Prometheus: exporters (node, postgres, mysqld, redis)"),
    answers=("node exporter installed", "database exporter configured", "application scraped by prometheus", "service monitored by prometheus",
             "exporters deployed", "metric|metrics|application|app|service scraped|scrape prometheus micrometer|opentelemetry|statsd?"),
    answers_accepts=("monitor",),  # a scrape job is what monitoring is made of: "service monitored by Prometheus" asks for it
)
def test_required_jobs(prometheus, evidence):
    """The inventory names the jobs go-live depends on (``required_jobs``: the application, the
    node exporter, the database and cache exporters); one that was never added to the scrape
    configuration leaves that part of the system unwatched while every other check looks green.
    Passes when each has at least one active target (whether it is up is mon-02's question);
    not applicable when the inventory names none."""
    required = tuple(prometheus.setting("required_jobs") or ())
    if not required:
        not_applicable(f"{prometheus.name}: no required_jobs in the inventory (prometheus.{prometheus.name}.required_jobs: [app, node, ...])", unexamined=True)
    by_job = facts.jobs(prometheus.api("/api/v1/targets", state="active"))
    missing = [job for job in required if job not in by_job]
    evidence.record(required=list(required), present=sorted(by_job), missing=missing)
    require(
        not missing,
        prometheus,
        f"no scrape job {', '.join(missing)} (jobs: {', '.join(sorted(by_job)) or 'none'})",
        f"an active target in each of {', '.join(required)}",
    )


@pytest.mark.check(
    "mon-04",
    "Rules load and evaluate without errors",
    severity="high",
    refs=("Prometheus HTTP API: /api/v1/rules", "Prometheus: recording rules and alerting rules"),
    answers=("alerting rules valid", "prometheus rules load|loaded|valid|evaluat", "recording rules evaluate", "rule evaluation errors",
             "alert|alerting|recording rule|rules load|loaded|valid|evaluat"),
    answers_accepts=("alert", "monitor"),  # whether alert rules load is a state of Prometheus, not an alert to add
)
def test_rules_evaluate(prometheus, evidence):
    """An alerting rule whose expression fails to evaluate never fires, and a recording rule
    that fails leaves the dashboards and alerts built on it empty; Prometheus only logs it.
    Passes when rule groups are loaded and every rule's last evaluation succeeded (health
    ``ok``); fails on no rules at all or naming each rule in error with its error."""
    rules = prometheus.api("/api/v1/rules")
    groups, count = facts.rule_count(rules)
    problems = facts.unhealthy_rules(rules)
    evidence.record(groups=groups, rules=count, unhealthy=[p.describe() for p in problems])
    require(count, prometheus, "no rule groups loaded", "rule files with recording and alerting rules (rule_files in prometheus.yml)")
    require(not problems, prometheus, f"{len(problems)} of {count} rules not healthy: {_listing(p.describe() for p in problems)}",
            "every rule evaluated with health ok")


@pytest.mark.check(
    "mon-05",
    "Alerting rules cover the required concerns",
    severity="high",
    refs=("Google SRE book, ch. 6: the four golden signals", "Prometheus: alerting rules", "Prometheus: alerting best practices"),
    answers=("alerting|alert|alerts rule|rules", "worker|workers|consumer|consumers health|health_check|healthcheck|down|dead|stuck alert|alerts|alerting", "alert|alerting|alerts configur|setup|set_up|enabl|in_place|defin", "alerting rules configured", "error rate alerting", "disk full alert", "database down alert", "latency alerts",
                            "alerting|alerts|alert cover|covers|coverage critical|key|main? path|paths|service|services|failure|failures|component|components",
                            "certificate expiry alert", "stale backup alert", "queue backlog alert",
                            "alert|alarm queue|backlog|job|task latency|backlog|depth|age|wait|size",
                            "pager|page|paging alert|alerts 5xx|error|errors spike|spikes|surge|rate",
                            "error_rate|error|errors|5xx|exception|failure ^alert|notif|alarm critical?",
                            "error notif|notification|alert admin?",
                            "response_time|latency|slow|percentile|performance ^alert|notif|alarm api?",
                            "disk_space|disk|inode|filesystem|volume ^alert|notif|alarm", "disk|filesystem|volume fill|full predict|prediction|forecast alert",
                            "resource|resources usage? alert|alarm high?",
                            "memory_usage|memory|oom|ram ^alert|notif|alarm",
                            "cpu_usage|cpu|processor|load_average ^alert|notif|alarm", "cpu alert",
                            "certificate expiry|renew|validity ^alert|notif|alarm|warn tls?", "certificate alert",
                            "ssl|tls|cert expiry|expiration ^alert|notif|alarm|warn",
                            "database|postgres|mysql|redis|elasticsearch|broker down|connection|failure|unavailable|unreachable|connectivity|health alert|notif|alarm",
                            "database alert", "backlog|queue|task|job alert|notif|alarm",
                            "backup fail|failure|failed|age|missing|stale|old|success ^alert|notif|alarm", "backup alert"),
                   answers_kind="alert",
                   # a mobile push service, or an error tracker's notices ("Exception notifications go to Sentry": cfg-11), not alert rules
                   answers_unless=("push notification|notifications|certificate|apns|fcm", "errortracking"),
)
def test_alert_concerns(prometheus, evidence):
    """The first incident after go-live should page somebody, not be found by a customer.
    Each concern in ``required_alerts`` (default all: target down, 5xx error ratio, latency,
    disk filling, memory, CPU saturation, certificate expiry, database down, queue backlog,
    backup age) needs
    an alerting rule, recognised from its name, labels, annotations and expression (e.g.
    ``up == 0``, ``status=~"5.."``, ``histogram_quantile``, ``node_filesystem_*``, ``node_cpu_*``,
    ``probe_ssl_earliest_cert_expiry``, ``pg_up``).  Fails naming each concern without one."""
    required = prometheus.required_alerts
    coverage = facts.concern_coverage(prometheus.api("/api/v1/rules"), required)
    missing = [name for name, rules in coverage.items() if not rules]
    evidence.record(coverage=coverage, missing=missing)
    require(
        not missing,
        prometheus,
        "no alerting rule for " + ", ".join(f"{facts.CONCERNS[name].title} [{name}]" for name in missing),
        f"an alerting rule for each required concern ({', '.join(required)})",
    )


@pytest.mark.check(
    "mon-12",
    "Critical alerts carry a summary and a runbook",
    severity="medium",
    refs=("Google SRE book, ch. 6: every page should be actionable", "Prometheus: alerting rules, annotations",
          "kube-prometheus runbooks (runbook_url)"),
    answers=("runbook|runbooks|playbook link|linked|url|attached alert|alerts|rule?", "alert|alerts runbook|runbooks|playbook",
             "alert|alerts annotation|annotations summary|description|runbook", "actionable alerts",
             "runbook_url"),
    answers_kind="alert",
)
def test_alerts_documented(prometheus, evidence):
    """A page at 3 a.m. that says only ``InstanceDown`` sends the on-call searching a wiki while
    the outage runs.  Passes when every alerting rule labelled ``severity: critical`` has a
    summary (a ``summary``, ``description`` or ``message`` annotation) and a runbook (an
    annotation named like ``runbook_url`` or ``playbook``); not applicable when no rule is
    critical (mon-05 judges what the rules cover)."""
    count, lacking = facts.undocumented_alerts(prometheus.api("/api/v1/rules"))
    evidence.record(critical_rules=count, lacking={name: missing for name, missing in lacking.items()})
    if not count:
        not_applicable(f"{prometheus.name}: no alerting rule labelled severity: critical (mon-05 judges the rules' coverage)")
    described = [f"{name} (no {' and no '.join(missing)})" for name, missing in lacking.items()]
    require(not lacking, prometheus, f"{len(lacking)} of {count} critical alerting rules lack annotations: {_listing(described)}",
            "a summary and a runbook_url annotation on every critical alerting rule")


@pytest.mark.check(
    "mon-06",
    "No critical alert firing",
    severity="critical",
    refs=("Prometheus HTTP API: /api/v1/alerts",),
    answers=("no critical alerts firing", "no active critical alerts", "alerts clear before launch", "no alerts firing before go-live",
             "alert firing|active none|no|zero|clear?",
             "no|none|zero incident|incidents open|ongoing|active|progress|in_progress|underway"),
    answers_accepts=("alert", "monitor"),  # "no alerts firing" names alerts, and asks for the current state,
                   answers_unless=("oncall|pager|pagerduty|opsgenie|receiver|rota|rotation",)
)
def test_no_critical_firing(prometheus, evidence):
    """A critical alert already firing at go-live is either a real problem in production or
    noise the on-call has learned to ignore; both mean the next real page is missed.  Passes
    when no alert with ``severity="critical"`` is firing (pending ones do not count); fails
    naming each, with when it started."""
    alerts = prometheus.api("/api/v1/alerts")
    critical = facts.firing_alerts(alerts)
    others = facts.firing_alerts(alerts, severities=None)
    evidence.record(critical=[f"{a.name} since {a.active_at}" for a in critical], firing_total=len(others))
    require(
        not critical,
        prometheus,
        f"{len(critical)} critical alert(s) firing: {_listing(f'{a.name} (since {a.active_at})' for a in critical)}",
        "no critical alert firing at go-live (resolve the cause, or remove a test alert)",
    )


@pytest.mark.check(
    "mon-07",
    "Prometheus sends alerts to an Alertmanager",
    severity="high",
    refs=("Prometheus HTTP API: /api/v1/alertmanagers", "Prometheus: alerting overview"),
    answers=("alertmanager configured", "alerts sent to alertmanager", "prometheus alerting enabled",
             "alertmanager running|up|reachable|healthy|deployed|connected"),
    answers_accepts=("alert",),  # naming Alertmanager is not asking for an alert
)
def test_sends_to_alertmanager(prometheus, evidence):
    """Alerting rules that fire into nothing are a dashboard nobody watches: without an
    Alertmanager no notification is ever sent.  Passes when Prometheus has at least one active
    Alertmanager (discovered from ``alerting.alertmanagers``); whether that one routes critical
    alerts to a person is mon-08, on the ``alertmanager`` target."""
    found = prometheus.api("/api/v1/alertmanagers")
    active = facts.active_alertmanagers(found)
    dropped = [str(am.get("url", "")) for am in found.get("droppedAlertmanagers") or []]
    evidence.record(active=active, dropped=dropped)
    require(
        active,
        prometheus,
        "sends alerts to no Alertmanager" + (f" ({len(dropped)} dropped by relabelling)" if dropped else ""),
        "at least one active Alertmanager (alerting.alertmanagers in prometheus.yml)",
    )


@pytest.mark.check(
    "mon-08",
    "Critical alerts routed to a receiver that notifies",
    severity="high",
    refs=("Alertmanager: configuration, route and receiver", "Alertmanager API v2: /api/v2/status"),
    answers=("alert|alerts oncall|rota|rotation", "paging|page polic|configur|setup|rule|rules|escalation|schedule", "notification channels configured", "alert routing", "alerts reach on-call", "on-call paging configured",
                            "critical alerts notify someone", "alert notifications",
                            "alertmanager receiver|route|configur|email|slack|pagerduty",
                            "alert route|routing|receiver|channel|destination|email|slack|escalation",
                            "alert|alerts rout|routed|routing|sent|go|reach|page|firing|fire|deliver|delivered pager|rotation|team|receiver|pagerduty|opsgenie|oncall",
                            "notification channel|email|slack|pagerduty configur?",
                            "alert|alerts page|pages|paging on_call|oncall|engineer|responder|someone",
                            "oncall|opsgenie|pager integration|receiver|route|routing|notification tested|configured|working|set|connected",
                            "alert|alerts oncall fail|failed|failure|error? task|job|dag|data?"),
                   answers_kind="alert",
                   answers_unless=("push notification|notifications|certificate|apns|fcm",),
)
def test_critical_routing(alertmanager, evidence):
    """An Alertmanager whose routes end in a receiver without any notification configuration
    (the usual ``null`` or ``blackhole``) accepts every alert and tells nobody.  Follows the
    running routing tree for a critical alert (``critical_labels``, default
    ``severity: critical``) as Alertmanager would, without sending one; passes when a receiver
    it reaches has a notification integration (email, PagerDuty, Opsgenie, Slack, webhook, ...)."""
    config = alertmanager.config()
    try:
        routing = critical_routing(config, alertmanager.critical_labels)
    except ConfigError as exc:
        raise TargetError(f"{alertmanager.label}: cannot follow the routing tree: {exc}") from None
    labels = ", ".join(f'{k}="{v}"' for k, v in alertmanager.critical_labels.items())
    evidence.record(labels=dict(routing.labels), receivers=list(routing.receivers),
                    integrations={k: dict(v) for k, v in routing.integrations.items()})
    if not routing.delivered:
        fail(alertmanager, f"a critical alert ({labels}) is routed to {routing.describe()}",
             "a receiver with a notification integration (email, PagerDuty, Opsgenie, Slack, webhook, ...)")


@pytest.mark.check(
    "mon-09",
    "Metrics retention long enough",
    severity="medium",
    refs=("Prometheus: storage, retention (--storage.tsdb.retention.time)",),
    answers=("metrics retention", "prometheus retention period", "monitoring data retention",
                            "prometheus|metric|metrics|tsdb retention|storage", "metric|metrics|prometheus|tsdb retain|retained|kept|keep|stored"),
                   answers_kind="monitor",
)
def test_retention(prometheus, evidence):
    """An incident is understood by comparing with the days before it; a Prometheus that keeps
    two days cannot show last week's deploy.  Passes when the local retention time is at least
    ``prometheus_retention_min_days``; a size limit alone fails (how many days it keeps depends
    on the load)."""
    minimum = prometheus.threshold("prometheus_retention_min_days")
    found = facts.retention(flags=prometheus.api("/api/v1/status/flags"))
    evidence.record(days=found.days, source=found.source, size=found.size)
    if found.source == "unknown":
        raise TargetError(f"{prometheus.label}: /api/v1/status/flags names no storage.tsdb.retention flag")
    if found.days is None:
        fail(prometheus, f"retention limited by size only ({found.size}): how many days it keeps is not set",
             f">= {minimum} days (--storage.tsdb.retention.time)")
    require(found.days >= minimum, prometheus, f"retention is {found.days:g} days ({found.source})",
            f">= {minimum} days (--storage.tsdb.retention.time)")


@pytest.mark.check(
    "mon-10",
    "Required application metrics present",
    severity="medium",
    refs=("Prometheus: instrumentation best practices", "Google SRE book, ch. 6: the four golden signals"),
    answers=("app instrumented with metrics", "custom metrics exported", "business metrics instrumented", "request metrics collected",
             "job|task|request|business|application|app|queue duration|latency|count|counter|size|lag metric|metrics export|exported|"
             "exposed|present|collected|instrumented|available"),
    answers_accepts=("monitor",),  # metrics are what monitoring reads: "job duration metrics exported" asks for them
)
def test_required_metrics(prometheus, evidence):
    """Dashboards and alerts are written against metric names; a name the application does not
    export (renamed, never instrumented, its job not scraped) leaves them silently empty.  Each
    entry of ``required_metrics`` (a name, or a regular expression matching whole names) must
    have at least one current series; not applicable when the inventory lists none."""
    required = tuple(prometheus.setting("required_metrics") or ())
    if not required:
        not_applicable(f"{prometheus.name}: no required_metrics in the inventory (prometheus.{prometheus.name}.required_metrics)", unexamined=True)
    found: dict[str, dict[str, int]] = {}
    for requirement in required:
        result = prometheus.query(f"count by (__name__) ({facts.promql_selector(requirement)})")
        found[requirement] = {str(r["metric"].get("__name__", "")): int(float(r["value"][1])) for r in result}
    missing = [requirement for requirement, names in found.items() if not names]
    evidence.record(series=found, missing=missing)
    require(not missing, prometheus, f"no current series for {', '.join(missing)}",
            "series for every entry of required_metrics (is the job scraped, is the metric exported?)")


def _probes_of(url: str, series: list[dict]) -> list[dict]:
    """The probe_success series whose instance (or target) label is ``url`` or a page of it."""
    base = url.rstrip("/")
    found = []
    for one in series:
        labels = one.get("metric") or {}
        probed = str(labels.get("instance") or labels.get("target") or "").rstrip("/")
        if probed == base or probed.startswith(base + "/") or probed.startswith(base + "?"):
            found.append(one)
    return found


@pytest.mark.check(
    "mon-11",
    "Uptime probes watch every required site",
    severity="high",
    refs=("Prometheus blackbox_exporter: probe_success", "Google SRE book, ch. 6: black-box versus white-box monitoring"),
    answers=("availability test|tests|check|checks|probe|probes", "uptime check|checks|monitor|probe|probes url|site|endpoint|public|website|homepage|page", "synthetic|uptime|external check|checks|monitor|monitoring|probe|probes region|regions|location|locations|continent|continents", "uptime monitor|monitoring|check|checks|probe|probes|alert|alerts", "synthetic monitor|monitoring|check|checks|probe|probes",
             "blackbox exporter|probe|probes|monitoring", "external monitor|monitoring|probe|probes|check|checks", "site|website|endpoint probe|probed",
             "uptime|external|synthetic check|checks|probe|probes|monitor health|healthz|healthcheck|endpoint|site? outside|external|internet|remote?"),
    answers_kind="monitor",
)
def test_uptime_probes(prometheus, inventory, evidence):
    """Metrics scraped from inside say nothing when the site is unreachable from outside (a DNS
    record, a certificate, a load balancer, the network in between): only a probe that requests
    the site as a user would sees that.  For each http target named in ``probed_sites``, passes
    when Prometheus holds a ``probe_success`` series (blackbox exporter, or any prober using its
    metric) whose ``instance`` is the site's URL or a page of it, and the latest value is 1.
    Fails naming each site without a probe, and each probe failing now.  Not applicable when the
    inventory names no probed_sites."""
    sites = [str(s) for s in prometheus.setting("probed_sites") or ()]
    if not sites:
        not_applicable(f"{prometheus.name}: no probed_sites in the inventory (prometheus.{prometheus.name}.probed_sites: [shop, api])", unexamined=True)
    urls = {}
    for site in sites:
        try:
            urls[site] = str(inventory.get("http", site).spec["url"]).rstrip("/")
        except KeyError:
            raise TargetError(f"{prometheus.label}: probed_sites names {site!r}, which is not an http target of the inventory") from None
    series = prometheus.query("probe_success")
    problems, seen = [], {}
    for site, url in urls.items():
        probes = _probes_of(url, series)
        seen[site] = [{"instance": p["metric"].get("instance"), "job": p["metric"].get("job"), "probe_success": p["value"][1]} for p in probes]
        if not probes:
            problems.append(f"no probe watches {site} ({url})")
        failing = [p["metric"].get("instance") for p in probes if float(p["value"][1]) < 1]
        if failing:
            problems.append(f"the probe of {site} fails now (probe_success 0 for {', '.join(failing[:3])})")
    evidence.record(sites=urls, probes=seen, probe_series=len(series))
    require(not problems, prometheus, "; ".join(problems), "a passing probe_success series for every site in probed_sites")
