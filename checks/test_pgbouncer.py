"""PgBouncer: every ``pgbouncer`` target, read through the pooler's admin console.

Each check logs in to the console (database ``pgbouncer``) as the inventory's user, best a
``stats_users`` login that may run ``SHOW`` and nothing else, and sends only ``SHOW POOLS`` and
``SHOW CONFIG``: whether clients queue for a server connection right now, the pool mode, and
the client connection limit.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_deploycheck import require

pytestmark = pytest.mark.section("pgbouncer", "PgBouncer")


def _pools(pgbouncer: Any) -> list[dict[str, Any]]:
    """SHOW POOLS without the console's own pseudo-database."""
    return [row for row in pgbouncer.show("POOLS") if row.get("database") != "pgbouncer"]


@pytest.mark.check("pgb-01", "No clients waiting for a server connection", severity="high",
                   refs=("PgBouncer docs: SHOW POOLS (cl_waiting, maxwait)",),
                   answers=("connection pool not saturated", "no clients waiting in pgbouncer", "pgbouncer pool size sufficient",
                            "connection pooler healthy",
                            "connection_pool|connection_pooling|pool_size|pgbouncer configur|size|sized|limit|tuned? database|postgres|mysql?",
                            "connection pool|pooling", "pgbouncer|pgpool|hikari"))
def test_no_waiting_clients(pgbouncer: Any, evidence: Any) -> None:
    """A client waiting in PgBouncer's queue is a request waiting on nothing but the pool: the
    pool is too small for the load, or sessions hold their server connection while idle.
    Passes when no pool of ``SHOW POOLS`` has a client waiting (``cl_waiting`` 0)."""
    pools = _pools(pgbouncer)
    waiting = [p for p in pools if int(p.get("cl_waiting") or 0) > 0]
    found = [f"pool {p['database']}/{p['user']}: {p['cl_waiting']} clients waiting, the longest for "
             f"{int(p.get('maxwait') or 0) + int(p.get('maxwait_us') or 0) / 1e6:.1f} s ({p.get('sv_active')} server connections busy)"
             for p in waiting]
    evidence.record(pools={f"{p['database']}/{p['user']}": {k: p.get(k) for k in ("cl_active", "cl_waiting", "sv_active", "sv_idle",
                                                                                  "maxwait", "pool_mode")} for p in pools})
    require(not found, pgbouncer, "; ".join(found), "no client waiting for a server connection (cl_waiting 0 in every pool)")


@pytest.mark.check("pgb-02", "Pool mode as the application expects", severity="medium",
                   refs=("PgBouncer docs: pool_mode",),
                   answers=("pgbouncer pool mode", "transaction pooling enabled", "connection pooler configured",
                            "pgbouncer|pooler|pool transaction|session|statement mode|pooling"))
def test_pool_mode(pgbouncer: Any, evidence: Any) -> None:
    """In session mode a client keeps its server connection until it disconnects, so the pooler
    multiplies nothing and an application's idle connections exhaust the server as if there were
    no pooler.  Passes when the default ``pool_mode`` and every pool's own mode is the one the
    target names in ``pool_mode`` (default ``transaction``, what web applications are pooled
    with; set ``session`` for an application that needs session state)."""
    wanted = str(pgbouncer.setting("pool_mode") or "transaction")
    default = pgbouncer.settings().get("pool_mode", "")
    pools = {f"{p['database']}/{p['user']}": str(p.get("pool_mode") or default) for p in _pools(pgbouncer)}
    evidence.record(pool_mode=default, pools=pools, expected=wanted)
    problems = [f"pool_mode is {default}"] if default != wanted else []
    problems += [f"pool {name} runs in {mode} mode" for name, mode in pools.items() if mode != wanted and mode != default]
    require(not problems, pgbouncer, "; ".join(problems), f"pool_mode = {wanted} (pgbouncer.{pgbouncer.name}.pool_mode)")


@pytest.mark.check("pgb-03", "Client connection limit bounded", severity="medium",
                   refs=("PgBouncer docs: max_client_conn",),
                   answers=("pgbouncer max client connections", "connection limits configured", "pooler client limit"))
def test_max_client_conn(pgbouncer: Any, evidence: Any) -> None:
    """Every client connection is a file descriptor of the pooler: a ``max_client_conn`` far
    beyond what the application needs lets a connection leak or a retry storm run into the
    process's descriptor limit, where PgBouncer refuses everyone, instead of being refused at a
    limit someone chose.  Passes when ``max_client_conn`` is at most ``pgbouncer_max_client_conn``."""
    settings = pgbouncer.settings()
    value = int(settings.get("max_client_conn", "0"))
    limit = int(pgbouncer.threshold("pgbouncer_max_client_conn"))
    evidence.record(max_client_conn=value, default_pool_size=settings.get("default_pool_size"), max_db_connections=settings.get(
        "max_db_connections"))
    require(0 < value <= limit, pgbouncer, f"max_client_conn is {value}", f"at most {limit} (pgbouncer_max_client_conn)")
