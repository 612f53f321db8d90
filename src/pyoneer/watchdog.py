"""The watchdog: ends a run's task trees when the manager dies, however it dies.

Run as a script by a bare interpreter (``python -E -S watchdog.py``), in a session of
its own, reading lines from its stdin, which is a pipe from the manager:
``+PID MARK...`` a task started (its environment marks, see ``proctree.tree``),
``^PID`` a subreaper (a fork server) whose orphans may be a task's, ``-PID`` it ended. When the pipe closes — the manager ended or was killed, even by
SIGKILL — it kills the tree of every task still listed, and exits.
"""

from __future__ import annotations

import signal
import sys


def watch(lines) -> tuple[dict[int, frozenset[bytes]], frozenset[int]]:  # type: ignore[no-untyped-def]
    """Follow the lines to their end: the tasks still running then, and the subreapers."""
    running: dict[int, frozenset[bytes]] = {}
    adopters: set[int] = set()
    for line in lines:
        words = line.split()
        if words and words[0][:1] == "+":
            running[int(words[0][1:])] = frozenset(word.encode() for word in words[1:])
        elif words and words[0][:1] == "-":
            running.pop(int(words[0][1:]), None)
        elif words and words[0][:1] == "^":
            adopters.add(int(words[0][1:]))
    return running, frozenset(adopters)


def main() -> None:
    """Watch stdin, then kill what is left."""
    from proctree import kill_trees  # beside this file; a bare interpreter finds it there

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end may stop us
    kill_trees(*watch(sys.stdin))


if __name__ == "__main__":
    main()
