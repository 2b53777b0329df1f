"""Every target's reachability is checked at the start, at once: K dead targets cost one timeout.

Behaviour, not wall time: the connects all happen before the first check, each target is tried
once, they are in flight together (a barrier that only opens when all of them are), and under
xdist the controller does it once while the workers connect to nothing.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_deploycheck.targets import reach as reach_module
from pytest_deploycheck.targets.reach import Reachability
from tests.servers import hostile
from tests.servers.base import LOOPBACK, free_port

CHECKS = "import pytest\npytestmark = pytest.mark.section('dead', 'Dead')\n" + "\n".join(f'''
@pytest.mark.check("dead-{n:02d}", "Check {n}", severity="high")
def test_check_{n}(http_endpoint):
    """Asks the target something."""
    http_endpoint.get("/health")
''' for n in range(1, 4))

#: Records, at the first check's setup, which targets had been tried already; at the end, the attempts.
RECORDER = '''
import json
from pytest_deploycheck.state import STATE_KEY

SEEN = {}

def pytest_runtest_setup(item):
    if "first" not in SEEN:
        SEEN["first"] = dict(item.config.stash[STATE_KEY].reach.connect_attempts)

def pytest_sessionfinish(session):
    # The worker id from the run itself: this test may run under an outer xdist worker's environment.
    name = getattr(session.config, "workerinput", {}).get("workerid", "main")
    with open(f"attempts-{name}.json", "w") as fh:
        json.dump({"first": SEEN.get("first"), "end": session.config.stash[STATE_KEY].reach.connect_attempts}, fh)
'''

MESSAGES = '''
import json

def pytest_deploycheck_summary(config, summary):
    with open("messages.json", "w") as fh:
        json.dump([[r.target, r.message] for r in summary.results], fh)
'''


@pytest.fixture
def dropping_port() -> Iterator[int]:
    """A port whose accept queue is full: a connect waits for its timeout."""
    listener, fillers = hostile.black_hole()
    yield int(listener.getsockname()[1])
    for sock in [*fillers, listener]:
        sock.close()


def dead_inventory(port: int, k: int, refused: int) -> str:
    lines = ["timeout: 1", "http:"]
    lines += [f"  dead{n:02d}: {{url: 'http://{LOOPBACK}:{port}/{n}'}}" for n in range(k)]
    lines += [f"  refusing: {{url: 'http://{LOOPBACK}:{refused}'}}"]
    return "\n".join(lines) + "\n"


def test_every_target_is_tried_once_before_the_first_check(pytester: pytest.Pytester, dropping_port: int) -> None:
    k = 12
    pytester.makepyfile(test_catalog=CHECKS)
    pytester.makeconftest(RECORDER + MESSAGES)
    (pytester.path / "inv.yml").write_text(dead_inventory(dropping_port, k, free_port()))
    reprec = pytester.inline_run("--inventory=inv.yml", "-p", "no:cacheprovider")
    summary = reprec.getcalls("pytest_deploycheck_summary")[0].summary
    assert {r.outcome.value for r in summary.results} == {"error"}
    record = json.loads((pytester.path / "attempts-main.json").read_text())
    expected = {f"http.dead{n:02d}": 1 for n in range(k)} | {"http.refusing": 1}
    assert record["first"] == expected  # all tried before the first check started
    assert record["end"] == expected  # and never again
    # The first check on each dead target reports the failure as its own; the others cite it.
    messages = json.loads((pytester.path / "messages.json").read_text())
    for target in [f"dead{n:02d}" for n in range(k)] + ["refusing"]:
        own = [m for t, m in messages if t == target]
        assert len(own) == 3
        assert sum("cannot connect to" in m and "not checked" not in m for m in own) == 1, own
        assert sum("not checked, target unusable since an earlier check" in m for m in own) == 2


@dataclass(frozen=True)
class FakeTarget:
    kind: str
    name: str
    endpoint: tuple[str, int] | None
    timeout: float = 1.0

    @property
    def label(self) -> str:
        return self.name


def test_the_connects_are_in_flight_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """A barrier for K parties in the name lookup opens only if all K connects run at once;
    one after another, each would wait for it in vain and fail."""
    k = 40
    barrier = threading.Barrier(k)

    def lookup(host: str, port: int, timeout: float, lookup: Any = None) -> list[Any]:
        barrier.wait(timeout=10)
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)

    monkeypatch.setattr(reach_module, "resolve", lookup)
    refused = free_port()
    reach = Reachability()
    found = reach.preflight_all([FakeTarget("http", f"t{n}", (LOOPBACK, refused)) for n in range(k)])
    assert len(found) == k
    assert all(message.endswith("connection refused") for message in found.values())
    assert reach.connect_attempts == {f"http.t{n}": 1 for n in range(k)}


def test_under_xdist_the_controller_tries_and_the_workers_do_not(pytester: pytest.Pytester, dropping_port: int) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_catalog=CHECKS)
    pytester.makeconftest(RECORDER + MESSAGES)
    (pytester.path / "inv.yml").write_text(dead_inventory(dropping_port, 6, free_port()))
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "-n", "2", "-p", "no:benchmark", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*21 errors*"])
    for worker in ("gw0", "gw1"):
        record = json.loads((pytester.path / f"attempts-{worker}.json").read_text())
        assert record["end"] == {}, record  # the workers took the controller's findings
    messages = json.loads((pytester.path / "messages.json").read_text())
    for target in [f"dead{n:02d}" for n in range(6)] + ["refusing"]:
        own = [m for t, m in messages if t == target]
        # Items of one target run on one worker: one report of the failure, the rest cite it.
        assert sum("not checked" not in m for m in own) == 1, own


@pytest.mark.parametrize("mode", ["--deploycheck-attestation-template=-", "--collect-only", "--deploycheck-list"])
def test_runs_that_run_no_check_contact_no_target(pytester: pytest.Pytester, mode: str) -> None:
    from tests.servers.base import SilentListener

    with SilentListener() as listener:
        pytester.makepyfile(test_x="import pytest\n@pytest.mark.check('x-01', 'X', severity='high')\n"
                                   "def test_x(http_endpoint):\n    '''Reads the page.'''\n    http_endpoint.get('/')\n")
        (pytester.path / "inv.yml").write_text(f"http:\n  silent: {{url: 'http://{LOOPBACK}:{listener.port}'}}\n")
        result = pytester.runpytest("--inventory=inv.yml", "-p", "no:cacheprovider", "--deploycheck-catalog=none", mode)
        assert result.ret == 0, result.stdout.str()
        assert listener.accepted() == 0
