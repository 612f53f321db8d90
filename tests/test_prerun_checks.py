"""Mistakes caught before anything runs: each check of ``pyoneer check`` and of every run.

Each test runs the real ``pyoneer`` command on a project written in a temp dir and
pins what the user sees: exit 2, the file, the key path, the cause and the hint, and
that nothing ran (no ``.pyoneer`` run folder, no file written by a script).
"""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli, write_project


def refused(root: Path, *args: str) -> str:
    """The message of a refused ``pyoneer check`` (and of ``pyoneer run``: the same checks)."""
    result = run_cli("check", str(root), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    ran = run_cli("run", str(root))
    assert ran.returncode == 2 and ran.stderr == result.stderr, ran.stderr
    assert not (root / ".pyoneer" / "runs").exists() or not any((root / ".pyoneer" / "runs").iterdir())
    return result.stderr


def test_syntax_error_is_refused_with_file_line_and_caret(project_dir):
    write_project(project_dir, '[jobs.a]\ntasks = ["ok.py", "bad.py"]\n',
                  {"ok.py": "open('ran', 'w')\n", "bad.py": "x = 1\nif x\n    print(x)\n"})
    message = refused(project_dir)
    assert "jobs.a.tasks[1].script: expected ':' (bad.py, line 2)" in message
    assert "\n    if x\n        ^\n" in message
    assert not (project_dir / "ran").exists()


def test_a_single_script_with_a_syntax_error_is_refused_before_it_runs(project_dir):
    (project_dir / "bad.py").write_text("print('started')\nx = (\n")
    result = run_cli("run", str(project_dir / "bad.py"))
    assert result.returncode == 2
    assert "bad.py: '(' was never closed (bad.py, line 2)" in result.stderr
    assert "started" not in result.stdout


def test_a_shell_script_is_refused_with_a_hint(project_dir):
    write_project(project_dir, '[jobs.a]\ntasks = ["run.sh", "tool"]\n',
                  {"run.sh": "#!/bin/bash\necho hi > out.txt\n"})
    (project_dir / "tool").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    message = refused(project_dir)
    assert "jobs.a.tasks[0].script: 'run.sh' is not a Python script (it starts with '#!/bin/bash')" in message
    assert "jobs.a.tasks[1].script: 'tool' is not a Python script (a binary file)" in message
    assert "subprocess.run" in message


def test_python_as_first_word_gets_a_hint(project_dir):
    write_project(project_dir, '[jobs.a]\ntasks = ["python3 a.py --fast"]\n', {"a.py": ""})
    message = refused(project_dir)
    assert "jobs.a.tasks[0]: 'python3 a.py --fast' starts with 'python3'" in message
    assert "scripts run with the project's interpreter; drop 'python3': 'a.py --fast'" in message


def test_shell_operators_are_refused(project_dir):
    write_project(
        project_dir,
        '[jobs.a]\ntasks = ["a.py > out.txt", "a.py 2>&1", "a.py | b.py", "a.py && b.py", "a.py; b.py",'
        ' "a.py \'x|y\' --sep=,"]\n',
        {"a.py": "", "b.py": ""},
    )
    message = refused(project_dir)
    assert "jobs.a.tasks[0]: 'a.py > out.txt' holds the shell operator >" in message
    assert "jobs.a.tasks[1]: 'a.py 2>&1' holds the shell operator >&" in message
    assert "jobs.a.tasks[2]: 'a.py | b.py' holds the shell operator |" in message
    assert "jobs.a.tasks[3]: 'a.py && b.py' holds the shell operator &&" in message
    assert "jobs.a.tasks[4]: 'a.py; b.py' holds the shell operator ;" in message
    assert "tasks[5]" not in message  # an operator inside quotes is an argument
    assert "Pyoneer runs no shell" in message and "logged already" in message


def test_preload_that_cannot_be_found_is_refused_with_did_you_mean(project_dir):
    write_project(
        project_dir,
        '[project]\npreload = ["jsonn", "json.decoder", "helpers"]\n'
        '[jobs.a]\ntasks = ["a.py"]\npreload = ["helpers.nope"]\n',
        {"a.py": "", "helpers.py": ""},
    )
    message = refused(project_dir)
    assert "project.preload[0]: no module named 'jsonn'" in message
    assert "did you mean 'json'?" in message
    assert "jobs.a.preload[0]: no module named 'helpers.nope'" in message
    assert "preload[1]" not in message and "preload[2]" not in message


def test_every_error_is_reported_in_one_go(project_dir):
    write_project(
        project_dir,
        '[jobs.a]\ntasks = ["a.py"]\nneeds = ["b"]\n'
        '[jobs.b]\ntasks = ["b.py"]\nneeds = ["a"]\n'
        '[jobs.c]\ntasks = ["missing.py"]\n'
        '[jobs.d]\ntasks = ["a.py"]\ntimout = 3\n',
        {"a.py": "", "b.py": ""},
    )
    message = refused(project_dir)
    assert message.startswith("error: 3 problems in ")
    assert "jobs.d.timout: unknown key" in message
    assert "jobs.c.tasks[0].script: script 'missing.py' does not exist" in message
    assert "dependency cycle: " in message


def test_at_most_twenty_errors_are_listed(project_dir):
    jobs = "".join(f'[jobs.j{index}]\ntasks = ["missing{index}.py"]\n' for index in range(25))
    write_project(project_dir, jobs, {})
    message = refused(project_dir)
    assert message.startswith("error: 25 problems in ")
    assert "missing19.py" in message and "missing20.py" not in message
    assert "... and 5 more" in message


def test_unused_params_and_unfilled_braces_are_warned(project_dir):
    write_project(project_dir, '[params]\nepochs = 3\nseed = 1\n[jobs.a]\ntasks = ["a.py {epochs}"]\n'
                  '[jobs.b]\ntasks = ["a.py"]\n', {"a.py": ""})
    result = run_cli("check", str(project_dir))
    assert result.returncode == 0, result.stderr
    assert "warning: [params] seed is not used: no job's text has {seed}" in result.stderr
    assert "epochs" not in result.stderr
    write_project(project_dir, '[jobs.a]\ntasks = ["a.py {x}"]\n', {"a.py": ""})
    result = run_cli("check", str(project_dir))
    assert result.returncode == 0
    assert "warning: jobs.a: {x} is not filled in: no matrix or params" in result.stderr


def test_unused_sweep_key_is_warned(project_dir):
    (project_dir / "s.py").write_text("import sys\nprint(sys.argv[1:])\n")
    result = run_cli("run", str(project_dir / "s.py"), "-m", "lr=0.1,0.2", "-m", "x=1,2", "--", "--lr", "{lr}")
    assert result.returncode == 0, result.stderr
    assert "warning: -m x: no argument has {x}" in result.stderr
    assert "-m lr" not in result.stderr


def test_preload_is_not_looked_for_here_when_a_cluster_runs_the_project(project_dir):
    write_project(project_dir, '[engine]\nname = "ray"\n[project]\npreload = ["only_on_the_nodes"]\n'
                  '[jobs.a]\ntasks = ["a.py"]\n', {"a.py": ""})
    result = run_cli("check", str(project_dir))
    assert result.returncode == 0, result.stderr
