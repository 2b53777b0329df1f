"""Prometheus and Alertmanager for the test bed, each set up well (``good``) or badly (``bad``).

Both are the Debian builds (packages ``prometheus`` and ``prometheus-alertmanager``), run as
plain processes on 127.0.0.1 in temporary directories, never as the packages' system services.

=================  ===========================================  ============================================
                   good                                         bad
=================  ===========================================  ============================================
Alertmanager       ``severity="critical"`` routed to a webhook  one receiver with no configs (``null``) for
                   receiver (a listener in this process that    everything: alerts are accepted and dropped
                   records every notification); everything
                   else to a second webhook
Prometheus         scrapes itself (job ``prometheus``) and the  scrapes itself and a node exporter that is
                   jobs it is given (``app``), every target up;  not running (job ``node``, target down);
                   rules for every concern in ``CONCERNS``,      rules for one concern, a critical test alert
                   none firing; sends to the good Alertmanager;  that always fires, a recording rule that fails
                   retention 15d; basic auth (user ``monitor``)  to evaluate; no Alertmanager unless given one;
                                                                retention 2d; no authentication; its last
                                                                configuration reload failed (a typo, then
                                                                SIGHUP): it runs the configuration before
=================  ===========================================  ============================================

The launchers return only once the server shows that state through its API (targets scraped,
rules evaluated, the bad alert firing), so tests never race the first scrape.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import bcrypt
import requests
import yaml

from tests.servers.base import (
    LOOPBACK,
    Instance,
    LauncherError,
    ServerProcess,
    env_name,
    find_binary,
    free_port,
    make_tempdir,
    wait_until,
)

Variant = Literal["good", "bad"]

#: The user the good Prometheus lets in (HTTP basic auth); its password is generated per run.
PROMETHEUS_USER = "monitor"
#: Retention of each variant: two weeks and more lets an incident be looked back on; 2d does not.
RETENTION = {"good": "15d", "bad": "2d"}
#: Scrape and rule evaluation interval: short, so the first evaluation comes within a second.
INTERVAL = "1s"

#: The alerting concerns a go-live review asks about, and the good rule that covers each.
CONCERNS = {
    "target_down": "TargetDown",
    "error_ratio": "HighErrorRatio",
    "latency": "HighRequestLatency",
    "disk": "DiskWillFillIn4Hours",
    "memory": "HostMemoryLow",
    "cpu": "HostCpuSaturated",
    "certificate": "CertificateExpiresSoon",
    "database": "PostgresDown",
    "queue": "CeleryQueueBacklog",
    "backup": "BackupTooOld",
}
#: The bad variant's critical alert that fires from the first evaluation on.
ALWAYS_FIRING = "TestAlertPleaseIgnore"
#: The bad variant's recording rule that errors on every evaluation (many-to-many match).
BROKEN_RECORD = "job:up:ratio"

# Written the way an SRE team's rule file reads: `for:` long enough that a blip does not page,
# severity and team labels for routing, summary/description annotations, a runbook for every critical one.  Series the
# test bed lacks (node_*, pg_up, celery_*) yield no data, and no data never fires.
GOOD_RULES = """\
groups:
  - name: availability
    rules:
      - alert: TargetDown
        expr: up == 0
        for: 2m
        labels:
          severity: critical
          team: sre
        annotations:
          summary: "{{ $labels.job }} target {{ $labels.instance }} is down"
          description: "Prometheus has failed to scrape {{ $labels.instance }} for 2 minutes."
          runbook_url: https://runbooks.example.com/target-down
      - alert: PostgresDown
        expr: pg_up == 0
        for: 1m
        labels:
          severity: critical
          team: dba
        annotations:
          summary: "PostgreSQL on {{ $labels.instance }} is down"
          runbook_url: https://runbooks.example.com/postgres-down
      - alert: MySQLDown
        expr: mysql_up == 0
        for: 1m
        labels:
          severity: critical
          team: dba
        annotations:
          summary: "MySQL/MariaDB on {{ $labels.instance }} is down"
          runbook_url: https://runbooks.example.com/mysql-down
  - name: http
    rules:
      - alert: HighErrorRatio
        expr: |
          sum by (job) (rate(http_requests_total{status=~"5.."}[5m]))
            / sum by (job) (rate(http_requests_total[5m])) > 0.05
        for: 10m
        labels:
          severity: critical
          team: backend
        annotations:
          summary: "{{ $labels.job }}: more than 5% of requests fail with 5xx"
          description: "5xx ratio is {{ $value | humanizePercentage }} over the last 5 minutes."
          runbook_url: https://runbooks.example.com/high-error-ratio
      - alert: HighRequestLatency
        expr: |
          histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m]))) > 1
        for: 10m
        labels:
          severity: warning
          team: backend
        annotations:
          summary: "{{ $labels.job }}: p99 latency above 1s"
  - name: host
    rules:
      - alert: DiskWillFillIn4Hours
        expr: |
          predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}[6h], 4 * 3600) < 0
            and node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes < 0.2
        for: 30m
        labels:
          severity: critical
          team: sre
        annotations:
          summary: "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} fills up within 4 hours"
          runbook_url: https://runbooks.example.com/disk-filling
      - alert: HostMemoryLow
        expr: node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.10
        for: 15m
        labels:
          severity: warning
          team: sre
        annotations:
          summary: "{{ $labels.instance }}: less than 10% memory available"
      - alert: HostCpuSaturated
        expr: 1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.9
        for: 15m
        labels:
          severity: warning
          team: sre
        annotations:
          summary: "{{ $labels.instance }}: CPU busy above 90% for 15 minutes"
  - name: certificates
    rules:
      - alert: CertificateExpiresSoon
        expr: probe_ssl_earliest_cert_expiry - time() < 14 * 86400
        for: 1h
        labels:
          severity: warning
          team: sre
        annotations:
          summary: "TLS certificate of {{ $labels.instance }} expires in less than 14 days"
  - name: workers
    rules:
      - alert: CeleryQueueBacklog
        expr: sum by (queue_name) (celery_queue_length) > 1000
        for: 15m
        labels:
          severity: warning
          team: backend
        annotations:
          summary: "Celery queue {{ $labels.queue_name }} has more than 1000 waiting tasks"
  - name: backups
    rules:
      - alert: BackupTooOld
        expr: time() - backup_last_success_timestamp_seconds > 26 * 3600
        for: 10m
        labels:
          severity: critical
          team: sre
        annotations:
          summary: "No successful backup of {{ $labels.instance }} for more than 26 hours"
          runbook_url: https://runbooks.example.com/backup-too-old
"""

# What a rushed setup leaves: one copied rule, a test alert nobody removed, and a recording rule
# that cannot evaluate once more than one target is scraped.
BAD_RULES = f"""\
groups:
  - name: default
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        labels:
          severity: warning
      - alert: {ALWAYS_FIRING}
        expr: vector(1) > 0
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: Testing alerting, please ignore
      - record: {BROKEN_RECORD}
        expr: up / on() up
"""


@dataclass
class MonitoringInstance(Instance):
    """An ``Instance`` that also stops what runs beside the server (the webhook listener)."""

    companions: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            for stop in self.companions:
                stop()


class WebhookSink:
    """An HTTP listener on 127.0.0.1 that records every Alertmanager webhook notification.

    ``received`` holds ``(path, payload)`` pairs in arrival order; the path tells which receiver
    sent it (``/critical`` or ``/default``).
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server dispatches to
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.received.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"webhook-sink-{self.port}", daemon=True)
        self._thread.start()

    def notifications(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [payload for where, payload in self.received if path is None or where == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def launch_alertmanager(variant: Variant, name: str | None = None) -> MonitoringInstance:
    """Start an Alertmanager configured as ``variant`` and return its inventory entry.

    ``entry``: ``{"url": "http://127.0.0.1:PORT"}`` (kind ``alertmanager``, no authentication:
    Alertmanager 0.25 has none of its own).  ``admin``: ``port``, ``config`` (path), ``log``,
    ``receivers`` (names), ``critical_receiver`` (``oncall-critical`` or ``null``) and, for
    ``good``, ``webhook``: the ``WebhookSink`` that records what was delivered.
    """
    name = name or f"alertmanager-{variant}"
    workdir = make_tempdir(name)
    port = free_port()
    sink = WebhookSink() if variant == "good" else None
    try:
        config: dict[str, Any]
        if sink is not None:
            config = {
                "route": {
                    "receiver": "team-default",
                    "group_by": ["alertname", "job"],
                    # Short waits so a test sees the delivery within seconds; repeat like a real pager.
                    "group_wait": "1s",
                    "group_interval": "5s",
                    "repeat_interval": "4h",
                    "routes": [{"matchers": ['severity="critical"'], "receiver": "oncall-critical", "continue": False}],
                },
                "receivers": [
                    {"name": "team-default", "webhook_configs": [{"url": f"{sink.url}/default", "send_resolved": True}]},
                    {"name": "oncall-critical", "webhook_configs": [{"url": f"{sink.url}/critical", "send_resolved": True}]},
                ],
            }
            critical_receiver = "oncall-critical"
        else:
            # A receiver with no *_configs: Alertmanager accepts the alerts and notifies nobody.
            config = {"route": {"receiver": "null", "group_by": ["alertname"]}, "receivers": [{"name": "null"}]}
            critical_receiver = "null"
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        url = f"http://{LOOPBACK}:{port}"
        argv = [
            find_binary("prometheus-alertmanager"),
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            f"--web.external-url={url}",
            # Empty: no gossip cluster, so nothing listens beyond the one port we chose.
            "--cluster.listen-address=",
        ]
        server = ServerProcess(name=name, argv=argv, workdir=workdir, log=workdir / "alertmanager.log")
        server.start(lambda: _ready(url))
    except BaseException:
        if sink is not None:
            sink.close()
        raise
    admin: dict[str, Any] = {
        "port": port,
        "config": str(config_file),
        "log": str(server.log),
        "receivers": [receiver["name"] for receiver in config["receivers"]],
        "critical_receiver": critical_receiver,
        "webhook": sink,
    }
    return MonitoringInstance(
        name=name,
        kind="alertmanager",
        entry={"url": url},
        env={},
        server=server,
        admin=admin,
        companions=[sink.close] if sink is not None else [],
    )


def _blackbox(workdir: Path) -> tuple[ServerProcess, str]:
    """A blackbox exporter (Debian's ``prometheus-blackbox-exporter``) with module ``http_2xx``;
    (its process, its ``host:port``)."""
    config = workdir / "blackbox.yml"
    config.write_text(yaml.safe_dump({"modules": {"http_2xx": {"prober": "http", "timeout": "4s",
                                                                "http": {"preferred_ip_protocol": "ip4"}}}}))
    address = f"{LOOPBACK}:{free_port()}"
    exporter = ServerProcess(name=f"{workdir.name}-blackbox", argv=[find_binary("prometheus-blackbox-exporter"), f"--config.file={config}",
                                                                   f"--web.listen-address={address}"],
                             workdir=workdir, log=workdir / "blackbox.log")
    exporter.start(lambda: requests.get(f"http://{address}/-/healthy", timeout=2).status_code == 200)
    return exporter, address


def launch_prometheus(
    variant: Variant,
    scrape: Mapping[str, Sequence[str]] | None = None,
    alertmanager: Instance | None = None,
    name: str | None = None,
    probe: Sequence[str] = (),
) -> MonitoringInstance:
    """Start a Prometheus configured as ``variant`` and return its inventory entry.

    ``scrape`` maps job names to ``host:port`` targets serving ``/metrics`` (e.g. ``{"app":
    ["127.0.0.1:8000"]}``); the job ``prometheus`` (itself) is always added, and ``bad`` adds the
    job ``node`` whose target nothing listens on.  ``alertmanager`` is where alerts go.

    ``entry``: ``{"url": "http://127.0.0.1:PORT"}``; ``good`` adds ``username`` and ``password``
    as ``${DC_<NAME>_PASSWORD}`` (basic auth), with the value in ``env``.  ``admin``: ``port``,
    ``username``/``password`` (None for ``bad``), ``config``, ``rules``, ``web_config``, ``log``,
    ``jobs`` (name -> targets), ``down_targets``, ``retention``, ``rule_names``, ``alertmanager``
    (its URL or None), ``reload_failed`` (``bad``: the configuration file now holds a typo whose
    reload failed).

    ``probe``: URLs a blackbox exporter started beside Prometheus probes (job ``blackbox``, the
    usual relabelling: ``instance`` is the URL), as uptime monitoring does.

    Returns once the API shows the variant's state: for ``good`` every target up (and every
    probe reported), every rule evaluated and healthy; for ``bad`` the dead target down, the test alert firing, the
    broken rule in error and the last configuration reload failed.
    """
    name = name or f"prometheus-{variant}"
    workdir = make_tempdir(name)
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    jobs: dict[str, list[str]] = {"prometheus": [f"{LOOPBACK}:{port}"]}
    jobs.update({job: list(targets) for job, targets in (scrape or {}).items()})
    down: list[str] = []
    if variant == "bad":
        down = [f"{LOOPBACK}:{free_port()}"]  # a node exporter that was never started
        jobs["node"] = down

    password = secrets.token_urlsafe(18) if variant == "good" else None
    web_config: Path | None = None
    self_auth: dict[str, Any] = {}
    if password is not None:
        web_config = workdir / "web.yml"
        # Cost 10: exporter-toolkit caches successful checks, so the 1s self-scrape stays cheap.
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
        web_config.write_text(yaml.safe_dump({"basic_auth_users": {PROMETHEUS_USER: hashed}}))
        password_file = workdir / "self-scrape.password"
        password_file.write_text(password)
        password_file.chmod(0o600)
        self_auth = {"basic_auth": {"username": PROMETHEUS_USER, "password_file": str(password_file)}}

    companions: list[Callable[[], None]] = []
    probe_jobs: list[dict[str, Any]] = []
    if probe:
        exporter, exporter_address = _blackbox(workdir)
        companions.append(exporter.stop)
        jobs["blackbox"] = list(probe)
        probe_jobs.append({"job_name": "blackbox", "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
                           "static_configs": [{"targets": list(probe)}],
                           "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                                               {"source_labels": ["__param_target"], "target_label": "instance"},
                                               {"target_label": "__address__", "replacement": exporter_address}]})

    rules = workdir / "rules.yml"
    rules.write_text(GOOD_RULES if variant == "good" else BAD_RULES)
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": INTERVAL,
            "scrape_timeout": INTERVAL,
            "evaluation_interval": INTERVAL,
            "external_labels": {"environment": "testbed"},
        },
        "rule_files": [str(rules)],
        "scrape_configs": [
            *({"job_name": job, "static_configs": [{"targets": targets}], **(self_auth if job == "prometheus" else {})}
              for job, targets in jobs.items() if job != "blackbox"),
            *probe_jobs,
        ],
    }
    if alertmanager is not None:
        am_url = alertmanager.entry["url"]
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [am_url.split("://", 1)[1].rstrip("/")]}]}]}
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))

    argv = [
        find_binary("prometheus"),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--storage.tsdb.retention.time={RETENTION[variant]}",
        f"--web.listen-address={LOOPBACK}:{port}",
        f"--web.external-url={url}",
        # Re-send firing alerts every second, not every minute: the first evaluation may come
        # before the Alertmanager was discovered, and a test should not wait a minute for the retry.
        "--rules.alert.resend-delay=1s",
    ]
    if web_config is not None:
        argv.append(f"--web.config.file={web_config}")
    auth = (PROMETHEUS_USER, password) if password is not None else None
    server = ServerProcess(name=name, argv=argv, workdir=workdir, log=workdir / "prometheus.log")
    try:
        server.start(lambda: _ready(url, auth))
        settled = _good_settled if variant == "good" else _bad_settled
        wait_until(
            lambda: settled(url, auth, jobs, alertmanager is not None) and _probed(url, auth, probe), 60.0,
            f"{name} to show its {variant} state", server.proc, server.log
        )
        if variant == "bad":
            _fail_a_reload(config_file, server, url)
    except BaseException:
        server.stop()
        for stop in companions:
            stop()
        raise

    entry: dict[str, Any] = {"url": url}
    env: dict[str, str] = {}
    if password is not None:
        password_var = env_name(name, "password")
        entry |= {"username": PROMETHEUS_USER, "password": f"${{{password_var}}}"}
        env[password_var] = password
    rule_names = [
        rule.get("alert") or rule.get("record") for group in yaml.safe_load(rules.read_text())["groups"] for rule in group["rules"]
    ]
    admin = {
        "port": port,
        "username": PROMETHEUS_USER if password else None,
        "password": password,
        "config": str(config_file),
        "rules": str(rules),
        "web_config": str(web_config) if web_config else None,
        "log": str(server.log),
        "jobs": jobs,
        "down_targets": down,
        "retention": RETENTION[variant],
        "rule_names": rule_names,
        "alertmanager": alertmanager.entry["url"] if alertmanager is not None else None,
        "reload_failed": variant == "bad",
        "probes": list(probe),
    }
    return MonitoringInstance(name=name, kind="prometheus", entry=entry, env=env, server=server, admin=admin, companions=companions)


def _probed(url: str, auth: tuple[str, str] | None, probe: Sequence[str]) -> bool:
    """Every URL in ``probe`` has a ``probe_success`` series."""
    if not probe:
        return True
    result = api(url, "/api/v1/query", auth, query="probe_success")["result"]
    return {series["metric"].get("instance") for series in result} >= set(probe)


def _fail_a_reload(config_file: Path, server: ServerProcess, url: str) -> None:
    """Leave Prometheus running a configuration it could not reload, as an edit with a typo and
    a SIGHUP do: it keeps the old configuration, stays ready and reports the failed reload."""
    config_file.write_text(config_file.read_text() + "scrape_configs_typo: [\n")
    os.kill(server.pid, signal.SIGHUP)
    wait_until(lambda: api(url, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is False, 30.0,
               "the broken configuration's reload to fail", server.proc, server.log)


# --- readiness and settling probes ---


def _ready(url: str, auth: tuple[str, str] | None = None) -> bool:
    return requests.get(f"{url}/-/ready", auth=auth, timeout=2).status_code == 200


def api(url: str, path: str, auth: tuple[str, str] | None = None, **params: str) -> Any:
    """GET a Prometheus ``/api/v1`` path and return its ``data`` (raises unless status is success)."""
    response = requests.get(f"{url}{path}", auth=auth, params=params, timeout=5)
    response.raise_for_status()
    body = response.json()
    if body.get("status") != "success":
        raise LauncherError(f"{url}{path}: {body}")
    return body["data"]


def _targets_by_health(url: str, auth: tuple[str, str] | None) -> dict[str, str]:
    return {f"{t['labels']['job']}/{t['labels']['instance']}": t["health"] for t in api(url, "/api/v1/targets", auth)["activeTargets"]}


def _rules(url: str, auth: tuple[str, str] | None) -> list[dict[str, Any]]:
    return [rule for group in api(url, "/api/v1/rules", auth)["groups"] for rule in group["rules"]]


def _evaluated(rule: dict[str, Any]) -> bool:
    # Prometheus reports the zero time for a rule it has not evaluated yet.
    return not str(rule.get("lastEvaluation", "")).startswith("0001-")


def _good_settled(url: str, auth: tuple[str, str] | None, jobs: Mapping[str, Sequence[str]], with_alertmanager: bool) -> bool:
    health = _targets_by_health(url, auth)
    if len(health) != sum(len(targets) for targets in jobs.values()) or set(health.values()) != {"up"}:
        return False
    rules = _rules(url, auth)
    if not rules or not all(_evaluated(rule) and rule["health"] == "ok" for rule in rules):
        return False
    return not with_alertmanager or bool(api(url, "/api/v1/alertmanagers", auth)["activeAlertmanagers"])


def _bad_settled(url: str, auth: tuple[str, str] | None, jobs: Mapping[str, Sequence[str]], with_alertmanager: bool) -> bool:
    health = _targets_by_health(url, auth)
    if health.get(f"node/{jobs['node'][0]}") != "down" or health.get(f"prometheus/{jobs['prometheus'][0]}") != "up":
        return False
    # The broken rule errors only once both `up` series exist, i.e. after both targets were scraped.
    if not any(rule.get("name") == BROKEN_RECORD and rule["health"] == "err" for rule in _rules(url, auth)):
        return False
    alerts = api(url, "/api/v1/alerts", auth)["alerts"]
    if not any(a["labels"].get("alertname") == ALWAYS_FIRING and a["state"] == "firing" for a in alerts):
        return False
    return not with_alertmanager or bool(api(url, "/api/v1/alertmanagers", auth)["activeAlertmanagers"])


def wait_for_webhook(sink: WebhookSink, path: str, alertname: str, timeout: float = 30.0) -> dict[str, Any]:
    """The first notification on ``path`` that carries an alert named ``alertname``."""
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        found[:] = [n for n in sink.notifications(path) if any(a["labels"].get("alertname") == alertname for a in n.get("alerts", []))]
        return bool(found)

    wait_until(arrived, timeout, f"a webhook notification for {alertname} on {path}")
    return found[0]


def post_alert(alertmanager: Instance, labels: Mapping[str, str], *, duration: float = 300.0) -> None:
    """Send one alert to an Alertmanager the way Prometheus does (``POST /api/v2/alerts``)."""
    now = time.time()
    alert = {
        "labels": dict(labels),
        "annotations": {"summary": "test-bed alert"},
        "startsAt": _rfc3339(now),
        "endsAt": _rfc3339(now + duration),
    }
    response = requests.post(f"{alertmanager.entry['url']}/api/v2/alerts", json=[alert], timeout=5)
    response.raise_for_status()


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
