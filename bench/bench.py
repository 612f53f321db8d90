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
S  (only with --only S: needs root and Debian's Slurm) a 200-member sweep on a real three-node
   Slurm that it starts (tests/slurm_cluster.py): `pyoneer run --engine slurm` (lazy workers)
   against one `sbatch` per member and against the local engine (bench/slurm.py)

Peers (Ray, Dask, Luigi) run A and a "time to first result" like D, when importable.

Each sample runs in a fresh temporary directory (so the ledger and the logs never grow
across repeats), removed afterwards. Within a repeat the modes run in a rotating order so
that drift of the machine does not favour one of them. The report goes to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
WORKERS = 2
SCRIPT_TEXT = "x = 1\n"

FULL_REPEAT = 5
FULL_E_REPEAT = 3
E_SIZES = (1000, 2000, 5000, 10000)
E_QUICK_SIZES = (1000, 2000)
PEER_MAX_REPEAT = 3  # Ray takes ~8 s per A here; its cluster starts once per invocation
E_WIDTH = 100  # jobs per layer; the number of layers grows with the size
E_SAMPLE_JOBS = 10_000  # a size below this runs several times per repeat, its best kept
E_FLAT_LIMIT = 1.5  # per-job time at 10,000 / at 1,000 at most this to call it flat
F_JOBS = 10_000
F_QUICK_JOBS = 1_000
F_STATUS_REPEAT = 3
S_REPEAT = 3  # workload S (bench/slurm.py): a run of each mode takes 1-10 s here

MODE_BASELINE = "baseline"
#: a start-up of plain ``python -c pass`` above this is the site speaking, not Python
STARTUP_LIMIT_MS = 25.0
#: the peers as pip installs them (``--peers``)
PEER_PACKAGES = ["ray[default]", "dask[distributed]", "luigi"]


def log(message: str) -> None:
    """Progress, on stderr."""
    print(message, file=sys.stderr, flush=True)


# The machine ---------------------------------------------------------------------------


def pyoneer_command() -> tuple[list[str], str]:
    """The console script next to this interpreter if there is one, else ``python -m pyoneer``."""
    script = Path(PYTHON).with_name("pyoneer")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], f"{script} (the console script next to sys.executable)"
    return [PYTHON, "-m", "pyoneer"], f"{PYTHON} -m pyoneer (no console script next to sys.executable)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def git_state(source: Path) -> str:
    """The commit, whether src/ differs from it, and a fingerprint of the code measured."""
    if REPO not in source.parents:
        return f"not this repository's src/; code sha1 {code_fingerprint(source)}"

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--", "src").strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    return f"{commit}{' + uncommitted changes under src/' if dirty else ''}; code sha1 {code_fingerprint(source)}"


def code_fingerprint(source: Path) -> str:
    """A hash of every file of the pyoneer package: tells whether the code changed meanwhile."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def startup_ms(argv: list[str], times: int = 5) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def compile_pyoneer() -> None:
    """Write Pyoneer's bytecode once, as an installed package has it.

    With PYTHONDONTWRITEBYTECODE set (as on some machines) an editable install would
    otherwise compile every changed module again at each start, inside A-D.
    """
    import compileall

    import pyoneer

    compileall.compile_dir(str(Path(pyoneer.__file__).resolve().parent), quiet=1)


def describe_machine(command_text: str) -> dict:
    import pyoneer

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "memory": mem_total(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": PYTHON,
        "pyoneer_version": getattr(pyoneer, "__version__", "unknown"),
        "pyoneer_source": str(Path(pyoneer.__file__).resolve().parent),
        "git": git_state(Path(pyoneer.__file__).resolve().parent),
        "pyoneer_command": command_text,
        "python_startup_ms": round(startup_ms([PYTHON, "-c", "pass"]), 1),
        "python_startup_no_site_ms": round(startup_ms([PYTHON, "-S", "-c", "pass"]), 1),
        "load_average_start": load_average(),
    }


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
    done = subprocess.run(
        [PYTHON, script], cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} exited {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}")


def run_baseline(directory: Path, spec: Spec) -> float:
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


# Results -------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    mode: str
    times: list[float] = field(default_factory=list)
    tasks: int = 0
    note: str = ""
    status: str = "ok"  # ok | n/a | skipped | error
    #: CPU seconds (user + system) of every process of each sample, from getrusage(RUSAGE_CHILDREN)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def cpu_per_task_ms(self) -> float | None:
        return statistics.median(self.cpu) / self.tasks * 1000 if self.cpu and self.tasks else None


def children_cpu() -> float:
    """CPU seconds used so far by this process's ended children and everything they reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# Workloads A-D -------------------------------------------------------------------------


def run_a_to_d(workloads: list[str], repeat: int, command: list[str], modes: list[tuple[str, bool | None]]) -> list[Row]:
    """``modes``: (label, fresh) with fresh None for the baseline."""
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


# Peers -----------------------------------------------------------------------------------

PEERS = {"ray": "ray", "dask": "distributed", "luigi": "luigi"}


def run_peers(workloads: list[str], repeat: int) -> list[Row]:
    rows: list[Row] = []
    wanted = [w for w in ("A", "D") if w in workloads]
    if not wanted:
        return rows
    for peer, module in PEERS.items():
        if importlib.util.find_spec(module) is None:
            for w in wanted:
                rows.append(Row(w, peer, status="skipped", note=f"{module} is not installed"))
            log(f"  peer {peer}: skipped ({module} not installed)")
            continue
        log(f"  peer {peer}: starting (a child process; A x{repeat})")
        argv = [PYTHON, str(Path(__file__).resolve()), "--peer-child", peer, "--repeat", str(repeat),
                "--only", ",".join(wanted)]
        start = time.perf_counter()
        first: float | None = None
        result: dict = {}
        try:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("FIRST") and first is None:
                    first = time.perf_counter() - start
                    log(f"  D peer {peer}: first result after {first:.3f} s")
                elif line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT "):])
                elif line.startswith("A "):
                    log(f"  {line.strip()}")
            stderr = child.stderr.read() if child.stderr else ""
            code = child.wait(timeout=120)
            if code != 0 or "error" in result:
                raise RuntimeError(result.get("error") or f"exited {code}: {stderr.strip()[-500:]}")
        except Exception as exc:  # noqa: BLE001
            for w in wanted:
                rows.append(Row(w, peer, status="error", note=f"{type(exc).__name__}: {exc}"[:300]))
            log(f"  peer {peer}: ERROR {exc}")
            continue
        if "A" in wanted:
            rows.append(Row("A", peer, times=result.get("A", []), tasks=200, note=result.get("A_note", "")))
        if "D" in wanted:
            rows.append(Row("D", peer, times=[first] if first is not None else [], tasks=1,
                            note=result.get("D_note", "")))
    return rows


def peer_child(peer: str, workloads: list[str], repeat: int) -> int:
    """In a child process: start ``peer``, run one script (FIRST), then A ``repeat`` times."""
    out: dict = {}
    try:
        runner, close, notes = _peer_runner(peer)
        out.update(notes)
        directory = Path(tempfile.mkdtemp(prefix=f"pyoneer-bench-{peer}-D-"))
        try:
            write_project(directory, "d", spec_of("D"), False, with_toml=False)
            runner(directory, ["main.py"])
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        print("FIRST", flush=True)
        if "A" in workloads:
            spec = spec_of("A")
            out["A"] = []
            for rep in range(repeat):
                directory = Path(tempfile.mkdtemp(prefix=f"pyoneer-bench-{peer}-A-"))
                try:
                    write_project(directory, "a", spec, False, with_toml=False)
                    start = time.perf_counter()
                    runner(directory, [script for _, script, _ in spec.jobs])
                    elapsed = time.perf_counter() - start
                finally:
                    shutil.rmtree(directory, ignore_errors=True)
                out["A"].append(elapsed)
                print(f"A {rep + 1}/{repeat} {peer:<16} {elapsed:8.3f} s", flush=True)
        close()
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)[-400:]}"
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def _subprocess_script(python: str, directory: str, script: str) -> int:
    """What every peer's task does: ``python script`` in the directory (same as the baseline)."""
    import subprocess as sp

    return sp.run([python, script], cwd=directory, stdin=sp.DEVNULL, stdout=sp.DEVNULL, stderr=sp.DEVNULL).returncode


def _check_codes(codes: list[int]) -> None:
    bad = [code for code in codes if code != 0]
    if bad:
        raise RuntimeError(f"{len(bad)} scripts failed (exit codes {sorted(set(bad))})")


def _peer_runner(peer: str):  # noqa: ANN202
    if peer == "ray":
        # before the import (its processes inherit it): every listener on 127.0.0.1 only
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        import ray

        ray.init(
            address="local", num_cpus=WORKERS, include_dashboard=False, _node_ip_address="127.0.0.1",
            log_to_driver=False, logging_level="WARNING",
        )
        remote = ray.remote(_subprocess_script)

        def run(directory: Path, scripts: list[str]) -> None:
            _check_codes(ray.get([remote.remote(PYTHON, str(directory), s) for s in scripts]))

        notes = {"A_note": f"ray {ray.__version__}, num_cpus={WORKERS}, cluster already up",
                 "D_note": "import + ray.init + 1 task, from process start"}
        return run, ray.shutdown, notes
    if peer == "dask":
        import distributed
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)

        def run(directory: Path, scripts: list[str]) -> None:
            futures = client.map(_subprocess_script, [PYTHON] * len(scripts), [str(directory)] * len(scripts),
                                 scripts, pure=False)
            _check_codes(client.gather(futures))

        def close() -> None:
            client.close()
            cluster.close()

        notes = {"A_note": f"distributed {distributed.__version__}, LocalCluster(n_workers={WORKERS}, "
                           "threads_per_worker=1), cluster already up",
                 "D_note": "import + LocalCluster + 1 task, from process start"}
        return run, close, notes
    if peer == "luigi":
        import logging

        import luigi

        logging.getLogger("luigi-interface").setLevel(logging.ERROR)
        logging.getLogger("luigi").setLevel(logging.ERROR)

        class ScriptTask(luigi.Task):
            directory = luigi.Parameter()
            script = luigi.Parameter()

            def output(self):  # noqa: ANN202 - a marker file: done once the script succeeded
                return luigi.LocalTarget(os.path.join(self.directory, self.script + ".done"))

            def run(self) -> None:
                if _subprocess_script(PYTHON, self.directory, self.script) != 0:
                    raise RuntimeError(f"{self.script} failed")
                with self.output().open("w") as marker:
                    marker.write("ok")

        def run(directory: Path, scripts: list[str]) -> None:
            tasks = [ScriptTask(directory=str(directory), script=s) for s in scripts]
            ok = luigi.build(tasks, local_scheduler=True, workers=WORKERS, log_level="ERROR")
            if not ok:
                raise RuntimeError("luigi.build reported a failure")

        notes = {"A_note": f"luigi {luigi.__version__}, local scheduler, workers={WORKERS}",
                 "D_note": "import + luigi.build of 1 task, from process start"}
        return run, (lambda: None), notes
    raise ValueError(peer)


# Workload E: the manager alone -------------------------------------------------------


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
    try:
        from pyoneer.blueprints.fingerprint import fingerprints
    except ImportError:
        return None
    start = time.perf_counter()
    fingerprints(project)
    return time.perf_counter() - start


def run_e(repeat: int, sizes: tuple[int, ...], memory: bool) -> dict:
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
    argv = [PYTHON, str(Path(__file__).resolve()), "--e-child", str(size)]
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


# Workload F: a real run of many jobs --------------------------------------------------

#: runs ``argv`` (stdout to /dev/null) as its child and writes the child's exit code and
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


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def report(machine: dict, settings: dict, rows: list[Row], e: dict | None, f: dict | None, elapsed: float,
           s: dict | None = None) -> str:
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
        f"repeats   {settings['repeat']} (A-D), {min(settings['repeat'], PEER_MAX_REPEAT)} (peers), {settings['e_repeat']} (E); workers {WORKERS}; "
        f"medians over the repeats; ratio = median / baseline median of this invocation",
        "",
    ]
    baselines = {r.workload: r.median for r in rows if r.mode == MODE_BASELINE and r.status == "ok"}
    refused = settings.get("ratios_refused")
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
    if e:
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
    if f:
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
    if s:
        import slurm as slurm_bench  # bench/slurm.py

        out.append(slurm_bench.report_s(s))
        out.append("")
    if machine.get("code_end") and not machine["git"].endswith(machine["code_end"]):
        out.append(f"WARNING: the code under src/ changed during this invocation (code sha1 now {machine['code_end']})")
    out.append(f"total time of this invocation: {elapsed:.1f} s")
    return "\n".join(out)


# Main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark Pyoneer against hand-written baselines.")
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat, E at 1,000 and 2,000 jobs, no peers, no memory measurements (~1 minute)")
    parser.add_argument("--only", default="A,B,C,D,E,F",
                        help="workloads to run, e.g. A,E (default: A-F; S, on a real Slurm, only when named)")
    parser.add_argument("--repeat", type=int, help=f"repeats of A-D (default {FULL_REPEAT}, quick 1); "
                        f"peers repeat A at most {PEER_MAX_REPEAT} times")
    parser.add_argument("--e-repeat", type=int, help=f"repeats of E (default {FULL_E_REPEAT}, quick 1)")
    parser.add_argument("--s-repeat", type=int, help=f"repeats of S (default {S_REPEAT}, quick 1)")
    parser.add_argument("--no-peers", action="store_true", help="do not run Ray, Dask, Luigi even if installed")
    parser.add_argument("--peers", action="store_true", help="run the peers even with --quick")
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
    args = parser.parse_args(argv)
    workloads = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = set(workloads) - set("ABCDEFS")
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from A, B, C, D, E, F, S")
    repeat = args.repeat or (1 if args.quick else FULL_REPEAT)
    e_repeat = args.e_repeat or (1 if args.quick else FULL_E_REPEAT)
    s_repeat = args.s_repeat or (1 if args.quick else S_REPEAT)
    if repeat < 1 or e_repeat < 1 or s_repeat < 1:
        parser.error("repeats must be 1 or more")

    if args.peer_child:
        return peer_child(args.peer_child, workloads, repeat)
    if args.e_child:
        return e_child(args.e_child)
    if args.inside is None:  # measure from another interpreter: a clean venv, or the one given
        return _measure_inside(args, list(sys.argv[1:] if argv is None else argv))

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
    settings = {"repeat": repeat, "e_repeat": e_repeat, "workloads": workloads, "quick": args.quick,
                "warm_text": warm_text, "fresh_accepted": fresh_ok, "workers": WORKERS,
                "venv_text": ("a clean virtual environment made by this benchmark: Pyoneer (and the peers asked "
                              "for) installed, nothing else") if args.inside == "clean"
                             else "the interpreter given with --python, as it is"}
    if args.inside == "clean" and machine["python_startup_ms"] > STARTUP_LIMIT_MS:
        settings["ratios_refused"] = (
            f"'python -c pass' takes {machine['python_startup_ms']:.1f} ms here, over {STARTUP_LIMIT_MS:.0f} ms: "
            "the interpreter's start-up, not Pyoneer, would decide the ratios (a site .pth file importing "
            "packages?). The wall and CPU times stand; measure on a machine whose Python starts faster, "
            "or with --python to print them anyway")

    rows: list[Row] = []
    a_to_d = [w for w in "ABCD" if w in workloads]
    if a_to_d:
        log(f"workloads {','.join(a_to_d)}: {repeat} repeats x {len(modes)} modes")
        # warm the page cache: the first start of an interpreter is not what we measure
        subprocess.run([*command, "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows += run_a_to_d(a_to_d, repeat, command, modes)
        if not fresh_ok:
            rows += [Row(w, "pyoneer fresh", status="n/a", note=fresh_text) for w in a_to_d]
        rows.sort(key=lambda r: ("ABCD".index(r.workload), [m for m, _ in modes].index(r.mode)
                                 if r.mode in [m for m, _ in modes] else 9))
    if args.peers or not (args.no_peers or args.quick):
        peer_rows = run_peers(workloads, min(repeat, PEER_MAX_REPEAT))
        for peer_row in peer_rows:  # after the last row of its workload
            index = max((i for i, r in enumerate(rows) if r.workload == peer_row.workload), default=len(rows) - 1)
            rows.insert(index + 1, peer_row)
    e = None
    if "E" in workloads:
        sizes = E_QUICK_SIZES if args.quick else E_SIZES
        log(f"workload E: sizes {sizes}, {e_repeat} repeats")
        try:
            e = run_e(e_repeat, sizes, memory=args.memory or not (args.no_memory or args.quick))
        except Exception as exc:  # noqa: BLE001
            e = {"error": f"{type(exc).__name__}: {exc}", "sizes": [], "per_size": {}, "width": E_WIDTH,
                 "workers": WORKERS, "repeat": e_repeat}
            log(traceback.format_exc())
    f = None
    if "F" in workloads:
        jobs = F_QUICK_JOBS if args.quick else F_JOBS
        log(f"workload F: a real run of {jobs:,} jobs")
        try:
            f = run_f(command, jobs)
        except Exception as exc:  # noqa: BLE001
            f = {"error": f"{type(exc).__name__}: {exc}"}
            log(traceback.format_exc())
    s = None
    if "S" in workloads:
        import slurm as slurm_bench  # bench/slurm.py

        log(f"workload S: a {slurm_bench.MEMBERS}-member sweep on a real Slurm, {s_repeat} repeats")
        try:
            s = slurm_bench.run_s(command=command, python=PYTHON, repeat=s_repeat)
        except Exception as exc:  # noqa: BLE001
            s = {"error": f"{type(exc).__name__}: {exc}", "times_s": {}, "slurm_jobs": {}}
            log(traceback.format_exc())
    elapsed = time.perf_counter() - started
    machine["load_average_end"] = load_average()
    machine["code_end"] = code_fingerprint(Path(machine["pyoneer_source"]))
    print(report(machine, settings, rows, e, f, elapsed, s))
    if args.json:
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
            "E": e,
            "F": f,
            "S": s,
            "elapsed_s": elapsed,
        }
        args.json.write_text(json.dumps(data, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    failed = ([r for r in rows if r.status == "error"] or (e and e.get("error")) or (f and f.get("error"))
              or (s and s.get("error")))
    return 1 if failed else 0


def _measure_inside(args: argparse.Namespace, argv: list[str]) -> int:
    """Run this benchmark again with the interpreter to measure: a clean virtual
    environment made here (removed afterwards, unless --keep-venv), or the one of --python."""
    if args.python is not None:
        return subprocess.run([str(args.python), str(Path(__file__).resolve()), *argv, "--inside", "given"]).returncode
    venv = args.keep_venv or Path(tempfile.mkdtemp(prefix="pyoneer-bench-venv-"))
    try:
        python = _clean_venv(venv, peers=args.peers)
        return subprocess.run([str(python), str(Path(__file__).resolve()), *argv, "--inside", "clean"]).returncode
    finally:
        if args.keep_venv is None:
            shutil.rmtree(venv, ignore_errors=True)


def _clean_venv(venv: Path, peers: bool) -> Path:
    """A virtual environment at ``venv`` with only Pyoneer (not editable) and, with
    ``peers``, Ray, Dask and Luigi installed; its interpreter."""
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
    if not peers:  # setuptools leaves a .pth that runs at every start (some peers still import it)
        subprocess.run([*pip, "uninstall", "--yes", "setuptools"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python


if __name__ == "__main__":
    sys.exit(main())
