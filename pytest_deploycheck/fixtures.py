"""The fixtures a check asks for: one per target kind, plus evidence, inventory and the rest.

The target fixtures are made from the registry (``targets.KINDS``): each kind's ``fixture``
name, its ``summary`` as the docstring ``pytest --fixtures`` shows, and its ``handle`` class.
``pytest_generate_tests`` (``collection.py``) parametrizes them over the inventory's targets.
A kind with ``host_fixture`` (the ``host`` of pytest-testinfra) goes into ``HOST_FIXTURES``,
which ``plugin.py`` registers only when an inventory is given, so that without one a project's
own testinfra tests keep testinfra's fixture.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from pytest_deploycheck.governance.attestations import Attestation, attestation_for
from pytest_deploycheck.inventory import Inventory
from pytest_deploycheck.markers import CheckMeta
from pytest_deploycheck.outcomes import Evidence, TargetError
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.state import EVIDENCE_KEY, META_KEY, NO_INVENTORY, resolve_target, state_of
from pytest_deploycheck.targets import KINDS
from pytest_deploycheck.targets.base import TargetKind


def _target_fixture(kind: TargetKind) -> Callable[..., Any]:
    def fixture(request: pytest.FixtureRequest) -> Any:
        return state_of(request).pool.handle(kind.fixture, resolve_target(request), kind.handle)

    fixture.__name__ = fixture.__qualname__ = kind.fixture
    fixture.__doc__ = kind.summary
    fixture.__module__ = __name__
    return pytest.fixture(name=kind.fixture)(fixture)


#: The fixtures of kinds that replace another plugin's fixture of the same name; registered by
#: ``plugin.py`` only when an inventory is given.
HOST_FIXTURES = types.ModuleType(f"{__name__}.host_fixtures")

for _kind in KINDS:
    if _kind.host_fixture:
        setattr(HOST_FIXTURES, _kind.fixture, _target_fixture(_kind))
    else:
        globals()[_kind.fixture] = _target_fixture(_kind)


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record what the check observed, for every report: ``evidence.record(days_left=12)``."""
    ev: Evidence = request.node.stash.setdefault(EVIDENCE_KEY, Evidence())
    return ev


@pytest.fixture
def inventory(request: pytest.FixtureRequest) -> Inventory:
    """The loaded inventory (read-only)."""
    inv = state_of(request).inventory
    if inv is None:
        raise TargetError(NO_INVENTORY)
    return inv


@pytest.fixture
def attestation(request: pytest.FixtureRequest) -> Attestation | None:
    """The attestation on file for this manual item (an expired one too), or None, so a check can
    verify what a person attested: ``require(attestation is None or attestation.age_days <= 90, ...)``.
    Fields: ``by``, ``role``, ``date``, ``evidence``, ``expires``, ``source``; ``age_days``, ``expired()``."""
    return attestation_for(request.config, request.node)


@pytest.fixture
def check(request: pytest.FixtureRequest) -> CheckMeta:
    """The running check's metadata (id, title, severity, section, ...)."""
    meta: CheckMeta | None = request.node.stash.get(META_KEY, None)
    if meta is None:
        raise TargetError("the check fixture is for catalog checks with @pytest.mark.check(...)")
    return meta


@pytest.fixture
def redactor(request: pytest.FixtureRequest) -> Redactor:
    """The run's secret masker.  A secret a check obtains at run time (a login's token, a session
    cookie) is not an inventory value; register it and every report shows it as ``***``::

        token = http_endpoint.sign_in().json()["access_token"]
        redactor.add(token)
    """
    return state_of(request).redactor

