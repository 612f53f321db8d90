"""The watchdog: ends a run's task trees when the manager dies, however it dies.

Run as a script by a bare interpreter (``python -E -S watchdog.py``), in a session of
its own, reading lines from its stdin, which is a pipe from the manager:
``? MARK...`` a task is about to start (its environment marks, see ``proctree.tree``),
``+PID MARK...`` it started, ``-PID`` it ended. When the pipe closes — the manager ended
or was killed, even by SIGKILL — it kills the tree of every task still listed, and every
process carrying the marks of a task announced but never listed (the manager died
between starting it and saying so), and exits.
"""

from __future__ import annotations

import signal
import sys


def watch(lines) -> tuple[dict[int, frozenset[bytes]], set[frozenset[bytes]]]:  # type: ignore[no-untyped-def]
    """Follow the lines to their end: the tasks still running then, and those announced only."""
    running: dict[int, frozenset[bytes]] = {}
    announced: set[frozenset[bytes]] = set()
    for line in lines:
        words = line.split()
        if not words:
            continue
        sign, marks = words[0][:1], frozenset(word.encode() for word in words[1:])
        if sign == "?":
            announced.add(marks)
        elif sign == "+":
            running[int(words[0][1:])] = marks
            announced.discard(marks)
        elif sign == "-":
            running.pop(int(words[0][1:]), None)
    return running, announced


def main() -> None:
    """Watch stdin, then kill what is left."""
    from proctree import (  # beside this file; a bare interpreter finds it there
        carrying,
        kill_trees,
    )

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end may stop us
    running, announced = watch(sys.stdin)
    kill_trees({**running, **{pid: marks for marks in announced for pid in carrying(marks)}})


if __name__ == "__main__":
    main()
