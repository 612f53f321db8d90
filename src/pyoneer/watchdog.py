"""The watchdog: ends a run's task trees when the manager dies, however it dies.

Run as a script by a bare interpreter (``python -E -S watchdog.py``), in a session of
its own, reading lines from its stdin, which is a pipe from the manager:
``+PID MARK...`` a task started (its environment marks, see ``proctree.tree``),
``-PID`` it ended. When the pipe closes — the manager ended or was killed, even by
SIGKILL — it kills the tree of every task still listed, and exits.
"""

from __future__ import annotations

import signal
import sys


def watch(lines) -> dict[int, frozenset[bytes]]:  # type: ignore[no-untyped-def]
    """Follow ``+PID MARK...``/``-PID`` lines to their end; the tasks still running then."""
    running: dict[int, frozenset[bytes]] = {}
    for line in lines:
        words = line.split()
        if words and words[0][:1] == "+":
            running[int(words[0][1:])] = frozenset(word.encode() for word in words[1:])
        elif words and words[0][:1] == "-":
            running.pop(int(words[0][1:]), None)
    return running


def main() -> None:
    """Watch stdin, then kill what is left."""
    from proctree import kill_trees  # beside this file; a bare interpreter finds it there

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end may stop us
    kill_trees(watch(sys.stdin))


if __name__ == "__main__":
    main()
