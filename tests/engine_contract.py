"""The contract every engine keeps: the same project behaves the same wherever workers live.

``EngineContract`` holds the tests; each engine's module subclasses it with the
command-line options that choose the engine (``engine_args``): ``test_engines.py`` for
the local engine, ``test_ray.py`` for Ray on its three-node cluster. Every run is the
real ``pyoneer`` command in a child process.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import ClassVar

from conftest import pyoneer_command, run_cli, write_project


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def _state(root: Path) -> dict:
    result = run_cli("status", str(root), "--json")
    assert result.returncode == 0, _explain(result)
    return json.loads(result.stdout)


def _jobs(state: dict) -> dict[str, dict]:
    return {row["name"]: row for row in state["blueprints"] if row["kind"] == "job"}


def _attempts(state: dict, task: str) -> list[dict]:
    return [row for row in state["blueprints"] if row["kind"] == "task" and row["name"] == task]


class EngineContract:
    """What a project does, on any engine. Subclasses set ``engine_args``."""

    engine_args: ClassVar[tuple[str, ...]] = ()
    #: seconds a run may take on a slow, busy machine
    timeout: ClassVar[float] = 300

    def run(self, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """``pyoneer run ROOT ARGS`` on this engine, to its end."""
        return subprocess.run(
            [*pyoneer_command("run", str(root), *args), *self.engine_args],
            capture_output=True, text=True, timeout=self.timeout,
        )

    def test_jobs_run_in_order_and_hand_their_outputs_on(self, tmp_path: Path) -> None:
        root = write_project(
            tmp_path / "proj",
            """
            [jobs.prep]
            tasks = ["prep.py"]
            outputs = ["data/*.txt"]

            [jobs.double]
            needs = ["prep"]
            tasks = ["double.py"]
            outputs = ["results/*.txt"]

            [jobs.side]
            tasks = ["side.py"]
            outputs = ["results/*.txt"]
            """,
            {
                "prep.py": "from pathlib import Path\nPath('data').mkdir()\nPath('data/n.txt').write_text('21')\n",
                "double.py": "from pathlib import Path\nPath('results').mkdir(exist_ok=True)\n"
                "Path('results/double.txt').write_text(str(2 * int(Path('data/n.txt').read_text())))\n",
                "side.py": "from pathlib import Path\nPath('results').mkdir(exist_ok=True)\n"
                "Path('results/side.txt').write_text('side')\n",
            },
        )
        result = self.run(root)
        assert result.returncode == 0, _explain(result)
        assert (root / "results/double.txt").read_text() == "42"  # home, from wherever it ran
        assert (root / "results/side.txt").read_text() == "side"
        jobs = _jobs(_state(root))
        assert {name: row["status"] for name, row in jobs.items()} == dict.fromkeys(("prep", "double", "side"), "succeeded")
        assert jobs["double"]["started"] >= jobs["prep"]["ended"]

    def test_a_failure_skips_what_needs_it_and_the_rest_runs_on(self, tmp_path: Path) -> None:
        root = write_project(
            tmp_path / "proj",
            """
            [jobs.bad]
            tasks = ["bad.py"]

            [jobs.after]
            needs = ["bad"]
            tasks = ["ok.py"]

            [jobs.free]
            tasks = ["ok.py"]
            """,
            {"bad.py": "import sys\nprint('broken beyond repair')\nsys.exit(3)\n", "ok.py": "print('fine')\n"},
        )
        result = self.run(root)
        assert result.returncode == 1, _explain(result)
        assert "exit code 3" in result.stdout and "broken beyond repair" in result.stdout
        jobs = _jobs(_state(root))
        assert {name: row["status"] for name, row in jobs.items()} == {
            "bad": "failed", "after": "skipped", "free": "succeeded"
        }

    def test_retries_and_timeouts(self, tmp_path: Path) -> None:
        root = write_project(
            tmp_path / "proj",
            """
            [jobs.flaky]
            tasks = [{ script = "flaky.py", retries = 1 }]

            [jobs.slow]
            tasks = [{ script = "slow.py", timeout = 1 }]
            """,
            {
                "flaky.py": "import os, sys\nsys.exit(1 if os.environ['PYONEER_ATTEMPT'] == '1' else 0)\n",
                "slow.py": "import time\ntime.sleep(60)\n",
            },
        )
        result = self.run(root)
        assert result.returncode == 1, _explain(result)
        state = _state(root)
        jobs = _jobs(state)
        assert (jobs["flaky"]["status"], jobs["slow"]["status"]) == ("succeeded", "failed")
        assert [(row["attempt"], row["status"]) for row in _attempts(state, "flaky/flaky")] == [
            (1, "failed"), (2, "succeeded")
        ]
        (slow,) = _attempts(state, "slow/slow")
        assert slow["reason"] == "timed out after 1 s"
        assert slow["ended"] - slow["started"] < 30

    def test_a_retry_that_waits_gives_its_slot_to_another_job(self, tmp_path: Path) -> None:
        # one slot: while fetch waits to retry its second task, other runs in it; fetch then
        # goes on from that task's next attempt, wherever it runs, with its first task's file
        root = write_project(
            tmp_path / "proj",
            """
            [jobs.fetch]
            tasks = ["make.py", { script = "flaky.py", retries = 1, retry_delay = "3s" }]

            [jobs.other]
            tasks = ["ok.py"]
            """,
            {
                "make.py": "from pathlib import Path\nPath('made.txt').write_text('made')\n",
                "flaky.py": "import os, sys\nfrom pathlib import Path\nassert Path('made.txt').read_text() == 'made'\n"
                            "sys.exit(1 if os.environ['PYONEER_ATTEMPT'] == '1' else 0)\n",
                "ok.py": "print('fine')\n",
            },
        )
        result = self.run(root, "--workers", "1")
        assert result.returncode == 0, _explain(result)
        state = _state(root)
        assert [(row["attempt"], row["status"]) for row in _attempts(state, "fetch/make")] == [(1, "succeeded")]
        first, second = _attempts(state, "fetch/flaky")
        assert (first["attempt"], first["status"], second["attempt"], second["status"]) == (1, "failed", 2, "succeeded")
        (other,) = _attempts(state, "other/ok")
        assert first["ended"] <= other["started"] <= other["ended"] <= second["started"]

    def test_tasks_see_their_names_and_the_environment(self, tmp_path: Path) -> None:
        root = write_project(
            tmp_path / "proj",
            """
            [project]
            name = "contract"

            [environment]
            env = { MODE = "everywhere" }

            [jobs.show]
            tasks = [{ script = "show.py", name = "shower", env = { OWN = "mine" } }]
            """,
            {"show.py": "import os\nfor key in ('PYONEER_PROJECT', 'PYONEER_JOB', 'PYONEER_TASK', "
                        "'PYONEER_ATTEMPT', 'MODE', 'OWN'):\n    print(key, os.environ[key])\n"},
        )
        result = self.run(root)
        assert result.returncode == 0, _explain(result)
        logs = run_cli("logs", str(root), "show/shower")
        assert logs.stdout.splitlines() == [
            "PYONEER_PROJECT contract", "PYONEER_JOB show", "PYONEER_TASK shower", "PYONEER_ATTEMPT 1",
            "MODE everywhere", "OWN mine",
        ]

    def test_resume_reuses_what_succeeded_and_reruns_the_rest(self, tmp_path: Path) -> None:
        root = write_project(
            tmp_path / "proj",
            """
            [jobs.first]
            tasks = ["ok.py"]

            [jobs.second]
            needs = ["first"]
            tasks = ["gate.py"]
            """,
            {"ok.py": "print('fine')\n",
             "gate.py": "import sys\nfrom pathlib import Path\nsys.exit(4 if Path('closed').exists() else 0)\n",
             "closed": ""},
        )
        assert self.run(root).returncode == 1
        (root / "closed").unlink()
        result = self.run(root, "--resume")
        assert result.returncode == 0, _explain(result)
        jobs = _jobs(_state(root))
        assert (jobs["first"]["reused"], jobs["second"]["reused"]) == (True, False)
        assert jobs["second"]["status"] == "succeeded"
