"""The output relay: copies each task's stdout and stderr into its log, and marks which is which.

Run as a script by a bare interpreter (``python -E -S relay.py FD``), in a session of
its own, so that no Ctrl-C on the terminal reaches it. ``FD`` is its end of a
``SOCK_SEQPACKET`` socket pair with the process that started it (``streams.Relay``).
Each message from there is ``open ID INDEX`` carrying three descriptors: the attempt's
log file (open for writing) and the read ends of the pipes that are the task's stdout
and stderr. The relay copies whatever arrives on either pipe to the end of the log, as
it arrives. Before it writes a piece that came from stderr it appends a line
``OFFSET LENGTH`` to the file ``INDEX`` (made on the first such piece): a reader of the
log who has read the index first can always tell each byte's stream. Once both pipes
are closed (the task and all it started have ended) it closes the log and answers
``done ID``, or ``done ID failed: ERRNO`` when the log could not be written (a full disk):
then it drains the pipes into nothing, so a task never waits on a log it cannot have.

It is a process of its own, not a thread of the worker's: a task that prints 30 MB is
copied at the pipe's speed, never held up by the worker's interpreter, busy drawing the
terminal. When its socket closes (its starter ended, even by SIGKILL) it goes on until
every pipe it holds is closed, then exits: a task's last lines still reach its log.

Only stdout and stderr, and only the standard library: it starts in a few milliseconds.
"""

from __future__ import annotations

import _socket  # not socket: its start-up imports (enum, selectors) would double ours
import array
import fcntl
import os
import select
import struct
import sys
import termios

#: the most copied from one pipe at a time (also what a pipe is asked to hold, see streams)
CHUNK = 1 << 20


class _Attempt:
    """One task's two pipes, its log, and where its stderr pieces are listed."""

    def __init__(self, ident: str, index: bytes, log: int) -> None:
        self.ident = ident
        self.index_path = index
        self.index = -1  # made on the first piece from stderr
        self.log = log
        self.offset = 0  # the log's size: the relay is its only writer
        self.open = 2  # pipes not closed yet
        self.failed = ""  # why the log could not be written, once it could not
        self.last = -1  # the pipe read last
        self.behind: set[int] = set()  # pipes that still held bytes after their last read

    def write(self, data: bytes, from_stderr: bool) -> None:
        """Append ``data`` to the log (listing it first if it came from stderr)."""
        if self.failed:
            return
        try:
            if from_stderr:
                if self.index < 0:
                    self.index = os.open(self.index_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
                _write_all(self.index, f"{self.offset} {len(data)}\n".encode())
            _write_all(self.log, data)
        except OSError as exc:
            self.failed = str(exc.errno or 0)
            return
        self.offset += len(data)

    def close(self) -> str:
        """Close the log and the index; the answer for the starter."""
        for fd in (self.log, self.index):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError as exc:  # a network file system may tell a failed write only now
                    self.failed = self.failed or str(exc.errno or 0)
        return f"done {self.ident}" + (f" failed: {self.failed}" if self.failed else "")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main() -> None:
    """Relay until the starter has gone and every pipe is closed."""
    control = _socket.socket(fileno=int(sys.argv[1]))
    poller = select.poll()
    poller.register(control, select.POLLIN)
    pipes: dict[int, tuple[_Attempt, bool]] = {}  # read end: its attempt, whether it is stderr
    listening = True
    while listening or pipes:
        for fd in _in_likely_order(poller.poll(), pipes):
            if fd == control.fileno():
                listening = _take(control, poller, pipes)
                continue
            attempt, from_stderr = pipes[fd]
            try:
                data = os.read(fd, CHUNK)
            except OSError:
                data = b""
            if data:
                attempt.write(data, from_stderr)
                attempt.last = fd
                if _unread(fd):
                    attempt.behind.add(fd)
                else:
                    attempt.behind.discard(fd)
                continue
            poller.unregister(fd)
            os.close(fd)
            del pipes[fd]
            attempt.open -= 1
            if attempt.open == 0:
                answer = attempt.close()
                if listening:
                    try:
                        control.send(answer.encode())
                    except OSError:
                        listening = False


def _in_likely_order(ready: list[tuple[int, int]], pipes: dict[int, tuple[_Attempt, bool]]) -> list[int]:
    """The ready descriptors, each attempt's in the order its task most likely wrote them.

    When both of a task's pipes hold bytes, which came first is lost. What was left in a
    pipe after its last read came first (a task that fills a pipe waits on it before it
    writes anything else); then the stream read last most likely goes on (a task writes
    runs of lines to one stream: results, then the warnings or the traceback of its end);
    else stdout, which a script starts with.
    """
    def rank(fd: int) -> int:
        if fd not in pipes:
            return 0
        attempt, from_stderr = pipes[fd]
        if fd in attempt.behind:
            return 0
        return 1 if fd == attempt.last else 2 + from_stderr

    return sorted((fd for fd, _events in ready), key=rank)


def _unread(fd: int) -> int:
    """How many bytes ``fd`` (a pipe) still holds."""
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def _take(control: _socket.socket, poller: select.poll, pipes: dict[int, tuple[_Attempt, bool]]) -> bool:
    """Read one message from the starter; False once it has gone."""
    fds = array.array("i")
    try:
        message, ancillary, _flags, _address = control.recvmsg(65536, _socket.CMSG_SPACE(3 * fds.itemsize))
    except OSError:
        message, ancillary = b"", []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    if not message:
        for fd in fds:
            os.close(fd)
        poller.unregister(control)
        control.close()
        return False
    word, ident, index = (message.split(b" ", 2) + [b"", b""])[:3]
    if word != b"open" or len(fds) != 3:  # a bug of ours: never leave a task's pipe unread
        for fd in fds:
            os.close(fd)
        return True
    log, stdout, stderr = fds
    attempt = _Attempt(ident.decode(), index, log)
    os.lseek(log, 0, os.SEEK_END)
    attempt.offset = os.lseek(log, 0, os.SEEK_CUR)
    for fd, from_stderr in ((stdout, False), (stderr, True)):
        pipes[fd] = (attempt, from_stderr)
        poller.register(fd, select.POLLIN)
    return True


if __name__ == "__main__":
    main()
