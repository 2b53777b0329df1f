"""What a dead target costs: wall time of a run with many checks on a port that drops packets.

    python bench/bench_dead_target.py [checks] [timeout]

A listening socket on 127.0.0.1 with a full accept backlog drops further SYNs, so every connect
waits for the timeout.  Without the plugin's dead-target rule the run would take checks x timeout;
with it, about one timeout.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECK = '''
@pytest.mark.check("dead-{n:03d}", "Check {n}", severity="high")
def test_check_{n}(http_endpoint):
    """Synthetic."""
    http_endpoint.get("/")
'''


def main() -> None:
    checks = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(sock)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "test_dead.py").write_text("import pytest\npytestmark = pytest.mark.section('dead', 'Dead')\n"
                                           + "".join(CHECK.format(n=n) for n in range(checks)))
        (root / "inv.yml").write_text(f"timeout: {timeout}\nhttp:\n  dropping: {{url: 'http://127.0.0.1:{port}'}}\n")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark", "--inventory=inv.yml", "--deploycheck-catalog=none"],
                       cwd=root, stdout=subprocess.DEVNULL, check=False)
        elapsed = time.perf_counter() - start
    print(f"{checks} checks on a dropping port, timeout {timeout:g}s: run took {elapsed:.2f}s "
          f"(one timeout per check would be {checks * timeout:.0f}s)")
    for sock in [*fillers, server]:
        sock.close()


if __name__ == "__main__":
    main()
