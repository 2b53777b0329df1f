"""host-10 (logs shipped off the host) on this machine, with real rsyslogd processes of the test
bed (``tests/servers/logship.py``: a shipper tailing the good log folder, forwarding over TCP to a
receiver); and the configuration readers of the shippers this machine does not run (Filebeat,
Fluent Bit, Vector, Promtail), on configurations as their documentation writes them."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from pytest_deploycheck.targets import log_shippers
from tests.servers.base import Instance
from tests.servers.logship import LogShipping, launch_log_shipping
from tests.test_checks_ssh import run_hosts


@pytest.fixture(scope="module")
def shipping() -> Iterator[LogShipping]:
    bed = launch_log_shipping()
    try:
        yield bed
    finally:
        bed.stop()


def local(name: str, **settings: object) -> Instance:
    return Instance(name=name, kind="hosts", entry={"backend": "local://", **settings}, env={}, server=None)


def test_logs_shipped_or_not(pytester: pytest.Pytester, shipping: LogShipping) -> None:
    targets = [local("shipped", log_dir=str(shipping.good_dir)), local("kept", log_dir=str(shipping.bad_dir)), local("unsaid")]
    run, _ = run_hosts(pytester, "test_host.py", targets=targets, args=["-k", "host-10"])
    assert {t.name: run.outcome("host-10", t.name) for t in targets} == {"shipped": "passed", "kept": "failed", "unsaid": "n/a"}
    [by] = run.evidence("host-10", "shipped")["shipped_by"]
    assert by.startswith(f"rsyslog ({shipping.shipper_config}) tails {shipping.good_dir}/*.log and sends to omfwd 127.0.0.1:")
    message = run.message("host-10", "kept")
    assert message.startswith("kept (local://): ")
    assert f"rsyslog ({shipping.shipper_config}) reads {shipping.good_dir}/*.log, not {shipping.bad_dir}" in message
    assert message.endswith(f"; expected a log shipper sending {shipping.bad_dir}/* to a central store")
    assert "no log_dir in the inventory" in run.message("host-10", "unsaid")


def _running(args: str, comm: str | None = None) -> list[log_shippers.Running]:
    process = SimpleNamespace(pid=7, uid=0, user="root", comm=comm or args.split()[0].rsplit("/", 1)[-1][:15], args=args)
    return log_shippers.running([process])


@pytest.mark.parametrize(
    ("args", "name", "config"),
    [
        ("/usr/sbin/rsyslogd -n -iNONE", "rsyslog", None),
        ("/usr/share/filebeat/bin/filebeat --environment systemd -c /etc/filebeat/filebeat.yml --path.home /usr/share/filebeat",
         "Filebeat", "/etc/filebeat/filebeat.yml"),
        ("/opt/fluent-bit/bin/fluent-bit -c //etc/fluent-bit/fluent-bit.conf", "Fluent Bit", "//etc/fluent-bit/fluent-bit.conf"),
        ("/usr/bin/vector --config=/etc/vector/app.yaml", "Vector", "/etc/vector/app.yaml"),
        ("/usr/local/bin/promtail -config.file=/etc/promtail/promtail.yaml", "Promtail", "/etc/promtail/promtail.yaml"),
        ("/usr/share/logstash/jdk/bin/java -Xms1g org.logstash.Logstash --path.settings /etc/logstash", "Logstash", None),
        ("/opt/datadog-agent/bin/agent/agent run -p /opt/datadog-agent/run/agent.pid", "Datadog Agent", None),
    ],
)
def test_shippers_are_recognised_by_their_process(args: str, name: str, config: str | None) -> None:
    [found] = _running(args)
    assert (found.spec.name, found.config) == (name, config)
    assert _running("/usr/bin/python3 -m http.server") == []


def test_rsyslog_reader() -> None:
    main = """
module(load="imuxsock")
$IncludeConfig /etc/rsyslog.d/*.conf
*.*;auth,authpriv.none  -/var/log/syslog
# *.* @@old-logs.example.com:514
"""
    app = """
module(load="imfile")
input(type="imfile" File="/srv/app/log/*.log" Tag="app")
/* action(type="omfwd" target="commented.example.com") */
action(type="omfwd" Target="logs.example.com" Port="6514" Protocol="tcp")
local0.* @@(o)relay.example.com:10514
"""
    assert log_shippers.rsyslog_includes(main) == ["/etc/rsyslog.d/*.conf"]
    shipping = log_shippers.parse_rsyslog({"/etc/rsyslog.conf": main, "/etc/rsyslog.d/app.conf": app})
    assert shipping.files == ["/srv/app/log/*.log"]
    assert shipping.system_log
    assert shipping.outputs == ["omfwd logs.example.com:6514", "tcp relay.example.com:10514"]


def test_filebeat_reader() -> None:
    main = """
filebeat.inputs:
  - type: filestream
    id: app
    paths: ["/srv/app/log/*.log"]
  - type: filestream
    enabled: false
    paths: ["/srv/old/*.log"]
  - type: journald
filebeat.config.inputs:
  path: ${path.config}/inputs.d/*.yml
output.logstash:
  hosts: ["logstash.internal:5044"]
"""
    extra = "- type: log\n  paths:\n    - /srv/worker/log/**/*.log\n"
    assert log_shippers.filebeat_includes(main, "/etc/filebeat") == ["/etc/filebeat/inputs.d/*.yml"]
    shipping = log_shippers.parse_filebeat({"/etc/filebeat/filebeat.yml": main, "/etc/filebeat/inputs.d/w.yml": extra})
    assert shipping.files == ["/srv/app/log/*.log", "/srv/worker/log/**/*.log"]
    assert shipping.system_log and shipping.outputs == ["logstash logstash.internal:5044"]
    assert log_shippers.reads("/srv/worker/log/**/*.log", "/srv/worker/log")
    assert log_shippers.reads("/srv/worker/log/**/*.log", "/srv/worker/log/jobs")
    assert not log_shippers.reads("/srv/worker/log/*.log", "/srv/worker")
    local_only = log_shippers.parse_filebeat({"f.yml": "filebeat.inputs: [{type: log, paths: [/a/*.log]}]\noutput:\n  file:\n    path: /tmp\n"})
    assert local_only.outputs == [] and local_only.local == ["file"]


def test_fluent_bit_reader_classic_and_yaml() -> None:
    classic = """
[SERVICE]
    Flush 1
@INCLUDE inputs.conf
[INPUT]
    Name   tail
    Path   /srv/app/log/*.log, /srv/app/log/audit/*.json
[OUTPUT]
    Name  loki
    Host  loki.internal
    Port  3100
[OUTPUT]
    Name stdout
"""
    assert log_shippers.fluentbit_includes(classic, "/etc/fluent-bit") == ["/etc/fluent-bit/inputs.conf"]
    shipping = log_shippers.parse_fluentbit({"/etc/fluent-bit/fluent-bit.conf": classic})
    assert shipping.files == ["/srv/app/log/*.log", "/srv/app/log/audit/*.json"]
    assert shipping.outputs == ["loki loki.internal:3100"] and shipping.local == ["stdout"]
    yaml_doc = "pipeline:\n  inputs:\n    - name: systemd\n  outputs:\n    - name: es\n      host: es.internal\n      port: 9200\n"
    shipping = log_shippers.parse_fluentbit({"/etc/fluent-bit/fluent-bit.yaml": yaml_doc})
    assert shipping.system_log and shipping.outputs == ["es es.internal:9200"]


def test_vector_and_promtail_readers() -> None:
    vector = """
sources:
  app:
    type: file
    include: ["/srv/app/log/*.log"]
sinks:
  central:
    type: elasticsearch
    inputs: [app]
    endpoints: ["https://es.internal:9200"]
  debug:
    type: console
    inputs: [app]
"""
    shipping = log_shippers.parse_vector({"/etc/vector/vector.yaml": vector})
    assert shipping.files == ["/srv/app/log/*.log"]
    assert shipping.outputs == ["elasticsearch ['https://es.internal:9200']"] and shipping.local == ["console"]
    promtail = """
clients:
  - url: https://loki.internal/loki/api/v1/push
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [localhost]
        labels: {job: app, __path__: /srv/app/log/*.log}
  - job_name: journal
    journal: {max_age: 12h}
"""
    shipping = log_shippers.parse_promtail({"/etc/promtail/config.yml": promtail})
    assert shipping.files == ["/srv/app/log/*.log"] and shipping.system_log
    assert shipping.outputs == ["loki https://loki.internal/loki/api/v1/push"]
    broken = log_shippers.parse_promtail({"/etc/promtail/config.yml": "clients: [\n"})
    assert broken.problems and broken.problems[0].startswith("/etc/promtail/config.yml is not valid YAML")


def test_destinations_never_carry_a_login() -> None:
    promtail = log_shippers.parse_promtail({"c.yml": "clients:\n  - url: https://tenant:s3cret-pw@loki.internal/loki/api/v1/push\n"})
    vector = log_shippers.parse_vector({"v.yaml": "sinks:\n  out:\n    type: http\n    uri: https://ship:s3cret-pw@logs.internal/in\n"})
    upload = log_shippers.parse_journal_upload({}, "https://up:s3cret-pw@journal.internal:19532")
    shown = promtail.outputs + vector.outputs + upload.outputs
    assert shown == ["loki https://tenant@loki.internal/loki/api/v1/push", "http https://ship@logs.internal/in",
                     "journal-remote https://up@journal.internal:19532"]
