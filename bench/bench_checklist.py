"""What does reading a team's checklist add to a run?  Prints numbers; asserts nothing.

    python bench/bench_checklist.py [--repeat 3] [--sizes 100,500,2000]

Builds checklists of N items from the sample checklists (``../shared/checklists``, or the test
data when that is absent): their items drawn in turn, each under its own heading, and a second
set whose items are long paragraphs (120 words) as a pasted runbook has them.  For each it times
``pytest --collect-only`` on the catalog with ``--deploycheck-checklist`` (parse, match every item
against the catalog's phrases, collect) against the same run without a checklist, and prints the
extra time per item.  No network: the inventory is this machine (``inventories/localhost.yml``).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = (ROOT.parent / "shared" / "checklists", ROOT / "tests" / "data")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+\[[ xX]\]\s+(.{8,})$")


def sample_items() -> list[str]:
    """Every box item of the sample checklists (their words, as teams wrote them)."""
    items: list[str] = []
    for folder in SAMPLES:
        for path in sorted(folder.glob("*")):
            if path.suffix in (".txt", ".md"):
                items += [m.group(1).strip() for line in path.read_text(errors="replace").splitlines() if (m := _ITEM.match(line))]
    if not items:
        sys.exit("no sample checklist items found (looked in ../shared/checklists and tests/data)")
    return items


def checklist(items: list[str], n: int, long_words: int = 0) -> str:
    rnd = random.Random(n + long_words)
    words = " ".join(items).split()
    lines = ["# Go-live"]
    for i in range(n):
        if i % 20 == 0:
            lines.append(f"\n## Area {i // 20 + 1}\n")
        text = items[i % len(items)]
        if long_words:
            text += " " + " ".join(rnd.choice(words) for _ in range(long_words))
        lines.append(f"- [ ] {text}")
    return "\n".join(lines) + "\n"


def collect(checklist_path: Path | None) -> float:
    cmd = [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", "-p", "no:benchmark",
           "-p", "no:hypothesispytest", "checks", f"--inventory={ROOT / 'inventories' / 'localhost.yml'}"]
    if checklist_path:
        cmd.append(f"--deploycheck-checklist={checklist_path}")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"collection failed ({done.returncode}): {done.stdout[-500:]}{done.stderr[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="100,500,2000")
    args = ap.parse_args()
    items = sample_items()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"cpus: {os.cpu_count()}; sample items: {len(items)}; runs per measure: {args.repeat} (median)")
    base = statistics.median(collect(None) for _ in range(args.repeat))
    print(f"{'collect the catalog, no checklist':52} {base:7.2f}s")
    with tempfile.TemporaryDirectory(prefix="bench-checklist-") as tmp:
        for long_words, label in ((0, "items as written"), (120, "items of 120+ words")):
            for n in sizes:
                if long_words and n > 500:
                    continue  # 2,000 such items pass the checklist size limit (2 MB)
                path = Path(tmp) / f"go-live-{n}-{long_words}.md"
                path.write_text(checklist(items, n, long_words))
                took = statistics.median(collect(path) for _ in range(args.repeat))
                extra = took - base
                print(f"{f'{n} checklist items, {label}':52} {took:7.2f}s  +{extra:.2f}s  {1000 * extra / n:6.2f} ms/item")


if __name__ == "__main__":
    main()
