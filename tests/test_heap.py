"""A go-live run keeps what it collected out of the cyclic collector's view while it runs
(``pytest_deploycheck/heap.py``) and hands the heap back when it ends."""

from __future__ import annotations

import gc
import json

import pytest

from pytest_deploycheck import heap

CATALOG = '''
import gc, json
import pytest
pytestmark = pytest.mark.section("hp", "Heap")
SEEN = []

@pytest.mark.parametrize("n", range(6))
@pytest.mark.check("hp-01", "Frozen", severity="high")
def test_frozen(files, n):
    """Records how much of the heap is frozen."""
    SEEN.append(gc.get_freeze_count())
    with open("frozen.json", "w") as fh:
        json.dump(SEEN, fh)
'''


def test_the_collected_run_is_frozen_while_it_runs_and_thawed_after(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "REFREEZE_EVERY", 2)
    freezes: list[int] = []
    freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: (freezes.append(1), freeze())[1])
    pytester.makepyfile(test_catalog=CATALOG)
    (pytester.path / "inv.yml").write_text("files:\n  here: {path: .}\n")
    before = gc.get_freeze_count()
    result = pytester.runpytest_inprocess("--inventory=inv.yml", "--deploycheck-catalog=none", "-p", "no:benchmark")
    assert result.ret == 0
    seen = json.loads((pytester.path / "frozen.json").read_text())
    assert seen[0] > 0  # frozen once collection was done
    # and again after every REFREEZE_EVERY finished items (6 items: 3 times).  Not judged by the count:
    # in a process that ran other tests, objects frozen earlier are freed meanwhile and leave it.
    assert len(freezes) == 1 + 3
    assert gc.get_freeze_count() == before  # handed back: this process goes on


def test_a_project_run_without_inventory_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain='''
import gc
def test_plain():
    assert gc.get_freeze_count() == 0
''')
    assert pytester.runpytest_inprocess("-p", "no:benchmark").ret == 0
