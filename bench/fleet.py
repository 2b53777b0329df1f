"""Shared set-up of the fleet benchmarks: many inventory entries on a few local servers.

``http_fleet(root, n)`` starts the good sample app behind one nginx site (TLS + HTTP, the test
CA) and writes an inventory with ``n`` http targets that all reach that one site: the checks do
the same work per target as against ``n`` real sites, while the machine runs two servers.
``dead_inventory(root, k)`` names ``k`` targets on one port that drops SYNs (a full accept queue).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BASE_ARGS = ("-q", "-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:hypothesispytest", f"--rootdir={REPO}")


@contextlib.contextmanager
def http_fleet(root: Path, n: int, rtt_ms: float = 0.0) -> Iterator[tuple[Path, dict[str, str]]]:
    """An inventory of ``n`` http targets on one nginx site in front of the good app; yields (path, env).
    With ``rtt_ms`` the targets' https URL and plain-HTTP URL go through ``latency_proxy.py``: they answer as remote sites."""
    from tests.servers.app import launch_app
    from tests.servers.certs import TestCA
    from tests.servers.nginx import SITES, launch_nginx

    ca = TestCA.create(root / "ca")
    app = launch_app("good")
    try:
        sites = launch_nginx(ca, {"good": app}, sites=[s for s in SITES if s.name == "good"])
        try:
            site = sites.sites["good"]
            env = dict(site.env)
            doc: dict[str, Any] = {"name": "fleet", "timeout": 5, "http": {}}
            with latency(site.entry["url"], rtt_ms) as url, latency(site.entry["http_url"], rtt_ms) as plain:
                for i in range(n):
                    entry = json.loads(json.dumps(site.entry))
                    entry["url"], entry["http_url"] = url, plain
                    # Every entry reads the one site's login variables.
                    doc["http"][f"site{i:03d}"] = entry
                path = root / f"fleet-{n}-{rtt_ms:g}ms.yml"
                path.write_text(yaml.safe_dump(doc, sort_keys=False))
                yield path, env
        finally:
            sites.stop()
    finally:
        app.stop()


@contextlib.contextmanager
def latency(url: str, rtt_ms: float) -> Iterator[str]:
    """``url`` itself, or with ``rtt_ms`` the same URL through a latency proxy (stopped afterwards)."""
    if not rtt_ms:
        yield url
        return
    scheme, _, rest = url.partition("://")
    hostport, slash, path = rest.partition("/")
    proxy = subprocess.Popen([sys.executable, str(Path(__file__).with_name("latency_proxy.py")), hostport.rpartition(":")[2], str(rtt_ms)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert proxy.stdout is not None
        port = int(proxy.stdout.readline())
        yield f"{scheme}://127.0.0.1:{port}{slash}{path}"
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


@contextlib.contextmanager
def dropping_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: a connect waits for its timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        fillers.append(sock)
    try:
        yield port
    finally:
        for sock in [*fillers, server]:
            sock.close()


def run_pytest(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and exit status of one pytest run in a subprocess."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", *BASE_ARGS, *args], cwd=cwd, env={**os.environ, **(env or {})},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start, proc.returncode
