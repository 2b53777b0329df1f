"""Migration history tables, read the same way on PostgreSQL and MySQL/MariaDB.

pg-14 and mysql-17 ask one question of the database: is the schema at the head the deployed
code expects?  Each migration tool keeps its history in a table of its own, in its own shape;
this module knows those shapes and judges the rows, so the two checks differ only in how they
find the table and fetch its rows (the SQL dialect).  The rows are read whole (``SELECT *``,
capped) and judged here in Python, which keeps the quoting of the checks' two dialects out of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_deploycheck.lifecycle import version_key
from pytest_deploycheck.yamlfile import Field

#: Most history rows a check reads; a longer history than this is read as its newest part.
MAX_ROWS = 20000


@dataclass(frozen=True)
class Tool:
    """A migration tool: its history table, and whether it keeps a lock table next to it."""

    name: str
    table: str
    locks: bool = False

    def lock_table(self, table: str) -> str | None:
        """knex keeps ``<table>_lock``: 1 while a run holds it, and still 1 after a run that died."""
        return f"{table}_lock" if self.locks else None


TOOLS: dict[str, Tool] = {tool.name: tool for tool in (
    Tool("alembic", "alembic_version"),
    Tool("flyway", "flyway_schema_history"),
    Tool("django", "django_migrations"),
    Tool("knex", "knex_migrations", locks=True),
    Tool("rails", "schema_migrations"),
    Tool("sequelize", "SequelizeMeta"),
    Tool("prisma", "_prisma_migrations"),
    Tool("typeorm", "migrations"),
    Tool("golang-migrate", "schema_migrations"),
)}

#: The inventory key both SQL kinds share: ``migrations: {tool, head, table}``.
MIGRATIONS_FIELD = Field("record", "expected migration head", fields={
    "tool": Field("choice", f"{', '.join(TOOLS)}", choices=tuple(TOOLS)),
    "head": Field("str", "the revision/version the database must be at (alembic: comma-separated heads; django: app.migration, ...)"),
    "table": Field("str", "the migrations table (default: the tool's)"),
})

_SCRIPT = re.compile(r"\.(js|ts|cjs|mjs|sql)$")


class HeadError(ValueError):
    """The inventory's head cannot be read for this tool (``django`` wants ``app.migration``)."""


def judge(tool: str, head: str, rows: Sequence[Mapping[str, Any]],
          lock_rows: Sequence[Mapping[str, Any]] | None = None) -> tuple[Any, list[str]]:
    """(what the history says, problems against ``head``) for ``tool``'s history ``rows``.

    Column names are matched case-insensitively (MySQL may report ``VERSION``).  ``lock_rows``:
    the tool's lock table where it has one and it could be read (knex).
    """
    rows = [{str(k).lower(): v for k, v in row.items()} for row in rows]
    head = head.strip()
    if tool in ("knex", "sequelize"):
        return _by_name(head, rows, lock_rows)
    return _JUDGES[tool](head, rows)


def _alembic(head: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    current = sorted(str(r["version_num"]) for r in rows)
    expected = sorted(h.strip() for h in head.split(",") if h.strip())
    return current, [] if current == expected else [f"is at {', '.join(current) or 'no revision'}"]


def _flyway(head: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    ordered = sorted((r for r in rows if r.get("version") is not None), key=lambda r: int(r["installed_rank"]))
    failed = [str(r["version"]) for r in ordered if not r["success"]]
    applied = [str(r["version"]) for r in ordered if r["success"]]
    current = max(applied, key=version_key) if applied else None
    problems = [f"has failed migrations {', '.join(failed)}"] if failed else []
    if current != head:
        problems.append(f"is at {current or 'no version'}")
    return {"current": current, "failed": failed}, problems


def _by_name(head: str, rows: Sequence[Mapping[str, Any]], lock_rows: Sequence[Mapping[str, Any]] | None) -> tuple[Any, list[str]]:
    """knex and Sequelize: the latest file name (timestamp-prefixed), without its extension."""
    names = [_SCRIPT.sub("", str(r["name"])) for r in rows]
    current = max(names) if names else None
    problems = [] if current == _SCRIPT.sub("", head) else [f"is at {current or 'no migration'}"]
    if any(int(r.get("is_locked") or 0) for r in lock_rows or ()):
        # A run that crashed leaves the lock taken, and the next deploy's migrations wait on it forever.
        problems.append("its lock is held (is_locked = 1): a migration run died or is still running")
    return current, problems


def _typeorm(head: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    """The class name of the newest migration; a head given as digits is its timestamp."""
    ordered = sorted(rows, key=lambda r: int(r["timestamp"]))
    current = str(ordered[-1]["name"]) if ordered else None
    wanted = head if not head.isdigit() else next((str(r["name"]) for r in rows if str(r["timestamp"]) == head), head)
    return current, [] if current == wanted else [f"is at {current or 'no migration'}"]


def _golang_migrate(head: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    """One row: the version, and ``dirty`` when a migration failed half-way."""
    if not rows:
        return None, ["holds no version"]
    version, dirty = str(rows[0]["version"]), bool(rows[0]["dirty"])
    problems = [f"is dirty at version {version} (a migration failed half-way; fix it, then migrate force)"] if dirty else []
    if version not in (head, head.lstrip("0")):
        problems.append(f"is at {version}")
    return {"version": version, "dirty": dirty}, problems


def _rails(head: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    """The highest number in schema_migrations."""
    versions = [str(r["version"]) for r in rows]
    current = max(versions, key=lambda v: (len(v), v)) if versions else None
    return current, [] if current == head else [f"is at {current or 'no version'}"]


def _django(head: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    latest: dict[str, str] = {}
    for r in rows:
        latest[str(r["app"])] = max(latest.get(str(r["app"]), ""), str(r["name"]))
    problems = []
    for item in (h.strip() for h in head.split(",") if h.strip()):
        app, dot, name = item.partition(".")
        if not dot:
            raise HeadError(f"django migration head {item!r} must read app.migration (e.g. orders.0042_add_index)")
        if latest.get(app) != name:
            problems.append(f"app {app} is at {latest.get(app) or 'no migration'}")
    return latest, problems


def _prisma(head: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    """Applied: finished and not rolled back.  Started, neither finished nor rolled back: failed
    (``prisma migrate deploy`` refuses to run until someone resolves it)."""
    applied = sorted(str(r["migration_name"]) for r in rows if r["finished_at"] is not None and r["rolled_back_at"] is None)
    failed = sorted(str(r["migration_name"]) for r in rows if r["finished_at"] is None and r["rolled_back_at"] is None)
    current = applied[-1] if applied else None
    problems = [f"has unfinished (failed) migrations {', '.join(failed)}"] if failed else []
    if current != head:
        problems.append(f"is at {current or 'no migration'}")
    return {"current": current, "failed": failed}, problems


_JUDGES: dict[str, Callable[[str, Sequence[Mapping[str, Any]]], tuple[Any, list[str]]]] = {
    "alembic": _alembic, "flyway": _flyway, "django": _django, "rails": _rails,
    "prisma": _prisma, "typeorm": _typeorm, "golang-migrate": _golang_migrate,
}
