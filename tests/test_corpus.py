"""Exact on real code: scripts nobody on the team wrote, warm and fresh, against ``python script.py``.

The corpus (``tests/corpus/thealgorithms``, MIT, see its ``LICENSE.md``; chosen by
``tests/corpus/choose.py``: standard library only, deterministic, quick) runs three ways
in a copy of it: each script by hand, ``python /path/script.py`` from the corpus root with
its output and errors in one file, as a task's log has them; then every script as a job
of one project, warm (after two jobs that hold the workers until their fork servers are
up), then the same project with ``fresh = true``. Exit codes and output must match byte
for byte. Every way runs under one hash seed (``PYTHONHASHSEED=0``, which the fork server
then has too): a script that prints a set of strings prints it in the seed's order, and
the warm tasks of a worker share their server's seed (a documented difference).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WARMUP, pyoneer_command

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "corpus"
#: the environment of every run: one hash seed for all
ENV = {**os.environ, "PYTHONHASHSEED": "0"}


def _scripts() -> list[str]:
    return (CORPUS / "scripts.txt").read_text().split()


def _timed_scripts() -> list[str]:
    """Scripts that print how long they took: only their exit codes can be compared."""
    return (CORPUS / "exit_codes.txt").read_text().split()


def _by_hand(root: Path, script: str) -> tuple[int, bytes]:
    """``python script.py`` as a task runs it: from the root, unbuffered, one stream."""
    output = root / ".by-hand.out"
    with output.open("wb") as sink:
        code = subprocess.run(
            [sys.executable, str(root / script)], cwd=root, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, env={**ENV, "PYTHONUNBUFFERED": "1"}, timeout=30,
        ).returncode
    return code, output.read_bytes()


def _project(scripts: list[str], fresh: bool) -> str:
    lines = ["[project]", 'name = "corpus"', f"fresh = {'true' if fresh else 'false'}",
             "[jobs.warmup_1]", 'tasks = ["warmup.py 2"]', "[jobs.warmup_2]", 'tasks = ["warmup.py 2"]']
    for number, script in enumerate(scripts):
        lines += [f"[jobs.s{number:03d}]", 'needs = ["warmup_1", "warmup_2"]',
                  f"tasks = [{{ script = {json.dumps(script)}, name = \"script\" }}]"]
    return "\n".join(lines) + "\n"


def _through_pyoneer(root: Path, scripts: list[str], fresh: bool) -> dict[str, tuple[int | None, bytes]]:
    (root / "pyoneer.toml").write_text(_project(scripts, fresh))
    subprocess.run(pyoneer_command("run", str(root), "--workers", "2"), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=600, env=ENV)
    state = json.loads(subprocess.run(pyoneer_command("status", str(root), "--json"), capture_output=True,
                                      text=True, check=True).stdout)
    seen = {}
    for row in state["blueprints"]:
        if row["kind"] == "task" and row["name"].startswith("s"):
            job = row["name"].partition("/")[0]
            seen[scripts[int(job[1:])]] = (row["exit_code"], (root / row["log"]).read_bytes())
    return seen


def test_real_scripts_behave_warm_and_fresh_as_under_python_script_py(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS / "thealgorithms", root)
    (root / "warmup.py").write_text(WARMUP)
    scripts, timed = _scripts(), _timed_scripts()
    assert len(scripts) >= 100
    expected = {script: _by_hand(root, script) for script in [*scripts, *timed]}
    for script in timed:  # (one recurses to just below the limit: "Max before RecursionError")
        expected[script] = (expected[script][0], b"")
    for fresh in (False, True):
        seen = _through_pyoneer(root, [*scripts, *timed], fresh)
        for script in timed:
            seen[script] = (seen[script][0], b"")
        differ = [script for script in [*scripts, *timed] if seen.get(script) != expected[script]]
        assert not differ, (
            f"{'fresh' if fresh else 'warm'}: {len(differ)} of {len(scripts)} differ from python script.py, e.g. "
            f"{differ[0]}: by hand {expected[differ[0]]!r:.300}, through pyoneer {seen.get(differ[0])!r:.300}"
        )
