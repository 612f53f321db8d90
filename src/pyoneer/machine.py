"""Where a worker meets the machine: a script's process, its tree, and the watchdog.

Only workers use this module (managers never start processes). Each task runs as
``sys.executable script args`` in a new session, so it and everything it starts share
a session id even after their parents die; ending a task signals that whole tree, first
politely (SIGTERM), then for good (SIGKILL). A watchdog process ends the trees if the
manager itself dies without doing so.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import select
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
        self.marks = _marks(env)
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


class ForkServer:
    """A worker's warm interpreter (``forkserver.py``): it forks one child per task.

    One task at a time: the worker sends a request and reads the replies in order. The
    server is a subreaper where Linux allows it: what a task leaves behind stays its
    child, so ``leftovers`` tells at a glance whether a task left anything running.
    """

    def __init__(self) -> None:
        script = Path(__file__).with_name("forkserver.py")
        replies, their_end = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, str(script), str(their_end)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(their_end,),
            start_new_session=True,  # Ctrl-C on the terminal must not reach it
        )
        os.close(their_end)
        self._replies = replies
        self._pending = b""
        self._ready = False
        self.pid = self._process.pid
        #: whether the server took in its tasks' orphans (set once it is ready)
        self.subreaper = False

    def ready(self) -> bool:
        """True once the server has started up (never waits for it)."""
        return self.wait_ready(0)

    def wait_ready(self, timeout: float) -> bool:
        """True once the server is up, waiting up to ``timeout`` seconds; False if it died."""
        if not self._ready and self.alive:
            with contextlib.suppress(ForkServerGone):
                line = self.reply(timeout)
                self._ready = line is not None and line.startswith("ready")
                self.subreaper = line == "ready subreaper"
        return self._ready

    def leftovers(self) -> set[int] | None:
        """The server's children between tasks: orphans of ended ones (None: can't tell)."""
        return proctree.children(self.pid) if self.subreaper else None

    def spawn(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
        preload: Sequence[str] = (),
        watchdog: Watchdog | None = None,
        fresh: bool = False,
    ) -> ServedProcess:
        """Run ``argv`` (``python script args``) in a forked child; its handle.

        ``fresh``: the child execs ``argv``, a new interpreter, instead of running the
        script warm (the manager then never forks, and the task's leftovers are still
        the server's to see at a glance).
        """
        log.parent.mkdir(parents=True, exist_ok=True)
        marks = _marks(env)
        # a subreaper server ends its tasks' trees itself if this process dies; else the
        # watchdog must know of the task before it starts, as for a TaskProcess
        watchdog = None if self.subreaper else watchdog
        if watchdog is not None:
            watchdog.expect(marks)
        request = {
            "argv": list(argv),
            "cwd": str(cwd),
            "env": dict(env),
            "log": str(log),
            "preload": list(preload),
            "exec": fresh,
        }
        message = marshal.dumps(request)
        self._process.stdin.write(len(message).to_bytes(4, "big") + message)
        self._process.stdin.flush()
        word, pid = self.reply(None).split()
        if word != "started":
            raise RuntimeError(f"fork server said {word!r}")  # a bug of ours
        return ServedProcess(self, int(pid), marks, watchdog)

    def reply(self, timeout: float | None) -> str | None:
        """The next line from the server, or ``None`` if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._replies], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._replies, 4096)
            if not chunk:
                raise ForkServerGone("the fork server ended")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    @property
    def alive(self) -> bool:
        """True while the server runs."""
        return self._process.poll() is None

    def kill(self) -> None:
        """End the server now; whoever waits for its replies hears that it is gone."""
        self._process.kill()

    def close(self) -> None:
        """Send the server away (its tasks have ended; it holds nothing worth a goodbye)."""
        self._process.kill()
        if self._process.stdin and not self._process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()
        self._process.wait()
        if self._replies >= 0:
            os.close(self._replies)
            self._replies = -1


class ForkServerGone(Exception):
    """The fork server died; its tasks are lost with it."""


class ServedProcess:
    """One attempt of a task started by the worker's fork server (forked warm, or exec'd)."""

    def __init__(self, server: ForkServer, pid: int, marks: frozenset[bytes], watchdog: Watchdog | None) -> None:
        self._server = server
        self.pid = pid
        self.marks = marks
        self._code: int | None = None
        # one reader of the server's replies at a time: the worker's thread, usually;
        # a stop() from another thread only signals, and reads only if no one else is
        self._reading = threading.Lock()
        self._watchdog = watchdog
        if watchdog is not None:
            watchdog.watch(pid, marks)

    def _members(self) -> set[int]:
        # the task's tree, and (the server being a subreaper, and running one task at a
        # time) every other child of the server: orphans the task left, even those that
        # left its session and cleared their environment
        members = proctree.tree(self.pid, self.marks, frozenset({self._server.pid}))
        for orphan in (proctree.children(self._server.pid) or set()) - {self.pid}:
            members |= proctree.tree(orphan, frozenset(), frozenset({self._server.pid}))
        return members

    def wait(self, timeout: float | None) -> int | None:
        """Wait for the child; its exit code, or ``None`` if ``timeout`` passed first."""
        with self._reading:
            return self._read(timeout)

    def _read(self, timeout: float | None) -> int | None:
        if self._code is None:
            try:
                line = self._server.reply(timeout)
            except ForkServerGone:
                self._code = -signal.SIGKILL
                return self._code
            if line is not None:
                _word, _pid, code = line.split()
                self._code = int(code)
        return self._code

    def end(self, grace: float = KILL_GRACE) -> int:
        """End the child and every process it started; return its exit code."""
        end_tree(self._members, lambda: not proctree.is_running(self.pid), grace)
        if self._reading.acquire(blocking=False):
            try:
                code = self._read(None)
            finally:
                self._reading.release()
        else:
            code = self._code  # the reading thread gets the exit code itself
        return code if code is not None else -signal.SIGKILL

    def sweep(self) -> None:
        """Kill whatever the ended child left running."""
        # no leftovers is the common case, and one small read tells it: the whole-/proc
        # scan of ``_members`` costs about a millisecond
        if self._server.leftovers() != set():
            proctree.signal_all(self._members(), signal.SIGKILL)
        if self._watchdog is not None:
            self._watchdog.forget(self.pid)


def _marks(env: Mapping[str, str]) -> frozenset[bytes]:
    """How to tell a task's orphans that left its session: the PYONEER_* variables it got."""
    return frozenset(f"{name}={value}".encode() for name, value in env.items() if name in _MARK_NAMES)


def can_run_warm(env: Mapping[str, str], base: Mapping[str, str]) -> bool:
    """False when ``env`` differs from the warm interpreter's in what shapes a start-up.

    Those are the ``PYTHON*`` variables (but the two a forked child honours itself),
    the locale (UTF-8 mode, stdio encodings) and HOME (the user's site-packages).
    """
    names = {name for name in (*env, *base) if _shapes_startup(name)}
    return all(env.get(name) == base.get(name) for name in names)


def _shapes_startup(name: str) -> bool:
    return (name.startswith("PYTHON") and name not in _EMULATED) or name in _STARTUP_NAMES


#: PYTHON* variables a forked child honours itself (see forkserver._reopen_stdio)
_EMULATED = ("PYTHONUNBUFFERED", "PYTHONIOENCODING")
#: other variables a fresh interpreter reads once, at start-up
_STARTUP_NAMES = ("LANG", "LC_ALL", "LC_CTYPE", "HOME")
