"""The team's own checks in YAML (``--deploycheck-expectations``), run against the real test bed.

Every probe kind passes on a good server and fails on a bad one with the target, what it saw and
what it expected; a file that asks for a write, an unknown command, a broken regex or JSON path is a
one-line usage error before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_deploycheck.expectations.jsonpath import JsonPathError, lookup, parse_path
from pytest_deploycheck.expectations.readonly import sql_problem
from tests.governance import SummaryCatcher
from tests.servers.base import Instance
from tests.servers.inventory import environment, secrets_env, write_inventory

LOCAL = Instance(name="localhost", kind="hosts", entry={"backend": "local://"}, env={}, server=None)


def run_expectations(pytester: pytest.Pytester, expectations: dict[str, Any], targets: list[Instance], *args: str) -> tuple[int, Any, str]:
    (pytester.path / "expectations.yml").write_text(yaml.safe_dump({"version": 1, "expectations": expectations}, sort_keys=False))
    write_inventory(pytester.path / "inventory.yml", targets)
    catcher = SummaryCatcher()
    with environment(secrets_env(targets)):
        result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:benchmark", "--inventory=inventory.yml",
                                    "--deploycheck-expectations=expectations.yml", "expectations.yml", *args, plugins=[catcher])
    return int(result.ret), (catcher.summaries[-1] if catcher.summaries else None), result.stdout.str() + result.stderr.str()


def outcome(summary: Any, eid: str, target: str) -> tuple[str, str]:
    found = [r for r in summary.results if r.check_id == eid and r.target == target]
    assert found, [(r.check_id, r.target) for r in summary.results]
    return found[0].outcome.value, found[0].message


def test_http_probe_with_the_test_login(pytester: pytest.Pytester, sample_app_good: Instance, sample_app_bad: Instance) -> None:
    expectations = {"acme.orders-api": {
        "title": "Orders API answers", "severity": "critical", "targets": [sample_app_good.name, sample_app_bad.name],
        "http": {"path": "/api/orders", "login": True,
                 "expect": {"status": 200, "json": {"$.orders[0].total_cents": {"min": 1}}, "headers": {"content-type": "~json"},
                            "latency_ms": 5000}}}}
    _, summary, _ = run_expectations(pytester, expectations, [sample_app_good, sample_app_bad])
    assert outcome(summary, "acme.orders-api", sample_app_good.name)[0] == "passed"
    state, message = outcome(summary, "acme.orders-api", sample_app_bad.name)
    assert state == "failed"
    assert message.startswith(f"{sample_app_bad.name} (")
    assert "2 mismatches: GET /api/orders answered 401 (expected 200); $.orders[0].total_cents is missing (expected min 1)" in message
    good = next(r for r in summary.results if r.target == sample_app_good.name)
    assert good.evidence["request"] == "GET /api/orders (with the test login)"
    assert "Bearer" not in json.dumps(good.evidence)


def test_sql_probe_reads_in_a_read_only_session(pytester: pytest.Pytester, pg_good: Instance, pg_bad: Instance) -> None:
    expectations = {"acme.no-invalid-index": {
        "title": "No invalid index", "severity": "high", "targets": [pg_good.name, pg_bad.name],
        "sql": {"query": "SELECT count(*) AS n FROM pg_index WHERE NOT indisvalid", "expect": {"value": 0}}}}
    _, summary, _ = run_expectations(pytester, expectations, [pg_good, pg_bad])
    assert outcome(summary, "acme.no-invalid-index", pg_good.name)[0] == "passed"
    state, message = outcome(summary, "acme.no-invalid-index", pg_bad.name)
    assert (state, "the first value was 1; expected 0") == ("failed", message.split(": ", 2)[-1])


def test_redis_probe_reads_an_info_field(pytester: pytest.Pytester, redis_good: Instance, redis_bad: Instance) -> None:
    expectations = {"acme.cache-evicts": {
        "title": "Cache evicts old keys", "severity": "medium", "targets": [redis_good.name, redis_bad.name],
        "redis": {"command": ["INFO", "memory"], "field": "maxmemory_policy", "expect": {"value": "allkeys-lru"}}}}
    _, summary, _ = run_expectations(pytester, expectations, [redis_good, redis_bad])
    assert outcome(summary, "acme.cache-evicts", redis_good.name)[0] == "passed"
    state, message = outcome(summary, "acme.cache-evicts", redis_bad.name)
    assert state == "failed" and "INFO maxmemory_policy was 'noeviction'; expected 'allkeys-lru'" in message


def test_command_and_file_probes_on_a_host(pytester: pytest.Pytester, tmp_path: Path) -> None:
    secret = tmp_path / "app.env"
    secret.write_text("DATABASE_URL=postgres://x\n")
    secret.chmod(0o644)
    expectations = {
        "acme.tmp-exists": {"title": "tmp is there", "severity": "low", "targets": "localhost",
                            "command": {"run": "test -d /tmp && echo present", "expect": {"exit": 0, "stdout": "present"}}},
        "acme.env-private": {"title": "env file private", "severity": "high", "targets": "localhost",
                             "file": {"path": str(secret), "expect": {"exists": True, "mode": "0600", "contains": "DATABASE_URL"}}},
        "acme.no-such": {"title": "a command that fails", "severity": "low", "targets": "localhost",
                         "command": {"run": "test -e /nonexistent-deploycheck"}},
    }
    _, summary, _ = run_expectations(pytester, expectations, [LOCAL])
    assert outcome(summary, "acme.tmp-exists", "localhost")[0] == "passed"
    state, message = outcome(summary, "acme.env-private", "localhost")
    assert state == "failed" and f"{secret} has mode 0644; expected 0600 or stricter" in message
    state, message = outcome(summary, "acme.no-such", "localhost")
    assert state == "failed" and "exited 1" in message and "expected exit status 0" in message


def test_promql_probe(pytester: pytest.Pytester, prometheus_good: Instance, prometheus_bad: Instance) -> None:
    expectations = {"acme.all-up": {"title": "Every target up", "severity": "high", "targets": [prometheus_good.name, prometheus_bad.name],
                                    "promql": {"query": "min(up)", "expect": {"min": 1}}}}
    _, summary, _ = run_expectations(pytester, expectations, [prometheus_good, prometheus_bad])
    assert outcome(summary, "acme.all-up", prometheus_good.name)[0] == "passed"
    state, message = outcome(summary, "acme.all-up", prometheus_bad.name)
    assert state == "failed" and "a series' value was 0.0; expected at least 1" in message


def test_a_dead_target_is_an_error_and_costs_one_timeout(pytester: pytest.Pytester) -> None:
    dead = Instance(name="dead-api", kind="http", entry={"url": "http://127.0.0.1:9"}, env={}, server=None)
    expectations = {f"acme.probe-{n}": {"title": "probe", "severity": "high", "targets": "dead-api", "http": {"path": f"/p{n}"}}
                    for n in range(3)}
    _, summary, _ = run_expectations(pytester, expectations, [dead])
    states = [outcome(summary, f"acme.probe-{n}", "dead-api") for n in range(3)]
    assert [s for s, _ in states] == ["error"] * 3
    assert "not checked, target unusable since an earlier check" in states[2][1]


def test_role_selector_without_a_match_is_not_applicable(pytester: pytest.Pytester) -> None:
    expectations = {"acme.web": {"title": "web", "severity": "low", "targets": {"role": "web"}, "http": {"path": "/"}}}
    _, summary, _ = run_expectations(pytester, expectations, [LOCAL])
    state, message = outcome(summary, "acme.web", None)  # type: ignore[arg-type]
    assert state == "n/a" and "matches role web" in message


def test_a_checklist_item_maps_to_an_expectation(pytester: pytest.Pytester, sample_app_bad: Instance) -> None:
    (pytester.path / "go-live.md").write_text("# Go-live\n- [ ] Orders API responding\n")
    (pytester.path / "go-live.deploycheck.yml").write_text("version: 1\nitems:\n  go-live--orders-api-responding: [acme.orders-api]\n")
    expectations = {"acme.orders-api": {"title": "Orders API answers", "severity": "critical", "targets": sample_app_bad.name,
                                        "http": {"path": "/api/orders", "login": True, "expect": {"status": 200}}}}
    _, summary, _ = run_expectations(pytester, expectations, [sample_app_bad], "--deploycheck-checklist=go-live.md")
    item = summary.checklist.items[0]
    assert (item.status, item.entry.checks) == ("failed", ("acme.orders-api",))


@pytest.mark.parametrize(("body", "expected"), [
    ({"acme.x": {"title": "t", "severity": "high", "targets": "localhost", "command": {"run": "true"}, "colour": "red"}},
     "expectations.acme.x.colour: unknown key"),
    ({"tls-01": {"title": "t", "severity": "high", "targets": "localhost", "command": {"run": "true"}}},
     "expectations.tls-01: an expectation id is <namespace>.<name>"),
    ({"acme.x": {"title": "t", "severity": "high", "targets": "nowhere", "command": {"run": "true"}}},
     "expectations.acme.x.targets: no target 'nowhere' in inventory"),
    ({"acme.x": {"title": "t", "severity": "high", "targets": "localhost", "http": {"path": "/"}}},
     "localhost is a hosts target; a http probe runs on http targets"),
    ({"acme.x": {"title": "t", "severity": "high", "targets": "localhost", "command": {"run": "true", "expect": {"stdout": "(["}}}},
     "expectations.acme.x.command.expect.stdout: not a valid regular expression"),
    ({"acme.x": {"title": "t", "severity": "sometimes", "targets": "localhost", "command": {"run": "true"}}},
     "unknown severity 'sometimes'"),
    ({"acme.x": {"title": "t", "severity": "high", "targets": "localhost", "command": {"run": "true"}, "file": {"path": "/x"}}},
     "give exactly one probe"),
])
def test_bad_expectations_are_one_line_usage_errors(pytester: pytest.Pytester, body: dict[str, Any], expected: str) -> None:
    ret, _, text = run_expectations(pytester, body, [LOCAL])
    assert ret == pytest.ExitCode.USAGE_ERROR, text
    assert expected in text
    assert "Traceback" not in text


@pytest.mark.parametrize(("probe", "expected"), [
    ({"sql": {"query": "DELETE FROM users", "expect": {"rows": 0}}}, "starts with 'DELETE'"),
    ({"sql": {"query": "SELECT 1; DROP TABLE users", "expect": {"rows": 1}}}, "more than one statement"),
    ({"sql": {"query": "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d", "expect": {"rows": 0}}}, "names DELETE"),
    ({"sql": {"query": "SELECT * INTO backup FROM users", "expect": {"rows": 0}}}, "names INTO"),
    ({"sql": {"query": "SELECT * FROM users FOR UPDATE", "expect": {"rows": 0}}}, "names UPDATE"),
    ({"redis": {"command": ["FLUSHALL"], "expect": {"value": "OK"}}}, "'FLUSHALL' is not on the read-only allow-list"),
    ({"http": {"path": "/x", "method": "DELETE"}}, "DELETE is not a read"),
    ({"http": {"path": "/x", "expect": {"json": {"status": "ok"}}}}, "'status': a JSON path starts with $"),
])
def test_writes_are_refused_before_anything_runs(pytester: pytest.Pytester, probe: dict[str, Any], expected: str,
                                                 sample_app_good: Instance) -> None:
    kind = next(iter(probe))
    target = {"sql": "pg", "redis": "cache", "http": sample_app_good.name}[kind]
    stand_ins = {"pg": Instance("pg", "postgres", {"dsn": "postgresql://app@127.0.0.1:9/app"}, {}, None),
                 "cache": Instance("cache", "redis", {"url": "redis://127.0.0.1:9/0"}, {}, None)}
    body = {"acme.x": {"title": "t", "severity": "high", "targets": target, **probe}}
    ret, _, text = run_expectations(pytester, body, [sample_app_good, *stand_ins.values()])
    assert ret == pytest.ExitCode.USAGE_ERROR, text
    assert expected in text


def test_sql_guard_lets_plain_reads_through() -> None:
    for query in ("SELECT count(*) FROM orders WHERE note = 'please DELETE me'", "WITH x AS (SELECT 1) SELECT * FROM x", "SHOW ssl",
                  "select replace(name, 'a', 'b') from t -- update later", "SELECT 1;"):
        assert sql_problem(query) is None, query


def test_json_paths() -> None:
    doc = {"a": {"b": [1, {"c": "x"}]}, "with space": True}
    assert lookup(doc, "$.a.b[1].c") == (True, "x")
    assert lookup(doc, '$["with space"]') == (True, True)
    assert lookup(doc, "$.a.b[5]") == (False, None)
    assert lookup(doc, "$.a.b[-1].c") == (True, "x")
    with pytest.raises(JsonPathError, match="at character 4"):
        parse_path("$.a..b")


def test_xdist_gives_the_same_results(pytester: pytest.Pytester, sample_app_good: Instance, sample_app_bad: Instance) -> None:
    pytest.importorskip("xdist")
    expectations = {f"acme.health-{n}": {"title": "Health answers", "severity": "high", "targets": [sample_app_good.name, sample_app_bad.name],
                                         "http": {"path": "/health", "expect": {"json": {"$.status": "ok"}}}} for n in range(3)}
    expectations["acme.orders"] = {"title": "Orders", "severity": "high", "targets": [sample_app_good.name, sample_app_bad.name],
                                   "http": {"path": "/api/orders", "login": True, "expect": {"status": 200}}}
    _, serial, _ = run_expectations(pytester, expectations, [sample_app_good, sample_app_bad])
    _, parallel, _ = run_expectations(pytester, expectations, [sample_app_good, sample_app_bad], "-n", "2")

    def table(summary: Any) -> list[tuple[str, str | None, str, str]]:
        return [(r.check_id, r.target, r.outcome.value, r.message) for r in summary.results]

    assert table(parallel) == table(serial)
    assert {r.outcome.value for r in serial.results} == {"passed", "failed"}
