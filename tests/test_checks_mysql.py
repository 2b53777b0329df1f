"""The MySQL/MariaDB catalog (checks/test_mysql.py) against real servers of the test bed.

``mariadb_good`` passes what its least-privileged application account can see (the account
audits are not applicable to it, naming the privilege) and passes them all through an audit
account; ``mariadb_bad`` fails each check it gets wrong.  A port where nothing listens and one
that never answers end every check as an error.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.targets.mysql import MysqlTarget
from pytest_deploycheck.targets.reach import Reachability
from tests.servers.base import LOOPBACK, Instance, SilentListener, free_port
from tests.servers.inventory import environment, run_catalog, write_inventory

CATALOG = "test_mysql.py"
CHECK_IDS = [f"mysql-{n:02d}" for n in range(1, 12)]
ACCOUNT_AUDITS = ("mysql-03", "mysql-04", "mysql-05", "mysql-06")

GOOD = {**dict.fromkeys(CHECK_IDS, "passed"), **dict.fromkeys(ACCOUNT_AUDITS, "n/a")}
BAD = {**dict.fromkeys(CHECK_IDS, "failed"), "mysql-10": "passed", "mysql-11": "passed"}


def with_keys(instance: Instance, name: str | None = None, env: dict[str, str] | None = None, **keys: Any) -> Instance:
    """The same server under another inventory entry (the session fixture still owns and stops it)."""
    return dataclasses.replace(instance, name=name or instance.name, entry={**instance.entry, **keys},
                               env={**instance.env, **(env or {})}, server=None)


def outcomes(run: Any, target: str) -> dict[str, str]:
    return {check_id: run.outcome(check_id, target) for check_id in CHECK_IDS}


def root(instance: Instance) -> pymysql.Connection[pymysql.cursors.Cursor]:
    a = instance.admin
    return pymysql.connect(unix_socket=a["socket"], user=a["user"], password=a["password"], ssl_disabled=True, autocommit=True,
                           connect_timeout=5)


@pytest.fixture
def audit_account(mariadb_good: Instance) -> Iterator[Instance]:
    """A read-only audit account on ``mariadb_good`` (SELECT on the mysql schema, SHOW DATABASES)
    with the application's account named as ``app_user``."""
    password = secrets.token_urlsafe(18)
    with root(mariadb_good) as conn, conn.cursor() as cur:
        cur.execute("CREATE USER 'dc_audit'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        cur.execute("GRANT SELECT ON mysql.* TO 'dc_audit'@'127.0.0.1'")
        cur.execute("GRANT SHOW DATABASES ON *.* TO 'dc_audit'@'127.0.0.1'")
    try:
        yield with_keys(mariadb_good, name="mariadb-audit", env={"DC_MARIADB_AUDIT_PASSWORD": password},
                        dsn=mariadb_good.entry["dsn"].replace("mysql://app@", "mysql://dc_audit@").removesuffix("/app"),
                        password="${DC_MARIADB_AUDIT_PASSWORD}", app_user="app@127.0.0.1")
    finally:
        with root(mariadb_good) as conn, conn.cursor() as cur:
            cur.execute("DROP USER 'dc_audit'@'127.0.0.1'")


# --------------------------------------------------------------------------- good and bad


def test_catalog_passes_good_and_fails_bad(pytester: pytest.Pytester, mariadb_good: Instance, mariadb_bad: Instance) -> None:
    run = run_catalog(pytester, CATALOG, targets=[mariadb_good, mariadb_bad], active_probes=True)
    assert outcomes(run, "mariadb-good") == GOOD
    assert outcomes(run, "mariadb-bad") == BAD

    label = f"mariadb-bad (mysql://app@127.0.0.1:{mariadb_bad.admin['port']}/app)"
    expected_messages = {
        "mysql-01": r"require_secure_transport is OFF \(have_ssl DISABLED\); expected require_secure_transport = ON",
        "mysql-02": r"a login as app@127\.0\.0\.1 over TCP without TLS was accepted; expected the login refused",
        "mysql-03": r"anonymous accounts exist: ''@'localhost'; expected no account with an empty user name",
        "mysql-04": r"accounts without a password: ''@'localhost', 'legacy'@'%'; expected a password on every account",
        "mysql-05": r"root may log in from other hosts: 'root'@'%'; expected root only on localhost",
        "mysql-06": r"database test exists; expected no test database",
        "mysql-07": r"account app@127\.0\.0\.1 holds ALL PRIVILEGES, GRANT OPTION; expected an account without SUPER, FILE, PROCESS",
        "mysql-08": r"local_infile is ON; expected local_infile = OFF",
        "mysql-09": r"slow_query_log is OFF; long_query_time is 10 s; expected slow_query_log = ON, long_query_time <= 2 s",
    }
    for check_id, pattern in expected_messages.items():
        message = run.message(check_id, "mariadb-bad")
        assert message.startswith(label + ": "), message
        assert re.search(pattern, message), f"{check_id}: {message}"

    for check_id in ACCOUNT_AUDITS:
        assert "app@127.0.0.1 lacks" in run.message(check_id, "mariadb-good"), run.message(check_id, "mariadb-good")
    assert run.message("mysql-03", "mariadb-good").startswith("mariadb-good: account app@127.0.0.1 lacks SELECT on mysql.user")
    assert "lacks the SHOW DATABASES privilege" in run.message("mysql-06", "mariadb-good")
    assert run.evidence("mysql-01", "mariadb-good")["this_session_tls"].startswith("TLSv1.")
    assert run.evidence("mysql-02", "mariadb-good")["plain_login"] == "refused"
    assert run.evidence("mysql-07", "mariadb-good")["grants"][1] == "GRANT SELECT, INSERT, UPDATE, DELETE ON `app`.* TO `app`@`127.0.0.1`"
    assert run.evidence("mysql-11", "mariadb-good")["series"] == "10.11"

    # SHOW GRANTS prints the account's password hash: the evidence masks it.
    bad_grants = " ".join(run.evidence("mysql-07", "mariadb-bad")["grants"])
    assert "IDENTIFIED BY PASSWORD '<hash>'" in bad_grants
    assert not re.search(r"\*[0-9A-F]{40}", bad_grants)
    passwords = [value for inst in (mariadb_good, mariadb_bad) for value in inst.env.values()]
    for result in run.summary.results:
        for password in passwords:
            assert password not in result.message, result.check_id
            assert password not in str(result.evidence), result.check_id


def test_audit_account_reads_what_the_application_account_may_not(pytester: pytest.Pytester, audit_account: Instance) -> None:
    other = with_keys(audit_account, name="mariadb-no-such-user", app_user="nobody@%")
    app_dsn = with_keys(audit_account, name="mariadb-app-dsn", dsn=audit_account.entry["dsn"].replace("dc_audit@", "app@") + "/app",
                        password="${DC_MARIADB_GOOD_PASSWORD}", app_user="root@localhost")
    run = run_catalog(pytester, CATALOG, targets=[audit_account, other, app_dsn])
    assert outcomes(run, "mariadb-audit") == {**dict.fromkeys(CHECK_IDS, "passed"), "mysql-02": "n/a"}
    assert "active probe not enabled" in run.message("mysql-02", "mariadb-audit")
    assert run.evidence("mysql-07", "mariadb-audit")["account"] == "app@127.0.0.1"
    assert run.evidence("mysql-04", "mariadb-audit")["locked_accounts"] == ["'mariadb.sys'@'localhost'"]

    assert run.outcome("mysql-07", "mariadb-no-such-user") == "error"
    message = run.message("mysql-07", "mariadb-no-such-user")
    assert "account 'nobody'@'%' does not exist; check mysql.mariadb-no-such-user.app_user" in message, message
    assert run.outcome("mysql-07", "mariadb-app-dsn") == "n/a"
    assert run.message("mysql-07", "mariadb-app-dsn") == (
        "mariadb-app-dsn: account app@127.0.0.1 may not read the grants of 'root'@'localhost': that needs SELECT on the mysql schema")


def test_headroom_and_end_of_life(pytester: pytest.Pytester, mariadb_bad: Instance) -> None:
    """9 of 10 connections in use fail mysql-10; a series with less support left than required fails mysql-11."""
    with root(mariadb_bad) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.max_connections")
        (previous,) = cur.fetchone()  # type: ignore[misc]
        cur.execute("SET GLOBAL max_connections = 10")
    held = [root(mariadb_bad) for _ in range(8)]
    try:
        run = run_catalog(pytester, CATALOG, targets=[mariadb_bad], args=["-k", "mysql-10 or mysql-11"],
                          thresholds={"db_eol_min_days": 36500})
    finally:
        for conn in held:
            conn.close()
        with root(mariadb_bad) as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL max_connections = %s", (previous,))
    assert run.outcome("mysql-10", "mariadb-bad") == "failed"
    message = run.message("mysql-10", "mariadb-bad")
    assert re.search(r": (9|10|11) of 10 connections in use \((9\d|1\d\d)%\); expected below 80% of max_connections$", message), message
    assert run.outcome("mysql-11", "mariadb-bad") == "failed"
    message = run.message("mysql-11", "mariadb-bad")
    assert re.search(r": MariaDB 10\.11 is supported until 2028-02-16 \(\d+ days left\);"
                     r" expected a release series with at least 36500", message), message
    assert len(run.summary.results) == 2


# --------------------------------------------------------------------------- the handle, dead targets


def _handle(instance: Instance, tmp_path: Path, **keys: Any) -> MysqlTarget:
    inventory = write_inventory(tmp_path / "inventory.yml", [with_keys(instance, **keys)])
    with environment(instance.env):
        target = load_inventory(inventory).get("mysql", instance.name)
    return MysqlTarget(target, Reachability())


def test_session_is_read_only_with_a_statement_timeout(mariadb_good: Instance, tmp_path: Path) -> None:
    handle = _handle(mariadb_good, tmp_path)
    try:
        assert handle.value("SELECT @@SESSION.tx_read_only") == 1
        assert handle.value("SELECT @@SESSION.max_statement_time") == pytest.approx(handle.timeout)
        # The application account may INSERT; the session refuses the write all the same.
        with pytest.raises(pymysql.err.MySQLError, match="READ ONLY"):
            handle.query("INSERT INTO customers (email) VALUES ('must-not-exist@example.com')")
        with pytest.raises(pymysql.err.MySQLError) as denied:
            handle.query("SELECT User FROM mysql.user")
        assert denied.value.args[0] == 1142
        assert handle.value("SELECT 1") == 1  # neither error made the target unusable
        assert handle.reach.failure(handle.target) is None
    finally:
        handle.close()


@pytest.mark.parametrize(("mode", "verify", "hostname"), [
    ("VERIFY_IDENTITY", ssl.CERT_REQUIRED, True), ("VERIFY_CA", ssl.CERT_REQUIRED, False), ("REQUIRED", ssl.CERT_NONE, False)])
def test_ssl_mode_from_the_dsn(mariadb_good: Instance, tmp_path: Path, mode: str, verify: ssl.VerifyMode, hostname: bool) -> None:
    handle = _handle(mariadb_good, tmp_path, dsn=f"{mariadb_good.entry['dsn']}?ssl-mode={mode}")
    context = handle.connect_args()["ssl"]
    assert (context.verify_mode, context.check_hostname) == (verify, hostname)
    try:
        version = handle.value("SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'")
        assert str(version).startswith("TLSv1.")
    finally:
        handle.close()
    assert _handle(mariadb_good, tmp_path, dsn=f"{mariadb_good.entry['dsn']}?ssl-mode=DISABLED").connect_args()["ssl_disabled"] is True


def test_unreachable_and_silent_servers_end_as_errors(pytester: pytest.Pytester) -> None:
    with SilentListener() as silent:
        targets = [
            Instance(name=name, kind="mysql", entry={"dsn": f"mysql://app@{LOOPBACK}:{port}/app"}, env={}, server=None)
            for name, port in (("mysql-refused", free_port()), ("mysql-silent", silent.port))
        ]
        run = run_catalog(pytester, CATALOG, targets=targets, timeout=1, active_probes=True)
        attempts = silent.accepted()
    assert outcomes(run, "mysql-refused") == dict.fromkeys(CHECK_IDS, "error")
    assert outcomes(run, "mysql-silent") == dict.fromkeys(CHECK_IDS, "error")
    assert "connection refused" in run.message("mysql-01", "mysql-refused")
    assert "timed out" in run.message("mysql-01", "mysql-silent")
    assert all("not checked, target unusable since an earlier check" in run.message(c, "mysql-silent") for c in CHECK_IDS[1:])
    assert attempts <= 3, attempts

