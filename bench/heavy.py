"""Workload G: a sweep of 24 real scripts, each importing a heavy library and doing a
little work, two at a time (see bench/README.md, "G").

    python bench/heavy.py --python VENV/bin/python --lib torch --repeat 3
    python bench/heavy.py --python VENV/bin/python --lib sci

VENV has Pyoneer and the library installed (``pip install torch==2.13.0`` takes the CPU
build on this project's machine; ``sci`` is numpy + pandas + scikit-learn). Rows: by hand
(``subprocess.run([python, script])`` on a pool of 2), Pyoneer warm first run (nothing
learned yet), warm second run (learned), ``fresh = true``; the median wall time of each,
its ratio to by hand, the peak memory of the whole process tree beside it, and whether
every output is the same bytes as by hand.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MEMBERS = 24

SCRIPTS = {
    "torch": """
import sys
import torch
torch.manual_seed(int(sys.argv[1]))
a, b = torch.rand(300, 300), torch.rand(300, 300)
print(f"{float((a @ b).sum()):.3f}")
""",
    "sci": """
import sys
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
rng = np.random.default_rng(int(sys.argv[1]))
X = rng.normal(size=(200, 5))
y = X @ np.arange(5) + rng.normal(size=200)
frame = pd.DataFrame(X, columns=list("abcde"))
model = LinearRegression().fit(frame.values, y)
print(round(float(model.coef_.sum()), 6), frame.shape, round(float(frame.describe().loc["mean"].sum()), 6))
""",
}


def write_project(root: Path, lib: str, fresh: bool) -> None:
    """24 jobs, one script each (the member's number as its argument)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    lines = ['[project]', 'name = "g"', *(["fresh = true"] if fresh else [])]
    for number in range(MEMBERS):
        (root / f"m{number:02}.py").write_text(SCRIPTS[lib])
        lines += [f"[jobs.m{number:02}]", f'tasks = [{{ script = "m{number:02}.py", args = ["{number}"] }}]']
    (root / "pyoneer.toml").write_text("\n".join(lines) + "\n")


def by_hand(python: str, root: Path) -> dict[str, str]:
    def one(number: int) -> tuple[str, str]:
        done = subprocess.run([python, f"m{number:02}.py", str(number)], cwd=root, capture_output=True, text=True,
                              check=True)
        return f"m{number:02}", done.stdout

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, range(MEMBERS)))


def pyoneer_run(python: str, root: Path) -> dict[str, str]:
    subprocess.run([python, "-m", "pyoneer", "run", "--workers", "2"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = sorted((root / ".pyoneer" / "runs").iterdir())
    return {f"m{n:02}": (runs[-1] / f"m{n:02}" / f"m{n:02}.1.log").read_text() for n in range(MEMBERS)}


class TreePeak:
    """The peak of the summed RSS of this process's descendants, sampled every 0.1 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.1):
            parents, rss = {}, {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/stat", "rb") as stat:
                        fields = stat.read().rsplit(b")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry)] = int(fields[1])
                rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            total = 0
            for pid in rss:
                walk = pid
                while walk in parents and walk != me and walk > 1:
                    walk = parents[walk]
                if walk == me and pid != me:
                    total += rss[pid]
            self.peak = max(self.peak, total)


def measure(python: str, lib: str, repeat: int, work: Path) -> list[tuple[str, float, float, bool]]:
    rows: dict[str, list[tuple[float, int]]] = {}
    same: dict[str, bool] = {}
    expected: dict[str, str] | None = None
    for _ in range(repeat):
        warm, fresh = work / "warm", work / "fresh"
        write_project(warm, lib, fresh=False)
        write_project(fresh, lib, fresh=True)
        for mode, run in (("by hand", lambda: by_hand(python, warm)),
                          ("warm, first run", lambda: pyoneer_run(python, warm)),
                          ("warm, second run (learned)", lambda: pyoneer_run(python, warm)),
                          ("fresh = true", lambda: pyoneer_run(python, fresh))):
            with TreePeak() as peak:
                started = time.perf_counter()
                outputs = run()
                wall = time.perf_counter() - started
            rows.setdefault(mode, []).append((wall, peak.peak))
            expected = expected if expected is not None else outputs
            same[mode] = same.get(mode, True) and outputs == expected
    hand = statistics.median(wall for wall, _ in rows["by hand"])
    return [(mode, statistics.median(w for w, _ in got), max(p for _, p in got) / 2**20, same[mode])
            for mode, got in rows.items()] + [("(by hand, s)", hand, 0.0, True)]


def main(argv: list[str] | None = None) -> int:
    """Measure G and print its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="a venv's python with Pyoneer and the library")
    parser.add_argument("--lib", choices=sorted(SCRIPTS), default="torch")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyoneer-bench-g-") as work:
        rows = measure(args.python, args.lib, args.repeat, Path(work))
    hand = rows[-1][1]
    print(f"G ({args.lib}): {MEMBERS} members, 2 at a time, median of {args.repeat}")
    print("| mode | wall s | ratio to by hand | peak RSS of the tree, MiB | outputs as by hand |")
    print("|---|---|---|---|---|")
    for mode, wall, peak, same in rows[:-1]:
        print(f"| {mode} | {wall:.2f} | {wall / hand:.2f} | {peak:.0f} | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
