"""The hostile-server matrix: every misbehaviour ends the target's checks as errors, bounded.

Each case points the real catalog at one hostile server (``tests/servers/hostile.py``) and
asserts, never by wall time:

- the outcome class: nothing passes (a refusal that proves nothing is not a pass), and at
  least one check ends as an *error* that names the target in one line;
- no traceback and no bare exception name (``ConnectionResetError``) in any message;
- bounded: the server saw only as many connections as the dead-target rule allows (the
  pre-flight, the first exchange, and for TLS the one handshake that proves the port speaks
  no TLS), and every later check on the target cites the first failure;
- the evidence says when a body was cut at the size cap.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_deploycheck.outcomes import Outcome
from tests.servers import hostile
from tests.servers.base import Instance
from tests.servers.hostile import HostileServer
from tests.servers.inventory import CatalogRun, run_catalog

UNUSABLE = "target unusable since an earlier check"


def assert_fails_closed(run: CatalogRun, target: str, *, max_connections: int | None = None, server: HostileServer | None = None) -> None:
    results = [r for r in run.summary.results if r.target == target]
    assert results, f"no results on {target}"
    passed = [r.check_id for r in results if r.outcome is Outcome.PASSED]
    assert not passed, f"passed without evidence on {target}: {passed}"
    errors = [r for r in results if r.outcome is Outcome.ERROR]
    assert errors, f"no check on {target} ended as an error: {[(r.check_id, r.outcome.value, r.message) for r in results]}"
    for r in errors:
        assert target in r.message, r.message
        assert "\n" not in r.message.strip(), r.message
        assert "Traceback" not in r.message and "ConnectionResetError" not in r.message, r.message
        assert not r.message.startswith(("OSError", "ConnectionError", "RuntimeError", "AttributeError", "TypeError")), r.message
    if len(errors) > 2:
        assert sum(UNUSABLE in r.message for r in errors) >= len(errors) - 2, [r.message for r in errors]
    if server is not None and max_connections is not None:
        assert server.connections <= max_connections, f"{server.connections} connections to a {server.name} server"


@pytest.fixture
def serve() -> Iterator[list[HostileServer]]:
    started: list[HostileServer] = []
    yield started
    for server in started:
        server.stop()


def start(started: list[HostileServer], behaviour: hostile.Behaviour, name: str) -> HostileServer:
    server = HostileServer(behaviour, name=name).start()
    started.append(server)
    return server


# --------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize(("behaviour", "name"), [
    (hostile.silence, "silent"),
    (hostile.reset, "reset"),
    (hostile.garbage, "garbage"),
    (hostile.header_drip, "drip"),
    (hostile.huge_header, "huge-header"),
    (hostile.silence, "https-stall"),  # TLS stall after the ClientHello
    (hostile.garbage, "https-garbage"),  # an https:// URL on a port that speaks no TLS
])
def test_http_target_misbehaving_is_unusable_once(pytester: pytest.Pytester, serve: list[HostileServer],
                                                   behaviour: hostile.Behaviour, name: str) -> None:
    server = start(serve, behaviour, name)
    kind = "https" if name.startswith("https") else "http"
    run = run_catalog(pytester, "test_http_security.py", targets=[server.instance(kind, name)])
    # The pre-flight's connect, then one exchange: the target is unusable from then on (an https
    # target's plain-HTTP URL, here on the same port, is asked once more by http-01).
    assert_fails_closed(run, name, max_connections=3 if kind == "https" else 2, server=server)


def test_http_endless_body_is_cut_at_the_cap(pytester: pytest.Pytester, serve: list[HostileServer]) -> None:
    server = start(serve, hostile.endless_body, "endless")
    run = run_catalog(pytester, "test_http_security.py", targets=[server.instance("http", "endless")],
                      thresholds={"http_body_max_bytes": 65536})
    notes = [line for r in run.summary.results if r.target == "endless" for line in r.evidence.get("transport", [])]
    assert any("body cut at 65,536 bytes" in line for line in notes), notes
    results = [r for r in run.summary.results if r.target == "endless"]
    assert results and all(r.outcome is not Outcome.ERROR or "endless" in r.message for r in results)
    # Each exchange stops reading at the cap: what the server managed to send stays bounded
    # (per exchange: the cap plus what sits in the socket buffers), however long it would go on.
    exchanges = max(1, server.connections)
    assert server.sent < exchanges * (65536 + 8 * 1024 * 1024), (server.sent, exchanges)


def test_https_redirect_check_needs_an_http_answer(pytester: pytest.Pytester, serve: list[HostileServer]) -> None:
    """http-01 (high) passed when the plain-HTTP port answered garbage: it is an error now."""
    web = start(serve, hostile.silence, "web")
    plain = start(serve, hostile.garbage, "plain")
    target = web.instance("https", "shop", {"http_url": f"http://127.0.0.1:{plain.port}"})
    run = run_catalog(pytester, "test_http_security.py", targets=[target], args=["-k", "http-01"])
    assert run.outcome("http-01", "shop") == "error"
    assert "gives no HTTP answer" in run.message("http-01", "shop")


# --------------------------------------------------------------------------- TLS


@pytest.mark.parametrize(("behaviour", "name"), [
    (hostile.reset, "tls-reset"),
    (hostile.silence, "tls-stall"),  # reads the ClientHello, never answers
    (hostile.garbage, "tls-garbage"),
])
def test_tls_target_misbehaving_proves_nothing(pytester: pytest.Pytester, serve: list[HostileServer],
                                                behaviour: hostile.Behaviour, name: str) -> None:
    """Against a server that resets every connection, tls-07/08/10 passed ("refused"): a refusal
    is evidence only from a server that speaks TLS."""
    server = start(serve, behaviour, name)
    run = run_catalog(pytester, "test_tls.py", targets=[server.instance("tls", name)])
    for check_id in ("tls-07", "tls-08", "tls-10"):
        assert run.outcome(check_id, name) == "error", (check_id, run.message(check_id, name))
    # pre-flight, the first probe, and the one permissive handshake that proves there is no TLS
    assert_fails_closed(run, name, max_connections=3, server=server)


# --------------------------------------------------------------------------- databases, caches, SSH


def test_postgres_stall_after_startup(pytester: pytest.Pytester, serve: list[HostileServer]) -> None:
    server = start(serve, hostile.postgres_stall, "pg-stall")
    run = run_catalog(pytester, "test_postgres.py", targets=[server.instance("postgres", "pg-stall")])
    assert_fails_closed(run, "pg-stall", max_connections=3, server=server)


@pytest.mark.parametrize(("behaviour", "name"), [(hostile.garbage, "pg-garbage"), (hostile.reset, "pg-reset")])
def test_postgres_garbage_and_reset(pytester: pytest.Pytester, serve: list[HostileServer], behaviour: hostile.Behaviour,
                                    name: str) -> None:
    server = start(serve, behaviour, name)
    run = run_catalog(pytester, "test_postgres.py", targets=[server.instance("postgres", name)])
    assert_fails_closed(run, name, max_connections=4, server=server)


@pytest.mark.parametrize(("behaviour", "name"), [(hostile.silence, "redis-silent"), (hostile.garbage, "redis-garbage"),
                                                 (hostile.reset, "redis-reset")])
def test_redis_misbehaving(pytester: pytest.Pytester, serve: list[HostileServer], behaviour: hostile.Behaviour, name: str) -> None:
    server = start(serve, behaviour, name)
    run = run_catalog(pytester, "test_redis.py", targets=[server.instance("redis", name)])
    assert_fails_closed(run, name, max_connections=3, server=server)


@pytest.mark.parametrize(("behaviour", "name"), [(hostile.garbage, "mysql-garbage"), (hostile.silence, "mysql-silent"),
                                                 (hostile.reset, "mysql-reset")])
def test_mysql_misbehaving(pytester: pytest.Pytester, serve: list[HostileServer], behaviour: hostile.Behaviour, name: str) -> None:
    server = start(serve, behaviour, name)
    run = run_catalog(pytester, "test_mysql.py", targets=[server.instance("mysql", name)])
    assert_fails_closed(run, name, max_connections=3, server=server)


@pytest.mark.parametrize(("behaviour", "name"), [(hostile.ssh_banner_stall, "ssh-stall"), (hostile.garbage, "ssh-garbage")])
def test_ssh_misbehaving(pytester: pytest.Pytester, serve: list[HostileServer], behaviour: hostile.Behaviour, name: str) -> None:
    pytest.importorskip("paramiko")
    server = start(serve, behaviour, name)
    run = run_catalog(pytester, "test_ssh.py", targets=[server.instance("hosts", name)])
    assert_fails_closed(run, name, max_connections=3, server=server)


def test_black_hole_costs_one_attempt(pytester: pytest.Pytester) -> None:
    listener, fillers = hostile.black_hole()
    try:
        port = int(listener.getsockname()[1])
        with pytest.raises(TimeoutError):
            socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        target = Instance(name="hole", kind="redis", entry={"url": f"redis://127.0.0.1:{port}/0", "timeout": 1}, env={}, server=None)
        run = run_catalog(pytester, "test_redis.py", targets=[target])
        assert_fails_closed(run, "hole")
        first = [r for r in run.summary.results if r.target == "hole" and UNUSABLE not in r.message]
        assert len(first) == 1 and "timed out after 1s" in first[0].message, [r.message for r in first]
    finally:
        for sock in (listener, *fillers):
            with contextlib.suppress(OSError):
                sock.close()


def test_host_backends_that_cannot_run_commands_are_errors(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A docker:// host whose daemon is down, a kubectl:// host without a cluster and an
    ansible:// host without Ansible turned the host checks into n/a (and the verdict into GO) or
    into failures: could not look is an error, found once per host."""
    empty_kubeconfig = tmp_path / "kubeconfig"
    empty_kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    targets = [Instance(name=name, kind="hosts", entry={"backend": backend, "container": True, "timeout": 1}, env={}, server=None)
               for name, backend in (("box-docker", "docker://web-1"), ("box-kubectl", f"kubectl://web-1?kubeconfig={empty_kubeconfig}"),
                                     ("box-ansible", "ansible://web-1"))]
    env = {"DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}", "PATH": os.environ.get("PATH", "")}
    run = run_catalog(pytester, "test_os.py", targets=targets, args=["-m", "not manual"], env=env)
    assert run.summary.verdict.level.value == "NO-GO"
    for target in targets:
        assert_fails_closed(run, target.name)
        first = [r for r in run.summary.results if r.target == target.name and UNUSABLE not in r.message
                 and r.outcome is Outcome.ERROR]
        assert len(first) == 1 and "cannot run commands" in first[0].message, [r.message for r in first]
        not_applicable = [r for r in run.summary.results if r.target == target.name and r.outcome is Outcome.NOT_APPLICABLE]
        assert all("container" in r.message or "no " in r.message for r in not_applicable), [r.message for r in not_applicable]
