"""Faults of the machine: a clear error naming the path and the cause, an exit code, never a
traceback; before a run nothing runs (exit 2), during one the run stops cleanly (exit 1).

Real faults where this machine allows them: a small tmpfs for a full disk, a read-only
remount, another user (``setpriv``, keeping only the right to read) for permission
denied. Where mounting is not possible those tests skip, and the last test injects a
full disk at the boundary itself, SQLite's connection, in a run in this process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import pyoneer_command, run_cli, wait_until, write_project
from processes import is_alive

import pyoneer
from pyoneer.errors import EXIT_FAILED, MachineError

MARKER_SCRIPT = """
from pathlib import Path
Path("ran").write_text("yes")
"""

# waits for the other job to have started (its pid file), then sleeps: a task to outlive
SLEEPER = """
import os, sys, time
from pathlib import Path
Path(sys.argv[1]).write_text(str(os.getpid()))
time.sleep(120)
"""


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """Exit ``code``, one ``error:`` message holding ``words``, and no traceback."""
    said = result.stdout + result.stderr
    assert result.returncode == code, said
    assert "Traceback" not in said, said
    assert "error: " in result.stderr, said
    for word in words:
        assert word in result.stderr, f"{word!r} not in:\n{said}"
    assert len(result.stderr.splitlines()) <= 6, said  # one screen, not a dump


def marker_project(root: Path) -> Path:
    return write_project(root, '[jobs.mark]\ntasks = ["mark.py"]\n', {"mark.py": MARKER_SCRIPT})


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount small tmpfs file systems under ``tmp_path`` (skips where that is not allowed)."""
    mounted: list[Path] = []

    def mount(size: str = "1m") -> Path:
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        made = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
            capture_output=True, text=True,
        )
        if made.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()}); the injected fault covers it")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def remount_read_only(point: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(point)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def fill(point: Path) -> Path:
    """Write zeros into ``point`` until its file system is full; the file written."""
    path = point / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 4096, 1):  # tmpfs hands out whole pages: 4096 would do
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return path


# Before a run: exit 2, nothing runs ------------------------------------------------------


def test_a_file_where_the_pyoneer_directory_should_be(project_dir: Path) -> None:
    marker_project(project_dir)
    (project_dir / ".pyoneer").write_text("not a directory\n")
    result = run_cli("run", str(project_dir))
    assert_clean_error(result, 2, str(project_dir / ".pyoneer"), "a file stands where a directory should be")
    assert not (project_dir / "ran").exists()
    assert (project_dir / ".pyoneer").read_text() == "not a directory\n"


def test_a_read_only_file_system(tmpfs: Callable[..., Path]) -> None:
    root = marker_project(tmpfs() / "proj")
    remount_read_only(root.parent)
    result = run_cli("run", str(root))
    assert_clean_error(result, 2, str(root / ".pyoneer"), "the file system is read-only")
    assert not (root / "ran").exists()


def test_a_full_disk_before_the_run(tmpfs: Callable[..., Path]) -> None:
    point = tmpfs("256k")
    root = marker_project(point / "proj")
    fill(point)
    result = run_cli("run", str(root))
    assert_clean_error(result, 2, str(root / ".pyoneer"), "the disk is full")
    assert not (root / "ran").exists()


def _as_another_user(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``pyoneer ARGS`` as a user who may read everything here but write nothing of root's."""
    command = pyoneer_command(*args)
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("no setpriv to run as another user")
        # nobody, keeping only CAP_DAC_READ_SEARCH: it reaches the interpreter and the
        # project, as their owner could, and is refused every write
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                   "--inh-caps=-all,+dac_read_search", "--ambient-caps=-all,+dac_read_search", *command]
    env = {**os.environ, "COLUMNS": "200", "HOME": str(cwd)}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory anyone may read and search (a test's tmp_path is its owner's alone)."""
    made = Path(tempfile.mkdtemp(prefix="pyoneer-perm-"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_permission_denied(open_dir: Path) -> None:
    root = marker_project(open_dir / "proj")
    if os.geteuid() != 0:
        root.chmod(0o555)  # its owner may not write it either
    try:
        probe = _as_another_user("--version", cwd=open_dir)
        if probe.returncode != 0:
            pytest.skip(f"the other user cannot run Pyoneer here: {probe.stderr.strip()[:200]}")
        result = _as_another_user("run", str(root), cwd=open_dir)
    finally:
        root.chmod(0o755)
    assert_clean_error(result, 2, str(root / ".pyoneer"), "permission denied")
    assert not (root / "ran").exists()


# During a run: the run stops cleanly, exit 1, the ledger tells the truth ------------------


def _status(root: Path) -> dict:
    result = run_cli("status", str(root), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _jobs(state: dict) -> dict[str, str]:
    return {row["name"]: row["status"] for row in state["blueprints"] if row["kind"] == "job"}


FILLER = """
import os, sys, time
from pathlib import Path
deadline = time.monotonic() + 60
while not Path(sys.argv[1]).exists() and time.monotonic() < deadline:
    time.sleep(0.05)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
try:
    while True:
        os.write(fd, b"\\0" * 4096)
except OSError:
    pass
"""


def test_a_full_disk_mid_run_stops_the_run_and_leaves_nothing_running(tmpfs: Callable[..., Path]) -> None:
    point = tmpfs("4m")
    pid_file = point / "sleeper.pid"
    root = write_project(
        point / "proj",
        f"""
        [jobs.sleeper]
        tasks = ["sleeper.py {pid_file}"]

        [jobs.filler]
        tasks = ["filler.py {pid_file} {point / 'filler'}"]

        [jobs.after]
        needs = ["filler"]
        tasks = ["mark.py"]
        """,
        {"sleeper.py": SLEEPER, "filler.py": FILLER, "mark.py": MARKER_SCRIPT},
    )
    result = run_cli("run", str(root), "--workers", "2")
    assert_clean_error(result, 1, "the run stopped: cannot", "the disk is full")
    assert str(root / ".pyoneer") in result.stderr
    sleeper = int(pid_file.read_text())
    assert wait_until(lambda: not is_alive(sleeper), timeout=10), "the sleeping task outlived the run"
    assert not (root / "ran").exists()
    (point / "filler").unlink()
    state = _status(root)  # readable, and true as far as it was written
    assert state["run"]["result"] in ("interrupted", "failed")
    assert _jobs(state)["after"] in ("not_ready", "cancelled", "skipped")
    assert _jobs(state)["sleeper"] in ("cancelled", "failed")
    assert run_cli("runs", str(root)).returncode == 0


FILE_IN_THE_WAY = """
import os
from pathlib import Path
runs = Path(".pyoneer/runs") / os.environ["PYONEER_RUN_ID"]
(runs / "second").write_text("in the way")
"""


def test_a_file_where_a_log_directory_should_be_stops_the_run(project_dir: Path) -> None:
    pid_file = project_dir / "sleeper.pid"
    root = write_project(
        project_dir,
        f"""
        [jobs.sleeper]
        tasks = ["sleeper.py {pid_file}"]

        [jobs.first]
        tasks = ["in_the_way.py"]

        [jobs.second]
        needs = ["first"]
        tasks = ["mark.py"]
        """,
        {"sleeper.py": SLEEPER, "in_the_way.py": FILE_IN_THE_WAY, "mark.py": MARKER_SCRIPT},
    )
    result = run_cli("run", str(root), "--workers", "2")
    assert_clean_error(result, 1, "the run stopped: cannot write", "a file stands where a directory should be")
    run_id = json.loads(run_cli("runs", str(root), "--json").stdout)[-1]["id"]
    assert str(root / ".pyoneer" / "runs" / run_id / "second") in result.stderr
    assert wait_until(lambda: pid_file.exists() and not is_alive(int(pid_file.read_text())), timeout=10)
    assert not (root / "ran").exists()
    state = _status(root)  # the run is written down to its end
    assert state["run"]["result"] == "failed" and state["run"]["ended"] is not None
    jobs = _jobs(state)
    assert (jobs["first"], jobs["second"], jobs["sleeper"]) == ("succeeded", "failed", "cancelled")
    second = next(row for row in state["blueprints"] if row["name"] == "second")
    assert "a file stands where a directory should be" in second["reason"]


REMOVER = """
import os, shutil
from pathlib import Path
print("first ran")
shutil.rmtree(Path(".pyoneer/runs") / os.environ["PYONEER_RUN_ID"])
"""


def test_a_removed_log_directory_is_made_again_and_its_lost_log_named(project_dir: Path) -> None:
    root = write_project(
        project_dir,
        """
        [jobs.first]
        tasks = ["remover.py"]

        [jobs.second]
        needs = ["first"]
        tasks = ["second.py"]
        """,
        {"remover.py": REMOVER, "second.py": "print('second ran')\n"},
    )
    result = run_cli("run", str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    assert run_cli("logs", str(root), "second").stdout == "second ran\n"
    lost = run_cli("logs", str(root), "first")
    assert_clean_error(lost, 2, "cannot read the log", "first/remover.1.log", "it does not exist (was it removed?)")


# The boundary itself, where no file system can be mounted ----------------------------------


class _FullDisk:
    """A stand-in for the ledger's SQLite connection that, once ``full()`` says so,
    refuses every write as SQLite does on a full disk."""

    def __init__(self, real: sqlite3.Connection, full: Callable[[], bool]) -> None:
        self._real = real
        self._full = full

    def _refuse(self) -> None:
        if self._full():
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorname = "SQLITE_FULL"
            error.sqlite_errorcode = 13
            raise error

    def execute(self, *args):  # noqa: ANN002, ANN201
        if not args[0].lstrip().upper().startswith(("SELECT", "PRAGMA")):
            self._refuse()
        return self._real.execute(*args)

    def executemany(self, *args):  # noqa: ANN002, ANN201
        self._refuse()
        return self._real.executemany(*args)

    def __enter__(self):  # noqa: ANN204
        return self._real.__enter__()

    def __exit__(self, *exc):  # noqa: ANN002, ANN204
        return self._real.__exit__(*exc)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._real, name)


WAITER = """
import sys, time
from pathlib import Path
while not Path(sys.argv[1]).exists():
    time.sleep(0.02)
"""


def test_a_full_disk_injected_at_the_ledger_stops_the_run_cleanly(project_dir: Path, monkeypatch) -> None:
    pid_file = project_dir / "sleeper.pid"
    write_project(
        project_dir,
        f"""
        [jobs.sleeper]
        tasks = ["sleeper.py {pid_file}"]

        [jobs.waiter]
        tasks = ["waiter.py {pid_file}"]

        [jobs.after]
        needs = ["sleeper"]
        tasks = ["mark.py"]
        """,
        {"sleeper.py": SLEEPER, "waiter.py": WAITER, "mark.py": MARKER_SCRIPT},
    )
    from pyoneer.ledger import store

    opened = store.Ledger._existing.__func__

    def existing(cls, path: Path):  # noqa: ANN001, ANN202
        ledger = opened(cls, path)
        ledger._db = _FullDisk(ledger._db, full=pid_file.exists)
        return ledger

    monkeypatch.setattr(store.Ledger, "_existing", classmethod(existing))
    with pytest.raises(MachineError) as raised:
        pyoneer.run(pyoneer.load(project_dir), workers=2)  # the waiter's end is the first write refused
    error = raised.value
    assert error.exit_code == EXIT_FAILED
    assert str(error).startswith("the run stopped: cannot write the ledger")
    assert str(project_dir / ".pyoneer" / "ledger.db") in str(error) and "the disk is full" in str(error)
    assert wait_until(lambda: not is_alive(int(pid_file.read_text())), timeout=10)
    assert not (project_dir / "ran").exists()
    monkeypatch.undo()
    state = _status(project_dir)  # what was written before the fault reads back
    # the manager, this process, lives on: the run shows as the ledger last had it
    assert state["run"]["result"] == "running"
    assert _jobs(state) == {"sleeper": "running", "waiter": "running", "after": "not_ready"}


def test_errors_of_the_machine_are_pyoneer_errors_with_an_exit_code() -> None:
    error = MachineError.from_os(OSError(28, "No space left on device", "/x/ledger.db"), "write")
    assert isinstance(error, pyoneer.PyoneerError) and error.exit_code == 2
    assert str(error).splitlines()[0] == "cannot write /x/ledger.db: the disk is full"
    assert error.during_run().exit_code == EXIT_FAILED
    for number, words in ((13, "permission denied"), (30, "read-only"), (17, "a file stands"), (2, "does not exist")):
        assert words in str(MachineError.from_os(OSError(number, "x", "/p"), "open"))


FLOOD = """
import sys
for _ in range(40):
    sys.stdout.write("x" * 99 + "\\n" * 1 + ("y" * 99 + "\\n") * 999)
"""


def test_a_log_the_disk_has_no_room_for_stops_the_run_naming_it(tmpfs: Callable[..., Path]) -> None:
    # the relay writes the log: the task never sees the full disk, the run is told of it
    point = tmpfs("3m")
    root = write_project(point / "proj", '[jobs.flood]\ntasks = ["flood.py"]\n[jobs.after]\nneeds = ["flood"]\n'
                                         'tasks = ["mark.py"]\n', {"flood.py": FLOOD, "mark.py": MARKER_SCRIPT})
    result = run_cli("run", str(root), "-q")
    assert_clean_error(result, 1, "the run stopped: cannot write", "the disk is full")
    # the job's line names its log (the ledger, on the same full disk, may be what stops it last)
    assert re.search(r"flood failed: the run stopped: cannot write \S+/flood/flood\.1\.log: the disk is full",
                     result.stdout), result.stdout
    assert not (root / "ran").exists()
