"""The PgBouncer catalog (checks/test_pgbouncer.py) against real poolers of the test bed.

``pgbouncer_good`` pools per transaction with a sane client limit and nobody waiting;
``pgbouncer_bad`` pools per session, takes 10,000 clients and has two queued behind the one that
holds its only server connection.  Both are read through their read-only console user.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.targets.pgbouncer import PgbouncerTarget
from pytest_deploycheck.targets.reach import Reachability
from tests.servers.base import LOOPBACK, Instance, SilentListener, free_port
from tests.servers.inventory import environment, run_catalog, write_inventory
from tests.servers.pgbouncer import WAITING_CLIENTS

CATALOG = "test_pgbouncer.py"
CHECK_IDS = ["pgb-01", "pgb-02", "pgb-03"]


def test_catalog_passes_good_and_fails_bad(pytester: pytest.Pytester, pgbouncer_good: Instance, pgbouncer_bad: Instance) -> None:
    run = run_catalog(pytester, CATALOG, targets=[pgbouncer_good, pgbouncer_bad])
    assert {c: run.outcome(c, "pgbouncer-good") for c in CHECK_IDS} == dict.fromkeys(CHECK_IDS, "passed")
    assert {c: run.outcome(c, "pgbouncer-bad") for c in CHECK_IDS} == dict.fromkeys(CHECK_IDS, "failed")
    label = f"pgbouncer-bad (postgresql://dc_monitor@127.0.0.1:{pgbouncer_bad.admin['port']}/pgbouncer)"
    expected = {
        "pgb-01": rf"pool app/app: {WAITING_CLIENTS} clients waiting, the longest for \d+\.\d s \(1 server connections busy\);"
                  r" expected no client waiting for a server connection",
        "pgb-02": r"pool_mode is session; expected pool_mode = transaction \(pgbouncer\.pgbouncer-bad\.pool_mode\)$",
        "pgb-03": r"max_client_conn is 10000; expected at most 5000 \(pgbouncer_max_client_conn\)$",
    }
    for check_id, pattern in expected.items():
        message = run.message(check_id, "pgbouncer-bad")
        assert message.startswith(label + ": "), message
        assert re.search(pattern, message), f"{check_id}: {message}"
    assert run.evidence("pgb-01", "pgbouncer-good")["pools"]["app/app"]["cl_waiting"] == 0
    assert run.evidence("pgb-02", "pgbouncer-good")["pool_mode"] == "transaction"
    assert run.evidence("pgb-03", "pgbouncer-good")["max_client_conn"] == 200
    for result in run.summary.results:
        for password in (*pgbouncer_good.env.values(), *pgbouncer_bad.env.values()):
            assert password not in f"{result.message} {result.evidence}", result.check_id


def test_session_mode_declared(pytester: pytest.Pytester, pgbouncer_bad: Instance) -> None:
    """An application built for session pooling declares it; then session mode passes."""
    declared = Instance(name="pgbouncer-session", kind="pgbouncer", entry={**pgbouncer_bad.entry, "pool_mode": "session"},
                        env=pgbouncer_bad.env, server=None)
    run = run_catalog(pytester, CATALOG, targets=[declared], args=["-k", "pgb-02"])
    assert run.outcome("pgb-02", "pgbouncer-session") == "passed"


def test_handle_sends_show_only(pgbouncer_good: Instance, tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "inventory.yml", [pgbouncer_good])
    with environment(pgbouncer_good.env):
        target = load_inventory(inventory).get("pgbouncer", "pgbouncer-good")
    handle = PgbouncerTarget(target, Reachability())
    try:
        assert handle.settings()["pool_mode"] == "transaction"
        with pytest.raises(ValueError, match="SHOW commands only"):
            handle.query("PAUSE")
        with pytest.raises(ValueError, match="not a SHOW command"):
            handle.show("POOLS; PAUSE")
        # The console user itself may not run admin commands either (stats_users).
        with pytest.raises(psycopg.Error, match="admin access needed"), handle.connect() as conn:
            conn.execute("PAUSE")
        assert handle.show("POOLS")  # the session survives
    finally:
        handle.close()


def test_unreachable_and_silent_poolers_end_as_errors(pytester: pytest.Pytester) -> None:
    with SilentListener() as silent:
        targets = [
            Instance(name=name, kind="pgbouncer", entry={"dsn": f"postgresql://dc_monitor@{LOOPBACK}:{port}/pgbouncer"}, env={}, server=None)
            for name, port in (("pgb-refused", free_port()), ("pgb-silent", silent.port))
        ]
        run = run_catalog(pytester, CATALOG, targets=targets, timeout=1)
        attempts = silent.accepted()
    for name in ("pgb-refused", "pgb-silent"):
        assert {c: run.outcome(c, name) for c in CHECK_IDS} == dict.fromkeys(CHECK_IDS, "error")
    assert "connection refused" in run.message("pgb-01", "pgb-refused")
    assert all("not checked, target unusable since an earlier check" in run.message(c, "pgb-silent") for c in CHECK_IDS[1:])
    assert attempts <= 3, attempts


@pytest.mark.parametrize(("dsn", "fragment"), [
    ("mysql://stats@127.0.0.1:6432/pgbouncer", "pgbouncer.pool.dsn: a pgbouncer target is reached over postgresql:// or postgres://, not mysql://"),
    ("host=127.0.0.1 port=6432 dbname=pgbouncer sslmode=sometimes", "pgbouncer.pool.dsn: sslmode=sometimes is not one libpq knows"),
])
def test_dsn_a_client_would_misread_is_a_usage_error(tmp_path: Path, dsn: str, fragment: str) -> None:
    """The console is reached with libpq as postgres is: the same scheme and parameter rules, at
    load time with file and line, instead of a connect-time error on every check."""
    path = tmp_path / "inv.yml"
    path.write_text(f"pgbouncer:\n  pool: {{dsn: '{dsn}'}}\n")
    with pytest.raises(pytest.UsageError) as raised:
        load_inventory(path, environ={})
    message = str(raised.value)
    assert any(fragment in line and ":2: " in line for line in message.splitlines()), message
