"""What a check reads from its target, declared so the start of a run can read it for every target at once.

A check whose wait is one read of its target (the pending package updates of a host, a TLS
ClientHello, the site's front page) names that read with ``@read_ahead``::

    @pytest.mark.check("os-02", "No pending security updates", severity="high")
    @read_ahead(lambda host: hostfacts.sh(host, _APT_PENDING))
    def test_pending_security_updates(host, evidence):
        out = hostfacts.sh(host, _APT_PENDING).stdout  # the answer read ahead, or read now
        ...

The reader takes the check's target handle and calls the same memoized reads the check calls
(``hostfacts.sh`` and every ``host.memo``, ``tls_endpoint.probe``, ``http_endpoint.page``);
what it returns is ignored.  From the start of a serial run (and on an xdist worker, as targets
are handed to it) the readers of the selected checks run in background threads for every live
target (``preflight.ReadAhead``), each target's readers in turn, so different targets' waits
overlap; a target's checks wait for its reads, then find the answers already read and judge them
as they would have.  A reader is only a hint: a check works the same without it.

A read that finds the target unusable (a refused login, no TLS, a dead deadline) is reported by
the target's first check as its own error, as without reading ahead; any other failure is left
for the check to meet again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])
Reader = Callable[[Any], object]

_ATTRIBUTE = "__deploycheck_read_ahead__"


def read_ahead(*readers: Reader) -> Callable[[F], F]:
    """Declare the reads of the check's target worth doing for every target at once (see the module)."""

    def declare(function: F) -> F:
        setattr(function, _ATTRIBUTE, (*getattr(function, _ATTRIBUTE, ()), *readers))
        return function

    return declare


def readers_of(item: pytest.Item) -> tuple[Reader, ...]:
    """The readers the item's check function declares (none for other items)."""
    function = getattr(item, "function", None)
    return tuple(getattr(function, _ATTRIBUTE, ()))
