"""Why a job did not run: the job it needed and how that ended, or what stopped the run.

Black-box: real ``pyoneer run`` processes; the reason is read where a user reads it (the
lines of the run, its summary, ``status``, ``status --json``).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from conftest import child_env, pyoneer_command, run_cli, write_project

SWEEP = """
[jobs.train]
matrix = { lr = [1, 2] }
tasks = [{ script = "train.py", args = ["{lr}"] }]
[jobs.evaluate]
needs = ["train"]
tasks = ["ok.py"]
[jobs.report]
needs = ["evaluate"]
tasks = ["ok.py"]
"""


def jobs_why(project: Path) -> dict[str, str | None]:
    state = json.loads(run_cli("status", "--json", cwd=project).stdout)
    return {row["name"]: row["why"] for row in state["blueprints"] if row["kind"] == "job"}


def test_a_skipped_job_names_the_job_it_needed_and_how_that_ended(project_dir: Path) -> None:
    write_project(project_dir, SWEEP, {
        "train.py": "import sys\nif sys.argv[1] == '2':\n    sys.exit(3)\n",
        "ok.py": "print('fine')\n",
    })
    ran = run_cli("run", cwd=project_dir)
    assert ran.returncode == 1
    assert "evaluate skipped: needs train[lr=2], which failed" in ran.stdout
    summary = ran.stdout[ran.stdout.index("run "):]
    assert "needs train[lr=2], which failed" in summary
    assert "needs evaluate, which was skipped (train[lr=2] failed)" in summary
    status = run_cli("status", cwd=project_dir)
    assert "needs train[lr=2], which failed" in status.stdout
    why = jobs_why(project_dir)
    assert why["evaluate"] == "needs train[lr=2], which failed"
    assert why["report"] == "needs evaluate, which was skipped (train[lr=2] failed)"


def test_a_cancelled_job_says_what_stopped_the_run(project_dir: Path) -> None:
    write_project(project_dir, "[jobs.slow]\ntasks = [\"slow.py\"]\n[jobs.after]\nneeds = [\"slow\"]\ntasks = [\"slow.py\"]\n",
                  {"slow.py": "import time\nprint('up', flush=True)\ntime.sleep(120)\n"})
    proc = subprocess.Popen(pyoneer_command("run"), cwd=project_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=child_env())
    while "up" not in proc.stdout.readline():
        pass
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    assert "after cancelled: the run was stopped (SIGINT received)" in out
    why = jobs_why(project_dir)
    assert why["slow"] == why["after"] == "the run was stopped (SIGINT received)"
