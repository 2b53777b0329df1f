"""Plugin overhead per item and peak memory, on a synthetic catalog that touches no network.

    python bench/bench_overhead.py [items] [targets]

Runs the same generated catalog twice in subprocesses: once as plain pytest tests (the plugin
disabled) and once as deploycheck checks against an inventory of local ``files`` targets, and
prints wall time per item and the peak RSS of each run.  Numbers, not assertions: compare them
across commits.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = '''
import pytest

@pytest.mark.parametrize("target", [f"t{{i}}" for i in range({targets})])
@pytest.mark.parametrize("n", range({checks}))
def test_item(target, n):
    assert n >= 0
'''

CATALOG = '''
import pytest
from pytest_deploycheck import require
pytestmark = pytest.mark.section("bench", "Benchmark")
{checks_src}
'''

ONE = '''
@pytest.mark.check("bench-{n:03d}", "Check {n}", severity="{severity}")
def test_check_{n}(files, evidence):
    """Synthetic."""
    evidence.record(n={n})
    require(files.path.exists(), files, "missing", "present")
'''


def run(argv: list[str], cwd: Path) -> tuple[float, float]:
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    targets = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    checks = max(1, items // targets)
    severities = ["critical", "high", "medium", "low", "info"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = root / "plain"
        plain.mkdir()
        (plain / "test_plain.py").write_text(PLAIN.format(targets=targets, checks=checks))
        cat = root / "catalog"
        cat.mkdir()
        (cat / "test_bench.py").write_text(CATALOG.format(checks_src="".join(
            ONE.format(n=n, severity=severities[n % 5]) for n in range(checks))))
        (cat / "inv.yml").write_text("files:\n" + "".join(f"  t{i}: {{path: .}}\n" for i in range(targets)))
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark"]
        plain_s, plain_mb = run([*base, "-p", "no:deploycheck"], plain)
        cat_s, cat_mb = run([*base, "--inventory=inv.yml", "--deploycheck-catalog=none"], cat)
        n = checks * targets
        print(f"items: {n} ({checks} checks x {targets} targets)")
        print(f"plain pytest:      {plain_s:7.2f} s  {plain_s / n * 1e3:6.3f} ms/item  peak RSS {plain_mb:7.1f} MB")
        print(f"with deploycheck:  {cat_s:7.2f} s  {cat_s / n * 1e3:6.3f} ms/item  peak RSS {cat_mb:7.1f} MB")
        print(f"overhead:          {(cat_s - plain_s) / n * 1e3:6.3f} ms/item")


if __name__ == "__main__":
    main()
