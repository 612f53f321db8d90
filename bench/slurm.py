"""Workload S: a 200-member sweep on a real three-node Slurm, three ways.

    python bench/slurm.py                      # 3 repeats (~2-3 min here), as root with Debian's Slurm
    python bench/slurm.py --repeat 5 --workers 12 --json s.json
    python bench/bench.py --only S             # the same, inside bench.py's clean venv

It starts the test cluster of ``tests/slurm_cluster.py`` (munged, slurmctld and three
slurmd "nodes" n1..n3 of 4 CPUs each, all on 127.0.0.1, in a temporary directory), and
stops every daemon it started, by pid, whatever happens. The project is one job with a
matrix of 200 members (``[jobs.member] matrix = { i = [0..199] }``), each a one-line
script (``print(int(sys.argv[1]) ** 2)``). It is run:

lazy     ``pyoneer run DIR --engine slurm --workers 12``: Pyoneer's lazy workers, each an
         allocation that takes member after member;
sbatch   one ``sbatch --wrap "python one.py I"`` per member, as Snakemake's Slurm executor
         submits one batch job per job (hand-written here: the members one after another,
         then one ``squeue`` a second for all of them, until every one has ended);
local    ``pyoneer run DIR`` without ``--engine``: the local engine, the floor.

Each sample gets a fresh directory; within a repeat the modes take turns in a rotating
order, and before each sample the cluster is let go quiet (no job alive, every node
idle), untimed. Wall time is the whole ``pyoneer run`` process, or for ``sbatch`` the
first submission to the ``squeue`` that shows every member ended. Slurm jobs are
counted by asking Slurm (``squeue -t all``: the cluster keeps ended jobs 600 s) which
job ids are new after the sample. Needs root and Debian's Slurm packages; elsewhere it
says why and measures nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

from slurm_cluster import CPUS_PER_NODE, NODES, SlurmCluster, missing  # noqa: E402

MEMBERS = 200
REPEAT = 3
WORKERS = len(NODES) * CPUS_PER_NODE  # the cluster's 12 CPUs: one lazy worker per CPU
POLL = 1.0  # seconds between two squeue calls of the sbatch baseline
MODES = ("lazy", "sbatch", "local")
SCRIPT = "import sys\nprint(int(sys.argv[1]) ** 2)\n"
#: states of a Slurm job that has not ended
ALIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUED", "SIGNALING"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pyoneer_command(python: str = sys.executable) -> list[str]:
    script = Path(python).with_name("pyoneer")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [python, "-m", "pyoneer"]


def write_sweep(directory: Path, members: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "one.py").write_text(SCRIPT)
    (directory / "pyoneer.toml").write_text(
        '[project]\nname = "sweep"\n\n[jobs.member]\n'
        f"matrix = {{ i = {list(range(members))} }}\n"
        'tasks = ["one.py {i}"]\n'
    )


def job_ids(cluster: SlurmCluster) -> set[str]:
    """Every job id Slurm knows of, ended ones too."""
    return {job["id"] for job in cluster.jobs(all_states=True)}


def wait_quiet(cluster: SlurmCluster, timeout: float = 180.0) -> None:
    """No job alive (waiting, running or completing) and every node idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not cluster.jobs() and cluster.idle_nodes() == set(NODES):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the cluster did not go quiet within {timeout:g} s: {cluster.jobs()}")


def run_lazy(command: list[str], directory: Path, env: dict, workers: int) -> dict:
    argv = [*command, "run", str(directory), "--engine", "slurm", "--workers", str(workers)]
    started = time.time()
    seconds = _timed(argv, env)
    detail = {"seconds": seconds}
    try:
        detail.update(lazy_timeline(command, directory, started))
    except Exception as exc:  # noqa: BLE001 - a diagnostic only: the wall time stands without it
        detail["timeline_error"] = f"{type(exc).__name__}: {exc}"
    return detail


def lazy_timeline(command: list[str], directory: Path, started: float) -> dict:
    """Where a lazy run's time went, from its ledger (``status --json``) and its workers'
    mailboxes (the mtime of a worker's first order, written just after its ``sbatch``,
    and of its first word, the hello of its node side): seconds since the run was started."""
    state = json.loads(subprocess.run([*command, "status", str(directory), "--json"], capture_output=True,
                                      text=True, check=True).stdout)
    slurm_dir = directory / ".pyoneer" / "runs" / state["run"]["id"] / "slurm"
    jobs: dict[str, list[dict]] = {}
    for row in state["blueprints"]:
        if row["kind"] == "job" and row.get("started") and row.get("ended"):
            jobs.setdefault(row["pyoneer"], []).append(row)
    queued, hello, later = [], [], []
    for worker, rows in jobs.items():
        rows.sort(key=lambda row: row["started"])
        queued.append((slurm_dir / worker / "orders" / "00000001").stat().st_mtime - started)
        hello.append((slurm_dir / worker / "told" / "00000001").stat().st_mtime - started)
        later += [row["ended"] - row["started"] for row in rows[1:]]
    ends = [row["ended"] for rows in jobs.values() for row in rows]
    return {"queued_s": [min(queued), max(queued)], "hello_s": [min(hello), max(hello)],
            "later_member_ms": statistics.median(later) * 1000 if later else None,
            "last_member_s": max(ends) - started, "run_ended_s": state["run"]["ended"] - started}


def run_local(command: list[str], directory: Path, env: dict) -> float:
    return _timed([*command, "run", str(directory)], env)


def _timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} ... exited {done.returncode}: "
                           f"{done.stderr.decode(errors='replace')[-800:]}")
    return elapsed


def run_sbatch(python: str, directory: Path, env: dict, members: int, poll: float) -> dict:
    """One sbatch per member, then one squeue for all of them every ``poll`` seconds."""
    out = directory / "slurm"
    out.mkdir()
    start = time.perf_counter()
    ids = []
    for i in range(members):
        done = subprocess.run(
            ["sbatch", "--parsable", f"--job-name=bench-sbatch-{i}", f"--output={out}/%j.out", f"--chdir={directory}",
             "--nodes=1", "--ntasks=1", "--cpus-per-task=1", "--no-requeue", "--wrap", f"{python} one.py {i}"],
            env=env, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"sbatch exited {done.returncode}: {done.stderr.strip()[-300:]}")
        ids.append(done.stdout.strip().split(";")[0])
    submitted = time.perf_counter() - start
    polls = 0
    while True:
        time.sleep(poll)
        polls += 1
        done = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T"],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"squeue exited {done.returncode}: {done.stderr.strip()[-300:]}")
        states = dict(line.split("|", 1) for line in done.stdout.split() if "|" in line)
        if len(states) == len(ids) and not ALIVE & set(states.values()):
            break
    elapsed = time.perf_counter() - start
    failed = {i: s for i, s in states.items() if s != "COMPLETED"}
    if failed:
        raise RuntimeError(f"{len(failed)} sbatch jobs did not complete: {sorted(failed.items())[:5]}")
    return {"seconds": elapsed, "submit_s": submitted, "polls": polls}


def first_allocation(cluster: SlurmCluster, python: str, directory: Path, times: int = 3) -> list[float]:
    """Seconds from one ``sbatch`` of ``python -c pass`` to squeue showing it ended (0.05 s polls)."""
    samples = []
    for _ in range(times):
        wait_quiet(cluster)
        start = time.perf_counter()
        number = subprocess.run(["sbatch", "--parsable", f"--output={directory}/one-%j.out", f"--chdir={directory}",
                                 "--wrap", f"{python} -c pass"], env=cluster.env, capture_output=True,
                                text=True, check=True).stdout.strip()
        while True:
            state = subprocess.run(["squeue", "-h", "-t", "all", "-j", number, "-o", "%T"], env=cluster.env,
                                   capture_output=True, text=True).stdout.strip()
            if state and state not in ALIVE:
                break
            time.sleep(0.05)
        samples.append(time.perf_counter() - start)
    return samples


def run_s(command: list[str] | None = None, python: str = sys.executable, repeat: int = REPEAT,
          workers: int = WORKERS, members: int = MEMBERS, poll: float = POLL) -> dict:
    """Measure S; a dict of the figures, or ``{"skipped": why}``."""
    why = missing()
    if why:
        return {"skipped": why}
    command = command or pyoneer_command(python)
    root = Path(tempfile.mkdtemp(prefix="pyoneer-bench-slurm-"))
    cluster = SlurmCluster(root / "cluster")
    result: dict = {"members": members, "workers": workers, "repeat": repeat, "poll_s": poll,
                    "nodes": f"{len(NODES)} x {CPUS_PER_NODE} CPUs", "python": python,
                    "load_average_start": _load()}
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    jobs: dict[str, list[int]] = {mode: [] for mode in MODES}
    extra: list[dict] = []
    timelines: list[dict] = []
    try:
        log(f"workload S: starting the test cluster in {cluster.directory} ...")
        started = time.perf_counter()
        cluster.start()
        result["cluster_start_s"] = time.perf_counter() - started
        env = cluster.env
        log("workload S: one sbatch of `python -c pass`, submit to end ...")
        result["one_sbatch_s"] = first_allocation(cluster, python, root)
        for rep in range(repeat):
            order = MODES[rep % len(MODES):] + MODES[:rep % len(MODES)]
            for mode in order:
                directory = root / f"{mode}-{rep}"
                write_sweep(directory, members)
                wait_quiet(cluster)
                before = job_ids(cluster)
                if mode == "lazy":
                    detail = run_lazy(command, directory, env, workers)
                    seconds = detail["seconds"]
                    timelines.append(detail)
                elif mode == "local":
                    seconds = run_local(command, directory, env)
                else:
                    detail = run_sbatch(python, directory, env, members, poll)
                    seconds = detail["seconds"]
                    extra.append(detail)
                times[mode].append(seconds)
                jobs[mode].append(len(job_ids(cluster) - before))
                log(f"  repeat {rep + 1}/{repeat} {mode:<6} {seconds:7.2f} s, {jobs[mode][-1]} Slurm jobs")
                shutil.rmtree(directory, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the cluster is stopped below
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        log("workload S: stopping the test cluster ...")
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    result["times_s"] = times
    result["slurm_jobs"] = jobs
    result["median_s"] = {mode: statistics.median(ts) if ts else None for mode, ts in times.items()}
    result["sbatch_submit_s"] = [d["submit_s"] for d in extra]
    result["sbatch_polls"] = [d["polls"] for d in extra]
    result["lazy_timelines"] = timelines
    med = result["median_s"]
    result["sbatch_over_lazy"] = med["sbatch"] / med["lazy"] if med["sbatch"] and med["lazy"] else None
    result["lazy_over_local"] = med["lazy"] / med["local"] if med["lazy"] and med["local"] else None
    result["load_average_end"] = _load()
    return result


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def report_s(s: dict) -> str:
    """Workload S's lines for the report."""
    if s.get("skipped"):
        return f"Workload S (Slurm): skipped: {s['skipped']}"
    if "members" not in s:
        return f"Workload S (Slurm): error {s.get('error')}"
    out = [f"Workload S: a {s['members']}-member sweep of one-line scripts on a real Slurm ({s['nodes']} nodes, "
           f"one host), median of {s['repeat']}"]
    if s.get("error"):
        out.append(f"  S error: {s['error']}")
    rows = []
    words = {"lazy": f"pyoneer run --engine slurm --workers {s['workers']}",
             "sbatch": f"one sbatch per member, one squeue for all every {s['poll_s']:g} s",
             "local": "pyoneer run (local engine, default workers)"}
    for mode in MODES:
        ts, counts = s["times_s"][mode], s["slurm_jobs"][mode]
        if not ts:
            rows.append([mode, "-", "-", "-", words[mode]])
            continue
        spread = f"{min(ts):.2f}-{max(ts):.2f}"
        count = "-".join(sorted({str(c) for c in counts}, key=int))
        rows.append([mode, f"{statistics.median(ts):.2f}", spread, count, words[mode]])
    width = [max(len(r[i]) for r in rows + [["mode", "median s", "range s", "Slurm jobs", "how"]]) for i in range(5)]
    for cells in [["mode", "median s", "range s", "Slurm jobs", "how"], *rows]:
        out.append("  " + "  ".join(c.rjust(w) if i in (1, 2, 3) else c.ljust(w) for i, (c, w) in
                                    enumerate(zip(cells, width))).rstrip())

    def ratio(key: str) -> str:
        return f"{s[key]:.2f}" if s.get(key) else "-"

    out.append(f"  sbatch / lazy = {ratio('sbatch_over_lazy')} (goal >= 5); lazy / local = "
               f"{ratio('lazy_over_local')} (goal < 1.5)")
    if s.get("sbatch_submit_s"):
        out.append("  sbatch: the 200 submissions alone took " + ", ".join(f"{v:.2f}" for v in s["sbatch_submit_s"])
                   + " s; squeue calls " + ", ".join(str(v) for v in s["sbatch_polls"]))
    for t in s.get("lazy_timelines", []):
        if "hello_s" in t:
            out.append(f"  lazy {t['seconds']:.2f} s: sbatch of its {s['workers']} workers done by "
                       f"+{t['queued_s'][1]:.2f} s, their node sides said hello +{t['hello_s'][0]:.2f}..+"
                       f"{t['hello_s'][1]:.2f} s; each later member {t['later_member_ms']:.0f} ms from its "
                       f"assignment to its end heard (median); last member +{t['last_member_s']:.2f} s, "
                       f"run ended +{t['run_ended_s']:.2f} s")
        elif t.get("timeline_error"):
            out.append(f"  lazy {t['seconds']:.2f} s: no timeline ({t['timeline_error']})")
    if s.get("one_sbatch_s"):
        out.append("  one sbatch of `python -c pass`, submitted to seen ended (squeue every 0.05 s): "
                   + ", ".join(f"{v:.2f}" for v in s["one_sbatch_s"]) + " s")
    out.append(f"  cluster start {s.get('cluster_start_s', 0):.1f} s (not timed in the rows); load average "
               f"{s['load_average_start']} at the start, {s['load_average_end']} at the end")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Workload S: a sweep on a real Slurm, lazy workers against "
                                                 "one sbatch per job and the local engine.")
    parser.add_argument("--repeat", type=int, default=REPEAT, help=f"repeats of each mode (default {REPEAT})")
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help=f"--workers of the lazy run (default {WORKERS}: the cluster's CPUs)")
    parser.add_argument("--members", type=int, default=MEMBERS, help=f"members of the sweep (default {MEMBERS})")
    parser.add_argument("--poll", type=float, default=POLL, help=f"seconds between the baseline's squeue calls "
                                                                  f"(default {POLL:g})")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    s = run_s(repeat=args.repeat, workers=args.workers, members=args.members, poll=args.poll)
    print(report_s(s))
    if args.json:
        args.json.write_text(json.dumps(s, indent=2) + "\n")
    return 1 if s.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
