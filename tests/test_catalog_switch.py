"""The shipped catalog in any folder: --deploycheck-catalog, the listing, pytest's cache, testinfra's
options, runs that decide nothing, -o values, connection strings from the environment, and the
example files under inventories/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_deploycheck.governance.attestations import load_attestations
from pytest_deploycheck.governance.waivers import load_waivers
from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.redact import Redactor
from tests.servers.inventory import REPO

OWN_TEST = '''
def test_own_smoke():
    assert True
'''


@pytest.fixture
def team(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A team's folder: its own test, and an inventory naming only a files target (no README in it)."""
    monkeypatch.delenv("DEPLOYCHECK_CATALOG", raising=False)  # the suite turns the catalog off for inner runs
    pytester.makepyfile(test_own=OWN_TEST)
    (pytester.path / "repo").mkdir()
    (pytester.path / "inv.yml").write_text("name: team\nfiles:\n  repo:\n    path: repo\n")
    return pytester


def report(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, str]]:
    out = pytester.path / "out.json"
    result = pytester.runpytest("--inventory=inv.yml", f"--deploycheck-json={out}", *args)
    doc = json.loads(out.read_text())
    return result, {r["key"]: r["outcome"] for r in doc["results"]}


def test_catalog_runs_by_default_beside_the_teams_own_tests(team: pytest.Pytester) -> None:
    result, outcomes = report(team)
    assert outcomes["doc-01@repo"] == "failed"  # the runbook check of the shipped catalog ran on the files target
    assert {cid.split("-")[0] for cid in outcomes} >= {"doc", "tls", "pg", "redis", "ssh"}
    assert result.parseoutcomes()["passed"] == 1  # the team's own test, beside the catalog
    assert "VERDICT: NO-GO" in result.stdout.str()


def test_catalog_none_runs_only_the_teams_own(team: pytest.Pytester) -> None:
    result = team.runpytest("--inventory=inv.yml", "--deploycheck-catalog=none")
    result.assert_outcomes(passed=1)


def test_catalog_sections_and_a_wrong_name(team: pytest.Pytester) -> None:
    _, outcomes = report(team, "--deploycheck-catalog=documentation,recovery")
    assert {cid.split("-")[0] for cid in outcomes} == {"doc", "dr"}
    wrong = team.runpytest("--inventory=inv.yml", "--deploycheck-catalog=documentaton")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    wrong.stderr.fnmatch_lines(["*--deploycheck-catalog: no catalog section documentaton; the sections are *documentation*"])
    bad = team.runpytest("--inventory=inv.yml", "--deploycheck-catalog=tls;pg")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*expected all, none or section names separated by commas*"])


def test_a_catalog_module_named_on_the_command_line_runs_alone(team: pytest.Pytester) -> None:
    _, outcomes = report(team, str(REPO / "checks" / "test_documentation.py"))
    assert outcomes and {cid.split("-")[0] for cid in outcomes} == {"doc"}


def test_switch_from_environment_and_ini(team: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYCHECK_CATALOG", "none")
    team.runpytest("--inventory=inv.yml").assert_outcomes(passed=1)
    monkeypatch.delenv("DEPLOYCHECK_CATALOG")
    team.makeini("[pytest]\ndeploycheck_catalog = none\n")
    team.runpytest("--inventory=inv.yml").assert_outcomes(passed=1)


def test_list_needs_no_inventory_in_an_empty_folder(team: pytest.Pytester) -> None:
    (team.path / "test_own.py").unlink()
    text = team.runpytest("--deploycheck-list")
    assert text.ret == 0
    lines = text.stdout.str()
    assert "tls-01" in lines and "manual" in lines and "active probe" in lines
    listed = json.loads(team.runpytest("--deploycheck-list=json", "-q", "--no-header").stdout.str().split("\n\n")[0].strip()
                        .split("\n=")[0])
    ids = {c["id"] for c in listed["checks"]}
    assert {"tls-01", "doc-01", "pg-01"} <= ids
    assert all(set(c) >= {"id", "severity", "section", "title", "target_kinds", "active_probe", "manual"} for c in listed["checks"])
    md = team.runpytest("--deploycheck-list=md").stdout.str()
    assert "| id | severity | section | title | targets | kind |" in md


def test_list_of_a_checklist_shows_its_warnings(team: pytest.Pytester) -> None:
    team.makefile(".md", launch="# Launch\n## Steps\n1. Confirm the release\n## Web\n- [ ] HSTS enabled\n")
    text = team.runpytest("--deploycheck-list", "--deploycheck-checklist=launch.md")
    assert text.ret == 0
    text.stdout.fnmatch_lines(["launch.md:5: HSTS enabled", "*-> http-02*",
                               "warning: *launch.md:3: 1 list line without a task box, in sections with no other item, not read "
                               "as items (line 3 'Steps': 1)*"])
    listed = json.loads(team.runpytest("--deploycheck-list=json", "--deploycheck-checklist=launch.md", "-q", "--no-header")
                        .stdout.str().split("\n\n")[0].strip().split("\n=")[0])
    assert [w.split(": ", 1)[1][:12] for w in listed["warnings"]] == ["1 list line "]


def test_last_failed_reruns_catalog_failures_with_the_teams_own(team: pytest.Pytester) -> None:
    """pytest's cache works on a catalog run; the catalog's folder is outside the rootdir, as in a wheel."""
    team.makepyfile(test_own="def test_own_smoke():\n    assert False\n")
    first = team.runpytest("--inventory=inv.yml")
    failed = first.parseoutcomes()["failed"]
    assert failed > 2
    again = team.runpytest("--inventory=inv.yml", "--lf")
    assert again.parseoutcomes() == {"failed": failed}  # every failure again (pytest alone would rerun only the team's), nothing else
    team.runpytest("--inventory=inv.yml", "--ff").stdout.fnmatch_lines(["*run-last-failure: rerun previous*"])
    stepwise = team.runpytest("--inventory=inv.yml", "--sw")
    assert stepwise.parseoutcomes()["failed"] == 1


@pytest.mark.parametrize(("option", "fix"), [
    ("--hosts=local://", "--hosts: pytest-testinfra's option is not used with --inventory; name the hosts in the inventory's hosts section"),
    ("--sudo", "--sudo: pytest-testinfra's option is not used with --inventory; set sudo: true on the inventory's hosts"),
    ("--ssh-identity-file=key", "--ssh-identity-file: * set ssh_identity_file on the inventory's hosts"),
    ("--ansible-inventory=hosts.ini", "--ansible-inventory: * name it in the inventory: ansible: {inventory: PATH}"),
    ("--connection=ssh", "--connection: * set each host's backend in the inventory*"),
    ("--ssh-config=cfg", "--ssh-config: * set ssh_config on the inventory's hosts"),
])
def test_testinfra_options_with_an_inventory_are_refused(team: pytest.Pytester, option: str, fix: str) -> None:
    result = team.runpytest("--inventory=inv.yml", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{fix}*"])


def test_testinfra_options_without_an_inventory_still_work(team: pytest.Pytester) -> None:
    team.makepyfile(test_own="def test_host(host):\n    assert host.run('true').rc == 0\n")
    team.runpytest("--hosts=local://").assert_outcomes(passed=1)


@pytest.mark.parametrize("option", ["--fixtures", "--fixtures-per-test", "--collect-only", "--setup-plan"])
def test_runs_that_run_nothing_give_no_verdict(team: pytest.Pytester, option: str) -> None:
    result = team.runpytest("--inventory=inv.yml", option)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    assert "VERDICT" not in result.stdout.str()
    assert "gate (--deploycheck-fail-on" not in result.stdout.str()


def test_bad_override_is_blamed_on_the_command_line(team: pytest.Pytester) -> None:
    team.makeini("[pytest]\ndeploycheck_fail_on = high\n")
    result = team.runpytest("--inventory=inv.yml", "-o", "deploycheck_fail_on=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*-o deploycheck_fail_on=... on the command line: fail-on policy must be one of*"])
    assert "tox.ini" not in result.stderr.str() and "pyproject" not in result.stderr.str()


# --------------------------------------------------------------------------- connection strings


def _load(tmp_path: Path, body: str, env: dict[str, str]) -> tuple[object, Redactor]:
    path = tmp_path / "inv.yml"
    path.write_text(body)
    redactor = Redactor()
    return load_inventory(path, environ=env, redactor=redactor), redactor


@pytest.mark.parametrize(("body", "env", "secret"), [
    ("postgres:\n  db: {dsn: '${DATABASE_URL}'}\n", {"DATABASE_URL": "postgresql://app:Pg-s3cret-1@127.0.0.1:5432/app"}, "Pg-s3cret-1"),
    ("redis:\n  cache: {url: '${REDIS_URL}'}\n", {"REDIS_URL": "redis://:Rd-s3cret-2@127.0.0.1:6379/0"}, "Rd-s3cret-2"),
    ("mysql:\n  db: {dsn: '${DATABASE_URL}'}\n", {"DATABASE_URL": "mysql://app:My-s3cret-3@127.0.0.1:3306/app"}, "My-s3cret-3"),
    ("postgres:\n  db: {dsn: 'postgresql://app:${PGPW}@127.0.0.1/app'}\n", {"PGPW": "Pg-s3cret-4"}, "Pg-s3cret-4"),
    ("postgres:\n  db: {dsn: '${DSN}'}\n", {"DSN": "host=127.0.0.1 user=app password=Kv-s3cret-5 dbname=app"}, "Kv-s3cret-5"),
])
def test_a_connection_string_from_the_environment_may_hold_the_password(tmp_path: Path, body: str, env: dict[str, str], secret: str) -> None:
    inventory, redactor = _load(tmp_path, body, env)
    target = inventory.targets[0]  # type: ignore[attr-defined]
    assert secret not in target.label
    assert redactor.redact(f"connect failed for {env[next(iter(env))]} ({secret})").count(secret) == 0


@pytest.mark.parametrize("body", [
    "postgres:\n  db: {dsn: 'postgresql://app:hunter2@127.0.0.1/app'}\n",
    "redis:\n  cache: {url: 'redis://:hunter2@127.0.0.1:6379/0'}\n",
    "postgres:\n  db: {dsn: 'host=127.0.0.1 password=hunter2'}\n",
    "postgres:\n  db: {dsn: '${DATABASE_URL:-postgresql://app:hunter2@127.0.0.1/app}'}\n",
])
def test_a_password_written_in_the_file_is_refused(tmp_path: Path, body: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        _load(tmp_path, body, {})
    message = str(info.value)
    assert "holds a password written in the file; take the whole value from the environment" in message
    assert "hunter2" not in message


def test_a_dsn_password_reaches_the_server(tmp_path: Path) -> None:
    """MySQL's handle takes the DSN's password when there is no password key (``dsn: ${DATABASE_URL}``)."""
    from pytest_deploycheck.targets.mysql import MysqlTarget
    from pytest_deploycheck.targets.reach import Reachability

    inventory, _ = _load(tmp_path, "mysql:\n  db: {dsn: '${DATABASE_URL}'}\n", {"DATABASE_URL": "mysql://app:p%40ss@127.0.0.1:3306/app"})
    handle = MysqlTarget(inventory.targets[0], Reachability(None))  # type: ignore[attr-defined]
    assert handle.connect_args()["password"] == "p@ss"


# --------------------------------------------------------------------------- example files


def test_example_files_under_inventories_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = REPO / "inventories"
    for var in ("PG_PASSWORD", "MYSQL_PASSWORD", "REDIS_PASSWORD", "SMTP_PASSWORD", "API_TEST_USER", "API_TEST_PASSWORD"):
        monkeypatch.setenv(var, "example-value")
    assert load_inventory(folder / "example.yml").targets
    assert load_inventory(folder / "localhost.yml").targets
    assert {a.check for a, _ in load_attestations(folder / "attestations.example.yml").entries} == {"signoff-02", "dr-05"}
    assert [w.id for w in load_waivers(folder / "waivers.example.yml").waivers] == ["RISK-2026-014"]
    if os.environ.get("CI") or _has_ansible():
        names = {t.name for t in load_inventory(folder / "ansible.example.yml").targets}
        assert names == {"web1.example.com", "web2.example.com", "db1.example.com"}


def _has_ansible() -> bool:
    import importlib.util

    return importlib.util.find_spec("ansible") is not None
