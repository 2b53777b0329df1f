"""The start of a run: every target's reachability at once, then each target's costly facts.

Before the first check, ``Reachability.preflight_all`` connects to all the run's targets
concurrently (a bounded pool): K dead targets cost one timeout, not K timeouts paid in turn.
The first check on a dead target reports the failure as its own error; the others cite it.

* Serial run: the targets of the selected items, in ``pytest_runtestloop`` (after collection
  and deselection), then the prefetch below.
* Under xdist the controller never collects: it checks every inventory target in a thread
  started at ``pytest_sessionstart``, while the workers start and collect, and writes what it
  found to the run's state directory; each worker waits for that record before its first item
  (``Reachability.load_preflight``) and connects to nothing again.

The prefetch (serial runs) then reads, for every live target at once, the fact whose wait
dominates a target's checks: the SSH login and machine identity of a host, the certificate chain
of a TLS endpoint.  A fact read is kept for the checks.  A failure that makes the target unusable
(a refused login, a port that speaks no TLS) is the target's whichever check meets it first: it
is remembered, and the first check reports it as its own, word for word as without a prefetch.
Any other failure (a TLS alert) is a finding: the prefetch forgets it and the check that needs
the fact reads it again and decides, as it would have.  Under xdist each worker reads its
targets' facts as it reaches them: items of one target run on one worker (``distribution.py``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pytest_deploycheck.outcomes import TargetUnreachable
from pytest_deploycheck.state import STATE_KEY, DeploycheckState, runs_nothing, xdist_active
from pytest_deploycheck.targets import BY_NAME, fixture_kinds
from pytest_deploycheck.targets.base import Target
from pytest_deploycheck.targets.reach import PREFLIGHT_WORKERS

#: Most facts read at once by the prefetch.
PREFETCH_WORKERS = 32

_THREAD_KEY = pytest.StashKey[threading.Thread]()


def _skipped(config: pytest.Config) -> bool:
    """Runs that run no check: nothing to connect to."""
    return runs_nothing(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The xdist controller: pre-flight every inventory target while the workers start."""
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.inventory is None or hasattr(config, "workerinput") or not xdist_active(config):
        return
    if state.state_dir is None or _skipped(config):
        return
    targets = list(state.inventory.targets)
    thread = threading.Thread(target=state.reach.preflight_all, args=(targets,), name="deploycheck-preflight", daemon=True)
    thread.start()
    config.stash[_THREAD_KEY] = thread


def pytest_sessionfinish(session: pytest.Session) -> None:
    thread = session.config.stash.get(_THREAD_KEY, None)
    if thread is not None:
        thread.join(timeout=_wait_for(session.config.stash[STATE_KEY]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.inventory is None or not session.items or _skipped(config):
        return
    if hasattr(config, "workerinput"):
        if state.state_dir is not None:
            state.reach.load_preflight(wait=_wait_for(state))
        return
    used = _used_targets(session.items, state)
    state.reach.preflight_all(target for _, target in used)
    prefetch(state, used)


def _wait_for(state: DeploycheckState) -> float:
    """How long the controller's pre-flight can take: one timeout per batch of connects, plus slack."""
    assert state.inventory is not None
    targets = [t for t in state.inventory.targets if t.endpoint is not None]
    if not targets:
        return 10.0
    batches = math.ceil(len(targets) / PREFLIGHT_WORKERS)
    return batches * max(t.timeout for t in targets) + 10.0


def _used_targets(items: Iterable[pytest.Item], state: DeploycheckState) -> list[tuple[str, Target]]:
    """(fixture, target) of every selected item, in first-use order, each once."""
    assert state.inventory is not None
    fixtures = fixture_kinds()
    seen: dict[tuple[str, str, str], tuple[str, Target]] = {}
    by_key = {(t.kind, t.name): t for t in state.inventory.targets}
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        for fixture in fixtures:
            param = callspec.params.get(fixture)
            if isinstance(param, tuple) and len(param) == 2 and (fixture, *param) not in seen:
                target = by_key.get((param[0], param[1]))
                if target is not None:
                    seen[(fixture, param[0], param[1])] = (fixture, target)
    return list(seen.values())


# --------------------------------------------------------------------------- prefetch


def _prefetch_host(state: DeploycheckState, fixture: str, target: Target) -> None:
    handle = state.pool.handle(fixture, target, BY_NAME[target.kind].handle)
    try:
        handle.warm()
    except TargetUnreachable:
        state.reach.defer_report(target)  # the login failed: the host's first check reports it
    except Exception:  # noqa: BLE001 - a fact the check will read itself, and fail on as it would have
        state.pool.discard(fixture, target)


def _prefetch_tls(state: DeploycheckState, fixture: str, target: Target) -> None:
    handle = state.pool.handle(fixture, target, BY_NAME["tls"].handle)
    try:
        handle.peer_certificates()
    except TargetUnreachable:
        # No TLS here at all (a reset, garbage, silence): whichever TLS check came first would
        # have found exactly this and marked the target; the first one reports it as its own.
        state.reach.defer_report(target)
    except Exception:  # noqa: BLE001 - a finding for the checks (a TLS alert): they read it again and decide, as serially
        state.pool.discard(fixture, target)


#: Fixture -> how its handle's costly fact is read ahead (kinds without an entry read nothing ahead).
PREFETCHERS: dict[str, Callable[[DeploycheckState, str, Target], None]] = {
    "host": _prefetch_host,
    "tls_endpoint": _prefetch_tls,
}


def prefetch(state: DeploycheckState, used: list[tuple[str, Target]], workers: int = PREFETCH_WORKERS) -> None:
    """Read every live target's costly fact at once (``PREFETCHERS``), before the first check."""
    jobs = [(PREFETCHERS[fixture], fixture, target) for fixture, target in used
            if fixture in PREFETCHERS and state.reach.failure(target) is None]
    if not jobs:
        return

    def run(job: tuple[Callable[[DeploycheckState, str, Target], None], str, Target]) -> Any:
        work, fixture, target = job
        return work(state, fixture, target)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))), thread_name_prefix="deploycheck-prefetch") as pool:
        list(pool.map(run, jobs))
