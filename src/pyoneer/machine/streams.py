"""A task's stdout and stderr, kept apart in one log: the relay that writes it, and its reading.

A log holds every byte a task wrote, in the order the relay received it (``relay.py``).
Beside it, ``index_path(log)`` lists the pieces that came from stderr, written before
the pieces themselves: whoever reads the index, then the log, knows each byte's stream
(``StderrPieces``). A task that writes no stderr gets no index.

Order within each stream is exact. Across the two streams it is the order in which the
pieces reached the relay: a line written to stdout a few microseconds before one to
stderr may land after it, as with ``docker logs`` or Ray's. Where the relay cannot be
had, a task writes its log itself, both streams in one (no index), as it always did.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import _socket  # not socket: its start-up imports would lengthen every run's
import array
import subprocess
import sys
import threading
from pathlib import Path

#: seconds a worker waits, once an attempt has ended and its leftovers are swept, for
#: the relay to have put its last bytes in the log
DRAIN_TIMEOUT = 5.0

#: what each pipe is asked to hold, so that a burst of output rarely makes a task wait
PIPE_SIZE = 1 << 20

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def index_path(log: Path) -> Path:
    """Where the relay lists the pieces of ``log`` that came from stderr."""
    return log.with_suffix(".stderr-index")


class TaskOutput:
    """The write ends of one attempt's stdout and stderr pipes, until its task holds them."""

    def __init__(self, ident: str, stdout: int, stderr: int, log: Path) -> None:
        self.ident = ident
        self.stdout = stdout
        self.stderr = stderr
        self.log = log

    def paths(self) -> tuple[str, str]:
        """Both write ends as another process of this user can open them (Linux)."""
        return f"/proc/{os.getpid()}/fd/{self.stdout}", f"/proc/{os.getpid()}/fd/{self.stderr}"

    def close(self) -> None:
        """Let go of the write ends: once the task (and all it started) has too, the
        relay sees both pipes end."""
        for fd in (self.stdout, self.stderr):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.stdout = self.stderr = -1


class Relay:
    """This process's output relay (``relay.py``): started with the first attempt that
    needs it, shared by every worker of the process, sent away by ``close``."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: _socket.socket | None = None
        self._answers: dict[str, str] = {}
        self._count = 0
        self._gone = False

    def open(self, log: Path) -> TaskOutput | None:
        """Make ``log`` (empty) and the pipes of an attempt that writes to it.

        ``None`` when there is no relay to be had: the task then writes its log itself.
        Raises ``OSError`` when the log cannot be made, as it did when the task made it.
        """
        log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        read_ends: list[int] = []
        try:
            control, ident = self._next()
            if control is None:
                return None
            out_read, out_write = os.pipe()
            err_read, err_write = os.pipe()
            read_ends = [out_read, err_read]
            for end in (out_write, err_write):
                with contextlib.suppress(OSError):  # a user over the kernel's pipe quota keeps 64 kB
                    fcntl.fcntl(end, _F_SETPIPE_SZ, PIPE_SIZE)
            message = b"open %s %s" % (ident.encode(), os.fsencode(index_path(log)))
            try:
                control.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                             array.array("i", [fd, out_read, err_read]))])
            except OSError:
                self._lost()
                for end in (out_write, err_write):
                    os.close(end)
                return None
            return TaskOutput(ident, out_write, err_write, log)
        finally:
            for end in (fd, *read_ends):  # the relay holds its own copies now
                os.close(end)

    def wait(self, output: TaskOutput, timeout: float = DRAIN_TIMEOUT) -> OSError | None:
        """Wait until the relay has put all of ``output``'s bytes in its log.

        ``None`` when it has (or the wait gave up: the relay goes on, late bytes still
        reach the log); else the error that kept the log from being written.
        """
        output.close()
        with self._lock:
            self._lock.wait_for(lambda: output.ident in self._answers or self._gone, timeout)
            answer = self._answers.pop(output.ident, "")
        _word, _, failed = answer.partition(" failed: ")
        if not failed.isdigit():
            return None
        return OSError(int(failed), os.strerror(int(failed)), str(output.log))

    def close(self, timeout: float = 2.0) -> None:
        """Send the relay away; it ends once every pipe it holds has closed (at once,
        when every attempt has ended), or is killed after ``timeout`` seconds. Never
        waited for here: a run's end is not held up by it."""
        with self._lock:
            control, self._control = self._control, None
            process, self._process = self._process, None
        if control is not None:
            with contextlib.suppress(OSError):
                control.shutdown(_socket.SHUT_RDWR)
            control.close()
        if process is not None:
            threading.Thread(target=_reap, args=(process, timeout), name="pyoneer-relay-end", daemon=True).start()

    def start(self) -> None:
        """Start the relay now, ahead of the first attempt (else that attempt starts it)."""
        with self._lock:
            self._started()

    def _next(self) -> tuple[_socket.socket | None, str]:
        """The socket to the relay (started now if need be) and a new attempt's number."""
        with self._lock:
            if not self._started():
                return None, ""
            self._count += 1
            return self._control, str(self._count)

    def _started(self) -> bool:
        if self._control is None and not self._gone:
            try:
                self._start()
            except OSError:  # no process to be had: tasks write their logs themselves
                self._gone = True
        return self._control is not None and not self._gone

    def _start(self) -> None:
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-E", "-S", str(Path(__file__).with_name("relay.py")), str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # Ctrl-C on the terminal must not reach it
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._control = ours
        threading.Thread(target=self._listen, args=(ours,), name="pyoneer-relay", daemon=True).start()

    def _listen(self, control: _socket.socket) -> None:
        """Take the relay's answers as they come, for whoever waits on them."""
        while True:
            try:
                answer = control.recv(4096)
            except OSError:
                answer = b""
            with self._lock:
                if not answer:
                    if control is self._control:  # not sent away: lost
                        self._gone = True
                    self._lock.notify_all()
                    return
                text = answer.decode("utf-8", "replace")
                self._answers[text.split(" ", 2)[1]] = text
                self._lock.notify_all()

    def _lost(self) -> None:
        with self._lock:
            self._gone = True
            self._lock.notify_all()


def _reap(process: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:  # a pipe some stray process still holds
        process.kill()
        process.wait()


#: a relay started ahead of need (``spare_relay``), for the first engine that wants one
_SPARE: list[Relay] = []


def spare_relay() -> None:
    """Start this process's relay now, ahead of the run that will take it (``take_relay``)."""
    relay = Relay()
    relay.start()
    _SPARE[:] = [relay]


def take_relay() -> Relay:
    """The relay started ahead of need, if there is one; else a new one (started)."""
    relay = _SPARE.pop() if _SPARE else Relay()
    relay.start()
    return relay


class StderrPieces:
    """Which bytes of a log came from stderr, as its index lists them.

    Call ``refresh`` before reading the log: every byte read afterwards is then covered.
    """

    def __init__(self, log: Path) -> None:
        self._path = index_path(log)
        self._file = None
        self._partial = b""
        self._pieces: list[tuple[int, int]] = []  # (start, end), in order

    def refresh(self) -> None:
        """Read what the index gained since the last look."""
        if self._file is None:
            try:
                self._file = self._path.open("rb")
            except OSError:  # no stderr yet
                return
        data = self._partial + self._file.read()
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            start, _, length = line.partition(b" ")
            with contextlib.suppress(ValueError):
                self._pieces.append((int(start), int(start) + int(length)))

    def split(self, offset: int, data: bytes) -> list[tuple[bool, bytes]]:
        """``data``, read from the log at ``offset``, cut into runs of one stream each:
        ``(True, bytes)`` for stderr, ``(False, bytes)`` for stdout."""
        runs: list[tuple[bool, bytes]] = []
        end = offset + len(data)
        at = offset
        while self._pieces and self._pieces[0][1] <= at:
            self._pieces.pop(0)  # behind us: read, or skipped
        for start, stop in self._pieces:
            if start >= end:
                break
            if start > at:
                runs.append((False, data[at - offset:start - offset]))
                at = start
            cut = min(stop, end)
            runs.append((True, data[at - offset:cut - offset]))
            at = cut
        if at < end:
            runs.append((False, data[at - offset:]))
        return runs

    def close(self) -> None:
        """Let go of the index."""
        if self._file is not None:
            self._file.close()
            self._file = None
