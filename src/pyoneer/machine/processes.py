"""Where a worker meets the machine: a script's process, its tree, and the watchdog.

Only workers use this module (managers never start processes). Each task runs as
``sys.executable script args`` in a new session, so it and everything it starts share
a session id even after their parents die; ending a task signals that whole tree, first
politely (SIGTERM), then for good (SIGKILL). A watchdog process ends the trees if the
manager itself dies without doing so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pyoneer.machine import proctree

if TYPE_CHECKING:
    from pyoneer.machine.streams import TaskOutput

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
        self._detached = False

    def guard(self, marks: frozenset[bytes], lifeline: int | None = None) -> None:
        """Start now, detached, and own whatever carries ``marks``: when this process
        ends, or ``lifeline`` (the process that started this one) does, kill it all.

        For a worker on a node that can be lost in pieces: detached, the watchdog is not
        a child of this process, so whoever kills a dying worker process's children (Ray
        does) does not take it along; and a process found by its marks is found wherever
        its parent is, even gone. A warm task carries the marks of the fork server it
        was forked from: put ``marks`` in ``os.environ`` before that server starts.
        """
        with self._lock:
            if self._process is not None:
                raise RuntimeError("guard() comes before any task is watched")  # a bug of ours
            self._process = _start_watchdog(detach=True)
            self._process.wait()  # the one that detached it, gone at once
            self._detached = True
        self._send(f"* {' '.join(mark.decode() for mark in sorted(marks))}\n", start=False)
        start = proctree.started_at(lifeline) if lifeline is not None else None
        if start is not None:
            # and this process, to end first: its lifeline gone, it is lost with its node
            self._send(f"@{os.getpid()} {proctree.started_at(os.getpid())}\n^{lifeline} {start}\n", start=False)

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
            if self._detached:
                # not our child any more: told that all is ended, it goes by itself
                with contextlib.suppress(BrokenPipeError, ValueError):
                    process.stdin.write(b".\n")
                    process.stdin.flush()
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


def _start_watchdog(detach: bool = False) -> subprocess.Popen[bytes]:
    script = Path(__file__).with_name("watchdog.py")
    return subprocess.Popen(
        [sys.executable, "-E", "-S", str(script), *(["--detach"] if detach else [])],
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
        output: TaskOutput | None = None,
    ) -> None:
        """Start ``argv``; its stdout and stderr go to ``output``'s pipes (the relay's),
        else both to ``log``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        self.marks = task_marks(env)
        if watchdog is not None:
            watchdog.expect(self.marks)  # before the start: this process may die right after it
        with contextlib.ExitStack() as held:
            if output is None:
                stdout, stderr = held.enter_context(log.open("wb")), subprocess.STDOUT
            else:
                stdout, stderr = output.stdout, output.stderr
            self._popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
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


#: set when the user asks twice to stop (a second Ctrl-C): no grace period is waited out any more
HURRY = threading.Event()


def end_tree(members: Callable[[], set[int]], ended: Callable[[], bool], grace: float) -> None:
    """SIGTERM a task's tree (``members()``); after ``grace`` seconds (or at once, once
    ``HURRY`` is set) SIGKILL what is left."""
    doomed = members()
    proctree.signal_all(doomed, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not HURRY.is_set() and not (ended() and not proctree.alive(members())):
        time.sleep(0.02)
    proctree.signal_all(doomed | members(), signal.SIGKILL)


def task_marks(env: Mapping[str, str]) -> frozenset[bytes]:
    """How to tell a task's orphans that left its session: the PYONEER_* variables it got."""
    return frozenset(f"{name}={value}".encode() for name, value in env.items() if name in _MARK_NAMES)
