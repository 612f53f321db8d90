"""The ledger: every run written down in ``.pyoneer/ledger.db``, read back by ``status``,
``runs`` and ``logs``; fingerprints and ``--resume``; one run at a time; SIGKILL of the
manager at any instant.

Every test runs real scripts in real child processes. Each job's script appends a line
to ``count-JOB.txt`` (so a test can tell how many times each job ran), prints a first
line, and then, while ``gate-JOB`` exists, starts a grandchild, writes both pids to
``pids-JOB.txt`` (atomically: the file is also the "it is blocked now" marker) and waits
for the gate to go. Whatever a test starts is SIGKILLed at teardown by ``tracker``.
No assertion is about a duration: the tests poll, with generous limits.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import pyoneer_command, run_cli, wait_until, write_project
from processes import command_line, is_alive, started_at

import pyoneer
from pyoneer.ledger.store import SCHEMA_VERSION

#: how long the processes of a task's tree get to be gone once the manager is killed
GONE = 15.0
#: how long to wait for anything else that should happen soon
SOON = 60.0

ENV = {**os.environ, "COLUMNS": "200"}

JOB_SCRIPT = """
    import os, subprocess, sys, time
    from pathlib import Path

    here = Path.cwd()  # a task runs in its project's root
    job, task = os.environ["PYONEER_JOB"], os.environ["PYONEER_TASK"]
    attempt, run = os.environ["PYONEER_ATTEMPT"], os.environ["PYONEER_RUN_ID"]
    with open(here / f"count-{job}.txt", "a") as count:
        count.write(f"{run} {task} {attempt}\\n")
    print(f"{job}/{task} attempt {attempt} run {run}: first line", flush=True)
    gate = here / f"gate-{job}"
    if gate.exists():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        tmp = here / f".pids-{job}.{os.getpid()}.tmp"
        tmp.write_text(f"{os.getpid()} {child.pid}")
        os.replace(tmp, here / f"pids-{job}.txt")
        while gate.exists():
            time.sleep(0.05)
    print(f"{job}/{task} attempt {attempt} run {run}: last line", flush=True)
    if (here / f"fail-{job}").exists() or ("fail-once" in sys.argv and attempt == "1"):
        sys.exit(3)
"""

# a -> b -> c, and d on its own
ABCD = """
    [jobs.a]
    tasks = ["a.py"]
    [jobs.b]
    needs = ["a"]
    tasks = ["b.py"]
    [jobs.c]
    needs = ["b"]
    tasks = ["c.py"]
    [jobs.d]
    tasks = ["d.py"]
"""


def scripts(*names: str) -> dict[str, str]:
    """The job script under each of ``names``."""
    return {name: JOB_SCRIPT for name in names}


def make_abcd(root: Path) -> Path:
    return write_project(root, ABCD, scripts("a.py", "b.py", "c.py", "d.py"))


def count(root: Path, job: str) -> int:
    """How many times ``job``'s script has run in ``root``."""
    path = root / f"count-{job}.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def counts(root: Path, jobs: Iterable[str] = "abcd") -> dict[str, int]:
    return {job: count(root, job) for job in jobs}


def cli_ok(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = run_cli(*args, cwd=cwd)
    assert done.returncode == 0, f"pyoneer {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def status_json(root: Path, *args: str) -> dict[str, Any]:
    return json.loads(cli_ok("status", str(root), "--json", *args).stdout)


def runs_json(root: Path) -> list[dict[str, Any]]:
    return json.loads(cli_ok("runs", str(root), "--json").stdout)


def job_row(state: dict[str, Any], job: str) -> dict[str, Any]:
    rows = [row for row in state["blueprints"] if row["kind"] == "job" and row["name"] == job]
    assert len(rows) == 1, state["blueprints"]
    return rows[0]


def task_rows(state: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The attempts of task ``job/task``, in attempt order."""
    rows = [row for row in state["blueprints"] if row["kind"] == "task" and row["name"] == name]
    return sorted(rows, key=lambda row: row["attempt"])


def job_status(root: Path, job: str) -> str | None:
    """``job``'s status in the latest run, or ``None`` while there is no run to read."""
    done = run_cli("status", str(root), "--json")
    if done.returncode != 0:
        return None
    return job_row(json.loads(done.stdout), job)["status"]


def pids_of(root: Path, job: str) -> tuple[int, int]:
    """The pids a blocked job wrote: its task process and that process's child."""
    task, child = (root / f"pids-{job}.txt").read_text().split()
    return int(task), int(child)


def clean(completed: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in completed.stdout + completed.stderr


class Tracker:
    """Starts background processes and SIGKILLs whatever of them (and their tasks) is left."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []
        self.outputs: dict[int, Path] = {}
        self.roots: set[Path] = set()

    def run(self, root: Path, *args: str) -> subprocess.Popen[bytes]:
        """``pyoneer run ROOT ARGS`` in the background; its output goes to a file."""
        self.roots.add(root)
        out_path = self.tmp_path / f"background-{len(self.processes)}.out"
        with out_path.open("wb") as out:
            process = subprocess.Popen(
                pyoneer_command("run", str(root), *args), stdout=out, stderr=subprocess.STDOUT, env=ENV
            )
        self.processes.append(process)
        self.outputs[process.pid] = out_path
        return process

    def popen(self, argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv, env=ENV, **options)
        self.processes.append(process)
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        path = self.outputs.get(process.pid)
        return path.read_text(errors="replace") if path else ""

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        for root in self.roots:
            for pid_file in root.glob("pids-*.txt"):
                for pid in map(int, pid_file.read_text().split()):
                    if is_alive(pid) and _ours(pid, root):
                        os.kill(pid, signal.SIGKILL)


def _ours(pid: int, root: Path) -> bool:
    """True if ``pid`` looks like one of our task processes (not a recycled pid)."""
    cmdline = command_line(pid)
    return str(root) in cmdline or "time.sleep(600)" in cmdline


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[Tracker]:
    tracked = Tracker(tmp_path)
    try:
        yield tracked
    finally:
        tracked.cleanup()


def kill_manager_while_blocked(root: Path, tracker: Tracker, job: str, *settled: str) -> tuple[int, int, int]:
    """Start a run, wait until ``job`` is blocked (and each of ``settled`` succeeded),
    then SIGKILL the manager. Returns the manager's, the task's and the grandchild's pids."""
    (root / f"gate-{job}").touch()
    manager = tracker.run(root, "--workers", "2")
    assert wait_until(lambda: (root / f"pids-{job}.txt").exists() or manager.poll() is not None, SOON)
    assert manager.poll() is None, tracker.output(manager)
    for name in settled:
        assert wait_until(lambda: job_status(root, name) == "succeeded", SOON, 0.2), name
    task, grandchild = pids_of(root, job)
    assert is_alive(task) and is_alive(grandchild)
    manager.send_signal(signal.SIGKILL)
    manager.wait(SOON)
    return manager.pid, task, grandchild


# 1 -- SIGKILL of the manager, then --resume --------------------------------------------


def test_kill_9_of_the_manager_then_resume_finishes_only_the_rest(project_dir: Path, tracker: Tracker) -> None:
    make_abcd(project_dir)
    manager, task, grandchild = kill_manager_while_blocked(project_dir, tracker, "b", "a", "d")

    # the watchdog ends the task's tree, grandchild included
    assert wait_until(lambda: not is_alive(task) and not is_alive(grandchild), GONE), "task tree survived"

    state = status_json(project_dir)
    first = state["run"]["id"]
    assert state["run"]["result"] == "interrupted"
    assert state["run"]["manager"]["pid"] == manager
    assert job_row(state, "a")["status"] == job_row(state, "d")["status"] == "succeeded"
    assert job_row(state, "b")["status"] == "cancelled"  # not "running": its manager is gone
    assert all(p["status"] in ("lost", "stopped") for p in state["pyoneers"]), state["pyoneers"]
    assert "interrupted" in cli_ok("status", str(project_dir)).stdout
    # the dead manager's lock file is still there, naming it
    assert (project_dir / ".pyoneer" / "run.lock").read_text().split()[0] == str(manager)

    (project_dir / "gate-b").unlink()
    resumed = run_cli("run", str(project_dir), "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "2 reused" in resumed.stdout
    assert counts(project_dir) == {"a": 1, "b": 2, "c": 1, "d": 1}

    state = status_json(project_dir)
    assert state["run"]["id"] != first and state["run"]["result"] == "succeeded"
    assert state["run"]["resumed_from"] == first
    for job in "abcd":
        assert job_row(state, job)["status"] == "succeeded"
        assert job_row(state, job)["reused"] is (job in "ad"), job
    assert not task_rows(state, "a/a") and not task_rows(state, "d/d")  # not run again
    assert [row["status"] for row in task_rows(state, "b/b")] == ["succeeded"]
    table = cli_ok("status", str(project_dir)).stdout
    assert re.search(r"\ba\s+reused\b", table) and re.search(r"\bd\s+reused\b", table), table

    listed = runs_json(project_dir)
    assert [run["id"] for run in listed] == [first, state["run"]["id"]]
    assert listed[0]["result"] == "interrupted" and listed[1]["result"] == "succeeded"
    assert listed[1]["resumed_from"] == first
    assert listed[1]["jobs"] == {"reused": 2, "succeeded": 2}

    # and the first run, as the ledger now has it: what was open was closed
    old = status_json(project_dir, "--run", first)
    assert old["run"]["result"] == "interrupted"
    assert job_row(old, "b")["status"] == job_row(old, "c")["status"] == "cancelled"


# 2 -- status from a second process, during a run ---------------------------------------


def test_status_from_another_process_while_a_run_is_on(project_dir: Path, tracker: Tracker) -> None:
    write_project(
        project_dir,
        """
        [jobs.prep]
        tasks = ["prep.py"]
        [jobs.slow]
        needs = ["prep"]
        tasks = ["slow.py"]
        """,
        scripts("prep.py", "slow.py"),
    )
    (project_dir / "gate-slow").touch()
    manager = tracker.run(project_dir)
    assert wait_until(lambda: (project_dir / "pids-slow.txt").exists() or manager.poll() is not None, SOON)
    assert manager.poll() is None, tracker.output(manager)

    state = status_json(project_dir)
    assert state["run"]["result"] == "running"
    assert state["run"]["manager"]["pid"] == manager.pid and state["run"]["ended"] is None
    assert job_row(state, "prep")["status"] == "succeeded"
    slow = job_row(state, "slow")
    assert slow["status"] == "running"
    assert slow["pyoneer"].startswith("worker") and slow["pyoneer_status"] == "working"
    workers = {p["id"]: p for p in state["pyoneers"]}
    assert workers[slow["pyoneer"]]["status"] == "working" and workers[slow["pyoneer"]]["role"] == "worker"
    assert workers["manager"]["status"] == "working"
    assert [(row["attempt"], row["status"]) for row in task_rows(state, "slow/slow")] == [(1, "running")]

    table = cli_ok("status", str(project_dir)).stdout
    assert "prep" in table and "slow" in table and "running" in table
    assert str(manager.pid) in table

    (project_dir / "gate-slow").unlink()
    assert manager.wait(SOON) == 0, tracker.output(manager)
    state = status_json(project_dir)
    assert state["run"]["result"] == "succeeded" and state["run"]["ended"] is not None
    assert job_row(state, "slow")["status"] == "succeeded"
    assert all(p["status"] == "stopped" for p in state["pyoneers"])


# 3 -- the shape of status --json ------------------------------------------------------


def test_status_json_shape_and_retried_attempts(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [project]
        name = "shape"
        [jobs.prep]
        tasks = ["prep.py"]
        [jobs.fit]
        needs = ["prep"]
        tasks = [{ script = "fit.py", args = ["fail-once"], retries = 1 }, { script = "report.py", name = "report" }]
        """,
        scripts("prep.py", "fit.py", "report.py"),
    )
    ran = run_cli("run", str(project_dir))
    assert ran.returncode == 0, ran.stdout + ran.stderr

    state = status_json(project_dir)
    assert set(state) == {"run", "pyoneers", "blueprints"}
    run = state["run"]
    assert {"id", "project", "result", "started", "ended", "manager", "resumed_from"} <= set(run)
    assert run["project"] == "shape" and run["result"] == "succeeded" and run["resumed_from"] is None
    assert isinstance(run["started"], float) and isinstance(run["ended"], float)
    assert run["started"] <= run["ended"]
    assert isinstance(run["manager"]["pid"], int) and run["manager"]["host"]
    assert {p["role"] for p in state["pyoneers"]} == {"manager", "worker"}
    for pyoneer_row in state["pyoneers"]:
        assert {"id", "role", "host", "pid", "status"} <= set(pyoneer_row)

    rows = state["blueprints"]
    for row in rows:
        assert {"kind", "name", "attempt", "pyoneer", "status", "started", "ended", "exit_code",
                "log", "fingerprint", "reused"} <= set(row)
    assert [(row["kind"], row["name"]) for row in rows if row["kind"] != "task"] == [
        ("project", "shape"), ("job", "prep"), ("job", "fit")
    ]
    assert rows[0]["status"] == "succeeded"
    for job in ("prep", "fit"):
        assert re.fullmatch(r"[0-9a-f]{64}", job_row(state, job)["fingerprint"])
    assert job_row(state, "prep")["fingerprint"] != job_row(state, "fit")["fingerprint"]

    fit = task_rows(state, "fit/fit")
    assert [(row["attempt"], row["status"], row["exit_code"]) for row in fit] == [
        (1, "failed", 3), (2, "succeeded", 0)
    ]
    assert [(row["attempt"], row["status"]) for row in task_rows(state, "fit/report")] == [(1, "succeeded")]
    for row in rows:
        if row["kind"] != "task":
            continue
        assert row["log"] == f".pyoneer/runs/{run['id']}/{row['name']}.{row['attempt']}.log"
        log = (project_dir / row["log"]).read_text()
        assert f"{row['name']} attempt {row['attempt']} run {run['id']}: first line" in log
        assert row["started"] <= row["ended"]

    assert status_json(project_dir, "--run", run["id"])["run"]["id"] == run["id"]
    assert status_json(project_dir, "--run", run["id"][:15])["run"]["id"] == run["id"]
    unknown = run_cli("status", str(project_dir), "--run", "19990101-000000-beef")
    assert unknown.returncode == 2 and "no run" in unknown.stderr and clean(unknown)


def test_a_long_status_table_lists_every_row_on_one_aligned_line(project_dir: Path) -> None:
    # past LONG rows the table is aligned text rather than rich's (which takes ~1 ms a row)
    from pyoneer.cli.columns import LONG

    count = LONG // 2 + 10  # a job and a task each: more rows than LONG
    body = "".join(f'[jobs.j{i:03d}]\ntasks = ["{"bad" if i == 7 else "ok"}.py"]\n' for i in range(count))
    write_project(project_dir, body, {"ok.py": "pass\n", "bad.py": "raise SystemExit(4)\n"})
    assert run_cli("run", str(project_dir), "--workers", "2").returncode == 1

    host = status_json(project_dir)["blueprints"][0]["host"]
    lines = cli_ok("status", str(project_dir)).stdout.splitlines()
    header = lines[1]
    assert header.split() == ["pyoneer", "status", "kind", "blueprint", "blueprint", "status", "attempt",
                              "started", "duration", "exit", "host"]
    rows = lines[2:]
    assert len(rows) == 1 + 2 * count  # the project, then each job and its task, one line each
    at = {column: header.index(column) for column in ("kind", "blueprint status", "started", "exit", "host")}
    for row in rows:
        kind = row[at["kind"]:].split()[0]
        assert kind in ("project", "job", "task"), row
        assert row[at["blueprint status"]:].split()[0] in ("succeeded", "failed"), row
        assert re.fullmatch(r"\d\d:\d\d:\d\d", row[at["started"]:].split()[0]), row
        assert row[at["host"]:] == host, row  # the last column: no blanks after it
        if kind == "task":  # flush right under its heading
            assert row[at["exit"]:at["host"]].strip() == ("4" if "j007/bad" in row else "0"), row
            assert row[at["exit"] + len("exit") - 1] in "04", row
    assert sum(" j007/bad " in row and " failed " in row for row in rows) == 1


# 4 -- logs ----------------------------------------------------------------------------


def test_logs_of_a_task_a_job_an_attempt_and_an_older_run(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.a]
        tasks = ["a.py"]
        [jobs.two]
        needs = ["a"]
        tasks = [{ script = "one.py", args = ["fail-once"], retries = 1 }, "two.py"]
        """,
        scripts("a.py", "one.py", "two.py"),
    )
    cli_ok("run", str(project_dir))
    cli_ok("run", str(project_dir))
    older, latest = (run["id"] for run in runs_json(project_dir))

    one = cli_ok("logs", str(project_dir), "two/one").stdout
    assert one == (
        f"two/one attempt 2 run {latest}: first line\ntwo/one attempt 2 run {latest}: last line\n"
    )
    first_try = cli_ok("logs", str(project_dir), "two/one", "--attempt", "1").stdout
    assert f"two/one attempt 1 run {latest}: last line" in first_try and "attempt 2" not in first_try

    both = cli_ok("logs", str(project_dir), "two").stdout
    assert "==> two/one (attempt 2) <==" in both and "==> two/two (attempt 1) <==" in both
    assert both.index("==> two/one") < both.index(f"two/one attempt 2 run {latest}: first line")
    assert both.index(f"two/one attempt 2 run {latest}: last line") < both.index("==> two/two")
    assert f"two/two attempt 1 run {latest}: last line" in both

    old = cli_ok("logs", str(project_dir), "two/two", "--run", older).stdout
    assert f"run {older}: first line" in old and latest not in old
    here = cli_ok("logs", "a", cwd=project_dir).stdout  # PATH defaults to the current directory
    assert f"a/a attempt 1 run {latest}: first line" in here

    unknown = run_cli("logs", str(project_dir), "nope")
    assert unknown.returncode == 2 and clean(unknown)
    assert "nope" in unknown.stderr and "a, two" in unknown.stderr
    no_task = run_cli("logs", str(project_dir), "two/three")
    assert no_task.returncode == 2 and "three" in no_task.stderr and clean(no_task)
    no_attempt = run_cli("logs", str(project_dir), "two/two", "--attempt", "5")
    assert no_attempt.returncode == 2 and clean(no_attempt)


def test_logs_follow_prints_as_the_task_runs_and_stops_when_it_ends(project_dir: Path, tracker: Tracker) -> None:
    write_project(project_dir, '[jobs.tail]\ntasks = ["tail.py"]\n', scripts("tail.py"))
    (project_dir / "gate-tail").touch()
    manager = tracker.run(project_dir)
    assert wait_until(lambda: (project_dir / "pids-tail.txt").exists() or manager.poll() is not None, SOON)
    assert manager.poll() is None, tracker.output(manager)

    follower = tracker.popen(
        pyoneer_command("logs", str(project_dir), "tail", "-f"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, b"")), daemon=True)
    reader.start()
    assert wait_until(lambda: any(b"first line" in line for line in lines), SOON), lines
    assert not any(b"last line" in line for line in lines)  # the gate is still there
    assert follower.poll() is None  # still following

    (project_dir / "gate-tail").unlink()
    assert follower.wait(SOON) == 0, follower.stderr.read()
    reader.join(SOON)
    text = b"".join(lines).decode()
    assert "==> tail/tail (attempt 1) <==" in text
    assert text.index("first line") < text.index("last line")
    assert manager.wait(SOON) == 0


# 5 -- runs ----------------------------------------------------------------------------


def test_runs_lists_every_run_with_its_job_counts(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.a]
        tasks = ["a.py"]
        [jobs.b]
        needs = ["a"]
        tasks = ["b.py"]
        [jobs.e]
        needs = ["b"]
        tasks = ["e.py"]
        [jobs.c]
        tasks = ["c.py"]
        """,
        scripts("a.py", "b.py", "c.py", "e.py"),
    )
    ids = []
    for fail, code in ((False, 0), (True, 1), (False, 0)):
        if fail:
            (project_dir / "fail-b").touch()
        done = run_cli("run", str(project_dir))
        assert done.returncode == code, done.stdout + done.stderr
        (project_dir / "fail-b").unlink(missing_ok=True)
        ids.append(status_json(project_dir)["run"]["id"])

    listed = runs_json(project_dir)
    assert [run["id"] for run in listed] == ids and len(set(ids)) == 3
    assert [run["result"] for run in listed] == ["succeeded", "failed", "succeeded"]
    assert [run["jobs"] for run in listed] == [
        {"succeeded": 4}, {"succeeded": 2, "failed": 1, "skipped": 1}, {"succeeded": 4}
    ]
    assert all(run["resumed_from"] is None for run in listed)
    assert listed[0]["started"] <= listed[1]["started"] <= listed[2]["started"]
    assert all(run["ended"] >= run["started"] for run in listed)

    table = cli_ok("runs", str(project_dir)).stdout
    lines = [line for line in table.splitlines() if any(run_id in line for run_id in ids)]
    assert len(lines) == 3 and all(ids[n] in lines[n] for n in range(3)), table
    assert "failed" in lines[1] and re.search(r"\b2\s+1\s+1\s+0\s*$", lines[1]), lines[1]


# 6 -- stale lock ----------------------------------------------------------------------


def test_a_lock_left_by_a_dead_process_is_taken_over(project_dir: Path) -> None:
    make_abcd(project_dir)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = project_dir / ".pyoneer" / "run.lock"
    lock.parent.mkdir()
    lock.write_text(f"{gone.pid} 20200101-000000-dead\n")

    done = run_cli("run", str(project_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert counts(project_dir) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert len(runs_json(project_dir)) == 1


# (the lock left by a SIGKILLed manager is taken over in the first test: --resume runs)


# 7 -- one run at a time ---------------------------------------------------------------


def test_a_second_run_is_refused_while_one_is_on(project_dir: Path, tracker: Tracker) -> None:
    write_project(
        project_dir,
        """
        [jobs.slow]
        tasks = ["slow.py"]
        [jobs.quick]
        tasks = ["quick.py"]
        """,
        scripts("slow.py", "quick.py"),
    )
    (project_dir / "gate-slow").touch()
    first = tracker.run(project_dir, "--workers", "2")
    assert wait_until(lambda: (project_dir / "pids-slow.txt").exists() or first.poll() is not None, SOON)
    assert wait_until(lambda: count(project_dir, "quick") == 1, SOON)
    assert first.poll() is None, tracker.output(first)
    running = status_json(project_dir)["run"]["id"]

    for args in ((), ("--resume",)):
        second = run_cli("run", str(project_dir), *args)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"pid {first.pid}" in second.stderr and clean(second)
        assert running in second.stderr
    assert counts(project_dir, ("slow", "quick")) == {"slow": 1, "quick": 1}
    assert status_json(project_dir)["run"]["id"] == running

    (project_dir / "gate-slow").unlink()
    assert first.wait(SOON) == 0, tracker.output(first)
    assert [run["id"] for run in runs_json(project_dir)] == [running]
    assert counts(project_dir, ("slow", "quick")) == {"slow": 1, "quick": 1}


def test_the_python_api_is_refused_too(project_dir: Path, tracker: Tracker) -> None:
    write_project(project_dir, '[jobs.slow]\ntasks = ["slow.py"]\n', scripts("slow.py"))
    (project_dir / "gate-slow").touch()
    first = tracker.run(project_dir)
    assert wait_until(lambda: (project_dir / "pids-slow.txt").exists() or first.poll() is not None, SOON)
    with pytest.raises(pyoneer.PyoneerError, match=f"pid {first.pid}"):
        pyoneer.run(pyoneer.load(project_dir))
    (project_dir / "gate-slow").unlink()
    assert first.wait(SOON) == 0
    assert count(project_dir, "slow") == 1 and len(runs_json(project_dir)) == 1


# 8 -- a ledger that is not ours, or is newer ------------------------------------------


def refused_everywhere(root: Path, words: str) -> None:
    """``run``, ``run --resume`` (and its dry run), ``status``, ``runs`` and ``logs`` all exit 2, say ``words``,
    leave the ledger's bytes as they were and run nothing."""
    ledger = root / ".pyoneer" / "ledger.db"
    before = ledger.read_bytes()
    ran_before = counts(root)
    for command in (("run",), ("run", "--resume"), ("run", "--resume", "--dry-run"), ("status",), ("status", "--json"), ("runs",),
                    ("runs", "--json"), ("logs", "a")):
        done = run_cli(command[0], str(root), *command[1:])
        assert done.returncode == 2, (command, done.returncode, done.stdout, done.stderr)
        assert words in done.stderr, (command, done.stderr)
        assert clean(done), (command, done.stderr)
        assert ledger.read_bytes() == before, command
    assert counts(root) == ran_before


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(5000))


def _sqlite_garbage(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + random.Random(8).randbytes(5000))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO users (name) VALUES ('ada')")
    db.commit()
    db.close()


def _foreign_meta(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('application', 'something-else'), ('schema', '1')")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_garbage, id="garbage"),
        pytest.param(_sqlite_garbage, id="sqlite-header-then-garbage"),
        pytest.param(_empty, id="empty-file"),
        pytest.param(_foreign, id="foreign-sqlite"),
        pytest.param(_foreign_meta, id="foreign-sqlite-with-a-meta-table"),
    ],
)
def test_a_file_that_is_not_a_ledger_is_refused_and_left_alone(project_dir: Path, make) -> None:
    make_abcd(project_dir)
    (project_dir / ".pyoneer").mkdir()
    make(project_dir / ".pyoneer" / "ledger.db")
    refused_everywhere(project_dir, "not a Pyoneer ledger")
    assert counts(project_dir) == {"a": 0, "b": 0, "c": 0, "d": 0}


def test_a_ledger_of_a_newer_schema_is_refused_and_left_alone(project_dir: Path) -> None:
    make_abcd(project_dir)
    cli_ok("run", str(project_dir))
    ledger = project_dir / ".pyoneer" / "ledger.db"
    db = sqlite3.connect(ledger)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()
    refused_everywhere(project_dir, "schema 99")
    assert counts(project_dir) == {"a": 1, "b": 1, "c": 1, "d": 1}


# 9 -- fingerprints: what changed reruns, with everything downstream ------------------


def test_a_change_reruns_its_job_and_everything_downstream(project_dir: Path) -> None:
    toml = """
        [jobs.a]
        tasks = [{{ script = "a.py", args = [{a_args}] }}]
        [jobs.b]
        needs = ["a"]
        tasks = ["b.py"]
        [jobs.c]
        needs = ["b"]
        tasks = [{{ script = "c.py"{c_limits} }}]
        [jobs.d]
        tasks = [{{ script = "d.py", env = {{ MODE = "{d_mode}" }} }}]
    """
    settings = {"a_args": '"x"', "c_limits": "", "d_mode": "one"}

    def run(*args: str) -> dict[str, Any]:
        write_project(project_dir, toml.format(**settings))
        done = run_cli("run", str(project_dir), *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return status_json(project_dir)

    write_project(project_dir, None, scripts("a.py", "b.py", "c.py", "d.py"))
    first = run()
    assert counts(project_dir) == {"a": 1, "b": 1, "c": 1, "d": 1}
    prints = {job: job_row(first, job)["fingerprint"] for job in "abcd"}

    with (project_dir / "b.py").open("a") as script:
        script.write("# a change of bytes\n")
    second = run("--resume")
    assert counts(project_dir) == {"a": 1, "b": 2, "c": 2, "d": 1}
    assert {job: job_row(second, job)["reused"] for job in "abcd"} == {"a": True, "b": False, "c": False, "d": True}
    assert second["run"]["resumed_from"] == first["run"]["id"]
    assert job_row(second, "a")["fingerprint"] == prints["a"] and job_row(second, "d")["fingerprint"] == prints["d"]
    assert job_row(second, "b")["fingerprint"] != prints["b"] and job_row(second, "c")["fingerprint"] != prints["c"]

    settings["a_args"] = '"y"'  # other args for a: a, b and c again
    run("--resume")
    assert counts(project_dir) == {"a": 2, "b": 3, "c": 3, "d": 1}

    settings["d_mode"] = "two"  # other env for d: d alone
    run("--resume")
    assert counts(project_dir) == {"a": 2, "b": 3, "c": 3, "d": 2}

    settings["c_limits"] = ", timeout = 60, retries = 2"  # how a job is tried is not what it is
    unchanged = run("--resume")
    assert counts(project_dir) == {"a": 2, "b": 3, "c": 3, "d": 2}
    assert all(job_row(unchanged, job)["reused"] for job in "abcd")
    assert runs_json(project_dir)[-1]["jobs"] == {"reused": 4}

    everything = run()  # no --resume: every job runs
    assert counts(project_dir) == {"a": 3, "b": 4, "c": 4, "d": 3}
    assert not any(job_row(everything, job)["reused"] for job in "abcd")
    assert everything["run"]["resumed_from"] is None


def test_logs_of_a_reused_job_come_from_the_run_where_it_ran(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.a]
        tasks = ["a.py"]

        [jobs.b]
        tasks = ["b.py"]
        needs = ["a"]
        """,
        {"a.py": "print('a ran, run', __import__('os').environ['PYONEER_RUN_ID'])\n",
         "b.py": "print('b ran')\n"},
    )
    cli_ok("run", str(project_dir))
    first = status_json(project_dir)["run"]["id"]
    (project_dir / "b.py").write_text("print('b ran again')\n")
    cli_ok("run", str(project_dir), "--resume")
    cli_ok("run", str(project_dir), "--resume")  # a reused twice over: still from the first run

    shown = cli_ok("logs", str(project_dir), "a")
    assert shown.stdout == f"a ran, run {first}\n"
    assert f"reused from run {first}" in shown.stderr
    assert cli_ok("logs", str(project_dir), "a/a").stdout == f"a ran, run {first}\n"
    assert cli_ok("logs", str(project_dir), "b").stdout == "b ran again\n"  # it ran in that run


# 10 -- SIGKILL at random instants -----------------------------------------------------


@pytest.mark.slow
def test_the_ledger_reads_correctly_after_a_sigkill_at_any_instant(project_dir: Path, tracker: Tracker) -> None:
    write_project(
        project_dir,
        """
        [jobs.j1]
        tasks = ["tiny.py", "tiny.py"]
        [jobs.j2]
        tasks = ["tiny.py"]
        [jobs.j3]
        needs = ["j1"]
        tasks = ["tiny.py"]
        [jobs.j4]
        needs = ["j2", "j3"]
        tasks = [{ script = "tiny.py", args = ["fail-once"], retries = 1 }]
        [jobs.j5]
        needs = ["j4"]
        tasks = ["tiny.py"]
        [jobs.j6]
        tasks = ["tiny.py"]
        """,
        scripts("tiny.py"),
    )
    cli_ok("run", str(project_dir))  # so there is always a run to show
    ledger = project_dir / ".pyoneer" / "ledger.db"
    lock = project_dir / ".pyoneer" / "run.lock"
    chance = random.Random(20261201)  # seeded: a failure can be replayed
    for _ in range(5):
        manager = tracker.run(project_dir)
        # count the delay from when this manager holds the lock: the run itself, not Python's start-up
        assert wait_until(
            lambda: lock.read_text().startswith(f"{manager.pid} ") or manager.poll() is not None, SOON
        )
        delay = chance.uniform(0.0, 0.8)
        wait_until(lambda: manager.poll() is not None, delay)
        manager.send_signal(signal.SIGKILL)
        manager.wait(SOON)

        db = sqlite3.connect(ledger)
        try:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], delay
            assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
            db.execute("SELECT * FROM runs").fetchall()
            db.execute("SELECT * FROM assignments").fetchall()
            db.execute("SELECT * FROM events").fetchall()
        finally:
            db.close()
        state = status_json(project_dir)
        assert state["run"]["result"] in ("succeeded", "interrupted"), (delay, state["run"])
        assert {run["result"] for run in runs_json(project_dir)} <= {"succeeded", "interrupted"}

    final = run_cli("run", str(project_dir), "--resume")
    assert final.returncode == 0, final.stdout + final.stderr
    assert status_json(project_dir)["run"]["result"] == "succeeded"
    assert all(run["result"] != "running" for run in runs_json(project_dir))


# what a dead run looks like ------------------------------------------------------------


def test_a_run_is_running_only_while_its_very_manager_lives(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.a]\ntasks = ["a.py"]\n', scripts("a.py"))
    cli_ok("run", str(project_dir))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()

    def pretend(pid: int, started: str) -> str:
        """Make the run look unfinished, by manager ``pid`` started at ``started``; its result."""
        db = sqlite3.connect(project_dir / ".pyoneer" / "ledger.db")
        with db:
            db.execute("UPDATE runs SET result = 'running', ended = NULL, pid = ?, pid_started = ?", (pid, started))
        db.close()
        return status_json(project_dir)["run"]["result"]

    me = os.getpid()  # alive, so a run "managed" by this very process is running
    assert pretend(me, started_at(me)) == "running"
    assert pretend(me, str(int(started_at(me)) + 1)) == "interrupted"  # the pid, but another process
    assert pretend(gone.pid, "1") == "interrupted"  # no such process
    assert runs_json(project_dir)[0]["result"] == "interrupted"


def test_reading_commands_before_any_run(project_dir: Path) -> None:
    make_abcd(project_dir)
    for command in (("status",), ("status", "--json"), ("runs",), ("logs", "a")):
        done = run_cli(command[0], str(project_dir), *command[1:])
        assert done.returncode == 2 and "no runs yet" in done.stderr and clean(done), (command, done.stderr)
    assert not (project_dir / ".pyoneer" / "ledger.db").exists()  # reading never makes a ledger


GATED = """
    [jobs.prep]
    tasks = ["prep.py"]
    [jobs.slow]
    needs = ["prep"]
    tasks = ["slow.py"]
    [jobs.after]
    needs = ["slow"]
    tasks = ["after.py"]
"""


def test_an_interrupted_run_has_an_end(project_dir: Path, tracker: Tracker) -> None:
    write_project(project_dir, GATED, scripts("prep.py", "slow.py", "after.py"))
    kill_manager_while_blocked(project_dir, tracker, "slow", "prep")
    (project_dir / "gate-slow").unlink()
    cli_ok("run", str(project_dir), "--resume")  # closes the dead run in the ledger
    dead = runs_json(project_dir)[0]
    assert dead["result"] == "interrupted"
    assert dead["ended"] is not None and dead["ended"] >= dead["started"]


def test_runs_counts_a_dead_runs_open_jobs_as_cancelled(project_dir: Path, tracker: Tracker) -> None:
    write_project(project_dir, GATED, scripts("prep.py", "slow.py", "after.py"))
    kill_manager_while_blocked(project_dir, tracker, "slow", "prep")
    state = status_json(project_dir)
    assert [job_row(state, job)["status"] for job in ("prep", "slow", "after")] == [
        "succeeded", "cancelled", "cancelled"
    ]
    dead = runs_json(project_dir)[0]
    assert dead["result"] == "interrupted"
    assert dead["jobs"] == {"succeeded": 1, "cancelled": 2}


# 11 -- the Python API -----------------------------------------------------------------


def test_python_api_resume_reuses_too(project_dir: Path) -> None:
    make_abcd(project_dir)
    first = pyoneer.run(pyoneer.load(project_dir))
    assert first.ok and not any(job.reused for job in first.jobs)

    with (project_dir / "c.py").open("a") as script:
        script.write("# changed\n")
    second = pyoneer.run(pyoneer.load(project_dir), resume=True)
    assert second.ok
    assert {job.name: job.reused for job in second.jobs} == {"a": True, "b": True, "c": False, "d": True}
    assert second.job("a").attempts == () and len(second.job("c").attempts) == 1
    assert counts(project_dir) == {"a": 1, "b": 1, "c": 2, "d": 1}

    state = status_json(project_dir)
    assert state["run"]["id"] == second.run_id and state["run"]["resumed_from"] == first.run_id
    plain = pyoneer.run(pyoneer.load(project_dir))
    assert not any(job.reused for job in plain.jobs)
    assert counts(project_dir) == {"a": 2, "b": 2, "c": 3, "d": 2}


# an older ledger is migrated in place ---------------------------------------------------

_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (id TEXT PRIMARY KEY, project TEXT NOT NULL, started REAL NOT NULL, ended REAL,
    result TEXT NOT NULL, pid INTEGER NOT NULL, pid_started TEXT NOT NULL, host TEXT NOT NULL, resumed_from TEXT);
CREATE TABLE pyoneers (run_id TEXT NOT NULL REFERENCES runs(id), id TEXT NOT NULL, role TEXT NOT NULL,
    host TEXT NOT NULL, pid INTEGER, status TEXT NOT NULL, PRIMARY KEY (run_id, id));
CREATE TABLE assignments (run_id TEXT NOT NULL REFERENCES runs(id), kind TEXT NOT NULL, name TEXT NOT NULL,
    attempt INTEGER NOT NULL, pyoneer TEXT NOT NULL, fingerprint TEXT, status TEXT NOT NULL,
    reused INTEGER NOT NULL DEFAULT 0, started REAL, ended REAL, exit_code INTEGER, reason TEXT, log TEXT,
    position INTEGER NOT NULL, PRIMARY KEY (run_id, kind, name, attempt));
CREATE TABLE events (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id), at REAL NOT NULL,
    subject TEXT NOT NULL, change TEXT NOT NULL, detail TEXT);
CREATE INDEX events_by_run ON events (run_id, seq);
INSERT INTO meta VALUES ('application', 'pyoneer-ledger'), ('schema', '1');
INSERT INTO runs VALUES ('20260101-000000-abcd', 'old', 1767225600.0, 1767225601.0, 'succeeded', 1, '1', 'elsewhere', NULL);
INSERT INTO pyoneers VALUES ('20260101-000000-abcd', 'manager', 'manager', 'elsewhere', 1, 'stopped');
INSERT INTO assignments (run_id, kind, name, attempt, pyoneer, status, position, started, ended)
    VALUES ('20260101-000000-abcd', 'project', 'old', 0, 'manager', 'succeeded', 0, 1767225600.0, 1767225601.0),
           ('20260101-000000-abcd', 'job', 'a', 0, 'worker-1', 'succeeded', 1, 1767225600.0, 1767225601.0);
"""


def test_a_ledger_of_schema_1_is_migrated_in_place_and_keeps_its_runs(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.a]\ntasks = ["a.py"]\n', scripts("a.py"))
    (project_dir / ".pyoneer").mkdir()
    db = sqlite3.connect(project_dir / ".pyoneer" / "ledger.db")
    db.executescript(_SCHEMA_1)
    db.close()
    old = status_json(project_dir, "--run", "20260101")  # a reader migrates it too
    assert old["run"]["result"] == "succeeded" and job_row(old, "a")["matrix"] is None
    cli_ok("run", str(project_dir))
    runs = runs_json(project_dir)
    assert [run["id"] for run in runs][0] == "20260101-000000-abcd" and len(runs) == 2
    db = sqlite3.connect(project_dir / ".pyoneer" / "ledger.db")
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
    assert "matrix" in [column[1] for column in db.execute("PRAGMA table_info(assignments)")]
    db.close()


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "wordcount-schema-1.db"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wordcount"


def test_a_ledger_written_by_the_last_schema_1_pyoneer_upgrades_in_place(project_dir: Path) -> None:
    """The fixture: two runs of examples/wordcount (a run, then a --resume) by Pyoneer 8b287aa."""
    shutil.copytree(EXAMPLE, project_dir, dirs_exist_ok=True)
    (project_dir / ".pyoneer").mkdir()
    shutil.copyfile(FIXTURE, project_dir / ".pyoneer" / "ledger.db")
    runs = runs_json(project_dir)
    assert [run["result"] for run in runs] == ["succeeded", "succeeded"]
    assert runs[1]["resumed_from"] == runs[0]["id"] and runs[1]["jobs"] == {"reused": 3}
    first = status_json(project_dir, "--run", runs[0]["id"])
    assert job_row(first, "merge")["status"] == "succeeded" and job_row(first, "merge")["matrix"] is None
    backup = project_dir / ".pyoneer" / "ledger.db.schema-1.backup"
    db = sqlite3.connect(backup)  # the ledger as it was, kept beside it
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("1",)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)
    db.close()
    # its successes cannot prove what they imported: the first --resume reruns them, saying why
    done = cli_ok("run", str(project_dir), "--resume")
    assert "recorded before imports were tracked" in done.stdout
    after = runs_json(project_dir)
    assert len(after) == 3 and after[2]["jobs"] == {"succeeded": 3}
    cli_ok("run", str(project_dir), "--resume")
    assert runs_json(project_dir)[3]["jobs"] == {"reused": 3}
