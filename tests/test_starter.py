"""``pyoneer init``: the starter teaches the habits it relies on.

Its jobs declare what they read and write, so removing an output and running with
``--resume`` rebuilds exactly what is needed; the project is named after its folder.
Real ``pyoneer`` processes in a temp dir.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import run_cli


def cli(*args: str) -> str:
    result = run_cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def actions(root: Path) -> dict[str, str]:
    data = json.loads(cli("run", str(root), "--resume", "--dry-run", "--json"))
    return {job["name"]: job["action"] for job in data["jobs"]}


def test_the_starter_is_named_after_its_folder_and_rebuilds_what_was_removed(tmp_path: Path) -> None:
    root = tmp_path / "sea-survey"
    cli("init", str(root))
    assert cli("check", str(root)).startswith(f"project sea-survey ({root})")
    cli("run", str(root))
    report = (root / "results" / "report.txt").read_text()
    assert "of project sea-survey" in report

    shutil.rmtree(root / "results")
    assert actions(root) == {"prepare": "reuse", "stats": "run", "squares": "run", "report": "run"}
    done = run_cli("run", str(root), "--resume")
    assert done.returncode == 0, done.stderr
    assert "3 succeeded" in done.stdout and "1 reused" in done.stdout, done.stdout
    assert (root / "results" / "report.txt").is_file()

    (root / "data" / "numbers.txt").unlink()
    # prepare's output went: prepare reruns, and everything after it
    assert actions(root) == {"prepare": "run", "stats": "run", "squares": "run", "report": "run"}
    cli("run", str(root), "--resume")
    assert actions(root) == dict.fromkeys(("prepare", "stats", "squares", "report"), "reuse")
