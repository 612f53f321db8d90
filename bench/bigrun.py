"""Workload F: a real ``pyoneer run`` of 10,000 one-line jobs (warm, --workers 2): the
peak RSS of Pyoneer's own processes, then ``pyoneer status --json`` and ``pyoneer
status`` of that run."""

from __future__ import annotations

import os
import statistics
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from basics import PYTHON, WORKERS, fmt, log, table
from oneline import Spec, write_project

F_JOBS = 10_000
F_QUICK_JOBS = 1_000
F_STATUS_REPEAT = 3


#: ru_maxrss (KiB): the peak of the biggest process of the tree. A fresh ``python -S``
#: (~8 MB) forks it, as ru_maxrss carries over fork + exec from the process that forked
F_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def _hwm_mib(pid: int) -> float | None:
    """VmHWM of a live process (its own high-water mark, not inherited), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for thread in os.listdir(f"/proc/{pid}/task"):
            found += [int(child) for child in Path(f"/proc/{pid}/task/{thread}/children").read_text().split()]
    except OSError:
        pass
    return found


def _timed_command(argv: list[str], directory: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}")
    return time.perf_counter() - start


def run_f(command: list[str], jobs: int) -> dict:
    """A real run of ``jobs`` independent one-line jobs, then the reading commands on it."""
    spec = Spec([(f"j{i:05d}", f"j{i:05d}.py", []) for i in range(jobs)])
    directory = Path(tempfile.mkdtemp(prefix="pyoneer-bench-F-"))
    out: dict = {"jobs": jobs, "workers": WORKERS}
    try:
        write_project(directory, "bench-f", spec, fresh=False, with_toml=True)
        result = directory.parent / f"{directory.name}.result"
        argv = [PYTHON, "-S", "-c", F_LAUNCHER, str(result), *command, "run", str(directory),
                "--workers", str(WORKERS)]
        start = time.perf_counter()
        launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        manager: int | None = None
        peaks: dict[int, float] = {}
        while launcher.poll() is None:  # VmHWM only grows: the last reading is the peak but for the last 20 ms
            manager = manager or next(iter(_children(launcher.pid)), None)
            for pid in [manager, *_children(manager)] if manager else []:
                hwm = _hwm_mib(pid)
                if hwm is not None:
                    peaks[pid] = max(peaks.get(pid, 0.0), hwm)
            time.sleep(0.02)
        out["run_s"] = time.perf_counter() - start
        stderr = launcher.stderr.read().decode(errors="replace") if launcher.stderr else ""
        code, maxrss = result.read_text().split()
        result.unlink()
        if int(code) != 0:
            raise RuntimeError(f"pyoneer run exited {code}: {stderr[-500:]}")
        out["tree_peak_mib"] = int(maxrss) / 1024
        out["manager_peak_mib"] = peaks.get(manager) if manager else None
        out["fork_server_peaks_mib"] = sorted(v for pid, v in peaks.items() if pid != manager)
        log(f"  F run of {jobs:,} jobs: {out['run_s']:.1f} s; peak RSS: biggest process {out['tree_peak_mib']:.1f} MiB, "
            f"manager {fmt(out['manager_peak_mib'], 1)}, fork servers {[round(v, 1) for v in out['fork_server_peaks_mib']]}")
        for key, extra in (("status_json", ["--json"]), ("status_table", [])):
            times = [_timed_command([*command, "status", *extra], directory) for _ in range(F_STATUS_REPEAT)]
            out[f"{key}_s"] = statistics.median(times)
            log(f"  F pyoneer status {' '.join(extra)}: median {out[f'{key}_s']:.3f} s of {times}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return out


# The report --------------------------------------------------------------------------


def report_f(f: dict) -> list[str]:
    """The lines of F's part of the report."""
    out: list[str] = []
    if f.get("error"):
        out.append(f"Workload F: error {f['error']}")
    else:
        servers = ", ".join(f"{v:.1f}" for v in f["fork_server_peaks_mib"]) or "-"
        out.append(f"Workload F: a real run of {f['jobs']:,} one-line jobs, warm, --workers {f['workers']}")
        out.append(table(["run s", "peak RSS MiB (biggest process)", "manager MiB", "fork servers MiB",
                          "status --json s", "status s"],
                         [[fmt(f["run_s"], 1), fmt(f["tree_peak_mib"], 1), fmt(f["manager_peak_mib"], 1), servers,
                           fmt(f["status_json_s"]), fmt(f["status_table_s"])]], set(range(6))))
        out.append("peak RSS: ru_maxrss of the whole tree (a `python -S` forks `pyoneer run`, so nothing is "
                   "inherited); per process: VmHWM read every 20 ms; status: whole process, median of "
                   f"{F_STATUS_REPEAT}")
    out.append("")
    return out
