"""How big and how slow are the reports at scale?  Prints numbers; asserts nothing.

    python bench/bench_reports.py              # 5,000 results
    python bench/bench_reports.py 20000 --browser

Runs a generated catalog of N quick checks on the local host (no network) once without reports
and once with all four (JSON, Markdown checklist, JUnit, self-contained HTML), then prints each
file's size and the run's extra time.  With --browser, also the time headless Chromium takes to
open the HTML page and apply a filter (``#outcome=failed``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CATALOG = '''
import pytest
from pytest_deploycheck import not_applicable, require

pytestmark = pytest.mark.section("bulk", "Bulk section")


@pytest.mark.check("bulk-01", "Many items", severity="low")
@pytest.mark.parametrize("n", range({n}))
def test_many(host, evidence, n):
    """One of many."""
    evidence.record(n=n, observed=f"value {{n}}")
    if n % 7 == 0:
        not_applicable(f"n={{n}}")
    require(n % 5, host, f"n={{n}} is a multiple of 5", "not a multiple of 5")
'''


HTML_BUDGET = 5_000_000


def run(folder: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--inventory=inv.yml", "--deploycheck-catalog=none", *args],
                   cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def browse(page: Path) -> tuple[float, str]:
    browser = shutil.which("chromium")
    if browser is None:
        return 0.0, "chromium not installed"
    profile = tempfile.mkdtemp(prefix="dc-bench-")
    try:
        start = time.perf_counter()
        out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                              "--disable-background-networking", "--disable-component-update", "--disable-sync",
                              f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + "#outcome=failed"],
                             capture_output=True, text=True, timeout=600, check=False).stdout
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r'id="dc-filter-count">([^<]*)<', out)
    return seconds, found.group(1) if found else "filter count not found"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=5000, help="number of results (default 5000)")
    parser.add_argument("--browser", action="store_true", help="also time headless Chromium opening the HTML page")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dc-bench-") as tmp:
        folder = Path(tmp)
        (folder / "inv.yml").write_text('name: bench\nhosts:\n  me: {backend: "local://"}\n', encoding="utf-8")
        (folder / "test_bulk.py").write_text(CATALOG.format(n=options.n), encoding="utf-8")
        os.environ.pop("PYTEST_ADDOPTS", None)
        bare = run(folder)
        out = folder / "out"
        full = run(folder, f"--deploycheck-json={out / 'report.json'}", f"--deploycheck-checklist-md={out / 'checklist.md'}",
                   f"--junitxml={out / 'junit.xml'}", f"--deploycheck-html={out / 'report.html'}")
        print(f"results: {options.n}")
        print(f"run without reports: {bare:.2f} s")
        print(f"run with all four:   {full:.2f} s (+{full - bare:.2f} s, {(full - bare) / options.n * 1000:.3f} ms per result)")
        for name in ("report.json", "checklist.md", "junit.xml", "report.html"):
            size = (out / name).stat().st_size if (out / name).exists() else 0
            print(f"  {name:<13} {size / 1e6:8.2f} MB  {size / max(options.n, 1):8.0f} bytes per result")
        html = (out / "report.html").stat().st_size if (out / "report.html").exists() else 0
        # The HTML page's budget: results are rendered in the page (no script needed), so its size
        # grows with the results; at 5,000 it must stay below 5 MB (tests/test_reports_html.py).
        print(f"  report.html budget at 5,000 results: {HTML_BUDGET / 1e6:.0f} MB; this run "
              f"{'within it' if html * 5000 / max(options.n, 1) < HTML_BUDGET else 'OVER IT'} (scaled to 5,000)")
        if options.browser:
            seconds, count = browse(out / "report.html")
            print(f"chromium: open + filter {seconds:.2f} s ({count})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
