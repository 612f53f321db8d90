"""The watchdog: ends a run's task trees when the manager dies, however it dies.

Run as a script by a bare interpreter (``python -E -S watchdog.py``), in a session of
its own, reading lines from its stdin, which is a pipe from the manager:
``+PID`` a task started, ``-PID`` it ended. When the pipe closes — the manager ended
or was killed, even by SIGKILL — it kills the tree of every task still listed, and exits.
"""

from __future__ import annotations

import signal
import sys


def watch(lines) -> set[int]:  # type: ignore[no-untyped-def]
    """Follow ``+PID``/``-PID`` lines to their end; the pids still running then."""
    running: set[int] = set()
    for line in lines:
        line = line.strip()
        if line[:1] == "+":
            running.add(int(line[1:]))
        elif line[:1] == "-":
            running.discard(int(line[1:]))
    return running


def main() -> None:
    """Watch stdin, then kill what is left."""
    from proctree import kill_trees  # beside this file; a bare interpreter finds it there

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end may stop us
    kill_trees(watch(sys.stdin))


if __name__ == "__main__":
    main()
