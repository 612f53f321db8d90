"""The Slurm engine on a real Slurm: slurmctld and three slurmd nodes on this machine.

The cluster (``slurm_cluster.py``) is started once for the module by these tests, as
root, and every daemon is stopped by its pid at the end. Without root or Debian's Slurm
packages the module is skipped, saying how to get them. Every run is the real
``pyoneer`` command in a child process; what Slurm did is asked of Slurm itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from slurm_cluster import SlurmCluster, missing, reached

from conftest import pyoneer_command, run_cli, wait_until, write_project
from engine_contract import EngineContract
from processes import alive

pytestmark = [pytest.mark.slurm, pytest.mark.skipif(bool(missing()), reason=missing() or "-")]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SLURM = ("--engine", "slurm")


@pytest.fixture(scope="module", autouse=True)
def cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The cluster, reached through ``SLURM_CONF`` by every command the tests start."""
    with reached(tmp_path_factory.mktemp("slurm")) as made:
        yield made


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def _run(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_cli("run", str(root), *SLURM, *args, timeout=timeout)


def _state(root: Path) -> dict:
    result = run_cli("status", str(root), "--json")
    assert result.returncode == 0, _explain(result)
    return json.loads(result.stdout)


def _allocations(cluster: SlurmCluster, run_id: str) -> list[dict[str, str]]:
    """The Slurm jobs of a run's workers, ended ones too."""
    return [job for job in cluster.jobs(all_states=True) if job["name"].startswith(f"pyoneer-{run_id}-")]


def _workers_alive(cluster: SlurmCluster, run_id: str) -> list[dict[str, str]]:
    return [job for job in cluster.jobs() if job["name"].startswith(f"pyoneer-{run_id}-")]


def _processes_of(marker: str) -> list[int]:
    """Live processes whose command line or environment carries ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            text = Path(f"/proc/{entry}/cmdline").read_bytes() + Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in text:
            found.append(int(entry))
    return alive(found)


class TestSlurmEngine(EngineContract):
    """The engine contract, unchanged, on Slurm."""

    engine_args = SLURM


# The examples, fanning in ------------------------------------------------------------


@pytest.mark.parametrize("example", ["wordcount", "sweep"])
def test_the_examples_run_on_slurm_with_their_outputs_fanning_in(example: str, tmp_path: Path) -> None:
    root = tmp_path / example
    shutil.copytree(EXAMPLES / example, root)
    result = _run(root)
    assert result.returncode == 0, _explain(result)
    report = (root / "results").iterdir()
    assert any(path.read_text().strip() for path in report)  # the last job read what every other made
    state = _state(root)
    hosts = {row["host"] for row in state["pyoneers"] if row["role"] == "worker"}
    assert hosts and hosts <= {"n1", "n2", "n3"}, state["pyoneers"]
    assert all(row["allocation"] for row in state["pyoneers"] if row["role"] == "worker")
    table = run_cli("status", str(root)).stdout
    assert any(f"{row['host']} (Slurm job {row['allocation']})" in table for row in state["pyoneers"]), table


def test_a_sweep_of_200_members_queues_a_handful_of_slurm_jobs(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "wide",
        f"""
        [jobs.member]
        matrix = {{ i = {list(range(200))} }}
        tasks = ["one.py {{i}}"]
        """,
        {"one.py": "import sys\nprint(int(sys.argv[1]) ** 2)\n"},
    )
    result = _run(root, "--workers", "6", timeout=600)
    assert result.returncode == 0, _explain(result)
    state = _state(root)
    members = [row for row in state["blueprints"] if row["kind"] == "job"]
    assert len(members) == 200 and {row["status"] for row in members} == {"succeeded"}
    used = _allocations(cluster, state["run"]["id"])
    print(f"200 members ran in {len(used)} Slurm jobs")  # the count, in the test's output (-s)
    assert 1 <= len(used) <= 6, used
    assert not _workers_alive(cluster, state["run"]["id"])  # every allocation given back


def test_jobs_land_on_each_of_the_three_nodes(tmp_path: Path) -> None:
    jobs = "\n".join(f'[jobs.j{i}]\ntasks = ["hold.py"]\nresources = {{ cpus = 4 }}\n' for i in range(3))
    root = write_project(tmp_path / "spread", jobs, {
        "hold.py": "import os, time\ntime.sleep(3)\nprint(os.environ['SLURMD_NODENAME'])\n",
    })
    result = _run(root, "--workers", "12")
    assert result.returncode == 0, _explain(result)
    nodes = {run_cli("logs", str(root), f"j{i}").stdout.strip().splitlines()[-1] for i in range(3)}
    assert nodes == {"n1", "n2", "n3"}  # three 4-CPU jobs at once: one a node
    from pyoneer.ledger.history import ledger_of, run_state
    from pyoneer.web.pages import timeline

    ledger = ledger_of(root)
    try:
        drawn = timeline(run_state(ledger))
    finally:
        ledger.close()
    assert drawn["lanes"] == ["n1", "n2", "n3"]  # the web view's timeline: one lane a node
    assert sorted(bar["lane"] for bar in drawn["bars"]) == ["n1", "n2", "n3"]


def test_a_gpu_job_gets_its_devices_from_slurm(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "gpu",
        """
        [engine.slurm]
        partition = "gpu"

        [jobs.train]
        tasks = ["show.py"]
        resources = { gpus = 2 }
        """,
        {"show.py": "import os\nprint(os.environ['SLURMD_NODENAME'], os.environ['CUDA_VISIBLE_DEVICES'])\n"},
    )
    result = _run(root)
    assert result.returncode == 0, _explain(result)
    assert run_cli("logs", str(root), "train").stdout.split() == ["n1", "0,1"]


# Faults: nothing lost ------------------------------------------------------------------


def _start_run(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(pyoneer_command("run", str(root), *SLURM, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _slow_then_fine(root: Path) -> Path:
    """A job whose first attempt waits (so it can be taken from under it), then one that needs it."""
    return write_project(
        root,
        """
        [jobs.long]
        tasks = ["long.py"]

        [jobs.after]
        needs = ["long"]
        tasks = ["after.py"]
        """,
        {
            "long.py": "import os, time\nfrom pathlib import Path\n"
                       "Path(f\"started-{os.environ['PYONEER_ATTEMPT']}\").write_text(os.environ['SLURMD_NODENAME'])\n"
                       "if os.environ['PYONEER_ATTEMPT'] == '1':\n    time.sleep(120)\n",
            "after.py": "print('after')\n",
        },
    )


def _lost_and_moved(cluster: SlurmCluster, root: Path, process: subprocess.Popen[str], word: str) -> None:
    out, _ = process.communicate(timeout=240)
    assert process.returncode == 0, out
    state = _state(root)
    attempts = [row for row in state["blueprints"] if row["name"] == "long/long"]
    first = next(row for row in attempts if row["attempt"] == 1)
    assert first["status"] == "cancelled" and word in (first["reason"] or ""), attempts
    assert (root / "started-2").exists()  # the job moved to another worker and succeeded there
    lost = [row for row in state["pyoneers"] if row["status"] == "lost"]
    assert len(lost) == 1, state["pyoneers"]
    assert not _workers_alive(cluster, state["run"]["id"])


def test_a_worker_cancelled_by_hand_is_lost_and_its_job_moves(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = _slow_then_fine(tmp_path / "cancelled")
    process = _start_run(root)
    assert wait_until(lambda: (root / "started-1").exists(), 90)
    (job,) = [job for job in cluster.jobs() if job["name"].startswith("pyoneer-")]
    subprocess.run(["scancel", job["id"]], env=cluster.env, check=True)
    _lost_and_moved(cluster, root, process, "CANCELLED")


def test_a_node_set_down_under_a_job_loses_its_worker_and_the_job_moves(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = _slow_then_fine(tmp_path / "down")
    process = _start_run(root)
    try:
        assert wait_until(lambda: (root / "started-1").exists(), 90)
        node = (root / "started-1").read_text()
        assert cluster.scontrol("update", f"nodename={node}", "state=down", "reason=pyoneer-test").returncode == 0
        _lost_and_moved(cluster, root, process, "NODE_FAIL")
        assert (root / "started-2").read_text() != node
    finally:
        cluster.resume(node)


def test_a_node_whose_slurmd_dies_loses_its_worker_and_leaves_nothing(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = _slow_then_fine(tmp_path / "hung")
    process = _start_run(root)
    node = ""
    try:
        assert wait_until(lambda: (root / "started-1").exists(), 90)
        node = (root / "started-1").read_text()
        cluster.kill_node(node)  # the job's processes live on, as on a hung node
        _lost_and_moved(cluster, root, process, "NODE_FAIL")
        # the lost worker heard its manager's stop through the shared files and ended its task
        assert wait_until(lambda: not _processes_of(str(root / "long.py")), 30)
    finally:
        if node:
            cluster.resume(node)


# Stopping: nothing left ----------------------------------------------------------------


def _sleepers(root: Path, count: int = 3) -> Path:
    jobs = "\n".join(f'[jobs.s{i}]\ntasks = ["sleeper.py"]\n' for i in range(count))
    return write_project(root, jobs, {
        "sleeper.py": "import os, subprocess, sys, time\nfrom pathlib import Path\n"
                      "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
                      "Path(f\"pids-{os.environ['PYONEER_JOB']}\").write_text(f'{os.getpid()} {child.pid}')\n"
                      "time.sleep(300)\n",
    })


def _pids(root: Path) -> list[int]:
    return [int(pid) for path in root.glob("pids-*") for pid in path.read_text().split()]


def test_ctrl_c_cancels_every_worker_and_leaves_no_process(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = _sleepers(tmp_path / "ctrlc")
    process = _start_run(root)
    assert wait_until(lambda: len(list(root.glob("pids-*"))) == 3, 90)
    pids = _pids(root)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130, out
    run_id = _state(root)["run"]["id"]
    assert wait_until(lambda: not _workers_alive(cluster, run_id), 20), cluster.jobs()
    assert not alive(pids)
    assert not _processes_of(str(root / ".pyoneer" / "runs" / run_id / "slurm"))
    assert not _processes_of(str(root / "sleeper.py"))
    assert {row["status"] for row in _state(root)["blueprints"] if row["kind"] == "job"} == {"cancelled"}


def test_kill_9_of_the_manager_leaves_the_workers_to_end_themselves(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = _sleepers(tmp_path / "kill9", count=2)
    process = _start_run(root)
    assert wait_until(lambda: len(list(root.glob("pids-*"))) == 2, 90)
    pids = _pids(root)
    run_id = next((root / ".pyoneer" / "runs").iterdir()).name
    os.killpg(process.pid, signal.SIGKILL)  # the manager and everything of it on this "login node"
    process.wait()
    # 30 s of silence, and the workers give their allocations back (with a margin for a busy machine)
    assert wait_until(lambda: not _workers_alive(cluster, run_id), 50), cluster.jobs()
    assert wait_until(lambda: not alive(pids), 10)


# Refused before anything is queued -----------------------------------------------------


@pytest.mark.parametrize(("table", "said"), [
    ('[engine.slurm]\npartition = "nope"', "pyoneer.toml: engine.slurm: Slurm refuses job 'only': allocation failure: Invalid partition name"),
    ('[engine.slurm]\ntime = "1:99:00"', "engine.slurm.time: '1:99:00' is not a walltime"),
    ("[jobs.only.resources]\ncpus = 64", "Requested node configuration is not available"),
    ('[jobs.only.resources]\ncustom = { licence = 1 }', "custom resources (licence) mean nothing to Slurm"),
    ('[engine.slurm]\ntime = "1"', "may take 120 s"),
])
def test_bad_settings_are_refused_with_exit_2_and_nothing_queued(
    cluster: SlurmCluster, tmp_path: Path, table: str, said: str
) -> None:
    root = write_project(tmp_path / "bad", f'[jobs.only]\ntasks = [{{ script = "ok.py", timeout = 120 }}]\n\n{table}\n',
                         {"ok.py": "print('never')\n"})
    before = len(cluster.jobs(all_states=True))
    result = _run(root)
    assert result.returncode == 2, _explain(result)
    assert said in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(cluster.jobs(all_states=True)) == before


def test_without_sbatch_the_engine_says_so(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", '[jobs.only]\ntasks = ["ok.py"]\n', {"ok.py": "print('never')\n"})
    env = {**os.environ, "PATH": str(Path(os.__file__).parent), "COLUMNS": "200"}
    result = subprocess.run(pyoneer_command("run", str(root), *SLURM), capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "sbatch" in result.stderr and "not on PATH" in result.stderr, result.stderr


def test_a_job_waiting_in_the_queue_shows_slurms_reason(tmp_path: Path) -> None:
    root = write_project(tmp_path / "later", """
        [engine.slurm]
        options = ["--begin=now+6"]

        [jobs.later]
        tasks = ["ok.py"]
        """, {"ok.py": "print('at last')\n"})
    process = _start_run(root)
    try:
        def waiting() -> bool:
            if not (root / ".pyoneer" / "ledger.db").exists():
                return False
            rows = [row for row in _state(root)["blueprints"] if row["kind"] == "job"]
            return bool(rows) and "waiting in the queue: BeginTime" in (rows[0]["reason"] or "")
        assert wait_until(waiting, 30, interval=0.5)
        table = run_cli("status", str(root)).stdout
        assert "waiting: BeginTime" in table, table
        assert "(Slurm job " not in table  # not placed yet: no node
    finally:
        out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    assert "later waiting in the queue (worker-1): BeginTime" in out
    assert _state(root)["blueprints"][1]["reason"] is None  # it ran: no longer waiting


# Runs that outlive the login session ---------------------------------------------------


def test_submit_then_attach_follows_the_run_to_its_end(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = tmp_path / "wordcount"
    shutil.copytree(EXAMPLES / "wordcount", root)
    submitted = run_cli("submit", str(root), *SLURM)
    assert submitted.returncode == 0, _explain(submitted)
    assert "submitted run " in submitted.stdout and "pyoneer attach" in submitted.stdout
    attached = run_cli("attach", "--path", str(root), timeout=180)
    assert attached.returncode == 0, _explain(attached)
    assert "merge succeeded" in attached.stdout and attached.stdout.rstrip().endswith("succeeded")
    state = _state(root)
    manager = next(row for row in state["pyoneers"] if row["role"] == "manager")
    assert manager["allocation"] and state["run"]["result"] == "succeeded"
    names = {job["name"] for job in _allocations(cluster, state["run"]["id"])}
    assert f"pyoneer-{state['run']['id']}-worker-1" in names
    assert (root / "results").is_dir()  # in the project itself: nothing to fetch
    assert run_cli("fetch", "--path", str(root)).returncode == 2


def test_stop_ends_a_submitted_run_and_every_worker(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = _sleepers(tmp_path / "stopped", count=2)
    assert run_cli("submit", str(root), *SLURM).returncode == 0
    assert wait_until(lambda: len(list(root.glob("pids-*"))) == 2, 90)
    pids = _pids(root)
    stopped = run_cli("stop", "--path", str(root), timeout=180)
    assert stopped.returncode == 0, _explain(stopped)
    assert "the run ended: interrupted" in stopped.stdout
    run_id = _state(root)["run"]["id"]
    assert wait_until(lambda: not _workers_alive(cluster, run_id), 20), cluster.jobs()
    assert not alive(pids)
    assert run_cli("attach", "--path", str(root)).returncode == 130


def test_a_submitted_manager_that_dies_is_never_shown_running(cluster: SlurmCluster, tmp_path: Path) -> None:
    root = _sleepers(tmp_path / "orphaned", count=1)
    assert run_cli("submit", str(root), *SLURM).returncode == 0
    assert wait_until(lambda: len(list(root.glob("pids-*"))) == 1, 90)
    run_id = _state(root)["run"]["id"]
    (manager,) = [job for job in cluster.jobs() if job["name"] == f"pyoneer-{run_id}-manager"]
    subprocess.run(["scancel", "--signal=KILL", manager["id"]], env=cluster.env, check=True)
    assert wait_until(lambda: _state(root)["run"]["result"] == "interrupted", 30)
    assert wait_until(lambda: not _workers_alive(cluster, run_id), 50)  # its workers heard the silence
    assert not alive(_pids(root))


# The environment travels as it does on an HPC cluster ----------------------------------


def _wheel(directory: Path) -> Path:
    """A wheel of a one-module package, made by hand (no build backend, no network)."""
    import zipfile

    path = directory / "tinypkg-1.0-py3-none-any.whl"
    files = {
        "tinypkg/__init__.py": "VALUE = 'from the built environment'\n",
        "tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "tinypkg-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in {**files, "tinypkg-1.0.dist-info/RECORD": record}.items():
            wheel.writestr(name, text)
    return path


def test_the_projects_packages_are_built_once_and_shared_by_every_worker(tmp_path: Path) -> None:
    root = write_project(tmp_path / "env", """
        [environment]
        packages = ["./tinypkg-1.0-py3-none-any.whl"]

        [jobs.a]
        tasks = ["use.py"]

        [jobs.b]
        tasks = ["use.py"]
        """, {"use.py": "import tinypkg\nprint(tinypkg.VALUE)\n"})
    _wheel(root)
    first = _run(root)
    assert first.returncode == 0, _explain(first)
    assert "installing 1 package(s) for the workers" in first.stdout + first.stderr
    assert run_cli("logs", str(root), "b").stdout.strip() == "from the built environment"
    (built,) = (root / ".pyoneer" / "envs").iterdir()
    again = _run(root)
    assert again.returncode == 0 and "installing" not in again.stdout + again.stderr  # reused while unchanged
    assert [path.name for path in (root / ".pyoneer" / "envs").iterdir()] == [built.name]


def test_a_worker_that_cannot_start_pyoneer_stops_the_run_saying_where_and_why(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    root = write_project(tmp_path / "broken", """
        [engine.slurm]
        options = ["--export=ALL,PYTHONHOME=/nowhere"]   # an interpreter that cannot start there

        [jobs.only]
        tasks = ["ok.py"]
        """, {"ok.py": "print('never')\n"})
    result = _run(root, timeout=120)
    assert result.returncode == 1, _explain(result)
    message = result.stderr
    assert "could not start Pyoneer" in message and "on n" in message and str(root) in message, message
    assert "ModuleNotFoundError: No module named 'encodings'" in message  # the cause, in Python's words
    assert "Traceback" not in message
    assert not _workers_alive(cluster, _state(root)["run"]["id"])


def test_a_job_whose_worker_waits_in_the_queue_goes_to_an_idle_worker(cluster: SlurmCluster, tmp_path: Path) -> None:
    # one node (n1, 4 CPUs) for jobs of 4 CPUs each: the first worker holds the node, the
    # others wait in the queue for it; as the first goes idle, it takes their jobs
    jobs = "\n".join(f'[jobs.j{i}]\ntasks = ["work.py"]\nresources = {{ cpus = 4 }}\n' for i in range(4))
    root = write_project(tmp_path / "queue", f'[engine.slurm]\npartition = "gpu"\nidle = 600\n\n{jobs}', {
        "work.py": "import os, time\ntime.sleep(2 if os.environ['PYONEER_JOB'] == 'j0' else 0)\n"
                   "print(os.environ['SLURM_JOB_ID'])\n",
    })
    result = _run(root, "--workers", "12", timeout=240)
    assert result.returncode == 0, _explain(result)
    ran_in = {run_cli("logs", str(root), f"j{i}").stdout.split()[-1] for i in range(4)}
    state = _state(root)
    used = _allocations(cluster, state["run"]["id"])
    assert len(ran_in) == 1, (ran_in, used)  # all four in one allocation
    assert {job["state"] for job in used if job["id"] not in ran_in} <= {"CANCELLED"}, used  # never ran
    assert "to an idle worker" in result.stdout


def test_a_slurm_worker_learns_what_its_tasks_import_and_preloads_it_next_time(tmp_path: Path) -> None:
    root = write_project(tmp_path / "learning", """
        [environment]
        packages = ["./slowpkg-1.0-py3-none-any.whl"]

        [jobs.use]
        tasks = ["use.py", "use.py"]   # warm: a worker with more than one task to run
        """, {"use.py": "import sys\nprint('already imported:', 'slowpkg' in sys.modules)\nimport slowpkg\n"})
    import zipfile

    # a costly import (its cost is seen up to its last import of its own: the tail)
    files = {"slowpkg/__init__.py": "import time\ntime.sleep(0.2)\nfrom slowpkg import tail\n",
             "slowpkg/tail.py": "",
             "slowpkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: slowpkg\nVersion: 1.0\n",
             "slowpkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(root / "slowpkg-1.0-py3-none-any.whl", "w") as wheel:
        for name, text in {**files, "slowpkg-1.0.dist-info/RECORD": "".join(f"{n},,\n" for n in files)}.items():
            wheel.writestr(name, text)
    first = _run(root)
    assert first.returncode == 0, _explain(first)
    assert run_cli("logs", str(root), "use/use").stdout.strip() == "already imported: False"
    second = _run(root)
    assert second.returncode == 0, _explain(second)
    assert run_cli("logs", str(root), "use/use").stdout.strip() == "already imported: True"  # preloaded on the node


def test_members_whose_values_hold_slashes_and_spaces_run_and_log_on_slurm(tmp_path: Path) -> None:
    root = write_project(tmp_path / "odd", '[jobs.build]\nmatrix = { image = ["16/Dockerfile.c9s", "ubuntu 22.04"] }\n'
                                           'tasks = ["say.py {image}"]\n',
                         {"say.py": "import sys\nprint('built', sys.argv[1])\nprint('on', sys.argv[1], file=sys.stderr)\n"})
    result = _run(root)
    assert result.returncode == 0, _explain(result)
    for value in ("16/Dockerfile.c9s", "ubuntu 22.04"):
        shown = run_cli("logs", str(root), f"build[image={value}]/say")
        assert shown.stdout == f"built {value}\non {value}\n", shown.stderr
        # shown as the node's relay told them apart: stderr's line on stderr
        assert f"build[image={value}] | on {value}" in result.stderr.splitlines(), _explain(result)
        assert f"build[image={value}] | built {value}" in result.stdout.splitlines(), _explain(result)
