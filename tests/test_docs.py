"""The README's reference tables are generated from the code: they must be up to date."""

from __future__ import annotations

from pytest_deploycheck.docs import BLOCKS, render
from tests.servers.inventory import REPO


def test_readme_reference_tables_are_current() -> None:
    text = (REPO / "README.md").read_text()
    for name in BLOCKS:
        assert f"<!-- generated:{name} -->" in text, f"README.md lacks the generated block {name}"
    assert render(text) == text, "README.md is stale: run `python -m pytest_deploycheck.docs README.md`"
