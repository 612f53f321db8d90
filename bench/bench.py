"""The Pyoneer benchmark: Pyoneer against hand-written baselines, in one invocation.

    python bench/bench.py                  # everything, 5 repeats (A-D), 3 (E), in a clean venv
    python bench/bench.py --quick          # 1 repeat, smaller E, no peers: a smoke test
    python bench/bench.py --only A,D --repeat 3 --peers   # with Ray, Dask, Luigi installed beside it
    python bench/bench.py --python .venv/bin/python       # this interpreter as it is (its site too)

It measures in a clean virtual environment that it makes itself (with only Pyoneer, and
the peers when asked, installed: ``pip install`` from the package index), so that a slow
site (a ``.pth`` file that imports a package at every start) does not decide the figures.
It prints ``python -c pass`` and refuses to print ratios when that start-up exceeds
25 ms, saying why; ``--python PATH`` measures with PATH as it is, as before.

Workloads (see bench/README.md):

A  200 independent one-line scripts, --workers 2     baseline: ThreadPoolExecutor(2) + subprocess.run
B  a chain of 100 one-line jobs                      baseline: the 100 scripts one after another
C  fan-out and fan-in, 1 -> 200 -> 1, --workers 2    baseline: first, the 200 on a pool of 2, last
D  `pyoneer run` of a one-task project, whole process, timed from outside
                                                     baseline: subprocess.run([python, script])
E  the manager alone on layered DAGs of 1,000 .. 10,000 jobs, with a no-op engine
   (bench/noop_engine.py), with the ledger (pyoneer.run) and without (Manager directly)
F  a real `pyoneer run` of 10,000 one-line jobs (warm, --workers 2): the peak RSS of
   Pyoneer's own processes, then `pyoneer status --json` and `pyoneer status` of that run
G  (only with --only G: needs the libraries, and minutes) a sweep of 24 members (one script) importing torch,
   or numpy + pandas + scikit-learn, 2 at a time: by hand, Pyoneer warm first run, warm second
   run (preload learned), fresh, Ray and Dask; the peak memory of the tree (bench/heavy.py)
S  (only with --only S: needs root and Debian's Slurm) a 200-member sweep on a real three-node
   Slurm that it starts (tests/slurm_cluster.py): `pyoneer run --engine slurm` (lazy workers)
   against one `sbatch` per member and against the local engine (bench/slurm.py)

Peers (Ray, Dask, Luigi) run A and a "time to first result" like D, when importable; Ray
and Dask run G too. Each workload lives in a module of its own beside this one (oneline.py
A-D, peers.py, manager.py E, bigrun.py F, heavy.py G, slurm.py S; basics.py and machine.py
what they share); this one is the command line and the report.

Nothing here is a dependency of Pyoneer or of its tests: `pip install -e '.[bench]'` puts
the peers and G's numpy, pandas and scikit-learn into a venv for --python (torch: `pip
install torch==2.13.0`, the CPU build); the clean venv gets what it needs by itself.

Each sample runs in a fresh temporary directory (so the ledger and the logs never grow
across repeats), removed afterwards. Within a repeat the modes run in a rotating order so
that drift of the machine does not favour one of them. The report goes to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import heavy
import manager
from basics import MODE_BASELINE, PYTHON, REPO, WORKERS, Row, log, pyoneer_command
from bigrun import F_JOBS, F_QUICK_JOBS, report_f, run_f
from machine import code_fingerprint, compile_pyoneer, describe_machine, load_average
from oneline import probe_fresh, report_a_to_d, run_a_to_d
from peers import PEER_MAX_REPEAT, peer_child, run_peers

FULL_REPEAT = 5
S_REPEAT = 3  # workload S (bench/slurm.py): a run of each mode takes 1-10 s here
STARTUP_LIMIT_MS = 25.0
PEER_PACKAGES = ["ray[default]", "dask[distributed]", "luigi"]  # as the bench extra of pyproject.toml
WORKLOADS = "ABCDEFGS"


# The report --------------------------------------------------------------------------


def report(machine: dict, settings: dict, rows: list[Row], parts: dict[str, dict | None], elapsed: float) -> str:
    """The whole report: the machine, then each workload measured (``parts``: E, F, G, S)."""
    out = ["Pyoneer benchmark", "=================", ""]
    out += [
        f"machine   {machine['cpu']}, {machine['cores']} cores ({machine['usable_cores']} usable), {machine['memory']}, {machine['os']}",
        f"python    {machine['python']} ({machine['python_executable']}); start-up 'python -c pass' "
        f"{machine['python_startup_ms']:.1f} ms, with -S {machine['python_startup_no_site_ms']:.1f} ms",
        f"venv      {settings.get('venv_text', '')}",
        f"pyoneer   {machine['pyoneer_version']} from {machine['pyoneer_source']} (git {machine['git']})",
        f"command   {machine['pyoneer_command']}",
        f"load      1/5/15-min load average {machine['load_average_start']} at the start, "
        f"{machine.get('load_average_end', '?')} at the end (other work on the machine skews the numbers)",
        f"warm      {settings['warm_text']}",
        f"repeats   {settings['repeat']} (A-D), {min(settings['repeat'], PEER_MAX_REPEAT)} (peers), {settings['e_repeat']} (E), {settings['g_repeat']} (G); workers {WORKERS}; "
        f"medians over the repeats; ratio = median / baseline median of this invocation",
        "",
    ]
    out += report_a_to_d(rows, settings.get("ratios_refused"))
    if parts.get("E"):
        out += manager.report_e(parts["E"])
    if parts.get("F"):
        out += report_f(parts["F"])
    if parts.get("G"):
        out += heavy.report_g(parts["G"])
    if parts.get("S"):
        import slurm as slurm_bench  # bench/slurm.py

        out += [slurm_bench.report_s(parts["S"]), ""]
    if machine.get("code_end") and not machine["git"].endswith(machine["code_end"]):
        out.append(f"WARNING: the code under src/ changed during this invocation (code sha1 now {machine['code_end']})")
    out.append(f"total time of this invocation: {elapsed:.1f} s")
    return "\n".join(out)


# Main ----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Benchmark Pyoneer against hand-written baselines.")
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat, E at 1,000 and 2,000 jobs, no peers, no memory measurements (~1 minute)")
    parser.add_argument("--only", default="A,B,C,D,E,F",
                        help="workloads to run, e.g. A,E (default: A-F; G, with heavy libraries, and S, on a real "
                             "Slurm, only when named)")
    parser.add_argument("--repeat", type=int, help=f"repeats of A-D (default {FULL_REPEAT}, quick 1); "
                        f"peers repeat A at most {PEER_MAX_REPEAT} times")
    parser.add_argument("--e-repeat", type=int, help=f"repeats of E (default {manager.FULL_E_REPEAT}, quick 1)")
    parser.add_argument("--g-repeat", type=int, help=f"repeats of G, its medians over them (default {heavy.G_REPEAT}, "
                                                     "quick 1)")
    parser.add_argument("--g-lib", default=",".join(heavy.LIBS),
                        help=f"G's libraries, of {', '.join(heavy.LIBS)} (default: both; sci = numpy, pandas, "
                             "scikit-learn)")
    parser.add_argument("--s-repeat", type=int, help=f"repeats of S (default {S_REPEAT}, quick 1)")
    parser.add_argument("--no-peers", action="store_true", help="do not run Ray, Dask, Luigi even if installed")
    parser.add_argument("--peers", action="store_true", help="run the peers even with --quick (and install them "
                                                             "into the clean venv)")
    parser.add_argument("--no-memory", action="store_true", help="skip E's memory measurements")
    parser.add_argument("--memory", action="store_true", help="measure E's memory even with --quick")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--python", type=Path, metavar="PATH",
                        help="measure with this interpreter as it is (its site included; Pyoneer installed in it), "
                             "not in a clean virtual environment; ratios are printed whatever its start-up")
    parser.add_argument("--keep-venv", type=Path, metavar="DIR",
                        help="make the clean virtual environment in DIR and keep it (reused if there)")
    parser.add_argument("--inside", choices=["clean", "given"], help=argparse.SUPPRESS)
    parser.add_argument("--peer-child", help=argparse.SUPPRESS)
    parser.add_argument("--e-child", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, measure what it asks for and print the report."""
    parser = _parser()
    args = parser.parse_args(argv)
    workloads = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    libs = [lib.strip() for lib in args.g_lib.split(",") if lib.strip()]
    if set(libs) - set(heavy.LIBS) or not libs:
        parser.error(f"--g-lib: choose from {', '.join(heavy.LIBS)}, not {args.g_lib!r}")
    repeats = {"repeat": args.repeat or (1 if args.quick else FULL_REPEAT),
               "e_repeat": args.e_repeat or (1 if args.quick else manager.FULL_E_REPEAT),
               "g_repeat": args.g_repeat or (1 if args.quick else heavy.G_REPEAT),
               "s_repeat": args.s_repeat or (1 if args.quick else S_REPEAT)}
    if min(repeats.values()) < 1:
        parser.error("repeats must be 1 or more")

    if args.peer_child:
        return peer_child(args.peer_child, workloads, repeats["repeat"])
    if args.e_child:
        return manager.e_child(args.e_child)
    if args.inside is None:  # measure from another interpreter: a clean venv, or the one given
        return _measure_inside(args, list(sys.argv[1:] if argv is None else argv), workloads)
    return _measure(args, workloads, libs, repeats)


def _measure(args: argparse.Namespace, workloads: list[str], libs: list[str], repeats: dict[str, int]) -> int:
    started = time.perf_counter()
    command, command_text = pyoneer_command()
    compile_pyoneer()
    log("describing the machine ...")
    machine = describe_machine(command_text)
    fresh_ok, fresh_text = probe_fresh(command)
    if fresh_ok:
        modes = [(MODE_BASELINE, None), ("pyoneer warm", False), ("pyoneer fresh", True)]
        warm_text = "`fresh = true` under [project] is accepted: 'pyoneer warm' is the default, 'pyoneer fresh' opts out"
    else:
        modes = [(MODE_BASELINE, None), ("pyoneer default", False)]
        warm_text = f"`fresh = true` is refused by this pyoneer ({fresh_text}): fresh mode n/a; 'pyoneer default' is its only mode"
    settings = {**repeats, "workloads": workloads, "quick": args.quick,
                "warm_text": warm_text, "fresh_accepted": fresh_ok, "workers": WORKERS,
                "venv_text": ("a clean virtual environment made by this benchmark: Pyoneer (and the peers and "
                              "libraries asked for) installed, nothing else") if args.inside == "clean"
                             else "the interpreter given with --python, as it is"}
    if args.inside == "clean" and machine["python_startup_ms"] > STARTUP_LIMIT_MS:
        settings["ratios_refused"] = (
            f"'python -c pass' takes {machine['python_startup_ms']:.1f} ms here, over {STARTUP_LIMIT_MS:.0f} ms: "
            "the interpreter's start-up, not Pyoneer, would decide the ratios (a site .pth file importing "
            "packages?). The wall and CPU times stand; measure on a machine whose Python starts faster, "
            "or with --python to print them anyway")
    peers = args.peers or not (args.no_peers or args.quick)

    rows: list[Row] = []
    a_to_d = [w for w in "ABCD" if w in workloads]
    repeat = repeats["repeat"]
    if a_to_d:
        log(f"workloads {','.join(a_to_d)}: {repeat} repeats x {len(modes)} modes")
        # warm the page cache: the first start of an interpreter is not what we measure
        subprocess.run([*command, "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows += run_a_to_d(a_to_d, repeat, command, modes)
        if not fresh_ok:
            rows += [Row(w, "pyoneer fresh", status="n/a", note=fresh_text) for w in a_to_d]
        rows.sort(key=lambda r: ("ABCD".index(r.workload), [m for m, _ in modes].index(r.mode)
                                 if r.mode in [m for m, _ in modes] else 9))
    if peers:
        peer_rows = run_peers(workloads, min(repeat, PEER_MAX_REPEAT))
        for peer_row in peer_rows:  # after the last row of its workload
            index = max((i for i, r in enumerate(rows) if r.workload == peer_row.workload), default=len(rows) - 1)
            rows.insert(index + 1, peer_row)
    parts = _measure_parts(args, workloads, libs, repeats, command, peers)
    elapsed = time.perf_counter() - started
    machine["load_average_end"] = load_average()
    machine["code_end"] = code_fingerprint(Path(machine["pyoneer_source"]))
    print(report(machine, settings, rows, parts, elapsed))
    if args.json:
        _write_json(args.json, machine, settings, rows, parts, elapsed)
    failed = [r for r in rows if r.status == "error"] or any(part and part.get("error") for part in parts.values())
    return 1 if failed else 0


def _guarded(name: str, measure: Callable[[], dict], failed: dict) -> dict:
    """``measure()``, or ``failed`` with the error in it (the other workloads go on)."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001
        log(traceback.format_exc())
        return {**failed, "error": f"{name}: {type(exc).__name__}: {exc}"}


def _measure_parts(args: argparse.Namespace, workloads: list[str], libs: list[str], repeats: dict[str, int],
                   command: list[str], peers: bool) -> dict[str, dict | None]:
    """E, F, G and S, those asked for (None for the others)."""
    parts: dict[str, dict | None] = {"E": None, "F": None, "G": None, "S": None}
    if "E" in workloads:
        sizes = manager.E_QUICK_SIZES if args.quick else manager.E_SIZES
        log(f"workload E: sizes {sizes}, {repeats['e_repeat']} repeats")
        parts["E"] = _guarded("E", lambda: manager.run_e(repeats["e_repeat"], sizes,
                                                         memory=args.memory or not (args.no_memory or args.quick)),
                              {"sizes": [], "per_size": {}, "width": manager.E_WIDTH, "workers": WORKERS,
                               "repeat": repeats["e_repeat"]})
    if "F" in workloads:
        jobs = F_QUICK_JOBS if args.quick else F_JOBS
        log(f"workload F: a real run of {jobs:,} jobs")
        parts["F"] = _guarded("F", lambda: run_f(command, jobs), {})
    if "G" in workloads:
        log(f"workload G: {heavy.MEMBERS} members importing {', '.join(libs)}, {repeats['g_repeat']} repeats")
        parts["G"] = _guarded("G", lambda: heavy.run_g(command, libs, repeats["g_repeat"], peers),
                              {"members": heavy.MEMBERS, "workers": WORKERS, "repeat": repeats["g_repeat"], "libs": {}})
    if "S" in workloads:
        import slurm as slurm_bench  # bench/slurm.py

        log(f"workload S: a {slurm_bench.MEMBERS}-member sweep on a real Slurm, {repeats['s_repeat']} repeats")
        parts["S"] = _guarded("S", lambda: slurm_bench.run_s(command=command, python=PYTHON,
                                                             repeat=repeats["s_repeat"]),
                              {"times_s": {}, "slurm_jobs": {}})
    return parts


def _write_json(path: Path, machine: dict, settings: dict, rows: list[Row], parts: dict[str, dict | None],
                elapsed: float) -> None:
    baselines = {r.workload: r.median for r in rows if r.mode == MODE_BASELINE and r.status == "ok"}
    data = {
        "machine": machine,
        "settings": settings,
        "rows": [
            {"workload": r.workload, "mode": r.mode, "status": r.status, "median_s": r.median,
             "ratio": (r.median / baselines[r.workload]) if r.median is not None and baselines.get(r.workload) else None,
             "runs": len(r.times), "times_s": r.times, "tasks": r.tasks, "note": r.note}
            for r in rows
        ],
        **parts,
        "elapsed_s": elapsed,
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {path}")


def _measure_inside(args: argparse.Namespace, argv: list[str], workloads: list[str]) -> int:
    """Run this benchmark again with the interpreter to measure: a clean virtual
    environment made here (removed afterwards, unless --keep-venv), or the one of --python."""
    if args.python is not None:
        return subprocess.run([str(args.python), str(Path(__file__).resolve()), *argv, "--inside", "given"]).returncode
    venv = args.keep_venv or Path(tempfile.mkdtemp(prefix="pyoneer-bench-venv-"))
    try:
        python = _clean_venv(venv, peers=args.peers, libraries="G" in workloads)
        return subprocess.run([str(python), str(Path(__file__).resolve()), *argv, "--inside", "clean"]).returncode
    finally:
        if args.keep_venv is None:
            shutil.rmtree(venv, ignore_errors=True)


def _clean_venv(venv: Path, peers: bool, libraries: bool) -> Path:
    """A virtual environment at ``venv`` with only Pyoneer (not editable) and, with
    ``peers``, Ray, Dask and Luigi installed, with ``libraries`` G's libraries; its interpreter."""
    python = venv / "bin" / "python"
    base = getattr(sys, "_base_executable", sys.executable)
    if not python.exists():
        log(f"making a clean virtual environment in {venv} ...")
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    log("installing Pyoneer into it (from this checkout, not editable) ...")
    subprocess.run([*pip, "install", "--force-reinstall", "--no-deps", str(REPO)], check=True)
    subprocess.run([*pip, "install", str(REPO)], check=True)  # and its own dependencies
    if peers:
        log(f"installing the peers into it: {', '.join(PEER_PACKAGES)} ...")
        subprocess.run([*pip, "install", *PEER_PACKAGES], check=True)
    if libraries:
        log(f"installing G's libraries into it: {', '.join(heavy.G_PACKAGES)} ...")
        subprocess.run([*pip, "install", *heavy.G_PACKAGES], check=True)
    if not peers:  # setuptools leaves a .pth that runs at every start (some peers still import it)
        subprocess.run([*pip, "uninstall", "--yes", "setuptools"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python


if __name__ == "__main__":
    sys.exit(main())
