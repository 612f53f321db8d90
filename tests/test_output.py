"""Tasks' output on the screen while a run goes on, as ``python script.py`` shows it.

Black-box: real ``pyoneer run`` processes in temporary directories, read through a pipe
and through a pseudo-terminal. Speed with huge output is measured by the benchmark
(bench/bench.py, workload O), never timed here.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from conftest import child_env, pyoneer_command, run_cli, wait_until, write_project

EPOCHS = """
import sys, time
for epoch in range(3):
    print(f"epoch {epoch} loss {1 / (epoch + 1):.2f}", flush=True)
    time.sleep(0.05)
print("a warning", file=sys.stderr, flush=True)
print("no newline at the end", end="")
"""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_terminal(args: list[str], cwd: Path, timeout: float = 60, stderr: IO[bytes] | None = None) -> tuple[int, str]:
    """Run ``pyoneer ARGS`` on a pseudo-terminal (its stderr too, unless sent to ``stderr``):
    its exit code, and all it drew."""
    leader, follower = pty.openpty()
    env = child_env(COLUMNS="160", LINES="40", TERM="xterm")
    proc = subprocess.Popen(pyoneer_command(*args), cwd=cwd, stdout=follower,
                            stderr=follower if stderr is None else stderr, env=env)
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
    code = proc.wait(timeout=timeout)
    os.close(leader)
    return code, screen.decode(errors="replace")


def test_one_script_shows_its_lines_in_order_before_the_summary(project_dir: Path) -> None:
    write_project(project_dir, scripts={"train.py": EPOCHS})
    ran = run_cli("run", "train.py", cwd=project_dir)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    expected = ["epoch 0 loss 1.00", "epoch 1 loss 0.50", "epoch 2 loss 0.33", "no newline at the end"]
    positions = [lines.index(line) for line in expected]  # plain, as python prints them: no prefix
    assert positions == sorted(positions)
    assert "a warning" not in lines and "a warning" in ran.stderr.splitlines(), "stderr's line on stderr"
    assert positions[-1] < next(i for i, line in enumerate(lines) if "succeeded" in line), "before the job's end"
    assert positions[-1] < next(i for i, line in enumerate(lines) if line.startswith("run ")), "before the summary"


def test_quiet_shows_no_task_output(project_dir: Path) -> None:
    write_project(project_dir, scripts={"train.py": EPOCHS})
    ran = run_cli("run", "-q", "train.py", cwd=project_dir)
    assert ran.returncode == 0, ran.stderr
    assert "epoch 0" not in ran.stdout and "done: 1 succeeded" in ran.stdout


def test_several_jobs_prefix_each_line_with_its_job(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[jobs.prepare]\ntasks = ["prep.py"]\n[jobs.train]\nneeds = ["prepare"]\ntasks = ["train.py"]\n',
        {"prep.py": "print('prepared 10 rows')\n", "train.py": EPOCHS},
    )
    ran = run_cli("run", cwd=project_dir)
    assert ran.returncode == 0, ran.stderr
    assert "prepare | prepared 10 rows" in ran.stdout.splitlines()
    assert "train | epoch 2 loss 0.33" in ran.stdout.splitlines()
    assert "train | a warning" in ran.stderr.splitlines() and "a warning" not in ran.stdout, "stderr's on stderr"
    assert "\x1b[" not in ran.stdout, "no colour in a pipe"


def test_lines_many_members_print_alike_are_folded_with_a_count(project_dir: Path) -> None:
    write_project(project_dir, scripts={"sweep.py": """
        import sys
        print("loading the data set", flush=True)
        print(f"lr is {sys.argv[1]}", flush=True)
        """})
    ran = run_cli("run", "sweep.py", "-m", "lr=1,2,3,4", "--", "{lr}", cwd=project_dir)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    loading = [line for line in lines if "loading the data set" in line]
    assert len(loading) == 2, loading  # the first, and later its count
    assert loading[1].endswith("loading the data set [repeated 3x across members]")
    for lr in "1234":
        assert f"sweep[lr={lr}] | lr is {lr}" in lines, "lines that differ are all shown"


def test_on_a_terminal_the_lines_come_above_the_live_view_coloured_by_job(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[jobs.prepare]\ntasks = ["prep.py"]\n[jobs.train]\nneeds = ["prepare"]\ntasks = ["train.py"]\n',
        {"prep.py": "print('prepared 10 rows')\n", "train.py": EPOCHS},
    )
    code, screen = on_terminal(["run"], project_dir)
    assert code == 0
    plain = ANSI.sub("", screen)
    assert "prepare | prepared 10 rows" in plain and "train | epoch 2 loss 0.33" in plain
    assert re.search(r"\x1b\[[0-9;]*m(prepare|train)\x1b\[0m", screen), "each job's name in a colour"
    assert plain.index("epoch 2 loss 0.33") < plain.index("done: 2 succeeded")
    code, quiet = on_terminal(["run", "--quiet"], project_dir)
    assert code == 0 and "epoch 2" not in quiet


def test_huge_output_is_cut_on_screen_and_kept_whole_in_the_log(project_dir: Path) -> None:
    # 30 MB in one go: the view skips what it cannot keep up with, and says so
    write_project(project_dir, scripts={"flood.py": """
        import sys
        line = "x" * 99 + "\\n"
        sys.stdout.write(line * 300_000)
        print("the last line")
        """})
    ran = run_cli("run", "flood.py", cwd=project_dir)
    assert ran.returncode == 0, ran.stderr
    assert "of output not shown here, to keep up: pyoneer logs 'flood' has it all]" in ran.stdout
    assert "the last line" in ran.stdout.splitlines()
    assert len(ran.stdout) < 10_000_000
    log = next((project_dir / ".pyoneer" / "runs").glob("*/flood/flood.1.log"))
    assert log.stat().st_size == 300_000 * 100 + len("the last line\n")


def test_a_sweep_failing_alike_shows_one_tail_and_names_the_others(project_dir: Path) -> None:
    write_project(project_dir, scripts={"fail.py": """
        import sys
        raise ValueError("the data set is empty")
        """})
    ran = run_cli("run", "-q", "fail.py", "-m", "seed=1,2,3", "--", "{seed}", cwd=project_dir)
    assert ran.returncode == 1
    assert ran.stdout.count("Traceback (most recent call last)") == 1
    assert "and 2 more members failed the same way:" in ran.stdout
    for seed in "123":
        assert ran.stdout.count(f"fail[seed={seed}]/fail.1.log") == 1, "each log path once"


def test_arguments_without_dashes_are_shown_where_they_go(project_dir: Path) -> None:
    write_project(project_dir, scripts={"train.py": "print('hi')\n"})
    ran = run_cli("run", "train.py", "--lr", "1", cwd=project_dir)
    assert ran.returncode == 2
    assert "put them after --: pyoneer run train.py -- --lr 1" in ran.stderr


def test_a_matrix_error_names_the_option_as_it_was_written(project_dir: Path) -> None:
    write_project(project_dir, scripts={"train.py": "print('hi')\n"})
    long = run_cli("run", "train.py", "--matrix", "lr", cwd=project_dir)
    assert long.returncode == 2 and "--matrix 'lr': write KEY=V1,V2,..., e.g. --matrix lr=0.1,0.01" in long.stderr
    short = run_cli("run", "train.py", "-m", "lr", cwd=project_dir)
    assert short.returncode == 2 and "-m 'lr': write KEY=V1,V2,..., e.g. -m lr=0.1,0.01" in short.stderr


def test_ctrl_c_says_it_stops_and_a_second_one_kills(project_dir: Path) -> None:
    write_project(project_dir, scripts={"stubborn.py": """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL ends it
        print("up", flush=True)
        time.sleep(120)
        """})
    proc = subprocess.Popen(pyoneer_command("run", "stubborn.py"), cwd=project_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=child_env())
    seen: list[str] = []
    while "up" not in seen:
        seen.append(proc.stdout.readline().rstrip("\n"))
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().rstrip("\n") == "stopping: ending 1 task (Ctrl-C again to kill them now)"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().rstrip("\n") == "killing 1 task"
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    assert "interrupted: 1 cancelled" in rest


def test_ctrl_c_on_a_terminal_marks_the_tasks_stopping(project_dir: Path) -> None:
    write_project(project_dir, scripts={"slow.py": "import time\nprint('up', flush=True)\ntime.sleep(120)\n"})
    leader, follower = pty.openpty()
    proc = subprocess.Popen(pyoneer_command("run", "slow.py"), cwd=project_dir, stdout=follower, stderr=follower,
                            env=child_env(COLUMNS="160", LINES="40", TERM="xterm"))
    os.close(follower)
    screen = b""

    def read() -> bytes:
        nonlocal screen
        try:
            screen += os.read(leader, 65536)
        except OSError:
            return b""
        return screen

    assert wait_until(lambda: b"up" in read() and b"running" in screen)
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        read()
    while read() and proc.poll() is None:
        pass
    os.close(leader)
    text = ANSI.sub("", screen.decode(errors="replace"))
    assert "stopping: ending 1 task (Ctrl-C again to kill them now)" in text
    assert proc.wait(timeout=30) == 130


def test_the_workspace_keeps_itself_out_of_git(project_dir: Path) -> None:
    write_project(project_dir, scripts={"train.py": "print('hi')\n"})
    assert run_cli("run", "train.py", cwd=project_dir).returncode == 0
    subprocess.run(["git", "init", "-q"], cwd=project_dir, check=True)
    shown = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=project_dir,
                           capture_output=True, text=True, check=True).stdout
    assert ".pyoneer" not in shown and "train.py" in shown


def test_logs_of_a_glob_that_matches_several_members(project_dir: Path) -> None:
    write_project(project_dir, scripts={"say.py": "import sys, time\nprint('member', sys.argv[1], flush=True)\n"
                                                  "time.sleep(0.05)\nprint('done')\nprint('a note', file=sys.stderr)\n"})
    assert run_cli("run", "-q", "say.py", "-m", "seed=1,2,3", "--", "{seed}", cwd=project_dir).returncode == 0
    printed = run_cli("logs", "say*", cwd=project_dir)
    assert printed.returncode == 0, printed.stderr
    for seed in "123":
        assert f"==> say[seed={seed}]/say (attempt 1) <==\nmember {seed}\n" in printed.stdout
    followed = run_cli("logs", "-f", "say*", cwd=project_dir)
    assert followed.returncode == 0, followed.stderr
    for seed in "123":
        assert f"say[seed={seed}] | member {seed}\nsay[seed={seed}] | done\n" in followed.stdout
        assert f"say[seed={seed}] | a note\n" in followed.stderr, "stderr's lines on stderr, as run shows them"


def test_a_params_file_error_names_the_file_and_the_key(project_dir: Path) -> None:
    write_project(project_dir, '[params]\nepochs = 3\n[jobs.t]\ntasks = ["t.py {epochs}"]\n', {
        "t.py": "print('ran')\n", "typo.toml": "epoch = 3\n", "wrong.toml": 'epochs = "many"\n',
    })
    typo = run_cli("run", "--params", "typo.toml", cwd=project_dir)
    assert typo.returncode == 2 and "--params typo.toml: unknown parameter 'epoch'" in typo.stderr
    wrong = run_cli("run", "--params", "wrong.toml", cwd=project_dir)
    assert wrong.returncode == 2 and "--params wrong.toml: parameter 'epochs' is a whole number" in wrong.stderr
    assert "in wrong.toml: epochs = 3" in wrong.stderr
    assert run_cli("run", "--params", "wrong.toml", "-p", "epochs=4", cwd=project_dir).returncode == 0  # -p wins


# stdout and stderr kept apart ------------------------------------------------------

STREAMS = """
import sys, time
print("result 42", flush=True)
print("warning: slow disk", file=sys.stderr, flush=True)
time.sleep(0.05)
print("result 43", flush=True)
sys.stderr.write("progress 100%")
"""


def test_a_scripts_stderr_goes_to_stderr_and_its_log_keeps_both(project_dir: Path) -> None:
    write_project(project_dir, scripts={"job.py": STREAMS})
    ran = run_cli("run", "job.py", cwd=project_dir)
    assert ran.returncode == 0, ran.stderr
    out, err = ran.stdout.splitlines(), ran.stderr.splitlines()
    assert "result 42" in out and "result 43" in out, "stdout's lines on stdout"
    assert "warning: slow disk" in err and "progress 100%" in err, "stderr's lines on stderr"
    assert not {"warning: slow disk", "progress 100%"} & set(out)
    assert not {"result 42", "result 43"} & set(err)
    logged = run_cli("logs", "job", cwd=project_dir).stdout
    # every byte; across the streams, in the order they reached the relay (README)
    assert sorted(logged.replace("%", "%\n").split()) == sorted("result 42 warning: slow disk result 43 progress 100%".split())
    assert logged.startswith("result 42\nwarning: slow disk\n"), "what came apart in time keeps its order"


def test_stderr_lines_of_many_members_fold_on_stderr(project_dir: Path) -> None:
    write_project(project_dir, scripts={"sweep.py": """
        import sys
        print("using the CPU", file=sys.stderr, flush=True)
        print("using the CPU", flush=True)
        """})
    ran = run_cli("run", "sweep.py", "-m", "seed=1,2,3", "--", "{seed}", cwd=project_dir)
    assert ran.returncode == 0, ran.stderr
    for stream in (ran.stdout, ran.stderr):  # each stream folded apart: one shown, then its count
        folded = [line for line in stream.splitlines() if "using the CPU" in line]
        assert len(folded) == 2 and folded[1].endswith("using the CPU [repeated 2x across members]"), folded


def test_on_a_terminal_stderr_sent_elsewhere_stays_off_the_screen(project_dir: Path, tmp_path: Path) -> None:
    write_project(project_dir, scripts={"job.py": STREAMS})
    errors = tmp_path / "errors.txt"
    with errors.open("wb") as sink:
        code, screen = on_terminal(["run", "job.py"], project_dir, stderr=sink)
    assert code == 0
    plain = ANSI.sub("", screen)
    assert "result 43" in plain and "slow disk" not in plain
    assert errors.read_text().splitlines() == ["warning: slow disk", "progress 100%"]
    code, both = on_terminal(["run", "job.py"], project_dir)  # one screen for both: both on it
    assert code == 0 and "warning: slow disk" in ANSI.sub("", both) and "result 42" in ANSI.sub("", both)
