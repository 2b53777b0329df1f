"""Fleet-scale speed, side by side: before and after issue 22's changes, in one run.

    python bench/bench_fleet.py                      # everything (about 15-30 minutes on 2 cores)
    python bench/bench_fleet.py --only dead,collect  # some sections: stack, http, remote, dead, collect
    python bench/bench_fleet.py --sizes 10,100 --variants after

Bytecode: the timed runs keep compiled bytecode, as on any machine the plugin is installed on
(``PYTHONDONTWRITEBYTECODE`` is dropped from their environment and each variant is compiled once,
untimed); ``--no-bytecode-cache`` measures with every process compiling the plugin again, which
costs each pytest process about 0.3 s, three times over with ``-n 2``.  ``--repeat N`` prints the
median of N runs for the http, remote and stack sections.

Sections (numbers, not assertions; the tests assert the behaviour):

* ``stack``: the full catalog against the reference stack (``tests/servers/stack.py``: 18
  targets, PostgreSQL, MariaDB, Redis, nginx sites, two sshd, Prometheus, Alertmanager), serial
  and ``-n auto`` (one process on fewer than 3 CPUs), and with one worker per CPU, plus SSH logins per host (``Accepted publickey`` lines in each sshd's log).
* ``http``: the TLS and HTTP sections against 10/100/500 http targets that all reach one nginx
  site in front of the good sample app (``fleet.http_fleet``), serial, ``-n auto`` and one worker per CPU.
* ``remote``: the same with 100 targets behind ``latency_proxy.py`` (20 ms round trip): targets
  that answer as remote sites do, where reading ahead for all of them at once pays.
* ``dead``: K = 1/10/50 http targets on a port that drops SYNs, timeout 2 s, three checks each.
* ``collect``: 50,000 items (100 checks x 500 targets) collected (``--collect-only``) against
  plain pytest's collection of the same number of parametrized tests.

Variants, each a copy of the package put first on ``PYTHONPATH``:

* ``before``: this tree with the changes switched off (no start-of-run pre-flight or prefetch,
  xdist's own ``load`` distribution, host facts memoized per entry, ``sh`` not memoized, check
  metadata evaluated per item, an item's events sent to the xdist controller one by one, the heap never
  frozen).  Cheaper code paths are not switched off (the one-pass masking and its JSON search,
  the deadline watchdog, the environment read once per origin, target parameters read once per
  item): on 500 http targets "before" is faster than the issue measured (206 s serial then).
* ``after``: this tree as it is.
* ``no-read-ahead``: this tree with reading ahead switched off (no ``warm`` and no
  ``@read_ahead`` reads before the checks; the reachability pre-flight stays).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet
import yaml

REPO = fleet.REPO
PACKAGE = REPO / "pytest_deploycheck"

#: (old, new) in preflight.py: the "no-read-ahead" variant submits nothing to read ahead.
NO_READ_AHEAD = ("    def submit(self, used: Iterable[tuple[str, Target, list[Reader]]]) -> None:\n",
                 "    def submit(self, used: Iterable[tuple[str, Target, list[Reader]]]) -> None:\n        return\n")

#: (file, old text, new text): the "before" switches, each asserted to apply.
BEFORE = (
    ("plugin.py", '"deploycheck-catalog": catalog, "deploycheck-preflight": preflight,\n         "deploycheck-distribution": distribution, '
                  '"deploycheck-shard": shard, "deploycheck-heap": heap,\n         "deploycheck-wire": wire}', '"deploycheck-catalog": catalog}'),
    ("targets/hosts.py", 'scope = scope or ("connection" if key.startswith(CONNECTION_SCOPED) else "machine")', 'scope = "host"'),
    ("targets/host_facts.py", '    memo = getattr(host, "memo", None)\n', "    memo = None\n"),
    ("collection.py", "    return (item.parent, getattr(item, \"originalname\", item.name), tuple(id(mark) for mark in item.own_markers))",
     "    return (id(item),)"),
)


def variant_tree(name: str, root: Path) -> Path | None:
    """A PYTHONPATH entry holding the variant's package, or None for the tree as it is."""
    if name == "after":
        return None
    target = root / name
    shutil.copytree(PACKAGE, target / "pytest_deploycheck", ignore=shutil.ignore_patterns("__pycache__"))
    if name == "before":
        for file, old, new in BEFORE:
            path = target / "pytest_deploycheck" / file
            text = path.read_text()
            if old not in text:
                raise SystemExit(f"bench: cannot switch off the change in {file}; update BEFORE in {__file__}")
            path.write_text(text.replace(old, new))
    elif name == "no-read-ahead":
        path = target / "pytest_deploycheck" / "preflight.py"
        text = path.read_text()
        if NO_READ_AHEAD[0] not in text:
            raise SystemExit(f"bench: cannot switch off reading ahead in preflight.py; update NO_READ_AHEAD in {__file__}")
        path.write_text(text.replace(*NO_READ_AHEAD))
    return target


#: Whether the timed runs may keep compiled bytecode (``--no-bytecode-cache`` turns it off).
BYTECODE_CACHE = True


def env_for(tree: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    if BYTECODE_CACHE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    if tree is not None:
        # PYTHONSAFEPATH: "python -m pytest" run from the repository must not put its own package first.
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["PYTHONSAFEPATH"] = "1"
    return env


#: Runs per measure of the http, remote and stack sections (``--repeat``); the median is printed.
REPEAT = 1


def timed(argv: list[str], cwd: Path, env: dict[str, str], repeat: int = 1) -> tuple[float, int]:
    """The median wall time of ``repeat`` runs, and the last run's exit status."""
    times, status = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
        status = proc.returncode
    return statistics.median(times), status


def warm_up(trees: dict[str, Path | None]) -> None:
    """Each variant collects the catalog once, untimed, so its bytecode is compiled before the
    timed runs (as on any machine the plugin was installed on)."""
    for tree in trees.values():
        subprocess.run(pytest_argv("--collect-only", str(REPO / "checks"), f"--inventory={REPO / 'inventories' / 'localhost.yml'}"),
                       cwd=REPO, env=env_for(tree), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def pytest_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *fleet.BASE_ARGS, *args]


class Table:
    def __init__(self, variants: list[str]) -> None:
        self.variants = variants
        print(f"{'measure':52s}" + "".join(f"{v:>16s}" for v in variants), flush=True)

    def row(self, label: str, values: dict[str, str]) -> None:
        print(f"{label:52s}" + "".join(f"{values.get(v, '-'):>16s}" for v in self.variants), flush=True)


# --------------------------------------------------------------------------- sections


def bench_collect(table: Table, trees: dict[str, Path | None], root: Path) -> None:
    targets, checks = 500, 100
    plain, cat = root / "collect-plain", root / "collect-catalog"
    plain.mkdir()
    cat.mkdir()
    (plain / "test_plain.py").write_text(
        f'import pytest\n\n@pytest.mark.parametrize("target", [f"t{{i}}" for i in range({targets})])\n'
        f'@pytest.mark.parametrize("n", range({checks}))\ndef test_item(target, n):\n    assert n >= 0\n')
    src = 'import pytest\nfrom pytest_deploycheck import require\npytestmark = pytest.mark.section("bench", "Benchmark")\n'
    severities = ["critical", "high", "medium", "low", "info"]
    for n in range(checks):
        src += (f'\n@pytest.mark.check("bench-{n:03d}", "Check {n}", severity="{severities[n % 5]}")\n'
                f'def test_check_{n}(files, evidence):\n    """Synthetic."""\n    require(files.path.exists(), files, "missing", "present")\n')
    (cat / "test_bench.py").write_text(src)
    (cat / "inv.yml").write_text("files:\n" + "".join(f"  t{i}: {{path: .}}\n" for i in range(targets)))
    plain_s, _ = timed(pytest_argv("--collect-only", "-p", "no:deploycheck"), plain, env_for(None))
    values = {}
    for name, tree in trees.items():
        seconds, _ = timed(pytest_argv("--collect-only", "--inventory=inv.yml", "--deploycheck-catalog=none"), cat, env_for(tree))
        values[name] = f"{seconds:.2f}s {seconds / plain_s:.2f}x"
    table.row(f"collect 50,000 items (plain pytest {plain_s:.2f}s)", values)


def bench_dead(table: Table, trees: dict[str, Path | None], root: Path, ks: list[int]) -> None:
    folder = root / "dead"
    folder.mkdir()
    (folder / "test_dead.py").write_text("import pytest\npytestmark = pytest.mark.section('dead', 'Dead')\n" + "".join(
        f'\n@pytest.mark.check("dead-{n:02d}", "Check {n}", severity="high")\ndef test_check_{n}(http_endpoint):\n'
        f'    """Synthetic."""\n    http_endpoint.get("/")\n' for n in range(3)))
    with fleet.dropping_port() as port:
        for k in ks:
            (folder / "inv.yml").write_text("timeout: 2\nhttp:\n" + "".join(f"  dead{n:03d}: {{url: 'http://127.0.0.1:{port}/{n}'}}\n"
                                                                             for n in range(k)))
            values = {}
            for name, tree in trees.items():
                seconds, _ = timed(pytest_argv("--inventory=inv.yml", "--deploycheck-catalog=none"), folder, env_for(tree))
                values[name] = f"{seconds:.1f}s"
            table.row(f"{k} dead target(s), timeout 2s, 3 checks each", values)


def _modes(xdist: str) -> list[str]:
    """Serial, ``-n xdist`` and, for ``auto`` (one process on fewer than 3 CPUs), as many workers as CPUs."""
    return ["serial", f"-n {xdist}", *([f"-n {os.cpu_count() or 1}"] if xdist == "auto" else [])]


def bench_http(table: Table, trees: dict[str, Path | None], root: Path, sizes: list[int], xdist: str, rtt_ms: float = 0.0) -> None:
    for n in sizes:
        folder = root / f"http-{n}-{rtt_ms:g}"
        folder.mkdir()
        with fleet.http_fleet(folder, n, rtt_ms) as (inventory, env):
            for mode in _modes(xdist):
                values = {}
                for name, tree in trees.items():
                    extra = mode.split() if mode != "serial" else []
                    seconds, status = timed(pytest_argv(str(REPO / "checks/test_tls.py"), str(REPO / "checks/test_http_security.py"),
                                                        f"--inventory={inventory}", *extra), REPO, env_for(tree, env), REPEAT)
                    values[name] = f"{seconds:.1f}s" + ("" if status in (0, 1) else f" (exit {status})")
                where = f" {rtt_ms:g} ms away" if rtt_ms else ""
                table.row(f"{n} http targets{where}, TLS+HTTP sections, {mode}", values)


@contextlib.contextmanager
def reference_stack(root: Path) -> Iterator[tuple[Path, dict[str, str], list[Path]]]:
    from tests.servers import stack
    from tests.servers.inventory import inventory_document, secrets_env

    instances, stops = stack.start_stack(root)
    try:
        doc = inventory_document(instances, name="demo", timeout=3, active_probes=True)
        _, bad = stack._backups(root)
        doc["hosts"]["localhost"] = {"backend": "local://", "backups": [bad]}
        doc["files"] = {"repo": {"path": str(stack._repository(root)), "env_files": [".env.production"]}}
        path = root / "stack.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        logs = [i.server.log for i in instances if i.kind == "hosts" and i.server is not None]
        yield path, secrets_env(instances), logs
    finally:
        for stop in reversed(stops):
            stop()


def bench_stack(table: Table, trees: dict[str, Path | None], root: Path, xdist: str) -> None:
    folder = root / "stack"
    folder.mkdir()
    with reference_stack(folder) as (inventory, env, logs):
        for mode in _modes(xdist):
            values, logins = {}, {}
            for name, tree in trees.items():
                before = [log.stat().st_size for log in logs]
                extra = mode.split() if mode != "serial" else []
                seconds, status = timed(pytest_argv(str(REPO / "checks"), f"--inventory={inventory}", *extra), REPO, env_for(tree, env), REPEAT)
                counts = []
                for log, offset in zip(logs, before, strict=True):
                    with open(log, "rb") as fh:
                        fh.seek(offset)
                        counts.append(fh.read().decode(errors="replace").count("Accepted publickey") / REPEAT)  # per run
                values[name] = f"{seconds:.1f}s" + ("" if status in (0, 1) else f" (exit {status})")
                logins[name] = "/".join(f"{c:g}" for c in counts)
            table.row(f"reference stack, full catalog, {mode}", values)
            table.row(f"  SSH logins per sshd host ({len(logs)} hosts), {mode}", logins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="collect,dead,http,remote,stack", help="sections, comma-separated")
    parser.add_argument("--sizes", default="10,100,500", help="http target counts")
    parser.add_argument("--dead", default="1,10,50", help="dead target counts")
    parser.add_argument("--remote", default="100", help="http target counts behind the latency proxy")
    parser.add_argument("--rtt", type=float, default=20.0, help="round-trip time of the remote targets, ms")
    parser.add_argument("--variants", default="before,no-read-ahead,after")
    parser.add_argument("--xdist", default="auto", help="the -n value of the parallel runs")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measure of the http, remote and stack sections (median)")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE as the environment sets it (every process compiles the plugin again)")
    args = parser.parse_args()
    global BYTECODE_CACHE, REPEAT
    BYTECODE_CACHE = not args.no_bytecode_cache
    REPEAT = args.repeat
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(tmp)
        trees = {name: variant_tree(name, root / "trees") for name in args.variants.split(",")}
        cache = "on" if BYTECODE_CACHE else "off (PYTHONDONTWRITEBYTECODE as set)"
        print(f"cpus: {os.cpu_count()}; load average now: {os.getloadavg()[0]:.1f}; bytecode cache: {cache}; "
              f"runs per http/stack measure: {args.repeat} (median)", flush=True)
        if BYTECODE_CACHE:
            warm_up(trees)
        table = Table(list(trees))
        sections: list[tuple[str, Callable[[], None]]] = [
            ("collect", lambda: bench_collect(table, trees, root)),
            ("dead", lambda: bench_dead(table, trees, root, [int(k) for k in args.dead.split(",")])),
            ("http", lambda: bench_http(table, trees, root, [int(n) for n in args.sizes.split(",")], args.xdist)),
            ("remote", lambda: bench_http(table, trees, root, [int(n) for n in args.remote.split(",")], args.xdist, args.rtt)),
            ("stack", lambda: bench_stack(table, trees, root, args.xdist)),
        ]
        for name, run in sections:
            if name in only:
                run()


if __name__ == "__main__":
    main()
