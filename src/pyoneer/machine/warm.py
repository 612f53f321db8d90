"""The warm interpreter of a worker: the handle to its fork server (``forkserver.py``).

A worker keeps one fork server; each task runs in a child forked from it (warm), or
exec'd from it (fresh). The server is a Linux child subreaper where the kernel allows,
so whatever a task leaves behind stays below it. On an interpreter the server does not
know (see ``threadstate``: CPython 3.11-3.13 with the GIL), every task is exec'd fresh,
and the first one says so on stderr (``FALLBACK``).
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pyoneer.machine import proctree
from pyoneer.machine.processes import KILL_GRACE, Watchdog, end_tree, task_marks

if TYPE_CHECKING:
    from pyoneer.machine.streams import TaskOutput

#: said once per process, on stderr, when a task asked to run warm runs fresh instead
FALLBACK = "warm tasks need CPython 3.11-3.13; running fresh"
_said: list[bool] = []


class ForkServer:
    """A worker's warm interpreter (``forkserver.py``): it forks one child per task.

    One task at a time: the worker sends a request and reads the replies in order. The
    server is a subreaper where Linux allows it: what a task leaves behind stays its
    child, so ``leftovers`` tells at a glance whether a task left anything running.
    """

    def __init__(self, python: str = sys.executable) -> None:
        """Start the server under ``python`` (the interpreter that runs its tasks)."""
        script = Path(__file__).with_name("forkserver.py")
        replies, their_end = os.pipe()
        self._process = subprocess.Popen(
            [python, str(script), str(their_end)],
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
        #: whether the server runs tasks warm: False on an interpreter it does not know,
        #: where every task runs fresh (set once it is ready)
        self.warm = False
        #: the environment it preloaded modules with (``preload_env``); None: none yet.
        #: A task of another environment needs a server of its own to preload
        self.preloaded_with: frozenset[tuple[str, str]] | None = None

    def ready(self) -> bool:
        """True once the server has started up (never waits for it)."""
        return self.wait_ready(0)

    def wait_ready(self, timeout: float) -> bool:
        """True once the server is up, waiting up to ``timeout`` seconds; False if it died."""
        if not self._ready and self.alive:
            with contextlib.suppress(ForkServerGone):
                line = self.reply(timeout)
                words = (line or "").split()
                self._ready = words[:1] == ["ready"]
                self.subreaper = "subreaper" in words
                self.warm = self._ready and "fresh" not in words
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
        imports: Path | None = None,
        learn: Sequence[str] = (),
        learning: bool = False,
        output: TaskOutput | None = None,
    ) -> ServedProcess:
        """Run ``argv`` (``python script args``) in a forked child; its handle.

        ``fresh``: the child execs ``argv``, a new interpreter, instead of running the
        script warm (the manager then never forks, and the task's leftovers are still
        the server's to see at a glance). ``imports``: a file where a warm child lists,
        as it ends, the modules under ``cwd`` it imported (see ``imported``).
        ``learn``: modules learned from earlier runs, imported (if safe, see
        ``preloading``) after ``preload``, both with ``env`` less its ``PYONEER_*``
        entries (see ``preload_env``); ``learning``: the child tells what it imported
        from outside the project, and what each cost (``ServedProcess.learned``).
        ``output``: the relay's pipes for the child's stdout and stderr (held until
        this returns), else the child writes ``log`` itself. Raises ``PreloadUnfit``
        when a learned module left the server unfit to fork.
        """
        if not fresh and not self.warm:
            fresh = True  # the server would exec it anyway: not a warm fork to expect
            if not _said:
                _said.append(True)
                print(f"warning: {FALLBACK}", file=sys.stderr)
        log.parent.mkdir(parents=True, exist_ok=True)
        # made here, as a TaskProcess makes its log: where the machine refuses, the worker
        # hears it as an OSError (the child could only exit 1 with no log to say why)
        os.close(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        marks = task_marks(env)
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
        if output is not None:
            request["outputs"] = list(output.paths())
        if not fresh and (preload or learn):
            key = preload_env(env)
            request.update(learn=list(learn), preload_env=dict(key))
            self.preloaded_with = self.preloaded_with or key
        if learning and not fresh:
            request["learning"] = True
        if imports is not None and not fresh:
            request["imports"] = str(imports)
        message = marshal.dumps(request)
        self._process.stdin.write(len(message).to_bytes(4, "big") + message)
        self._process.stdin.flush()
        told, learned, refused = None, None, []
        try:
            line = self.reply(None)
            # a quick child can end before "started" is said
            while line.startswith(("imports", "learned", "preload")):
                if line.startswith("imports"):
                    told = _imports_of(line)
                elif line.startswith("learned"):
                    learned = _learned_of(line)
                else:
                    refused.append(_refusal_of(line))
                line = self.reply(None)
        except ForkServerGone:
            if refused:
                _tell(refused)
                raise PreloadUnfit(tuple(refused)) from None
            raise
        _tell(refused)
        word, pid = line.split()
        if word != "started":
            raise RuntimeError(f"fork server said {word!r}")  # a bug of ours
        served = ServedProcess(self, int(pid), marks, watchdog)
        served.imports = told
        served.learned = learned
        served.refused = tuple(refused)
        return served

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


def imported(path: Path) -> tuple[str, ...]:
    """The modules a warm task listed in ``path`` (see ``ForkServer.spawn``), and the file
    removed; none if it listed nothing (it ended by ``os._exit``, or was killed)."""
    try:
        text = path.read_text("utf-8", "surrogateescape")
    except OSError:
        return ()
    with contextlib.suppress(OSError):
        path.unlink()
    return tuple(line for line in text.split("\n") if line)


def _tell(refused: list[tuple[str, str]]) -> None:
    """Say once per process, on stderr, each learned module not preloaded (the task
    imports it itself, as fresh; the ledger keeps why)."""
    for name, why in refused:
        if name not in _told:
            _told.add(name)
            print(f"warning: not preloading {name}: {why}; its tasks import it themselves", file=sys.stderr)


_told: set[str] = set()


def preload_env(env: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """The environment a task's preloads are imported with: the task's, less the
    ``PYONEER_*`` entries that differ from one task (or member) to the next."""
    return frozenset((name, value) for name, value in env.items() if not name.startswith("PYONEER_"))


def _learned_of(line: str) -> tuple[tuple[str, int], ...]:
    """What a ``learned`` line says: each module imported from outside the project, in
    the order first imported, and its import's cost in microseconds."""
    found = []
    for word in line.split()[1:]:
        name, _, cost = word.rpartition(":")
        if name and cost.isdigit():
            found.append((name, int(cost)))
    return tuple(found)


def _refusal_of(line: str) -> tuple[str, str]:
    """What a ``preload`` line says: a learned module, and why it is not preloaded."""
    _word, name, why = line.split()
    return name, bytes.fromhex(why).decode("utf-8", "replace")


def _imports_of(line: str) -> tuple[str, ...]:
    """The modules an ``imports`` line of the fork server names (paths, in hex)."""
    return tuple(bytes.fromhex(path).decode("utf-8", "surrogateescape") for path in line.split()[1:])


class ForkServerGone(Exception):
    """The fork server died; its tasks are lost with it."""


class PreloadUnfit(ForkServerGone):
    """A learned module left the fork server unfit to fork (a thread, a socket...); the
    server ended. ``refused``: each learned module it did not keep, and why."""

    def __init__(self, refused: tuple[tuple[str, str], ...]) -> None:
        super().__init__("a learned preload left the fork server unfit to fork: " + "; ".join(
            f"{name} {why}" for name, why in refused))
        self.refused = refused


class ServedProcess:
    """One attempt of a task started by the worker's fork server (forked warm, or exec'd)."""

    def __init__(self, server: ForkServer, pid: int, marks: frozenset[bytes], watchdog: Watchdog | None) -> None:
        self._server = server
        self.pid = pid
        self.marks = marks
        self._code: int | None = None
        #: the project's modules a warm child imported, as it said at its end (None: it
        #: did not say here; see ``imported``)
        self.imports: tuple[str, ...] | None = None
        #: the modules from outside the project a warm child imported, in order, with
        #: what each cost (microseconds), as it said at its end (None: it did not say)
        self.learned: tuple[tuple[str, int], ...] | None = None
        #: learned modules its server did not preload for it, and why
        self.refused: tuple[tuple[str, str], ...] = ()
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
            while line is not None and line.startswith(("imports", "learned")):
                # what a warm child imported, told just before the server tells its exit
                if line.startswith("imports"):
                    self.imports = _imports_of(line)
                else:
                    self.learned = _learned_of(line)
                line = self._server.reply(timeout)
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


def spare_fork_server() -> ForkServer | None:
    """A fork server started ahead of need, when there is a core to spare for its start-up."""
    if len(os.sched_getaffinity(0)) < 2:
        return None
    return ForkServer()
