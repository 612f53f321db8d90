"""Preload, learned, through the project's own modules: a script that imports its
project's ``model.py``, which imports a costly library, learns that library as if the
script had imported it (real ``pyoneer`` runs, as ``test_preload``)."""

from __future__ import annotations

from pathlib import Path

from test_preload import TWO_TASKS, _imports, _learned, _outputs, _run, _setup


def test_a_library_imported_by_a_project_module_is_learned_and_preloaded(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import model\nprint(model.slowmod.VALUE)\n")
    (project / "model.py").write_text("import slowmod\n")
    _run(project, env)
    assert len(_imports(tmp_path)) == 2
    learned = _learned(project)
    assert "model" not in learned  # the project's own module: its to change, never preloaded
    cost, verdict = learned["slowmod"]
    assert cost >= 50_000 and verdict is None
    _run(project, env)
    assert len(_imports(tmp_path)) == 3  # the second run's server imported it, once
    assert _outputs(project) == ["42\n"] * 4


def test_a_module_that_a_library_imports_is_not_learned_on_its_own(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import wrapper\nprint(wrapper.slowmod.VALUE)\n")
    (tmp_path / "site" / "wrapper.py").write_text("import slowmod\n")
    _run(project, env)
    learned = _learned(project)
    assert "wrapper" in learned and "slowmod" not in learned  # it comes along with wrapper


SWEEP = """
    [project]
    name = "p"
    [jobs.a]
    matrix = { seed = [1, 2, 3, 4, 5, 6] }
    tasks = ["a.py {seed}"]
"""


def test_one_member_of_a_matrix_teaches_the_others(tmp_path: Path) -> None:
    import sqlite3

    project, env = _setup(tmp_path, SWEEP, "import sys, slowmod\nprint(slowmod.VALUE, sys.argv[1])\n")
    _run(project, env, "--workers", "1")
    with sqlite3.connect(project / ".pyoneer" / "ledger.db") as db:
        taught = {job for (job,) in db.execute("SELECT job FROM learned WHERE module = 'slowmod'")}
    assert taught == {"a[seed=1]"}  # one worker: its first member told, the others were not clocked
    assert len(_imports(tmp_path)) == 6
    planned = _run(project, env, "--dry-run")
    assert sum("slowmod" in line and "preloaded" in line for line in planned.stdout.splitlines()) == 6, planned.stdout
    _run(project, env, "--workers", "1")
    assert len(_imports(tmp_path)) == 7  # every member's task found it preloaded: one import, by the server
