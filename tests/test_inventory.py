"""Inventory loading: every error class ends in one UsageError line with file, line, key path and fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

CHECK = '''
import pytest
pytestmark = pytest.mark.section("demo", "Demo")

@pytest.mark.check("demo-01", "Host answers", severity="high")
def test_host(host):
    """A host runs commands."""
'''


def run_with(pytester: pytest.Pytester, inventory: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_demo=CHECK)
    path = pytester.path / "inv.yml"
    path.write_text(textwrap.dedent(inventory))
    return pytester.runpytest(f"--inventory={path}", *args)


def usage_lines(result: pytest.RunResult) -> list[str]:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    text = result.stderr.str()
    assert "Traceback" not in text + result.stdout.str()
    return [line for line in text.splitlines() if "inv.yml" in line]


def test_valid_inventory_runs_and_reports_header(pytester: pytest.Pytester) -> None:
    result = run_with(pytester, """
        name: prod
        hosts:
          me: {backend: "local://", roles: [app]}
    """)
    result.stdout.fnmatch_lines(["deploycheck: inventory prod (*sha256 *): 1 hosts*", "*VERDICT: GO*"])
    assert result.ret == 0


@pytest.mark.parametrize(("inventory", "expected"), [
    ("hosts:\n  me: {backend: 'local://', colour: red}\n", "inv.yml:2: hosts.me.colour: unknown key"),
    ("hosts:\n  me: {backend: 'local://', roles: admin}\n", "inv.yml:2: hosts.me.roles: expected a list, got a string"),
    ("postgres:\n  main:\n    dsn: [a, b]\n", "inv.yml:3: postgres.main.dsn: expected a string, got a list"),
    ("mongodb:\n  x: {}\n", "inv.yml:1: mongodb: unknown key"),
    ("hosts:\n  me: {backend: 'local://'\n", "YAML syntax error"),
    ("redis:\n  cache:\n    url: redis://127.0.0.1:6379/0\n    password: ${DC_NOT_SET_ANYWHERE}\n",
     "inv.yml:4: redis.cache.password: environment variable DC_NOT_SET_ANYWHERE is not set; export it or write ${DC_NOT_SET_ANYWHERE:-default}"),
    ("hosts:\n  me: {backend: 'telnet://box'}\n", "inv.yml:2: hosts.me.backend: unknown testinfra backend 'telnet'"),
    ("hosts:\n  me: {}\n", "inv.yml:2: hosts.me.backend: required key missing"),
    ("thresholds:\n  cert_min_dayz: 3\n", "inv.yml:2: thresholds.cert_min_dayz: unknown threshold; did you mean 'cert_min_days'?"),
    ("timeout: 0\n", "inv.yml:1: timeout: a timeout must be greater than 0 seconds"),
    ("http:\n  api: {url: 'https://a.example', ca_bundle: missing.pem}\n", "inv.yml:2: http.api.ca_bundle: missing.pem: no such file or directory"),
    ("postgres:\n  db: {dsn: 'postgresql://app:hunter2@db/app'}\n", "postgres.db.dsn: holds a password written in the file; take the whole value from the environment (dsn: ${VAR}) or move the password to the password key"),
    ("hosts:\n  me: {backend: 'ssh://root:pw@box'}\n", "a password in an ssh:// URL would go on a command line"),
    ("hosts:\n  me: {backend: 'local://'}\n  me: {backend: 'local://'}\n", "inv.yml:3: hosts.me: duplicate key"),
    ("hosts:\n  me: {backend: 'local://'}\nhttp:\n  me: {url: 'https://a.example'}\n", "http.me: name already used by hosts.me"),
    ("[1, 2]\n", "expected a mapping of settings and target kinds at the top level, got a list"),
    ("", "the inventory is empty"),
])
def test_each_error_class_is_one_line_with_place_and_fix(pytester: pytest.Pytester, inventory: str, expected: str) -> None:
    result = run_with(pytester, inventory)
    lines = usage_lines(result)
    assert any(expected in line for line in lines), lines


def test_all_problems_of_a_file_in_one_message(pytester: pytest.Pytester) -> None:
    result = run_with(pytester, """
        timeout: fast
        hosts:
          me: {backend: "local://", colour: red}
        postgres:
          db: {dsn: 5}
    """)
    lines = usage_lines(result)
    assert "3 problems in inventory" in result.stderr.str()
    assert [line.split(": ")[1] for line in lines if line.startswith("inv.yml:")] == ["timeout", "hosts.me.colour", "postgres.db.dsn"]


def test_missing_inventory_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=CHECK)
    result = pytester.runpytest("--inventory=nowhere.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: nowhere.yml: inventory file not found; check the path given to --inventory*"])


def test_catalog_without_inventory_says_how_to_give_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=CHECK)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: these checks need an inventory: pass --inventory=PATH*inventories/localhost.yml"])


def test_inventory_from_environment_and_ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_demo=CHECK)
    (pytester.path / "inv.yml").write_text("name: from-env\nhosts:\n  me: {backend: 'local://'}\n")
    (pytester.path / "other.yml").write_text("name: from-ini\nhosts:\n  me: {backend: 'local://'}\n")
    pytester.makeini("[pytest]\ndeploycheck_inventory = other.yml\n")
    assert "inventory from-ini" in pytester.runpytest().stdout.str()
    monkeypatch.setenv("DEPLOYCHECK_INVENTORY", "inv.yml")
    assert "inventory from-env" in pytester.runpytest().stdout.str()
    assert "inventory from-ini" in pytester.runpytest("--inventory=other.yml").stdout.str()


def test_bad_option_value_from_environment_is_a_usage_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_demo=CHECK)
    monkeypatch.setenv("DEPLOYCHECK_FAIL_ON", "sometimes")
    result = pytester.runpytest("--inventory=x.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: environment variable DEPLOYCHECK_FAIL_ON: fail-on policy must be one of high, medium, low, never*"])


def test_interpolation_defaults_and_escapes(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_deploycheck.inventory import load_inventory
    from pytest_deploycheck.redact import Redactor

    monkeypatch.setenv("DC_TEST_HOST", "db.internal")
    monkeypatch.setenv("DC_TEST_PW", "s3cret-value")
    monkeypatch.delenv("DC_TEST_UNSET", raising=False)
    path = tmp_path / "inv.yml"  # type: ignore[operator]
    path.write_text(
        "timeout: ${DC_TEST_UNSET:-2.5}\n"
        "thresholds: {cert_min_days: 21}\n"
        "postgres:\n"
        "  db:\n"
        "    dsn: postgresql://app@${DC_TEST_HOST}:5432/app\n"
        "    password: ${DC_TEST_PW}\n"
        "    description: costs $$5\n"
        "    thresholds: {connection_usage_max_pct: 70}\n"
    )
    redactor = Redactor()
    inv = load_inventory(path, redactor=redactor)
    db = inv.get("postgres", "db")
    assert inv.timeout == 2.5 and db.timeout == 2.5
    assert db.spec["dsn"] == "postgresql://app@db.internal:5432/app"
    assert db.description == "costs $5"
    assert db.threshold("cert_min_days") == 21 and db.threshold("connection_usage_max_pct") == 70
    assert db.threshold("disk_usage_max_pct") == 80
    assert redactor.redact("pw=s3cret-value host=db.internal") == "pw=*** host=***"


def test_example_inventory_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_deploycheck.inventory import load_inventory
    from tests.servers.inventory import REPO

    for var in ("PG_PASSWORD", "MYSQL_PASSWORD", "REDIS_PASSWORD", "SMTP_PASSWORD", "API_TEST_USER", "API_TEST_PASSWORD"):
        monkeypatch.setenv(var, "example-value")
    inv = load_inventory(REPO / "inventories" / "example.yml")
    assert set(inv.counts()) == {"hosts", "http", "tls", "dns", "smtp", "postgres", "mysql", "redis", "files"}
    assert load_inventory(REPO / "inventories" / "localhost.yml").counts() == {"hosts": 1}


SAMPLES = ["inventories/example.yml", "inventories/attestations.example.yml", "inventories/waivers.example.yml",
           "inventories/ansible.example.yml", "inventories/localhost.yml"]
TRICKY = """\
x-base: &base {timeout: 3, tags: [a, "b c"], when: 2026-01-31}
http:
  one:
    <<: *base
    url: 'https://127.0.0.1:1/'
    paths: {health: /h, "quoted key": "x\\ty"}
    description: |
      two lines,
      kept
  two: {<<: *base, url: "https://127.0.0.1:2/", admin_paths: [/a, /b], n: 0x1F, f: 1.5e3, off: ~}
"""


@pytest.mark.parametrize("name", [*SAMPLES, "tricky"])
def test_libyaml_and_pyyaml_read_a_clean_file_alike(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean file is composed by libyaml when PyYAML has it; the tree, lines included, is the one
    PyYAML's own composer gives (anything not clean always goes to the latter)."""
    from pathlib import Path

    from pytest_deploycheck import yamlfile
    from pytest_deploycheck.redact import Redactor

    if yamlfile._C_LOADER is None:
        pytest.skip("PyYAML without libyaml")
    text = TRICKY if name == "tricky" else (Path(__file__).parent.parent / name).read_text()
    assert yamlfile._compose_clean(text) is not None
    fast = yamlfile.YamlLoader(Path(name), {}, Redactor()).parse(text)
    monkeypatch.setattr(yamlfile, "_C_LOADER", None)
    slow = yamlfile.YamlLoader(Path(name), {}, Redactor()).parse(text)
    assert fast == slow


@pytest.mark.parametrize("text", ["a: !!python/object:os.system x\n", "a: [1, 2\n", "a:\n" + "  " * 0 + "[" * 60 + "]" * 60 + "\n",
                                  "a: 1\x07\n", ""])
def test_what_is_not_clean_is_read_by_pyyaml_alone(text: str) -> None:
    from pytest_deploycheck import yamlfile

    assert yamlfile._compose_clean(text) is None


def test_a_file_with_hundreds_of_problems_lists_the_first_fifty_and_counts_the_rest(tmp_path: Path) -> None:
    """A generated inventory with one mistake per entry: the count, the first problems, where the rest start."""
    from pytest_deploycheck.inventory import load_inventory

    inventory = tmp_path / "inventory.yml"
    inventory.write_text("http:\n" + "".join(f"  site{n}: {{url: 'ftp://site{n}.invalid'}}\n" for n in range(300)))
    with pytest.raises(pytest.UsageError) as raised:
        load_inventory(inventory, environ={})
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("300 problems in inventory ") and len(lines) == 52
    assert ":2: http.site0.url: " in lines[1] and ":51: http.site49.url: " in lines[50]
    assert lines[-1] == "... and 250 more problems like these (lines 52 and after)"


@pytest.mark.parametrize(("entry", "message"), [
    ("sysctl: {'vm swappiness': 1}", r"hosts\.web\.sysctl\.vm swappiness: not a kernel parameter name; write it as sysctl does"),
    ("sysctl: {net.core.somaxconn: '>=lots'}", r"hosts\.web\.sysctl\.net\.core\.somaxconn: '>=lots': a bound takes a whole number"),
    ("sysctl: {vm.swappiness: [1]}", r"hosts\.web\.sysctl\.vm\.swappiness: expected a string or a number"),
    ("backup_copies: ['https://bucket.example/pg/x']", r"hosts\.web\.backup_copies\[0\]: 'https://bucket\.example/pg/x': only s3:// locations"),
    ("backup_copies: ['s3://bucket/*/x']", r"hosts\.web\.backup_copies\[0\]: 's3://bucket/\*/x': a glob only in the object's name"),
    ("s3: {access_key_id: AKIA1}", r"hosts\.web\.s3: give access_key_id and secret_access_key together"),
])
def test_a_host_setting_that_cannot_be_read_is_a_usage_error(tmp_path: Path, entry: str, message: str) -> None:
    from pytest_deploycheck.inventory import load_inventory

    path = tmp_path / "inv.yml"
    path.write_text(f"hosts:\n  web: {{backend: 'local://', {entry}}}\n")
    with pytest.raises(pytest.UsageError, match=r"inv\.yml:2: " + message):
        load_inventory(path, environ={})


def test_a_scheduled_job_pattern_that_is_no_regular_expression_is_a_usage_error(tmp_path: Path) -> None:
    from pytest_deploycheck.inventory import load_inventory

    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n  web: {backend: 'local://', scheduled_jobs: ['backup(']}\n")
    with pytest.raises(pytest.UsageError, match=r"inv\.yml:2: hosts\.web\.scheduled_jobs\[0\]: 'backup\(' is not a regular expression"):
        load_inventory(path, environ={})
