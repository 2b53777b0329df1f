"""pytest-deploycheck: a go-live checklist as executable infrastructure checks.

The public API for check authors::

    from pytest_deploycheck import require, fail, not_applicable, read_ahead, TargetError
"""

from __future__ import annotations

__version__ = "0.1.0"

from pytest_deploycheck.ahead import read_ahead
from pytest_deploycheck.markers import CheckMeta, Severity
from pytest_deploycheck.outcomes import (
    CheckFailed,
    Evidence,
    NotApplicable,
    Outcome,
    TargetError,
    TargetUnreachable,
    fail,
    not_applicable,
    require,
)

__all__ = [
    "CheckFailed", "CheckMeta", "Evidence", "NotApplicable", "Outcome", "Severity", "TargetError",
    "TargetUnreachable", "__version__", "fail", "not_applicable", "read_ahead", "require",
]
