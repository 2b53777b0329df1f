"""The cyclic garbage collector's share of a go-live run, kept small.

A fleet's run holds tens of thousands of collected items, their markers and parameters for the
whole session.  Python's collector walks all of them again at every full collection while the
checks run, and once more while the interpreter shuts down: on 200 http targets (4,400 items)
that was 0.3 s during the run and 0.5-0.8 s at exit, in each process of an xdist run, the
controller waiting for its workers' exits before its own (``bench/bench_fleet.py``).

So, in a go-live run (an inventory given):

* once collection is done, what exists is moved out of the collector's view (``gc.freeze``):
  objects made by the checks are collected as before, the collected session is not walked again;
  every ``REFREEZE_EVERY`` finished items, what survived them (the reports and results a run
  keeps to its end) is frozen too, after the young garbage is collected (in a worker, and in
  the xdist controller, which collects nothing but receives every report);
* at the very end of the run (the last of pytest's clean-ups) the heap is handed back
  (``gc.unfreeze``), so a pytest run inside a longer-lived process (pytester, an IDE) leaves the
  collector as it found it;
* at interpreter exit, after every ``atexit`` handler registered later has run (files, logging),
  the heap is frozen again: the process's memory is returned whole, without a last walk.

Nothing here changes what a check sees or reports; ``gc.collect()`` still works, and reference
counting frees everything that is not part of a cycle at once, as always.
"""

from __future__ import annotations

import atexit
import gc

import pytest

from pytest_deploycheck.state import STATE_KEY

#: Finished items between two freezes of what survived them.
REFREEZE_EVERY = 1000

_exit_registered = False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    keeper = HeapKeeper(config)
    config.pluginmanager.register(keeper, "deploycheck-heap-keeper")
    # Registered before pytest's own clean-ups, so it runs after them: its check for unraisable
    # exceptions collects the whole heap once more, and skips what is still frozen.
    config.add_cleanup(keeper.thaw)


class HeapKeeper:
    """One run's freezes (a plugin per ``config``: pytester runs one inside another)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.frozen = False
        self.finished = 0

    def _go_live(self) -> bool:
        state = self.config.stash.get(STATE_KEY, None)
        return state is not None and state.inventory is not None

    def pytest_sessionstart(self) -> None:
        if self._go_live():
            _freeze_at_exit()  # every process of the run, the xdist controller too

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self) -> None:
        self._freeze()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.finished += 1
            if self.finished % REFREEZE_EVERY == 0:
                gc.collect(1)  # the young garbage (a failed check's traceback) is freed, not frozen
                self._freeze()

    def _freeze(self) -> None:
        if self._go_live():
            gc.freeze()
            self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            self.frozen = False
            gc.unfreeze()
        if self.config.pluginmanager.is_registered(self):
            self.config.pluginmanager.unregister(self)


def _freeze_at_exit() -> None:
    global _exit_registered
    if not _exit_registered:
        _exit_registered = True
        atexit.register(gc.freeze)
