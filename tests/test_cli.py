"""The ``pyoneer`` command end to end, as a child process on real temporary projects."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from conftest import pyoneer_command, run_cli, write_project

import pyoneer


def test_version_and_help() -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and pyoneer.__version__ in version.stdout
    top = run_cli("--help")
    assert top.returncode == 0
    for command in ("run", "check", "init"):
        assert command in top.stdout
        helped = run_cli(command, "--help")
        assert helped.returncode == 0 and "Usage: pyoneer " + command in helped.stdout
    assert "--workers" in run_cli("run", "--help").stdout


def test_init_then_run_then_refuse_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    made = run_cli("init", str(target))
    assert made.returncode == 0, made.stderr
    assert f"pyoneer run {target}" in made.stdout
    checked = run_cli("check", str(target))
    assert checked.returncode == 0 and "needs prepare" in checked.stdout
    ran = run_cli("run", str(target))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "4 succeeded" in ran.stdout
    assert "sum 5050" in (target / "results" / "report.txt").read_text()

    before = (target / "pyoneer.toml").read_text()
    again = run_cli("init", str(target))
    assert again.returncode == 2
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    assert (target / "pyoneer.toml").read_text() == before


def test_plain_output_and_failure_report(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.extract]
        tasks = ["ok.py"]
        [jobs.load]
        needs = ["extract"]
        tasks = [{ script = "bad.py", retries = 1 }]
        [jobs.publish]
        needs = ["load"]
        tasks = ["ok.py"]
        [jobs.slow]
        tasks = [{ script = "slow.py", timeout = 1 }]
        """,
        {
            "ok.py": "print('fine')\n",
            "bad.py": "import sys\nfor n in range(40):\n    print('line', n)\nsys.exit(3)\n",
            "slow.py": "import time\nprint('waiting', flush=True)\ntime.sleep(60)\n",
        },
    )
    result = run_cli("run", "-q", str(project_dir), "--workers", "2")  # the report, not the lines as they came
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "extract running" in out and "extract succeeded" in out
    assert "load/bad attempt 1 failed: exit code 3 - retrying" in out
    assert "publish skipped" in out
    assert "load failed: task bad exit code 3 (after 2 attempts)" in out
    assert "slow failed: task slow timed out after 1 s" in out
    assert "line 39" in out and "line 10" not in out, "only the last lines are shown"
    assert "waiting" in out
    assert ".pyoneer/runs/" in out and "load/bad.2.log" in out
    assert "Traceback" not in result.stderr


def test_single_script_with_arguments(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        scripts={"train.py": "import sys\nopen('args.txt', 'w').write(' '.join(sys.argv[1:]))\n"},
    )
    result = run_cli("run", str(tmp_path / "train.py"), "--", "--epochs", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "args.txt").read_text() == "--epochs 3"
    assert "train succeeded" in result.stdout
    assert (tmp_path / ".pyoneer" / "runs").is_dir()

    failing = write_project(tmp_path / "f", scripts={"boom.py": "raise ValueError('boom')\n"})
    result = run_cli("run", "boom.py", cwd=failing)
    assert result.returncode == 1
    assert "ValueError: boom" in result.stdout, "the script's traceback is in the failure report"


def test_pyproject_tool_table_and_file_paths(project_dir: Path) -> None:
    write_project(project_dir, scripts={"a.py": "open('a.txt', 'w').write('a')\n"})
    (project_dir / "pyproject.toml").write_text(
        '[project]\nname = "host"\n\n[tool.pyoneer.jobs.first]\ntasks = ["a.py"]\n'
    )
    for target in (project_dir, project_dir / "pyproject.toml"):
        result = run_cli("run", str(target))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "first succeeded" in result.stdout
    assert (project_dir / "a.txt").read_text() == "a"

    other = write_project(project_dir / "sub", '[jobs.only]\ntasks = ["../a.py"]\n')
    result = run_cli("run", str(other / "pyoneer.toml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_prints_the_plan_in_order(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.load]
        needs = ["extract"]
        tasks = [{ script = "x.py", args = ["--to", "db"], timeout = 30, retries = 2 }]
        [jobs.extract]
        tasks = ["x.py", "x.py --strict"]
        """,
        {"x.py": "raise SystemExit('must not run')\n"},
    )
    result = run_cli("check", str(project_dir))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("extract") < out.index("load")
    assert "load  (needs extract)" in out
    assert "x.py --to db  [timeout 30 s, retries 2]" in out
    assert "x-2: x.py --strict" in out
    assert not (project_dir / ".pyoneer").exists(), "check runs nothing"


def test_live_view_on_a_terminal(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[project]\nname = "livedemo"\n[jobs.one]\ntasks = ["x.py"]\n[jobs.two]\nneeds = ["one"]\ntasks = ["x.py"]\n',
        {"x.py": "import time\ntime.sleep(0.5)\n"},
    )
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    proc = subprocess.Popen(
        pyoneer_command("run", str(project_dir)), stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    text = screen.decode(errors="replace")
    assert "livedemo" in text and "2/2" in text, "the progress bar counts jobs"
    assert "running" in text and "succeeded" in text


def test_a_reader_that_leaves_early_does_not_stop_the_run(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[jobs.first]\ntasks = ["a.py"]\n[jobs.second]\nneeds = ["first"]\ntasks = ["b.py"]\n',
        {"a.py": "import time\ntime.sleep(0.3)\n", "b.py": "open('second-ran', 'w')\n"},
    )
    proc = subprocess.Popen(pyoneer_command("run", str(project_dir)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()  # like `| head -1`
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in proc.stderr.read()
    assert (project_dir / "second-ran").exists(), "the run went on to its end"
