"""Where a worker meets the machine: a script's process, its tree, and the watchdog.

Only workers use this module (managers never start processes). Each task runs as
``sys.executable script args`` in a new session, so it and everything it starts share
a session id even after their parents die; ending a task signals that whole tree, first
politely (SIGTERM), then for good (SIGKILL). A watchdog process ends the trees if the
manager itself dies without doing so.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pyoneer import proctree

#: seconds a task's processes get between SIGTERM and SIGKILL
KILL_GRACE = 3.0

#: the environment entries that mark a task's processes (see ``proctree.tree``)
_MARK_NAMES = ("PYONEER_RUN_ID", "PYONEER_JOB", "PYONEER_TASK", "PYONEER_ATTEMPT")


class Watchdog:
    """A small process that kills the listed task trees once this process is gone."""

    def __init__(self) -> None:
        script = Path(__file__).with_name("watchdog.py")
        self._process = subprocess.Popen(
            [sys.executable, "-E", "-S", str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C on the terminal must not reach it
        )
        self._lock = threading.Lock()

    def watch(self, pid: int, marks: frozenset[bytes]) -> None:
        """Put ``pid``'s tree (and the orphans carrying ``marks``) under watch."""
        self._send(f"+{pid} {' '.join(mark.decode() for mark in sorted(marks))}\n")

    def forget(self, pid: int) -> None:
        """Take ``pid``'s tree off the watch (it has ended)."""
        self._send(f"-{pid}\n")

    def close(self) -> None:
        """Tell the watchdog we are done, and wait for it to go."""
        with self._lock:
            if self._process.stdin and not self._process.stdin.closed:
                self._process.stdin.close()
        self._process.wait()

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                self._process.stdin.write(line.encode())
                self._process.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # it died: the worker still ends its own trees


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
        # how to tell its orphans that left its session: the PYONEER_* variables it got
        self.marks = frozenset(
            f"{name}={value}".encode() for name, value in env.items() if name in _MARK_NAMES
        )
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
        end_tree(self.pid, self.marks, lambda: self._popen.poll() is not None, grace)
        return self._popen.wait()

    def sweep(self) -> None:
        """Kill whatever the ended process left running (daemons, stray grandchildren)."""
        proctree.kill_trees({self.pid: self.marks})
        if self._watchdog is not None:
            self._watchdog.forget(self.pid)


def python_argv(script: Path, args: Sequence[str]) -> list[str]:
    """The command line that runs ``script`` like ``python script args`` would."""
    return [sys.executable, str(script), *args]


def end_tree(pid: int, marks: frozenset[bytes], ended: Callable[[], bool], grace: float) -> None:
    """SIGTERM the tree of ``pid``; after ``grace`` seconds SIGKILL what is left."""
    members = proctree.tree(pid, marks)
    proctree.signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not (ended() and not proctree.alive(proctree.tree(pid, marks))):
        time.sleep(0.02)
    proctree.signal_all(members | proctree.tree(pid, marks), signal.SIGKILL)
