"""The watchdog: ends a run's task trees when the manager dies, however it dies.

Run as a script by a bare interpreter (``python -E -S watchdog.py``), in a session of
its own, reading lines from its stdin, which is a pipe from the manager:
``? MARK...`` a task is about to start (its environment marks, see ``proctree.tree``),
``+PID MARK...`` it started, ``-PID`` it ended. When the pipe closes — the manager ended
or was killed, even by SIGKILL — it kills the tree of every task still listed, and every
process carrying the marks of a task announced but never listed (the manager died
between starting it and saying so), and exits.

A node's worker (``--detach``) also says ``* MARK...``: whatever carries these marks,
now or later, is its own, to end with it (a warm task is found by the marks of the fork
server it was forked from, even once its parent is gone); ``^PID START``: the process
that started the worker (a raylet), whose end is the worker's end even if the worker
lingers (a zombie counts as ended); ``@PID START``: the worker's own process, killed
first when that lifeline ends; ``.``: all is ended, exit without killing. Detached, the
watchdog leaves its starter's children at once (it is a grandchild that init adopts):
whatever kills the children of a dying worker process does not take it along.
"""

from __future__ import annotations

import os
import select
import signal
import sys

#: seconds between two looks at the lifelines (only while there are some)
LIFELINE_POLL = 0.5


class Watched:
    """What the lines have said so far (a plain record, for one watchdog)."""

    def __init__(self) -> None:
        self.running: dict[int, frozenset[bytes]] = {}
        self.announced: set[frozenset[bytes]] = set()
        self.owned: set[frozenset[bytes]] = set()
        self.lifelines: dict[int, str] = {}
        self.owner: tuple[int, str] | None = None
        self.done = False

    def take(self, line: str) -> None:
        """Follow one line of the manager's."""
        words = line.split()
        if not words:
            return
        sign, marks = words[0][:1], frozenset(word.encode() for word in words[1:])
        if sign == "?":
            self.announced.add(marks)
        elif sign == "+":
            self.running[int(words[0][1:])] = marks
            self.announced.discard(marks)
        elif sign == "-":
            self.running.pop(int(words[0][1:]), None)
        elif sign == "*" and marks:
            self.owned.add(marks)
        elif sign == "^" and len(words) == 2:
            self.lifelines[int(words[0][1:])] = words[1]
        elif sign == "@" and len(words) == 2:
            self.owner = (int(words[0][1:]), words[1])
        elif sign == ".":
            self.done = True


def follow(fd: int, watched: Watched, lives) -> bool:  # type: ignore[no-untyped-def]
    """Read lines from ``fd`` into ``watched`` until the pipe closes (False) or a lifeline
    ends (True)."""
    pending = b""
    while not watched.done:
        wait = LIFELINE_POLL if watched.lifelines else None
        readable, _, _ = select.select([fd], [], [], wait)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                return False
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                watched.take(line.decode(errors="replace"))
        for pid, start in watched.lifelines.items():
            if not lives(pid, start):  # ended (a zombie too), or its pid is another's by now
                return True
    return False


def main() -> None:
    """Watch stdin, then kill what is left."""
    from proctree import (  # beside this file; a bare interpreter finds it there
        carrying,
        is_running,
        kill_trees,
        signal_all,
        started_at,
    )

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end may stop us
    if "--detach" in sys.argv[1:] and os.fork():
        os._exit(0)  # the starter reaps this one at once; the watchdog goes on, adopted
    watched = Watched()
    cut = follow(sys.stdin.fileno(), watched, lambda pid, start: is_running(pid) and started_at(pid) == start)
    if watched.done:
        return
    if cut and watched.owner is not None and started_at(watched.owner[0]) == watched.owner[1]:
        # its node is gone: the worker, still running, must not tell its tasks' deaths
        # below as their own failures; it is lost, and Ray tells so
        signal_all({watched.owner[0]}, signal.SIGKILL)
    running, announced = watched.running, watched.announced
    kill_trees({**running, **{pid: marks for marks in announced | watched.owned for pid in carrying(marks)}})
    # a second look: a process that forked while the first was taken is seen now
    kill_trees({pid: marks for marks in watched.owned for pid in carrying(marks)})


if __name__ == "__main__":
    main()
