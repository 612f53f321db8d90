"""Workloads A-D: one-line scripts (each ``x = 1``), run by Pyoneer and by a hand-written
baseline doing the same work with the same interpreter and the same parallelism.

A  200 independent scripts, --workers 2      baseline: ThreadPoolExecutor(2) + subprocess.run
B  a chain of 100 jobs                       baseline: the 100 scripts one after another
C  fan-out and fan-in, 1 -> 200 -> 1         baseline: first, the 200 on a pool of 2, last
D  a one-task project, the whole process     baseline: subprocess.run([python, script])
"""

from __future__ import annotations

import concurrent.futures
import gc
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from basics import MODE_BASELINE, PYTHON, WORKERS, Row, children_cpu, fmt, log, table

SCRIPT_TEXT = "x = 1\n"


# Projects on disk --------------------------------------------------------------------
@dataclass
class Spec:
    """One workload's jobs, each one task, in a directory: (job, script, needs)."""

    jobs: list[tuple[str, str, list[str]]]
    #: how the baseline runs the scripts: lists of scripts, each list run on a pool of
    #: WORKERS threads (``parallel``) or one after another
    stages: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def tasks(self) -> int:
        return len(self.jobs)


def spec_of(workload: str) -> Spec:
    """The jobs of workload A, B, C or D and how its baseline runs them."""
    if workload == "A":
        jobs = [(f"t{i:03d}", f"t{i:03d}.py", []) for i in range(200)]
        return Spec(jobs, [("parallel", [script for _, script, _ in jobs])])
    if workload == "B":
        jobs = [(f"c{i:03d}", f"c{i:03d}.py", [f"c{i - 1:03d}"] if i else []) for i in range(100)]
        return Spec(jobs, [("serial", [script for _, script, _ in jobs])])
    if workload == "C":
        fan = [(f"f{i:03d}", f"f{i:03d}.py", ["first"]) for i in range(200)]
        jobs = [("first", "first.py", []), *fan, ("last", "last.py", [name for name, _, _ in fan])]
        return Spec(
            jobs,
            [("serial", ["first.py"]), ("parallel", [script for _, script, _ in fan]), ("serial", ["last.py"])],
        )
    if workload == "D":
        return Spec([("main", "main.py", [])], [("serial", ["main.py"])])
    raise ValueError(workload)


def write_project(directory: Path, name: str, spec: Spec, fresh: bool, with_toml: bool) -> None:
    """The scripts of ``spec`` in ``directory``, and with ``with_toml`` its ``pyoneer.toml``."""
    for _, script, _ in spec.jobs:
        (directory / script).write_text(SCRIPT_TEXT)
    if not with_toml:
        return
    lines = ["[project]", f'name = "{name}"']
    if fresh:
        lines.append("fresh = true")
    for job, script, needs in spec.jobs:
        lines += ["", f"[jobs.{job}]", f'tasks = ["{script}"]']
        if needs:
            lines.append("needs = [" + ", ".join(f'"{other}"' for other in needs) + "]")
    (directory / "pyoneer.toml").write_text("\n".join(lines) + "\n")


def run_script(directory: Path, script: str) -> None:
    """``python script`` in ``directory``, by hand; raises if it fails."""
    done = subprocess.run(
        [PYTHON, script], cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} exited {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}")


def run_baseline(directory: Path, spec: Spec) -> float:
    """The hand-written baseline of ``spec``: its wall time, seconds."""
    start = time.perf_counter()
    for how, scripts in spec.stages:
        if how == "serial":
            for script in scripts:
                run_script(directory, script)
        else:
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
                for _ in pool.map(lambda script: run_script(directory, script), scripts):
                    pass
    return time.perf_counter() - start


class NotApplicable(Exception):
    """This mode cannot run with this pyoneer (e.g. the ``fresh`` key is refused)."""


def run_pyoneer(command: list[str], directory: Path, workload: str, fresh: bool) -> float:
    """``pyoneer run DIR`` as a whole process: its wall time, seconds."""
    argv = [*command, "run", str(directory)]
    if workload != "D":
        argv += ["--workers", str(WORKERS)]
    start = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        if done.returncode == 2 and fresh and "fresh" in err:
            raise NotApplicable(err.splitlines()[0] if err else "the fresh key is refused")
        raise RuntimeError(f"pyoneer run exited {done.returncode}: {err[-500:]}")
    return elapsed


def probe_fresh(command: list[str]) -> tuple[bool, str]:
    """Whether this pyoneer accepts ``fresh = true`` under ``[project]`` (``pyoneer check``)."""
    directory = Path(tempfile.mkdtemp(prefix="pyoneer-bench-probe-"))
    try:
        write_project(directory, "probe", spec_of("D"), fresh=True, with_toml=True)
        done = subprocess.run(
            [*command, "check", str(directory)], stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        if done.returncode == 0:
            return True, "accepted"
        text = (done.stderr or done.stdout).strip().splitlines()
        return False, text[0] if text else f"pyoneer check exited {done.returncode}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# Workloads A-D -------------------------------------------------------------------------


def run_a_to_d(workloads: list[str], repeat: int, command: list[str], modes: list[tuple[str, bool | None]]) -> list[Row]:
    """Each of ``workloads`` in each mode, ``repeat`` times, the modes in a rotating order.

    ``modes``: (label, fresh) with fresh None for the baseline."""
    rows = {(w, label): Row(w, label, tasks=spec_of(w).tasks) for w in workloads for label, _ in modes}
    for rep in range(repeat):
        for workload in workloads:
            spec = spec_of(workload)
            order = modes[rep % len(modes):] + modes[: rep % len(modes)]
            for label, fresh in order:
                row = rows[(workload, label)]
                if row.status != "ok":
                    continue
                directory = Path(tempfile.mkdtemp(prefix=f"pyoneer-bench-{workload}-"))
                try:
                    write_project(directory, f"bench-{workload.lower()}", spec, bool(fresh), with_toml=fresh is not None)
                    gc.collect()
                    cpu = children_cpu()
                    if fresh is None:
                        elapsed = run_baseline(directory, spec)
                    else:
                        elapsed = run_pyoneer(command, directory, workload, fresh)
                    row.times.append(elapsed)
                    row.cpu.append(children_cpu() - cpu)
                    log(f"  {workload} {rep + 1}/{repeat} {label:<16} {elapsed:8.3f} s")
                except NotApplicable as exc:
                    row.status, row.note = "n/a", str(exc)
                    log(f"  {workload} {label}: n/a ({exc})")
                except Exception as exc:  # noqa: BLE001 - report and go on with the rest
                    row.status, row.note = "error", f"{type(exc).__name__}: {exc}"
                    log(f"  {workload} {label}: ERROR {row.note}")
                finally:
                    shutil.rmtree(directory, ignore_errors=True)
    return list(rows.values())

# The report --------------------------------------------------------------------------


def report_a_to_d(rows: list[Row], refused: str | None) -> list[str]:
    """The lines of the A-D table (the peers' rows among them), or none if no row.

    ``refused`` says why ratios are not printed (the interpreter starts too slowly)."""
    out: list[str] = []
    baselines = {r.workload: r.median for r in rows if r.mode == MODE_BASELINE and r.status == "ok"}
    lines = []
    for r in rows:
        base = baselines.get(r.workload)
        ratio = r.median / base if r.median is not None and base and not refused else None
        extra = (r.median - base) / r.tasks * 1000 if r.median is not None and base and r.tasks and r.mode != MODE_BASELINE else None
        status = "" if r.status == "ok" else r.status
        median = fmt(r.median) if r.status == "ok" else (r.status if r.status != "ok" else "-")
        ratio_text = ("refused" if refused else fmt(ratio, 2)) if r.status == "ok" else "n/a"
        lines.append([r.workload, r.mode, median, ratio_text, str(len(r.times)),
                      fmt(extra, 1) if r.status == "ok" and not refused else "", fmt(r.cpu_per_task_ms, 2),
                      (status + ": " if status else "") + r.note])
    if lines:
        out.append("Workloads A-D (seconds, wall clock, time.perf_counter)")
        out.append(table(["workload", "mode", "median s", "ratio", "runs", "extra ms/task", "cpu ms/task", "note"],
                         lines, {2, 3, 4, 5, 6}))
        out.append("cpu ms/task = median CPU (user + system) of every process of a sample, from "
                   "getrusage(RUSAGE_CHILDREN), / tasks (peers: not measured; Ray's daemons are not our children)")
        if refused:
            out.append(f"RATIOS REFUSED: {refused}")
        out.append("")
        out.append("A 200 independent scripts --workers 2 | B chain of 100 | C 1 -> 200 -> 1 --workers 2 | "
                   "D one-task project, whole `pyoneer run` process")
        out.append("extra ms/task = (median - baseline median) / number of tasks")
        out.append("")
    return out
