"""Where a run belongs: a project is found from any folder inside it, as git finds its
repository. Black-box: real ``pyoneer`` processes in temporary directories."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli, write_project


def test_a_project_is_found_from_a_subfolder(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.hello]\ntasks = ["hello.py"]\n', {"hello.py": "print('hello from the root')\n"})
    inside = project_dir / "notebooks" / "deeper"
    inside.mkdir(parents=True)
    ran = run_cli("run", cwd=inside)
    assert ran.returncode == 0, ran.stderr
    assert "hello from the root" in ran.stdout
    assert (project_dir / ".pyoneer" / "ledger.db").exists() and not (inside / ".pyoneer").exists()
    status = run_cli("status", cwd=inside)
    assert status.returncode == 0 and "hello" in status.stdout and "succeeded" in status.stdout
    assert run_cli("logs", "hello", cwd=inside).stdout == "hello from the root\n"


def test_a_pyproject_with_a_pyoneer_table_is_found_too(project_dir: Path) -> None:
    write_project(project_dir, None, {
        "pyproject.toml": '[project]\nname = "x"\n[tool.pyoneer.jobs.hello]\ntasks = ["hello.py"]\n',
        "hello.py": "print('hi')\n",
    })
    (project_dir / "src").mkdir()
    assert run_cli("run", cwd=project_dir / "src").returncode == 0


def test_no_project_anywhere_says_what_was_searched(tmp_path: Path) -> None:
    ran = run_cli("run", cwd=tmp_path)
    assert ran.returncode == 2
    assert "nor has any folder above it, up to /" in ran.stderr
    assert "searched each for pyoneer.toml, or pyproject.toml with [tool.pyoneer]" in ran.stderr
