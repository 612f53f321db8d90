"""Preload, learned, forgotten: a module a job's code no longer imports is no longer
preloaded, while one it still imports, by name or under a name computed at run time,
stays (real ``pyoneer`` runs, as ``test_preload``)."""

from __future__ import annotations

from pathlib import Path

from test_preload import TWO_TASKS, _imports, _learned, _outputs, _run, _setup


def test_a_module_the_scripts_no_longer_import_is_forgotten(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import slowmod\nprint(slowmod.VALUE)\n")
    _run(project, env)
    assert "slowmod" in _learned(project)
    (project / "a.py").write_text("print('no torch any more')\n")
    _run(project, env)
    assert "slowmod" not in _learned(project)  # forgotten as the run started
    assert len(_imports(tmp_path)) == 2  # and its fork server never imported it
    _run(project, env)
    assert len(_imports(tmp_path)) == 2


def test_an_edit_that_keeps_the_import_keeps_the_preload(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS, "import slowmod\nprint(slowmod.VALUE)\n")
    (project / "helpers.py").write_text("def value(module):\n    return module.VALUE\n")
    _run(project, env)
    (project / "a.py").write_text("# edited\nimport helpers\nimport slowmod\nprint(helpers.value(slowmod))\n")
    _run(project, env)
    assert "slowmod" in _learned(project)
    assert len(_imports(tmp_path)) == 3  # the second run's server imported it, once
    assert _outputs(project) == ["42\n"] * 4


def test_a_name_computed_at_run_time_stays_while_the_code_is_unchanged(tmp_path: Path) -> None:
    project, env = _setup(tmp_path, TWO_TASKS,
                          "import importlib, os\nprint(importlib.import_module(os.environ['LIBRARY']).VALUE)\n")
    env = {**env, "LIBRARY": "slowmod"}
    _run(project, env)
    assert "slowmod" in _learned(project)
    _run(project, env)
    assert "slowmod" in _learned(project)
    assert len(_imports(tmp_path)) == 3  # preloaded once on the second run
