"""Catalog-wide rules: every check is complete, ids are stable, and the whole list always collects."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from pytest_deploycheck.markers import ID_RE, Severity
from tests.servers.inventory import CHECKS, REPO

ID_REGISTRY = CHECKS / "ids.txt"


@pytest.fixture(scope="module")
def collected() -> str:
    """Collect the whole catalog once against the example inventory (every target kind)."""
    env = {**os.environ, **{v: "example-value" for v in ("PG_PASSWORD", "MYSQL_PASSWORD", "REDIS_PASSWORD", "SMTP_PASSWORD", "API_TEST_USER", "API_TEST_PASSWORD")}}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark",
         f"--inventory={REPO / 'inventories' / 'example.yml'}", str(CHECKS)],
        cwd=REPO, capture_output=True, text=True, check=False, env=env,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.name, ast.parse(p.read_text())) for p in sorted(CHECKS.glob("test_*.py"))]


def _checks() -> list[tuple[str, str, str, str]]:
    """(module, check id, title, severity) for every @pytest.mark.check in the catalog source."""
    found = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "check":
                        args = [a.value for a in deco.args if isinstance(a, ast.Constant)]
                        kwargs = {k.arg: k.value.value for k in deco.keywords if isinstance(k.value, ast.Constant)}
                        found.append((name, str(args[0] if args else kwargs.get("id")), str(args[1] if len(args) > 1 else kwargs.get("title")),
                                      str(kwargs.get("severity") or (args[2] if len(args) > 2 else ""))))
    return found


def test_whole_catalog_collects_against_the_example_inventory(collected: str) -> None:
    """Collection fails (exit 4) on any missing id, severity or rationale, or a duplicate id;
    every check of the source is in the list, for every target of its kind."""
    for module, _cid, _title, _sev in _checks():
        assert f"checks/{module}::" in collected
    assert "test_tls" not in collected or "[shop]" in collected


def test_every_module_is_a_section_with_a_scope() -> None:
    for name, tree in _modules():
        assert ast.get_docstring(tree), f"checks/{name}: the module docstring states the section's scope"
        assigns = [n for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)]
        assert assigns and "section" in ast.unparse(assigns[0].value), f"checks/{name}: pytestmark = pytest.mark.section(...)"


def test_ids_are_literal_well_formed_and_unique() -> None:
    checks = _checks()
    assert checks
    ids = [c[1] for c in checks]
    assert all(ID_RE.match(i) for i in ids), [i for i in ids if not ID_RE.match(i)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_ids_are_never_renumbered_or_reused() -> None:
    """checks/ids.txt lists every id ever issued with its title; an id disappears only by being
    marked retired there, and a retired id is never used again."""
    registry: dict[str, str] = {}
    retired: set[str] = set()
    for line in ID_REGISTRY.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cid, _, rest = line.partition(" ")
        registry[cid] = rest.strip()
        if rest.strip().startswith("RETIRED"):
            retired.add(cid)
    current = {c[1]: c[2] for c in _checks()}
    missing = sorted(set(current) - set(registry))
    assert not missing, f"new ids must be added to checks/ids.txt: {missing}"
    assert not (set(current) & retired), "a retired id was reused"
    vanished = sorted(set(registry) - set(current) - retired)
    assert not vanished, f"ids removed from the catalog must be marked RETIRED in checks/ids.txt: {vanished}"


def test_severities_are_deliberate() -> None:
    """Not everything is critical: a uniform severity tells the reader nothing."""
    counts = Counter(c[3] for c in _checks())
    assert set(counts) <= {s.value for s in Severity}
    total = sum(counts.values())
    assert counts["critical"] <= total * 0.3, counts
    assert len([s for s in counts if counts[s]]) >= 4, counts


def test_every_check_has_a_rationale() -> None:
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = ast.get_docstring(node) or ""
                assert len(doc) >= 40, f"checks/{name}::{node.name}: the docstring is the rationale an auditor reads"


def test_catalog_covers_the_user_checklists() -> None:
    """Items every sample checklist carries have a check (automated or manual)."""
    titles = " ".join(f"{c[0]} {c[2]}".lower() for c in _checks())
    for needle in ("certificate", "hsts", "cors", "rate limit", "redis", "superuser", "backup", "rollback",
                   "signoff", "password", "firewall", "fail2ban", "log rotation", "health", "metrics", "runbook"):
        assert re.search(needle, titles), f"no check title mentions {needle!r}"
