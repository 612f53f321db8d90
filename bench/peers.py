"""The peers: Ray, Dask and Luigi running the same scripts, each task a subprocess of
``python script`` as a user of Ray Jobs (or of Dask's or Luigi's workers) would.

Each peer runs in a child process of the benchmark (``bench.py --peer-child NAME`` for A
and D; ``heavy.py --peer-child NAME`` for G), so that its cluster's daemons are that
child's descendants and go with it. ``start_peer`` is the one place that starts a peer:
Ray (``ray.init(num_cpus=2)`` on 127.0.0.1), Dask (``LocalCluster(n_workers=2,
threads_per_worker=1)``), Luigi (its local scheduler, ``workers=2``). A peer is measured
only when importable; this benchmark installs one only into its own clean venv.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from basics import HERE, PYTHON, WORKERS, Row, log
from oneline import spec_of, write_project

#: each peer and the module that says it is installed
PEERS = {"ray": "ray", "dask": "distributed", "luigi": "luigi"}
PEER_MAX_REPEAT = 3  # Ray takes ~8 s per A here; its cluster starts once per invocation
#: a script to run and its arguments
Call = tuple[str, list[str]]


@dataclass(frozen=True)
class Peer:
    """A started peer: ``run`` runs scripts on it (2 at a time) and gives back their stdout."""

    #: (directory, calls, capture) -> each call's stdout ("" unless ``capture``); raises if one failed
    run: Callable[[Path, list[Call], bool], list[str]]
    close: Callable[[], None]
    #: what was measured, for the report
    version: str


# A and D ------------------------------------------------------------------------------


def run_peers(workloads: list[str], repeat: int) -> list[Row]:
    """A and D of each peer installed, in a child process each (``bench.py --peer-child``)."""
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
        argv = [PYTHON, str(HERE / "bench.py"), "--peer-child", peer, "--repeat", str(repeat),
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
        started = start_peer(peer)
        out["A_note"] = f"{started.version}, cluster already up"
        out["D_note"] = f"import + start + 1 task, from process start ({started.version})"
        directory = Path(tempfile.mkdtemp(prefix=f"pyoneer-bench-{peer}-D-"))
        try:
            write_project(directory, "d", spec_of("D"), False, with_toml=False)
            started.run(directory, [("main.py", [])], False)
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
                    started.run(directory, [(script, []) for _, script, _ in spec.jobs], False)
                    elapsed = time.perf_counter() - start
                finally:
                    shutil.rmtree(directory, ignore_errors=True)
                out["A"].append(elapsed)
                print(f"A {rep + 1}/{repeat} {peer:<16} {elapsed:8.3f} s", flush=True)
        started.close()
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)[-400:]}"
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def _task() -> Callable[[str, str, str, list[str], bool], tuple[int, str]]:
    """What every peer's task does: ``python script ARGS`` in the directory, as by hand.

    Made inside a function so that Ray's and Dask's pickling sends it by value: their
    workers cannot import this module."""

    def task(python: str, directory: str, script: str, args: list[str], capture: bool) -> tuple[int, str]:
        import subprocess as sp

        done = sp.run([python, script, *args], cwd=directory, stdin=sp.DEVNULL,
                      stdout=sp.PIPE if capture else sp.DEVNULL, stderr=sp.DEVNULL)
        return done.returncode, done.stdout.decode() if capture else ""

    return task


def _outputs(results: list[tuple[int, str]]) -> list[str]:
    bad = [code for code, _ in results if code != 0]
    if bad:
        raise RuntimeError(f"{len(bad)} scripts failed (exit codes {sorted(set(bad))})")
    return [stdout for _, stdout in results]


def start_peer(peer: str) -> Peer:
    """Start ``peer`` ("ray", "dask" or "luigi") in this process, 2 tasks at a time."""
    task = _task()
    if peer == "ray":
        # before the import (its processes inherit it): every listener on 127.0.0.1 only
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        import ray

        ray.init(
            address="local", num_cpus=WORKERS, include_dashboard=False, _node_ip_address="127.0.0.1",
            log_to_driver=False, logging_level="WARNING",
        )
        remote = ray.remote(task)

        def run_ray(directory: Path, calls: list[Call], capture: bool) -> list[str]:
            return _outputs(ray.get([remote.remote(PYTHON, str(directory), s, a, capture) for s, a in calls]))

        return Peer(run_ray, ray.shutdown, f"ray {ray.__version__}, num_cpus={WORKERS}")
    if peer == "dask":
        import distributed
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)

        def run_dask(directory: Path, calls: list[Call], capture: bool) -> list[str]:
            futures = [client.submit(task, PYTHON, str(directory), s, a, capture, pure=False) for s, a in calls]
            return _outputs(client.gather(futures))

        def close() -> None:
            client.close()
            cluster.close()

        return Peer(run_dask, close, f"distributed {distributed.__version__}, LocalCluster(n_workers={WORKERS}, "
                                     "threads_per_worker=1)")
    if peer == "luigi":
        return _start_luigi(task)
    raise ValueError(peer)


def _start_luigi(task: Callable[[str, str, str, list[str], bool], tuple[int, str]]) -> Peer:
    import logging

    import luigi

    logging.getLogger("luigi-interface").setLevel(logging.ERROR)
    logging.getLogger("luigi").setLevel(logging.ERROR)

    class ScriptTask(luigi.Task):
        directory = luigi.Parameter()
        script = luigi.Parameter()
        args = luigi.ListParameter(default=[])
        capture = luigi.BoolParameter(default=False)

        def output(self):  # noqa: ANN202 - a marker file, done once the script succeeded: its stdout
            return luigi.LocalTarget(_marker(self.directory, self.script, list(self.args)))

        def run(self) -> None:
            code, stdout = task(PYTHON, self.directory, self.script, list(self.args), self.capture)
            if code != 0:
                raise RuntimeError(f"{self.script} failed")
            with self.output().open("w") as marker:  # Luigi's workers are processes of their own
                marker.write(stdout)

    def run_luigi(directory: Path, calls: list[Call], capture: bool) -> list[str]:
        tasks = [ScriptTask(directory=str(directory), script=s, args=a, capture=capture) for s, a in calls]
        if not luigi.build(tasks, local_scheduler=True, workers=WORKERS, log_level="ERROR"):
            raise RuntimeError("luigi.build reported a failure")
        return [Path(_marker(str(directory), s, a)).read_text() for s, a in calls]

    return Peer(run_luigi, lambda: None, f"luigi {luigi.__version__}, local scheduler, workers={WORKERS}")


def _marker(directory: str, script: str, args: list[str]) -> str:
    return os.path.join(directory, "-".join([script, *args]) + ".done")
