"""Workload E: the manager alone on layered DAGs of 1,000 .. 10,000 jobs, with a no-op
engine (bench/noop_engine.py), with the ledger (``pyoneer.run``) and without (``Manager``
directly); and at the biggest size, the memory of each kind of run.
"""

from __future__ import annotations

import gc
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from basics import HERE, PYTHON, WORKERS, fmt, log, table
from oneline import SCRIPT_TEXT

FULL_E_REPEAT = 3
E_SIZES = (1000, 2000, 5000, 10000)
E_QUICK_SIZES = (1000, 2000)
E_WIDTH = 100  # jobs per layer; the number of layers grows with the size
E_SAMPLE_JOBS = 10_000  # a size below this runs several times per repeat, its best kept
E_FLAT_LIMIT = 1.5  # per-job time at 10,000 / at 1,000 at most this to call it flat


def build_layered(size: int, root: Path):  # noqa: ANN201 - a pyoneer.Project
    """``size // E_WIDTH`` layers of ``E_WIDTH`` jobs; each job after the first layer needs
    1-3 jobs of the layer before (seeded, so every run builds the same DAG). Every task
    points at the same script, ``root/s.py``."""
    import pyoneer

    rng = random.Random(size)
    layers = size // E_WIDTH
    jobs, needs = [], {}
    for layer in range(layers):
        for index in range(E_WIDTH):
            name = f"j{layer:03d}-{index:03d}"
            jobs.append(pyoneer.Job(name, tasks=["s.py"]))
            if layer:
                needs[name] = [f"j{layer - 1:03d}-{other:03d}" for other in rng.sample(range(E_WIDTH), rng.randint(1, 3))]
    return pyoneer.Project(f"e{size}", jobs=jobs, needs=needs, root=root)


def e_root() -> Path:
    """A temporary directory with the one script every task of E points at."""
    root = Path(tempfile.mkdtemp(prefix="pyoneer-bench-E-"))
    (root / "s.py").write_text(SCRIPT_TEXT)
    return root


def manager_alone(project) -> float:  # noqa: ANN001
    """Manager + no-op engine directly: no lock, no ledger, no fingerprints."""
    from noop_engine import NoopEngine

    import pyoneer

    gc.collect()
    start = time.perf_counter()
    manager = pyoneer.Manager(NoopEngine(), workers=WORKERS)
    manager.start()
    manager.assign(project)
    result = manager.run()
    manager.stop()
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"manager run not ok: {result.statuses}")
    return elapsed


def manager_with_ledger(project) -> float:  # noqa: ANN001
    """``pyoneer.run`` with the no-op engine: lock, ledger (SQLite), fingerprints, recorder.

    The project's ``.pyoneer/`` is removed first, so every sample starts from an empty
    ledger, as a fresh directory would (the Project is reused: building it is costly)."""
    from noop_engine import NoopEngine

    import pyoneer

    shutil.rmtree(project.root / ".pyoneer", ignore_errors=True)
    gc.collect()
    start = time.perf_counter()
    result = pyoneer.run(project, workers=WORKERS, engine=NoopEngine())
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"pyoneer.run not ok: {result.statuses}")
    return elapsed


def fingerprint_time(project) -> float | None:  # noqa: ANN001
    """The time of fingerprinting ``project`` alone, seconds."""
    try:
        from pyoneer.blueprints.fingerprint import fingerprints
    except ImportError:
        return None
    start = time.perf_counter()
    fingerprints(project)
    return time.perf_counter() - start


def run_e(repeat: int, sizes: tuple[int, ...], memory: bool) -> dict:
    """Measure E at each of ``sizes``, ``repeat`` times, and its memory if asked."""
    sys.path.insert(0, str(HERE))
    out: dict = {"sizes": list(sizes), "width": E_WIDTH, "workers": WORKERS, "repeat": repeat, "per_size": {}}
    projects = {}
    roots = []
    try:
        for size in sizes:
            root = e_root()
            roots.append(root)
            gc.collect()
            start = time.perf_counter()
            projects[size] = build_layered(size, root)
            built = time.perf_counter() - start
            prints = fingerprint_time(projects[size])
            edges = sum(len(up) for _, up in projects[size].needs)
            out["per_size"][size] = {"build_s": built, "fingerprints_s": prints, "edges": edges,
                                     "alone": [], "ledger": []}
            log(f"  E build {size:>6} jobs ({edges} edges): {built:.3f} s; fingerprints {fmt(prints)} s")
        for rep in range(repeat):
            for size in sizes:
                entry = out["per_size"][size]
                # a small DAG runs in a few hundredths of a second, where one hiccup of the
                # machine shows: run it as often as it takes to cover E_SAMPLE_JOBS jobs
                runs = max(1, -(-E_SAMPLE_JOBS // size))
                alone = min(manager_alone(projects[size]) for _ in range(runs))
                entry["alone"].append(alone)
                ledger = min(manager_with_ledger(projects[size]) for _ in range(runs))
                entry["ledger"].append(ledger)
                best = f" (best of {runs})" if runs > 1 else ""
                log(f"  E {rep + 1}/{repeat} {size:>6} jobs: alone {alone:.3f} s, with ledger {ledger:.3f} s{best}")
        if memory and sizes:
            biggest = max(sizes)
            out["memory"] = {"jobs": biggest}
            try:
                out["memory"]["tracemalloc"] = tracemalloc_peaks(projects[biggest])
                out["memory"]["child"] = child_rss(biggest)
            except Exception as exc:  # noqa: BLE001
                out["memory"]["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    for size, entry in out["per_size"].items():
        for key in ("alone", "ledger"):
            median = statistics.median(entry[key]) if entry[key] else None
            entry[f"{key}_median_s"] = median
            entry[f"{key}_per_job_us"] = median / size * 1e6 if median is not None else None
        entry["build_per_job_us"] = entry["build_s"] / size * 1e6
    if len(sizes) >= 2:
        small, big = min(sizes), max(sizes)
        for key in ("alone", "ledger", "build"):
            a = out["per_size"][small][f"{key}_per_job_us"]
            b = out["per_size"][big][f"{key}_per_job_us"]
            ratio = b / a if a else None
            out[f"{key}_flatness"] = {"small": small, "big": big, "ratio": ratio,
                                      "flat": ratio is not None and ratio <= E_FLAT_LIMIT}
    return out


def tracemalloc_peaks(project) -> dict:  # noqa: ANN001
    """tracemalloc peaks (MiB) of each kind of manager run on ``project`` (already built).

    The peak counts only what the run allocates on top of what was there before it."""
    import tracemalloc

    peaks = {}
    try:
        for key, runner in (("alone_peak_mib", manager_alone), ("ledger_peak_mib", manager_with_ledger)):
            gc.collect()
            tracemalloc.start()
            base, _ = tracemalloc.get_traced_memory()
            runner(project)
            peaks[key] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
            tracemalloc.stop()
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
    log("  E tracemalloc: " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))
    return peaks


def child_rss(size: int) -> dict:
    """ru_maxrss of a child process that builds ``size`` jobs and runs them (whole-process peak)."""
    argv = [PYTHON, str(HERE / "bench.py"), "--e-child", str(size)]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            log(f"  E child {size} jobs: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()))
            return result
    raise RuntimeError(f"E child exited {done.returncode}: {done.stderr.strip()[-500:]}")


def e_child(size: int) -> int:
    """In a child: the process's peak RSS (MiB) after imports, building, and each kind of run.

    The peak is VmHWM from /proc/self/status, the high-water mark of this process's own
    memory. ru_maxrss is printed too, but on Linux it is inherited across fork + exec, so
    it starts at the RSS of the process that spawned us (the benchmark) and overstates."""
    sys.path.insert(0, str(HERE))
    import noop_engine  # noqa: F401

    import pyoneer  # noqa: F401

    def peaks() -> tuple[float, float, float]:
        status = {}
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                key, _, value = line.partition(":")
                status[key] = value.split()
        except OSError:
            pass
        hwm = float(status["VmHWM"][0]) / 1024 if "VmHWM" in status else float("nan")
        rss = float(status["VmRSS"][0]) / 1024 if "VmRSS" in status else float("nan")
        return hwm, rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    out = {}
    out["imports"] = peaks()
    root = e_root()
    try:
        project = build_layered(size, root)
        out["build"] = peaks()
        manager_alone(project)
        out["alone"] = peaks()
        manager_with_ledger(project)
        out["ledger"] = peaks()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {f"{phase}_{name}_mib": values[i] for phase, values in out.items()
              for i, name in enumerate(("hwm", "rss", "ru_maxrss"))}
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# The report --------------------------------------------------------------------------


def report_e(e: dict) -> list[str]:
    """The lines of E's part of the report."""
    out: list[str] = []
    out.append(f"Workload E: the manager alone, no-op engine, layers of {e['width']} jobs each needing 1-3 of "
               f"the layer before, workers {e['workers']}, median of {e['repeat']}")
    erows = []
    for size in e["sizes"]:
        s = e["per_size"][size]
        erows.append([f"{size:,}", str(s["edges"]), fmt(s["build_s"]), fmt(s["build_per_job_us"], 0),
                      fmt(s["fingerprints_s"]),
                      fmt(s["alone_median_s"]), fmt(s["alone_per_job_us"], 1),
                      fmt(s["ledger_median_s"]), fmt(s["ledger_per_job_us"], 1)])
    out.append(table(["jobs", "edges", "build s", "build us/job", "fingerprints s", "alone s", "alone us/job",
                      "ledger s", "ledger us/job"], erows, set(range(9))))
    out.append("build = pyoneer.Project(...) (validation); alone = Manager + engine directly; "
               "ledger = pyoneer.run (lock, SQLite ledger, fingerprints, recorder)")
    for key, label in (("alone", "manager alone"), ("ledger", "manager with ledger"), ("build", "Project build")):
        flat = e.get(f"{key}_flatness")
        if flat and flat["ratio"] is not None:
            verdict = "flat" if flat["flat"] else "NOT flat"
            out.append(f"  {label:<20} per-job time at {flat['big']:,} / at {flat['small']:,} = "
                       f"{flat['ratio']:.2f} -> {verdict} (limit {E_FLAT_LIMIT})")
    memory = e.get("memory")
    if memory:
        t = memory.get("tracemalloc", {})
        c = memory.get("child", {})
        out.append(f"  memory at {memory['jobs']:,} jobs, tracemalloc peak of the run (MiB, on top of the built "
                   f"project): manager alone {fmt(t.get('alone_peak_mib'), 1)}, with ledger {fmt(t.get('ledger_peak_mib'), 1)}")
        if c:
            out.append(f"  memory at {memory['jobs']:,} jobs, peak RSS of a child process (VmHWM, MiB; peak so far): "
                       f"after imports {fmt(c.get('imports_hwm_mib'), 1)}, after build {fmt(c.get('build_hwm_mib'), 1)} "
                       f"(RSS {fmt(c.get('build_rss_mib'), 1)}), after manager alone {fmt(c.get('alone_hwm_mib'), 1)}, "
                       f"after run with ledger {fmt(c.get('ledger_hwm_mib'), 1)}")
            out.append(f"    (ru_maxrss of that child: {fmt(c.get('ledger_ru_maxrss_mib'), 1)} MiB at the end, "
                       f"{fmt(c.get('imports_ru_maxrss_mib'), 1)} already after imports: on Linux it is inherited "
                       "across fork+exec from the spawning process, so VmHWM is the figure to read)")
        if memory.get("error"):
            out.append(f"  memory: error {memory['error']}")
    if e.get("error"):
        out.append(f"  E error: {e['error']}")
    out.append("")
    return out
