"""Collection does per-function work once per function, not once per item."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_deploycheck import collection

CATALOG = '''
import pytest
from pytest_deploycheck import require
pytestmark = pytest.mark.section("c", "Collection")

@pytest.mark.check("col-01", "First", severity="high")
def test_first(files):
    """Passes."""

@pytest.mark.check("col-02", "Second", severity="low")
def test_second(files):
    """Passes."""

@pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.manual(instructions="attest two"))])
@pytest.mark.check("col-03", "Param marks", severity="medium")
def test_param(files, n):
    """The second parameter carries its own mark."""
'''


def test_markers_are_evaluated_once_per_function(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = collection.check_meta

    def counting(item: pytest.Item, problems: list[str]) -> Any:
        calls.append(getattr(item, "originalname", item.name))
        return real(item, problems)

    monkeypatch.setattr(collection, "check_meta", counting)
    pytester.makepyfile(test_catalog=CATALOG)
    (pytester.path / "inv.yml").write_text("files:\n" + "".join(f"  t{i:02d}: {{path: .}}\n" for i in range(25)))
    items, _ = pytester.inline_genitems("--inventory=inv.yml", "-p", "no:cacheprovider", "--deploycheck-catalog=none")
    assert len(items) == 25 * 4
    # One evaluation per definition; the parameter with its own mark is a definition of its own.
    assert sorted(calls) == ["test_first", "test_param", "test_param", "test_second"]
    from pytest_deploycheck.state import META_KEY

    metas = {item.nodeid: item.stash[META_KEY] for item in items}
    assert {m.id for m in metas.values()} == {"col-01", "col-02", "col-03"}
    manual = {nodeid: meta.manual for nodeid, meta in metas.items() if meta.id == "col-03"}
    assert sum(manual.values()) == 25 and all(manual[n] == ("-2]" in n or "[2-" in n) for n in manual), manual
    # Every item still carries its severity mark and keywords, for -m and -k.
    assert all(item.get_closest_marker(metas[item.nodeid].severity.value) for item in items)
    assert all("col-01" in item.listextrakeywords() for item in items if metas[item.nodeid].id == "col-01")
