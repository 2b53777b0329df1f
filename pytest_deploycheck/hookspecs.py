"""Hooks that other plugins (and our own report and governance modules) implement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_deploycheck.inventory import Inventory
    from pytest_deploycheck.markers import CheckMeta
    from pytest_deploycheck.reports.summary import RunSummary


@pytest.hookspec(firstresult=True)
def pytest_deploycheck_attestation(config: pytest.Config, check: CheckMeta, target: str | None) -> dict[str, Any] | None:
    """Return the attestation that covers ``check`` on ``target``, or None.

    The dict has at least ``by``, ``role``, ``date`` (ISO), ``evidence``; ``expires`` (ISO)
    when it has one; and ``status``: ``valid``, or ``expired``/``invalid`` with a ``reason``
    (the item then stays pending and the reason is shown).  Called on the worker that ran
    the item, after its automated part passed.

    Example::

        def pytest_deploycheck_attestation(config, check, target):
            if check.id == "gov-01":
                return {"status": "valid", "by": "Ada", "role": "SRE lead", "date": "2026-11-01",
                        "evidence": "CHG-1234", "expires": "2027-02-01"}
    """


@pytest.hookspec(firstresult=True)
def pytest_deploycheck_waiver(config: pytest.Config, check: CheckMeta, target: str | None, message: str) -> dict[str, Any] | None:
    """Return the waiver that accepts this failure, or None.

    The dict has at least ``id``, ``justification``, ``approver``, ``ticket``, ``expires``.
    A returned waiver turns the failure into *waived*: the verdict becomes at best GO WITH RISKS.
    """


@pytest.hookspec
def pytest_deploycheck_inventory_loaded(config: pytest.Config, inventory: Inventory) -> None:
    """Called once per process after the inventory was loaded and validated."""


@pytest.hookspec
def pytest_deploycheck_summary(config: pytest.Config, summary: RunSummary) -> None:
    """Called once, on the controller, with every result and the verdict: report writers
    (HTML, JSON, Markdown checklist) implement this.  Also called for an interrupted run."""


@pytest.hookspec(firstresult=True)
def pytest_deploycheck_verdict(config: pytest.Config, summary: RunSummary) -> Any:
    """Return a ``Verdict`` to replace the built-in decision (a stricter house policy)."""
