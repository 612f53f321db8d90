"""Preload, learned: a job's fork server imports, on the next run, the costly modules its
tasks imported from outside the project, when that is safe (real ``pyoneer`` runs)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import pyoneer_command

#: an import that costs ~60 ms (above the threshold) and writes down who imported it
SLOW = """
    import os, time
    with open(os.environ["IMPORTED_LOG"], "a") as log:
        log.write(f"{os.getpid()} {os.environ.get('SLOW_FLAG', '-')}\\n")
    _t = time.perf_counter()
    while time.perf_counter() - _t < 0.06:
        pass
    import json
    VALUE = 42
    FLAG = os.environ.get("SLOW_FLAG", "-")
"""

#: as costly, but it starts a thread at import: never safe to fork after
THREADED = """
    import threading, time
    threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
    _t = time.perf_counter()
    while time.perf_counter() - _t < 0.06:
        pass
    import csv
"""

#: as costly, and it prints (and seeds) at import
LOUD = """
    import random, time
    print("hello from loud")
    random.seed(7)
    _t = time.perf_counter()
    while time.perf_counter() - _t < 0.06:
        pass
    import csv
"""


def _setup(tmp_path: Path, toml: str, script: str) -> tuple[Path, dict[str, str]]:
    site = tmp_path / "site"  # outside the project: a library, not the project's own code
    site.mkdir()
    for name, body in {"slowmod": SLOW, "threadmod": THREADED, "loudmod": LOUD}.items():
        (site / f"{name}.py").write_text(textwrap.dedent(body))
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyoneer.toml").write_text(textwrap.dedent(toml))
    (project / "a.py").write_text(textwrap.dedent(script))
    env = {**os.environ, "PYTHONPATH": str(site), "IMPORTED_LOG": str(tmp_path / "imported")}
    return project, env


def _run(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(pyoneer_command("run", *args), cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _imports(tmp_path: Path) -> list[str]:
    path = tmp_path / "imported"
    return path.read_text().splitlines() if path.exists() else []


def _learned(project: Path) -> dict[str, tuple[int, str | None]]:
    with sqlite3.connect(project / ".pyoneer" / "ledger.db") as db:
        return {module: (cost, verdict) for module, cost, verdict in db.execute(
            "SELECT module, cost_us, verdict FROM learned WHERE job = 'a'")}


def _outputs(project: Path) -> list[str]:
    return sorted(path.read_text() for path in (project / ".pyoneer" / "runs").glob("*/a/*.log"))


TWO_TASKS = """
    [project]
    name = "p"
    [jobs.a]
    tasks = ["a.py", "a.py"]
"""


def test_second_run_preloads_what_the_first_imported(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import slowmod\nprint(slowmod.VALUE)\n")
    _run(project, env)
    assert len(_imports(tmp_path)) == 2  # each task imported it itself
    cost, verdict = _learned(project)["slowmod"]
    assert cost >= 50_000 and verdict is None  # measured in the task
    _run(project, env)
    # the second run's fork server imported it once, before forking both tasks
    assert len(_imports(tmp_path)) == 3
    assert _outputs(project) == ["42\n"] * 4


def test_preload_false_learns_nothing(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS.replace('name = "p"', 'name = "p"\npreload = false'),
                          "import slowmod\n")
    _run(project, env)
    _run(project, env)
    assert len(_imports(tmp_path)) == 4


def test_a_module_imported_with_importlib_import_module_is_learned_as_its_own(tmp_path: Path) -> None:
    # import_module raises no "import" audit event of its own: what it imports is heard
    # from inside, and is neither lost nor counted as the cost of the import before it
    script = "import importlib\nmodule = importlib.import_module('slowmod')\nprint(module.VALUE)\n"
    project, env = _setup(tmp_path, TWO_TASKS, script)
    _run(project, env)
    learned = _learned(project)
    assert learned["slowmod"][0] >= 50_000 and learned["slowmod"][1] is None
    assert learned.get("importlib", (0,))[0] < 50_000, learned  # slowmod's 60 ms are not importlib's
    _run(project, env)
    assert len(_imports(tmp_path)) == 3  # the second run's server imported it, once
    assert _outputs(project) == ["42\n"] * 4


def test_import_module_inside_a_librarys_import_comes_along_with_it(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import wrapmod\nprint(wrapmod.VALUE)\n")
    (tmp_path / "site" / "wrapmod.py").write_text("import importlib\nVALUE = importlib.import_module('slowmod').VALUE\n")
    _run(project, env)
    learned = _learned(project)
    assert "slowmod" not in learned and learned["wrapmod"][0] >= 50_000, learned
    assert _outputs(project) == ["42\n"] * 2


def test_a_module_that_starts_a_thread_is_never_preloaded(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import slowmod, threadmod, sys\nprint(sys.modules['slowmod'].VALUE)\n")
    _run(project, env)
    _run(project, env)  # the server finds out, goes, and another serves without it
    assert _learned(project)["threadmod"][1] == "started a thread at import"
    before = len(_imports(tmp_path))
    _run(project, env)
    assert len(_imports(tmp_path)) == before + 1  # slowmod still preloaded, once
    assert _outputs(project) == ["42\n"] * 6


def test_a_module_that_prints_and_seeds_at_import_is_kept_out(tmp_path: Path) -> None:
    script = "import loudmod, random\nprint(random.random())\n"
    project, env = _setup(tmp_path, TWO_TASKS, script)
    fresh = subprocess.run([sys.executable, "a.py"], cwd=project, env=env, capture_output=True, text=True)
    for _ in range(3):
        _run(project, env)
    assert _learned(project)["loudmod"][1] == "printed at import"
    assert _outputs(project) == [fresh.stdout] * 6  # printed and seeded, as python a.py


def test_the_server_imports_with_the_jobs_environment(tmp_path: Path) -> None:
    toml = """
        [project]
        name = "p"
        [jobs.a]
        tasks = [{ script = "a.py", env = { SLOW_FLAG = "from-a" } }, { script = "a.py", env = { SLOW_FLAG = "from-a" } }]
    """
    project, env = _setup(tmp_path, toml, "import slowmod\n")
    _run(project, env)
    _run(project, env)
    flags = [line.split()[1] for line in _imports(tmp_path)]
    assert flags == ["from-a"] * 3  # the preload read the job's value, as the task would


def test_dry_run_lists_what_each_job_preloads_and_why(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import slowmod, threadmod\n")
    _run(project, env)
    _run(project, env)
    shown = subprocess.run(pyoneer_command("run", "--dry-run"), cwd=project, env=env, capture_output=True, text=True)
    assert "slowmod" in shown.stdout and "preloaded" in shown.stdout
    assert "never preloaded: started a thread at import" in shown.stdout
    data = subprocess.run(pyoneer_command("run", "--dry-run", "--json"), cwd=project, env=env, capture_output=True,
                          text=True)
    preload = {entry["module"]: entry["what"] for entry in json.loads(data.stdout)["jobs"][0]["preload"]}
    assert preload == {"slowmod": "preloaded", "threadmod": "never preloaded: started a thread at import"}
    checked = subprocess.run(pyoneer_command("check", "--explain"), cwd=project, env=env, capture_output=True,
                             text=True)
    assert "never preloaded: started a thread at import" in checked.stdout and "slowmod" in checked.stdout


def test_a_job_of_another_environment_gets_a_server_of_its_own(tmp_path: Path) -> None:
    toml = """
        [project]
        name = "p"
        [jobs.a]
        tasks = [{ script = "a.py", env = { SLOW_FLAG = "x" } }]
        [jobs.b]
        tasks = [{ script = "a.py", env = { SLOW_FLAG = "y" } }]
        needs = ["a"]
    """
    project, env = _setup(tmp_path, toml, "import slowmod\nprint(slowmod.FLAG)\n")
    for _ in range(2):
        _run(project, env, "--workers", "1")  # one worker: its server cannot serve both
    logs = project / ".pyoneer" / "runs"
    seen = {path.parent.name: path.read_text() for path in sorted(logs.glob("*/*/a.1.log"))}
    assert seen == {"a": "x\n", "b": "y\n"}  # the last run: each read its own value at import
    flags = [line.split()[1] for line in _imports(tmp_path)]
    assert flags == ["x", "y", "x", "y"]  # preloaded once for each environment


def test_what_is_learned_changes_no_fingerprint(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import slowmod\n")
    _run(project, env)
    _run(project, env)  # preloaded now
    plan = subprocess.run(pyoneer_command("run", "--resume", "--dry-run", "--json"), cwd=project, env=env,
                          capture_output=True, text=True)
    assert json.loads(plan.stdout)["jobs"][0]["action"] == "reuse"
