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
import time
from pathlib import Path

from conftest import child_env, pyoneer_command, run_cli, write_project

FLAKY = "import sys\nprint('trying', flush=True)\nsys.exit(1)\n"


def attempts(project: Path) -> list[dict]:
    state = json.loads(run_cli("status", "--json", cwd=project).stdout)
    return sorted((row for row in state["blueprints"] if row["kind"] == "task"), key=lambda row: row["attempt"])


def waiting_job(project: Path) -> dict:
    """The project's one job, once the ledger shows it handed back to wait for a retry."""
    for _ in range(300):  # the ledger is written as the manager goes: a moment after the line
        state = json.loads(run_cli("status", "--json", cwd=project).stdout)
        job = next(row for row in state["blueprints"] if row["kind"] == "job")
        if job["status"] == "ready":
            return job
        time.sleep(0.1)
    raise AssertionError(f"the job never went back to ready: {job}")


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
    job = waiting_job(project_dir)
    # handed back through the wait: ready, held by no worker, counting down to its next attempt
    assert job["pyoneer"] == "" and re.fullmatch(r"retrying in \d+ s \(attempt 2 of 4\)", job["why"]), job
    (attempt,) = attempts(project_dir)
    assert attempt["ended"] + 600 * 0.9 <= job["retry_at"] <= attempt["ended"] + 600  # --json: when, too
    shown = run_cli("status", cwd=project_dir).stdout
    assert re.search(r"retrying in \d+ s", shown) and "retrying at" not in shown
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 130  # not ten minutes later
    assert "interrupted: 1 cancelled" in out
    assert [row["attempt"] for row in attempts(project_dir)] == [1]


def test_the_wait_holds_no_slot_and_the_job_goes_on_where_it_was(project_dir: Path) -> None:
    # one slot: while fetch waits to retry its second task, tidy (which needs nothing) runs;
    # then fetch goes on from that task's next attempt, its first task's file still there
    write_project(project_dir, """
        [jobs.fetch]
        tasks = ["make.py", { script = "flaky.py", retries = 2, retry_delay = "3s" }]
        [jobs.tidy]
        tasks = ["tidy.py"]
        """, {
        "make.py": "from pathlib import Path\nPath('made.txt').write_text('made')\n",
        "flaky.py": "import os, sys\nfrom pathlib import Path\nassert Path('made.txt').read_text() == 'made'\n"
                    "sys.exit(1 if os.environ['PYONEER_ATTEMPT'] == '1' else 0)\n",
        "tidy.py": "print('tidy')\n",
    })
    ran = run_cli("run", "--workers", "1", "-q", cwd=project_dir)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    state = json.loads(run_cli("status", "--json", cwd=project_dir).stdout)
    rows = {(row["name"], row["attempt"]): row for row in state["blueprints"] if row["kind"] == "task"}
    assert sorted(rows) == [("fetch/flaky", 1), ("fetch/flaky", 2), ("fetch/make", 1), ("tidy/tidy", 1)]
    assert rows["fetch/flaky", 1]["status"] == "failed" and rows["fetch/flaky", 2]["status"] == "succeeded"
    tidy = rows["tidy/tidy", 1]
    assert rows["fetch/flaky", 1]["ended"] <= tidy["started"] <= tidy["ended"] <= rows["fetch/flaky", 2]["started"]
    jobs = {row["name"]: row for row in state["blueprints"] if row["kind"] == "job"}
    assert jobs["fetch"]["started"] <= rows["fetch/make", 1]["started"]  # its start is still its first
    assert jobs["fetch"]["why"] is None and jobs["fetch"]["retry_at"] is None  # its wait is over


def test_plain_output_tells_a_retry_once_after_the_attempts_lines(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.fetch]\ntasks = [{ script = "flaky.py", retries = 1, retry_delay = "0.2s" }]\n',
                  {"flaky.py": FLAKY})
    ran = run_cli("run", cwd=project_dir)
    assert ran.returncode == 1
    lines = [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in ran.stdout.splitlines()]
    lines = lines[:next(i for i, line in enumerate(lines) if line.startswith("run "))]  # not the summary
    assert [line for line in lines if line.startswith("fetch ")] == [
        "fetch ready", "fetch running (worker-1)", "fetch running (worker-1)", "fetch failed"], lines
    retrying = next(i for i, line in enumerate(lines) if "retrying in" in line)
    assert lines[retrying - 1] == "trying", "the attempt's own lines come before the line of its end"
