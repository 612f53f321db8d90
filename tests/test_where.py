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


def test_two_scripts_in_one_folder_run_at_once_and_keep_their_runs_apart(project_dir: Path) -> None:
    import subprocess

    from conftest import child_env, pyoneer_command

    write_project(project_dir, scripts={
        "slow.py": "import time\nprint('slow is up', flush=True)\ntime.sleep(3)\n",
        "quick.py": "print('quick ran')\n",
    })
    slow = subprocess.Popen(pyoneer_command("run", "slow.py"), cwd=project_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=child_env())
    while "slow is up" not in slow.stdout.readline():
        pass
    quick = run_cli("run", "quick.py", cwd=project_dir)  # refused before: one lock for the folder
    assert quick.returncode == 0, quick.stdout + quick.stderr
    assert "quick ran" in quick.stdout
    listed = run_cli("runs", cwd=project_dir).stdout
    assert "project" in listed.splitlines()[0]
    assert any(" slow " in line and "running" in line for line in listed.splitlines())
    assert any(" quick " in line and "succeeded" in line for line in listed.splitlines())
    assert slow.wait(timeout=60) == 0
    assert "of quick: succeeded" in run_cli("status", "quick.py", cwd=project_dir).stdout
    assert "of slow: succeeded" in run_cli("status", "slow.py", cwd=project_dir).stdout
    assert run_cli("logs", "quick.py", "quick", cwd=project_dir).stdout == "quick ran\n"
