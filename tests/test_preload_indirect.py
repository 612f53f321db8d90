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
