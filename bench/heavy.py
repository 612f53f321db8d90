"""Workload G: a sweep of 24 members of one real script (a matrix), each importing a heavy library and doing a
little work, two at a time (issue 24; see bench/README.md, "G").

    python bench/bench.py --only G                          # in a clean venv it makes, both libraries
    python bench/bench.py --only G --python .venv/bin/python --g-lib torch --g-repeat 3

The interpreter measured needs Pyoneer and the library (``pip install torch==2.13.0``
takes the CPU build on this project's machine; ``sci`` is numpy + pandas + scikit-learn);
the clean venv of ``bench.py`` gets them installed (``G_PACKAGES``). A library that is not
importable is reported as skipped. Rows, each the median wall time of the repeats, its
ratio to by hand, the peak memory of the process tree beside it, and whether every output
is the same bytes as by hand:

- by hand: ``subprocess.run([python, script, N])`` on a pool of 2 threads;
- Pyoneer warm, first run: a fresh project, nothing learned yet;
- Pyoneer warm, second run: the same project again; its fork servers preload what the
  first run learned;
- Pyoneer ``fresh = true``: each task a new interpreter;
- Ray and Dask (when importable and the peers are asked for): 24 tasks that each run the
  script in a subprocess, as a user of Ray Jobs would, on a cluster of 2 CPUs started once
  per library in a child process (``heavy.py --peer-child``) and already up when timed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from basics import HERE, PYTHON, WORKERS, TreePeak, fmt, log, table

MEMBERS = 24
G_REPEAT = 3
#: the libraries of G, and the modules each needs
LIBS = {"torch": ("torch",), "sci": ("numpy", "pandas", "sklearn")}
#: what the benchmark's clean venv installs for G
G_PACKAGES = ["torch==2.13.0", "numpy", "pandas", "scikit-learn"]
#: the peers measured on G
G_PEERS = {"ray": "ray", "dask": "distributed"}
MODES = ("by hand", "warm, first run", "warm, second run (learned)", "fresh = true")

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


# Projects and runs -------------------------------------------------------------------


def write_project(root: Path, lib: str, fresh: bool) -> None:
    """A sweep in ``root`` (made anew): one script, a matrix of 24 members, each member's
    number its argument, as a user writes a sweep."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "member.py").write_text(SCRIPTS[lib])
    lines = ["[project]", 'name = "g"', *(["fresh = true"] if fresh else []),
             "[jobs.m]", f"matrix = {{ n = {list(range(MEMBERS))} }}", 'tasks = ["member.py {n}"]']
    (root / "pyoneer.toml").write_text("\n".join(lines) + "\n")


def calls() -> list[tuple[str, list[str]]]:
    """Each member's script and arguments, in order."""
    return [("member.py", [str(number)]) for number in range(MEMBERS)]


def by_hand(root: Path) -> list[str]:
    """The sweep on a pool of 2 threads, each ``subprocess.run([python, script, N])``: the outputs."""

    def one(call: tuple[str, list[str]]) -> str:
        return subprocess.run([PYTHON, call[0], *call[1]], cwd=root, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, check=True).stdout

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, calls()))


def pyoneer_run(command: list[str], root: Path) -> list[str]:
    """``pyoneer run --workers 2`` in ``root``, as a whole process: each member's log."""
    done = subprocess.run([*command, "run", "--workers", str(WORKERS)], cwd=root, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pyoneer run exited {done.returncode}: {done.stderr[-500:]}")
    run = max((root / ".pyoneer" / "runs").iterdir(), key=lambda path: path.stat().st_mtime)
    return [(run / f"m[n={n}]" / "member.1.log").read_text() for n in range(MEMBERS)]


def _timed(run: Callable[[], list[str]], include_self: bool = False) -> tuple[float, TreePeak, list[str]]:
    with TreePeak(include_self=include_self) as peak:
        started = time.perf_counter()
        outputs = run()
        wall = time.perf_counter() - started
    return wall, peak, outputs


# Measuring -----------------------------------------------------------------------------


def run_g(command: list[str], libs: list[str], repeat: int, peers: bool) -> dict:
    """G for each of ``libs``, ``repeat`` times, with Ray and Dask when ``peers``."""
    out: dict = {"members": MEMBERS, "workers": WORKERS, "repeat": repeat, "libs": {}}
    for lib in libs:
        missing = [module for module in LIBS[lib] if importlib.util.find_spec(module) is None]
        if missing:
            out["libs"][lib] = {"skipped": f"{', '.join(missing)} not installed in {PYTHON}"}
            log(f"  G {lib}: skipped ({', '.join(missing)} not installed)")
            continue
        try:
            out["libs"][lib] = measure(command, lib, repeat, peers)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other library
            out["libs"][lib] = {"error": f"{type(exc).__name__}: {exc}"}
            log(traceback.format_exc())
    return out


def measure(command: list[str], lib: str, repeat: int, peers: bool) -> dict:
    """One library's rows: {mode: {times_s, rss_mib, pss_mib, same, note, status}}."""
    rows: dict[str, dict] = {mode: {"times_s": [], "rss_mib": [], "pss_mib": [], "same": True, "status": "ok",
                                    "note": ""} for mode in MODES}
    expected: list[str] | None = None
    with tempfile.TemporaryDirectory(prefix=f"pyoneer-bench-G-{lib}-") as work:
        # the library's files into the page cache first: a cold first import is not what we measure
        subprocess.run([PYTHON, "-c", SCRIPTS[lib], "0"], stdout=subprocess.DEVNULL, check=True)
        warm, fresh = Path(work) / "warm", Path(work) / "fresh"
        groups: list[list[tuple[str, Callable[[], list[str]]]]] = [
            [("by hand", lambda: by_hand(warm))],
            [("warm, first run", lambda: pyoneer_run(command, warm)),
             ("warm, second run (learned)", lambda: pyoneer_run(command, warm))],
            [("fresh = true", lambda: pyoneer_run(command, fresh))],
        ]
        for rep in range(repeat):
            write_project(warm, lib, fresh=False)
            write_project(fresh, lib, fresh=True)
            got: dict[str, list[str]] = {}
            for group in groups[rep % len(groups):] + groups[:rep % len(groups)]:  # rotating, the warm pair kept
                for mode, run in group:
                    wall, peak, got[mode] = _timed(run)
                    _add(rows[mode], wall, peak.rss, peak.pss)
                    log(f"  G {lib} {rep + 1}/{repeat} {mode:<27} {wall:8.2f} s, peak PSS {peak.pss / 2**20:6.0f} MiB")
            expected = got["by hand"]
            for mode, outputs in got.items():
                rows[mode]["same"] = rows[mode]["same"] and outputs == expected
    if peers:
        for peer, module in G_PEERS.items():
            if importlib.util.find_spec(module) is None:
                rows[peer] = {"status": "skipped", "note": f"{module} is not installed", "times_s": []}
                continue
            rows[peer] = peer_rows(peer, lib, repeat, expected or [])
    return {"rows": rows}


def _add(row: dict, wall: float, rss: int, pss: int) -> None:
    row["times_s"].append(wall)
    row["rss_mib"].append(rss / 2**20)
    row["pss_mib"].append(pss / 2**20)


def peer_rows(peer: str, lib: str, repeat: int, expected: list[str]) -> dict:
    """G on ``peer``, in a child process (``heavy.py --peer-child``): its row."""
    log(f"  G {lib} {peer}: starting it in a child process ({repeat} sweeps)")
    argv = [PYTHON, str(HERE / "heavy.py"), "--peer-child", peer, "--lib", lib, "--repeat", str(repeat)]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=3600)
    result = next((json.loads(line[len("RESULT "):]) for line in done.stdout.splitlines()
                   if line.startswith("RESULT ")), {"error": f"exited {done.returncode}: {done.stderr[-500:]}"})
    if "error" in result:
        log(f"  G {lib} {peer}: ERROR {result['error']}")
        return {"status": "error", "note": result["error"][:300], "times_s": []}
    for rep, wall in enumerate(result["times_s"]):
        log(f"  G {lib} {rep + 1}/{repeat} {peer:<27} {wall:8.2f} s, peak PSS {result['pss_mib'][rep]:6.0f} MiB")
    same = all(outputs == expected for outputs in result.pop("outputs"))
    return {**result, "same": same, "status": "ok"}


def peer_child(peer: str, lib: str, repeat: int) -> int:
    """In a child process: start ``peer``, then the sweep ``repeat`` times; RESULT on stdout.

    The peak memory is this process's tree: the driver, the cluster's daemons and workers,
    and the scripts they run."""
    from peers import start_peer

    out: dict = {"times_s": [], "rss_mib": [], "pss_mib": [], "outputs": []}
    try:
        with tempfile.TemporaryDirectory(prefix=f"pyoneer-bench-G-{peer}-") as work:
            root = Path(work) / "g"
            write_project(root, lib, fresh=False)
            started = time.perf_counter()
            cluster = start_peer(peer)
            out["note"] = f"{cluster.version}; started in {time.perf_counter() - started:.1f} s, up when timed"
            try:
                for _ in range(repeat):
                    wall, peak, outputs = _timed(lambda: cluster.run(root, calls(), True), include_self=True)
                    _add(out, wall, peak.rss, peak.pss)
                    out["outputs"].append(outputs)
            finally:
                cluster.close()
    except Exception as exc:  # noqa: BLE001
        out = {"error": f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)[-400:]}"}
    print("RESULT " + json.dumps(out), flush=True)
    return 0


# The report --------------------------------------------------------------------------


def report_g(g: dict) -> list[str]:
    """The lines of G's part of the report: a table for each library."""
    out = [f"Workload G: a sweep of {g['members']} members (one script) importing a heavy library, {g['workers']} at a time, "
           f"median of {g['repeat']} (Ray, Dask: their cluster already up)"]
    for lib, result in g["libs"].items():
        if "rows" not in result:
            out += [f"  {lib}: {'skipped' if 'skipped' in result else 'error'}: "
                    f"{result.get('skipped') or result.get('error')}", ""]
            continue
        rows = result["rows"]
        hand = statistics.median(rows["by hand"]["times_s"]) if rows["by hand"]["times_s"] else None
        lines = []
        for mode, row in rows.items():
            if row["status"] != "ok" or not row["times_s"]:
                lines.append([lib, mode, row["status"], "", "", "", "", "", row.get("note", "")])
                continue
            wall = statistics.median(row["times_s"])
            lines.append([lib, mode, fmt(wall, 2), fmt(wall / hand if hand else None, 2),
                          f"{min(row['times_s']):.2f}-{max(row['times_s']):.2f}",
                          f"{max(row['pss_mib']):.0f}", f"{max(row['rss_mib']):.0f}",
                          "yes" if row["same"] else "NO", row.get("note", "")])
        out.append(table(["lib", "mode", "median s", "ratio", "range s", "peak PSS MiB", "peak RSS MiB",
                          "outputs as by hand", "note"], lines, {2, 3, 4, 5, 6}))
        out.append("")
    out.append("ratio = median / by hand's median; peak = the highest, over the repeats, of the summed memory of "
               "every process of the tree (sampled every 0.1 s): PSS splits a page shared by several processes "
               "(a fork server's library and its children) between them, RSS counts it in each; Ray's and Dask's "
               "include their daemons and workers. Both set OMP_NUM_THREADS=1 (and MKL_, OPENBLAS_) for their "
               "workers, which the scripts inherit: torch then sums a product in another order, and its last "
               "digit can differ from by hand's")
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    """The child process of a peer's G rows (``--peer-child``); G itself runs from bench.py."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-child", choices=sorted(G_PEERS), required=True)
    parser.add_argument("--lib", choices=sorted(SCRIPTS), default="torch")
    parser.add_argument("--repeat", type=int, default=G_REPEAT)
    args = parser.parse_args(argv)
    return peer_child(args.peer_child, args.lib, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
