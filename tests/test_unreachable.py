"""A dead target costs one timeout for the whole run; its other checks end at once as errors.

Two kinds of dead: a port that refuses (nothing listens) and a port that drops (a listening
socket on 127.0.0.1 whose accept backlog is full, so further SYNs go unanswered).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.servers import hostile
from tests.servers.base import LOOPBACK, free_port

CHECKS = "\n".join(f'''
@pytest.mark.check("dead-{n:02d}", "Check {n}", severity="high")
def test_check_{n}(http_endpoint):
    """Asks the target something."""
    http_endpoint.get("/health")
''' for n in range(1, 11))

RECORDER = '''
import json
from pytest_deploycheck.state import STATE_KEY

def pytest_sessionfinish(session):
    state = session.config.stash[STATE_KEY]
    with open("attempts.json", "w") as fh:
        json.dump(state.reach.connect_attempts, fh)
'''

MESSAGES = '''
import json

def pytest_deploycheck_summary(config, summary):
    with open("messages.json", "w") as fh:
        json.dump([r.message for r in summary.results], fh)
'''


@pytest.fixture
def dropping_port() -> Iterator[int]:
    listener, fillers = hostile.black_hole()  # the accept queue is full: later SYNs are dropped, never refused
    port = int(listener.getsockname()[1])
    with pytest.raises(TimeoutError):
        socket.create_connection((LOOPBACK, port), timeout=0.3).close()
    yield port
    for sock in [*fillers, listener]:
        sock.close()


def test_dead_targets_cost_one_connection_attempt_each(pytester: pytest.Pytester, dropping_port: int) -> None:
    refused = free_port()
    pytester.makepyfile(test_catalog="import pytest\npytestmark = pytest.mark.section('dead', 'Dead')\n" + CHECKS)
    pytester.makeconftest(RECORDER)
    (pytester.path / "inv.yml").write_text(
        "timeout: 1\nhttp:\n"
        f"  refusing: {{url: 'http://{LOOPBACK}:{refused}'}}\n"
        f"  dropping: {{url: 'http://{LOOPBACK}:{dropping_port}'}}\n"
    )
    reprec = pytester.inline_run("--inventory=inv.yml")
    summary = reprec.getcalls("pytest_deploycheck_summary")[0].summary
    assert len(summary.results) == 20
    assert {r.outcome.value for r in summary.results} == {"error"}
    for target, first in (("refusing", "connection refused"), ("dropping", "timed out after 1s")):
        messages = [r.message for r in summary.results if r.target == target]
        port = refused if target == "refusing" else dropping_port
        assert sum(m == f"{target} (http://{LOOPBACK}:{port}): cannot connect to {LOOPBACK}:{port}: {first}" for m in messages) == 1
        assert sum("not checked, target unusable since an earlier check" in m and first in m for m in messages) == 9
    attempts = json.loads((pytester.path / "attempts.json").read_text())
    assert attempts == {"http.refusing": 1, "http.dropping": 1}
    assert summary.verdict.level.value == "NO-GO"


def test_dead_target_under_xdist_is_shared_between_workers(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    refused = free_port()
    pytester.makepyfile(test_catalog="import pytest\npytestmark = pytest.mark.section('dead', 'Dead')\n" + CHECKS)
    (pytester.path / "inv.yml").write_text(f"timeout: 1\nhttp:\n  refusing: {{url: 'http://{LOOPBACK}:{refused}'}}\n")
    pytester.makeconftest(MESSAGES)
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "-n", "2", "-p", "no:benchmark")
    result.stdout.fnmatch_lines(["*10 errors*"])
    messages = json.loads((pytester.path / "messages.json").read_text())
    first = [m for m in messages if "not checked" not in m]
    # Each worker may find the target dead once before it reads the other's note; never more.
    assert 1 <= len(first) <= 2, messages
    assert all("connection refused" in m for m in messages)


def test_name_lookup_is_bounded_by_the_timeout() -> None:
    """The system resolver has no timeout: a lookup that hangs still costs one target timeout.
    (The hanging resolver is a stand-in function: no real DNS server may be asked from here.)"""
    import threading

    from pytest_deploycheck.targets.reach import resolve

    assert any(info[4][0] == LOOPBACK for info in resolve("localhost", 80, 2.0))
    release = threading.Event()

    def hanging_lookup(*args: object) -> list[object]:
        release.wait(30)
        return []

    try:
        with pytest.raises(TimeoutError, match=r"name lookup of db\.internal timed out after 0\.2s"):
            resolve("db.internal", 5432, 0.2, lookup=hanging_lookup)
    finally:
        release.set()

