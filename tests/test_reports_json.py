"""The JSON report: validates against its schema, one record per (check, target), diffable."""

from __future__ import annotations

import json

import jsonschema
import pytest

from pytest_deploycheck.reports.jsonreport import FORMAT_VERSION, SCHEMA
from tests.report_helpers import outcome_of, write_catalog

VOLATILE = ("started", "finished", "duration")


def test_document_validates_and_holds_every_result(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    result = pytester.runpytest(*reports.args())
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    doc = reports.json()
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(doc, SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert doc["format_version"] == FORMAT_VERSION
    run = doc["run"]
    assert run["inventory"]["name"] == "demo-env"
    assert len(run["inventory"]["sha256"]) == 64
    assert run["exit_status"] == 1
    assert run["interrupted"] is False
    assert run["fail_on"] == "high"
    assert doc["verdict"]["level"] == "NO-GO"
    assert doc["verdict"]["rule"].startswith("NO-GO: critical/high items not met")
    assert sorted(doc["verdict"]["blocking"]) == ["demo-02@beta", "demo-04@alpha", "demo-04@beta"]
    assert {"web-01@web", "demo-06@alpha", "demo-06@beta"} <= set(doc["verdict"]["risks"])

    expected = {"demo-01@alpha": "passed", "demo-02@alpha": "passed", "demo-02@beta": "failed", "demo-03@alpha": "n/a",
                "demo-04@beta": "manual", "demo-05@alpha": "passed", "demo-06@beta": "waived", "web-01@web": "error"}
    for key, outcome in expected.items():
        assert outcome_of(doc, key) == outcome, key
    assert len(doc["results"]) == 13 == doc["counts"]["total"]
    assert len({r["key"] for r in doc["results"]}) == 13

    failed = next(r for r in doc["results"] if r["key"] == "demo-02@beta")
    assert failed["message"] == "beta (local://): observed <b>bold</b> & co; expected something else"
    assert failed["evidence"] == {"seen": "<script>alert(1)</script>"}
    assert (failed["id"], failed["title"], failed["section"], failed["severity"], failed["target"]) == \
        ("demo-02", "Fails on beta", "demo", "critical", "beta")
    attested = next(r for r in doc["results"] if r["key"] == "demo-05@beta")
    assert attested["attestation"]["by"] == "Ada <Lovelace>"
    waived = next(r for r in doc["results"] if r["key"] == "demo-06@alpha")
    assert waived["waiver"]["id"] == "W-7"
    assert waived["waiver"]["approver"] == "Grace"
    assert doc["checks"]["demo-01"]["refs"] == ["CIS 1.2.3", "dev-sec os-01"]
    assert doc["checks"]["demo-01"]["rationale"] == "Passes <always> & forever."
    assert doc["counts"]["by_outcome"]["failed"] == 1
    assert doc["counts"]["by_severity"]["critical"]["failed"] == 1
    assert doc["counts"]["by_section"]["web"] == {"title": "Web", "counts": {**dict.fromkeys(doc["counts"]["by_outcome"], 0), "error": 1}}
    assert [w["status"] for w in doc["waivers"]] == ["applied", "stale"]
    result.stdout.fnmatch_lines([f"*deploycheck JSON report: {reports.json_path}*"])


def test_two_runs_differ_only_in_times(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    pytester.runpytest(*reports.args())
    first = reports.json_path.read_text(encoding="utf-8")
    pytester.runpytest(*reports.args())
    second = reports.json_path.read_text(encoding="utf-8")

    def stable(text: str) -> dict[str, object]:
        doc = json.loads(text)
        for key in VOLATILE:
            doc["run"].pop(key)
        for r in doc["results"]:
            r.pop("duration")
        return doc  # type: ignore[no-any-return]

    assert stable(first) == stable(second)
    # Line-oriented: keys sorted and indented, so a diff of two runs shows only what changed.
    changed = [(a, b) for a, b in zip(first.splitlines(), second.splitlines(), strict=True) if a != b]
    assert all(any(f'"{k}"' in a for k in (*VOLATILE, "duration")) for a, _ in changed), changed


def test_serial_and_xdist_runs_give_the_same_document(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    pytester.runpytest(*reports.args())
    serial = reports.json()
    pytester.runpytest(*reports.args(), "-n", "2")
    parallel = reports.json()
    assert [(r["key"], r["outcome"], r["message"]) for r in serial["results"]] == \
        [(r["key"], r["outcome"], r["message"]) for r in parallel["results"]]
    assert serial["verdict"] == parallel["verdict"]
    assert serial["counts"] == parallel["counts"]


def test_option_from_ini_and_atomic_write_leaves_no_temp_file(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, ini="[pytest]\ndeploycheck_json = out/from-ini.json\n")
    pytester.runpytest(f"--inventory={reports.root / 'inv.yml'}")
    assert json.loads((reports.root / "out" / "from-ini.json").read_text(encoding="utf-8"))["verdict"]["level"] == "NO-GO"
    assert [p.name for p in (reports.root / "out").iterdir()] == ["from-ini.json"]


def test_a_check_run_twice_on_one_target_gets_distinct_keys(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, catalog='''
        import pytest
        @pytest.mark.check("par-01", "Parametrized", severity="low")
        @pytest.mark.parametrize("port", [80, 443])
        def test_port(host, port):
            """Two items on each host."""
    ''')
    pytester.runpytest(*reports.args())
    keys = [r["key"] for r in reports.json()["results"]]
    assert keys == ["par-01@alpha[alpha-80]", "par-01@alpha[alpha-443]", "par-01@beta[beta-80]", "par-01@beta[beta-443]"]
