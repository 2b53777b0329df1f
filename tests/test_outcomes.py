"""Check metadata, parametrization, the six outcomes, the verdict and the exit gate."""

from __future__ import annotations

import textwrap

import pytest

INVENTORY = """
name: demo
hosts:
  web2: {backend: "local://", roles: [web]}
  web1: {backend: "local://", roles: [web]}
  db1: {backend: "local://", roles: [db]}
"""


def catalog(pytester: pytest.Pytester, body: str, inventory: str = INVENTORY) -> str:
    pytester.makepyfile(test_catalog="import pytest\nfrom pytest_deploycheck import require, fail, not_applicable, TargetError\n"
                        "pytestmark = pytest.mark.section('demo', 'Demo section')\n" + textwrap.dedent(body))
    (pytester.path / "inv.yml").write_text(textwrap.dedent(inventory))
    return f"--inventory={pytester.path / 'inv.yml'}"


def test_one_item_per_check_and_target_sorted_by_name(pytester: pytest.Pytester) -> None:
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "Runs", severity="high")
        def test_runs(host):
            """Runs."""
    ''')
    result = pytester.runpytest(inv, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_catalog.py::test_runs[db1]", "test_catalog.py::test_runs[web1]", "test_catalog.py::test_runs[web2]"])


def test_no_matching_target_is_listed_once_as_not_applicable(pytester: pytest.Pytester) -> None:
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "PG", severity="high")
        def test_pg(postgres):
            """PG."""

        @pytest.mark.check("demo-02", "Web only", severity="low")
        @pytest.mark.targets(roles=["web"])
        def test_web(host):
            """Web."""

        @pytest.mark.check("demo-03", "Cache only", severity="low")
        @pytest.mark.targets(roles=["cache"])
        def test_cache(host):
            """Cache."""
    ''')
    result = pytester.runpytest(inv, "-rA")
    result.stdout.fnmatch_lines(["*2 passed, 2 n/a*"])
    out = result.stdout.str()
    assert "demo-01 -: no postgres targets in inventory demo" in out
    assert "demo-03 -: no hosts targets with role cache in inventory demo" in out
    assert "test_web[db1]" not in out
    collected = pytester.runpytest(inv, "--collect-only", "-q").stdout.str()
    assert "test_catalog.py::test_pg[no-targets]" in collected and "test_catalog.py::test_cache[no-targets]" in collected


def test_catalog_problems_are_one_usage_error(pytester: pytest.Pytester) -> None:
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "One", severity="high")
        def test_one(host):
            """One."""

        @pytest.mark.check("demo-01", "Same id", severity="low")
        def test_two(host):
            """Two."""

        @pytest.mark.check("demo-02", "No severity")
        def test_three(host):
            """Three."""

        @pytest.mark.check("Demo 4", "Bad id", severity="low")
        def test_four(host):
            """Four."""

        @pytest.mark.check("demo-05", "No docstring", severity="urgent")
        def test_five(host):
            pass

        def test_six(host):
            """No check marker at all, in a section module."""
    ''')
    result = pytester.runpytest(inv)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "5 problems in the check catalog" in err
    assert "check id demo-01 is used by test_catalog.py::test_one and test_catalog.py::test_two" in err
    assert "check demo-02 has no severity" in err
    assert "check id 'Demo 4' must look like 'area-NN'" in err
    assert "unknown severity 'urgent'" in err
    assert "test_six: no @pytest.mark.check" in err
    assert "Traceback" not in err


def test_outcomes_are_counted_apart_in_the_closing_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('''
        def pytest_deploycheck_waiver(config, check, target, message):
            if check.id == "demo-05":
                return {"id": "W-1", "approver": "cto", "expires": "2099-01-01", "justification": "accepted"}
    ''')
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "Passes", severity="high")
        def test_pass(host):
            """P."""

        @pytest.mark.check("demo-02", "Fails", severity="medium")
        def test_fail(host):
            """F."""
            require(False, host, "observed 1", "2")

        @pytest.mark.check("demo-03", "Errors", severity="low")
        def test_error(host):
            """E."""
            raise TargetError("could not log in")

        @pytest.mark.check("demo-04", "N/A", severity="low")
        def test_na(host):
            """N."""
            not_applicable("no systemd")

        @pytest.mark.check("demo-05", "Waived", severity="medium")
        def test_waived(host):
            """W."""
            assert 1 == 2

        @pytest.mark.check("demo-06", "Manual", severity="low")
        @pytest.mark.manual(instructions="ask the team")
        def test_manual():
            """M."""

        @pytest.mark.check("demo-07", "Crashes", severity="low")
        def test_crash(host):
            """C."""
            {}["missing"]
    ''', "hosts:\n  me: {backend: 'local://'}\n")
    result = pytester.runpytest(inv)
    result.stdout.fnmatch_lines(["*1 failed, 1 passed, 2 errors, 1 n/a, 1 waived, 1 manual*"])
    result.stdout.fnmatch_lines([
        "*me (local://): observed 1; expected 2*",
        "*VERDICT: GO WITH RISKS*",
        "rule: GO WITH RISKS: every critical/high item met; 3 medium/low failure(s), 1 medium/low manual item(s) pending, 1 waived",
    ])
    assert result.ret == 0


@pytest.mark.parametrize(("severity", "body", "fail_on", "verdict", "ret"), [
    ("high", "pass", "high", "GO", 0),
    ("critical", "assert False", "high", "NO-GO", 1),
    ("high", "raise RuntimeError('boom')", "high", "NO-GO", 1),
    ("medium", "assert False", "high", "GO WITH RISKS", 0),
    ("medium", "assert False", "medium", "GO WITH RISKS", 1),
    ("low", "assert False", "medium", "GO WITH RISKS", 0),
    ("low", "assert False", "low", "GO WITH RISKS", 1),
    ("info", "assert False", "low", "GO", 0),
    ("critical", "assert False", "never", "NO-GO", 0),
])
def test_verdict_and_exit_gate(pytester: pytest.Pytester, severity: str, body: str, fail_on: str, verdict: str, ret: int) -> None:
    # demo-00 passes: every run has a critical/high item examined (a run without one is never GO).
    inv = catalog(pytester, f'''
        @pytest.mark.check("demo-00", "Examined", severity="high")
        def test_examined(host):
            """E."""

        @pytest.mark.check("demo-01", "Item", severity="{severity}")
        def test_item(host):
            """I."""
            {body}
    ''', "hosts:\n  me: {backend: 'local://'}\n")
    result = pytester.runpytest(inv, f"--deploycheck-fail-on={fail_on}")
    result.stdout.fnmatch_lines([f"VERDICT: {verdict}"])
    assert result.ret == ret


def test_pending_high_manual_item_blocks(pytester: pytest.Pytester) -> None:
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "Sign-off", severity="high")
        @pytest.mark.manual(instructions="CTO signs")
        def test_signoff():
            """S."""
    ''')
    result = pytester.runpytest(inv)
    result.stdout.fnmatch_lines(["*demo-01 [[]high[]] -: manual: pending attestation (no attestation recorded): CTO signs*",
                                 "VERDICT: NO-GO", "rule: NO-GO: critical/high items not met: 1 manual item(s) pending attestation",
                                 "*= 1 manual in *"])
    assert result.ret == 1


def test_no_checks_selected_is_no_go_and_exit_5(pytester: pytest.Pytester) -> None:
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "Item", severity="low")
        def test_item(host):
            """I."""
    ''', "hosts:\n  me: {backend: 'local://'}\n")
    result = pytester.runpytest(inv, "-k", "nothing_matches")
    result.stdout.fnmatch_lines(["VERDICT: NO-GO (PARTIAL RUN: 0 selected, 1 deselected; -k 'nothing_matches')",
                                 "rule: NO-GO: no checks ran*"])
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_selection_by_severity_marker_and_keyword(pytester: pytest.Pytester) -> None:
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "Crit", severity="critical")
        def test_a(host):
            """A."""

        @pytest.mark.check("demo-02", "High", severity="high")
        def test_b(host):
            """B."""

        @pytest.mark.check("demo-03", "Low", severity="low")
        def test_c(host):
            """C."""
    ''', "hosts:\n  me: {backend: 'local://'}\n")
    pytester.runpytest(inv, "--deploycheck-severity=high").stdout.fnmatch_lines(["*2 passed, 1 deselected*"])
    pytester.runpytest(inv, "-m", "critical").stdout.fnmatch_lines(["*1 passed, 2 deselected*"])
    pytester.runpytest(inv, "-m", "low or critical").stdout.fnmatch_lines(["*2 passed, 1 deselected*"])
    pytester.runpytest(inv, "-k", "demo").stdout.fnmatch_lines(["*3 passed*"])
    result = pytester.runpytest(inv, "--deploycheck-severity=urgent")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_evidence_reaches_the_summary(pytester: pytest.Pytester) -> None:
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "Cores", severity="low")
        def test_cores(host, evidence):
            """C."""
            evidence.record(cores=2, mounts=["/", "/var"])
            require(False, host, "2 cores", ">= 4 cores")
    ''', "hosts:\n  me: {backend: 'local://'}\n")
    reprec = pytester.inline_run(inv)
    summary = reprec.getcalls("pytest_deploycheck_summary")[0].summary
    [result] = summary.results
    assert result.evidence == {"cores": 2, "mounts": ["/", "/var"]}
    assert result.message == "me (local://): 2 cores; expected >= 4 cores"
    assert result.outcome.value == "failed" and result.target == "me" and result.check.section_title == "Demo section"


def test_active_probe_is_not_applicable_unless_enabled(pytester: pytest.Pytester) -> None:
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "Burst", severity="medium")
        @pytest.mark.active_probe
        def test_burst(host):
            """B."""
    ''', "hosts:\n  quiet: {backend: 'local://'}\n  probed: {backend: 'local://', active_probes: true}\n")
    result = pytester.runpytest(inv, "-rA")
    result.stdout.fnmatch_lines(["*1 passed, 1 n/a*"])
    assert "quiet: active probe not enabled; set active_probes: true" in result.stdout.str()


def test_plugin_is_silent_without_inventory_and_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    assert result.ret == 0
    assert "go-live summary" not in result.stdout.str()


def test_testinfra_host_fixture_still_works_without_inventory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(host):\n    assert host.run('true').rc == 0\n")
    result = pytester.runpytest("--hosts=local://")
    result.assert_outcomes(passed=1)


def test_catalog_problem_under_xdist_is_the_same_usage_error(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    inv = catalog(pytester, '''
        @pytest.mark.check("demo-01", "One", severity="high")
        def test_one(host):
            """One."""

        @pytest.mark.check("demo-01", "Same id", severity="low")
        def test_two(host):
            """Two."""
    ''', "hosts:\n  me: {backend: 'local://'}\n")
    result = pytester.runpytest_subprocess(inv, "-n", "2", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: check id demo-01 is used by test_catalog.py::test_one and test_catalog.py::test_two*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
