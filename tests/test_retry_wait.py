"""Retries that wait (``retry_delay``, ``retry_backoff``, ``retry_delay_max``), and how tasks
are tried set once for a job or the whole project.

Black-box: real ``pyoneer run`` processes. Waits are read from the attempts' own start and
end times in ``status --json`` (lower bounds only: no test depends on the machine's speed).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

from conftest import child_env, pyoneer_command, run_cli, write_project

FLAKY = "import sys\nprint('trying', flush=True)\nsys.exit(1)\n"


def attempts(project: Path) -> list[dict]:
    state = json.loads(run_cli("status", "--json", cwd=project).stdout)
    return sorted((row for row in state["blueprints"] if row["kind"] == "task"), key=lambda row: row["attempt"])


def test_a_retry_waits_longer_each_time(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.fetch]\ntasks = [{ script = "flaky.py", retries = 2, retry_delay = "0.4s", '
                               'retry_backoff = 3 }]\n', {"flaky.py": FLAKY})
    ran = run_cli("run", "-q", cwd=project_dir)
    assert ran.returncode == 1
    assert re.search(r"fetch/flaky attempt 1 failed: exit code 1 - retrying in 0\.[34]\d* s", ran.stdout), ran.stdout
    rows = attempts(project_dir)
    assert [row["attempt"] for row in rows] == [1, 2, 3]
    first_wait = rows[1]["started"] - rows[0]["ended"]
    second_wait = rows[2]["started"] - rows[1]["ended"]
    assert first_wait >= 0.4 * 0.9  # the delay, less its jitter
    assert second_wait >= 0.4 * 3 * 0.9  # times the backoff


def test_retries_and_delay_set_for_the_project_and_a_job(project_dir: Path) -> None:
    write_project(project_dir, """
        [project]
        retries = 2
        [jobs.everyone]
        tasks = ["flaky.py"]
        [jobs.once]
        retries = 0
        tasks = ["flaky.py"]
        [jobs.own]
        retries = 0
        tasks = [{ script = "flaky.py", retries = 1 }]
        """, {"flaky.py": FLAKY})
    ran = run_cli("run", "-q", cwd=project_dir)
    assert ran.returncode == 1
    assert "everyone failed: task flaky exit code 1 (after 3 attempts)" in ran.stdout  # the project's
    assert "once failed: task flaky exit code 1\n" in ran.stdout  # its job's
    assert "own failed: task flaky exit code 1 (after 2 attempts)" in ran.stdout  # the task's own


def test_a_bad_retry_setting_names_its_key(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.fetch]\nretry_delay = "soon"\ntasks = ["flaky.py"]\n', {"flaky.py": FLAKY})
    ran = run_cli("run", cwd=project_dir)
    assert ran.returncode == 2
    assert "jobs.fetch" in ran.stderr and "retry_delay" in ran.stderr and '"30s"' in ran.stderr


def test_ctrl_c_during_a_wait_stops_at_once(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.fetch]\ntasks = [{ script = "flaky.py", retries = 3, retry_delay = "10m" }]\n',
                  {"flaky.py": FLAKY})
    proc = subprocess.Popen(pyoneer_command("run"), cwd=project_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=child_env())
    while "retrying in" not in proc.stdout.readline():
        pass
    state = json.loads(run_cli("status", "--json", cwd=project_dir).stdout)
    job = next(row for row in state["blueprints"] if row["kind"] == "job")
    assert job["status"] == "running" and re.fullmatch(r"retrying at \d\d:\d\d:\d\d \(attempt 2 of 4\)", job["why"])
    assert "retrying at" in run_cli("status", cwd=project_dir).stdout
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 130  # not ten minutes later
    assert "interrupted: 1 cancelled" in out
    assert [row["attempt"] for row in attempts(project_dir)] == [1]
