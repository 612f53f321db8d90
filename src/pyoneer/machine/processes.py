"""Where a worker meets the machine: a script's process, its tree, and the watchdog.

Only workers use this module (managers never start processes). Each task runs as
``sys.executable script args`` in a new session, so it and everything it starts share
a session id even after their parents die; ending a task signals that whole tree, first
politely (SIGTERM), then for good (SIGKILL). A watchdog process ends the trees if the
manager itself dies without doing so.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pyoneer.machine import proctree

#: seconds a task's processes get between SIGTERM and SIGKILL
KILL_GRACE = 3.0

#: the environment entries that mark a task's processes (see ``proctree.tree``)
_MARK_NAMES = ("PYONEER_RUN_ID", "PYONEER_JOB", "PYONEER_TASK", "PYONEER_ATTEMPT")


class Watchdog:
    """A small process that kills the listed task trees once this process is gone.

    It starts with the first tree it is given: warm tasks need none (their fork server,
    a subreaper, ends everything below it when this process goes), so a warm run never
    pays for its start.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def expect(self, marks: frozenset[bytes]) -> None:
        """A task with these marks is about to start: if this process dies before
        ``watch`` names it, whatever carries the marks is ended."""
        self._send(f"? {' '.join(mark.decode() for mark in sorted(marks))}\n", start=True)

    def watch(self, pid: int, marks: frozenset[bytes]) -> None:
        """Put ``pid``'s tree (and the orphans carrying ``marks``) under watch."""
        self._send(f"+{pid} {' '.join(mark.decode() for mark in sorted(marks))}\n", start=True)

    def forget(self, pid: int) -> None:
        """Take ``pid``'s tree off the watch (it has ended)."""
        self._send(f"-{pid}\n", start=False)

    def close(self) -> None:
        """Send the watchdog away: every task it watched has ended by now."""
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            # no need to let it finish starting up only to find nothing to do
            process.kill()
            if process.stdin and not process.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
        process.wait()

    def _send(self, line: str, start: bool) -> None:
        with self._lock:
            if self._process is None:
                if not start:
                    return
                self._process = _start_watchdog()
            try:
                self._process.stdin.write(line.encode())
                self._process.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # it died: the worker still ends its own trees


def _start_watchdog() -> subprocess.Popen[bytes]:
    script = Path(__file__).with_name("watchdog.py")
    return subprocess.Popen(
        [sys.executable, "-E", "-S", str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C on the terminal must not reach it
    )


class TaskProcess:
    """One running attempt of a task: a child process whose output goes to a log file."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
        watchdog: Watchdog | None = None,
    ) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.marks = task_marks(env)
        if watchdog is not None:
            watchdog.expect(self.marks)  # before the start: this process may die right after it
        with log.open("wb") as output:
            self._popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session and process group
            )
        self.pid = self._popen.pid
        self._watchdog = watchdog
        if watchdog is not None:
            watchdog.watch(self.pid, self.marks)

    def wait(self, timeout: float | None) -> int | None:
        """Wait for the process; its exit code, or ``None`` if ``timeout`` passed first."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def end(self, grace: float = KILL_GRACE) -> int:
        """End the process and every process it started; return its exit code."""
        members = lambda: proctree.tree(self.pid, self.marks)  # noqa: E731
        end_tree(members, lambda: self._popen.poll() is not None, grace)
        return self._popen.wait()

    def sweep(self) -> None:
        """Kill whatever the ended process left running (daemons, stray grandchildren)."""
        proctree.kill_trees({self.pid: self.marks})
        if self._watchdog is not None:
            self._watchdog.forget(self.pid)


def python_argv(script: Path, args: Sequence[str]) -> list[str]:
    """The command line that runs ``script`` like ``python script args`` would."""
    return [sys.executable, str(script), *args]


def end_tree(members: Callable[[], set[int]], ended: Callable[[], bool], grace: float) -> None:
    """SIGTERM a task's tree (``members()``); after ``grace`` seconds SIGKILL what is left."""
    doomed = members()
    proctree.signal_all(doomed, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not (ended() and not proctree.alive(members())):
        time.sleep(0.02)
    proctree.signal_all(doomed | members(), signal.SIGKILL)


def task_marks(env: Mapping[str, str]) -> frozenset[bytes]:
    """How to tell a task's orphans that left its session: the PYONEER_* variables it got."""
    return frozenset(f"{name}={value}".encode() for name, value in env.items() if name in _MARK_NAMES)
