"""Process trees on Linux, read from /proc: who belongs to a task, and ending them.

Dependency-free on purpose: the watchdog runs this module with a bare interpreter.
A task runs in a session of its own, so its processes keep its session id even after
their parents die; a tree is that session plus every descendant of the leader.
"""

from __future__ import annotations

import os
import signal


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name, or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def is_running(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie is not)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != b"Z"


def started_at(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot: with the pid, a process's identity."""
    fields = stat_fields(pid)
    return fields[19].decode() if fields is not None else None


def tree(leader: int, marks: frozenset[bytes] = frozenset(), adopters: frozenset[int] = frozenset()) -> set[int]:
    """Every live process of ``leader``'s session, and every descendant of ``leader``.

    With ``marks`` (``NAME=value`` environment entries that the leader was started
    with), also the orphans that left the session (``setsid``, then their parent died)
    but still carry those entries: children of init, of this process, or of one of
    ``adopters`` (subreapers such as a fork server). Reads /proc once. Off Linux, falls
    back to the process group (as ``-leader``).
    """
    table = _process_table()
    if table is None:
        return {-leader}  # os.kill(-pgid, sig) signals the whole group
    members = {pid for pid, (_, session) in table.items() if session == leader}
    if marks:
        members |= _marked_orphans(table, marks, adopters)
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    stack = [leader, *members]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in members:
                members.add(child)
                stack.append(child)
    if leader in table:
        members.add(leader)
    return members


def _marked_orphans(
    table: dict[int, tuple[int, int]], marks: frozenset[bytes], adopters: frozenset[int]
) -> set[int]:
    # Orphans are adopted by init or by a "subreaper" ancestor: only those are looked at,
    # so the environment of every process on the machine need not be read.
    adopters = {1, os.getpid(), *adopters}
    found = set()
    for pid, (parent, _) in table.items():
        # never this process: a node's watchdog carries the marks it ends, and is an orphan
        if parent in adopters and pid != os.getpid() and marks <= _environment(pid):
            found.add(pid)
    return found


def carrying(marks: frozenset[bytes]) -> set[int]:
    """Every live process (but this one) whose environment holds all of ``marks``.

    Reads the environment of every process it may read: for rare moments only.
    """
    if not marks:
        return set()
    table = _process_table() or {}
    return {pid for pid in table if pid != os.getpid() and marks <= _environment(pid)}


def _environment(pid: int) -> set[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return set(environ.read().split(b"\0"))
    except OSError:
        return set()


def alive(pids: set[int]) -> set[int]:
    """The ones of ``pids`` still running."""
    return {pid for pid in pids if pid < 0 or is_running(pid)}


def signal_all(pids: set[int], signum: int) -> None:
    """Send ``signum`` to each of ``pids``, ignoring those already gone."""
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def kill_trees(leaders: dict[int, frozenset[bytes]]) -> None:
    """SIGKILL the whole tree of each leader (mapped to its environment marks)."""
    doomed: set[int] = set()
    for leader, marks in leaders.items():
        doomed |= tree(leader, marks)
    signal_all(doomed, signal.SIGKILL)


def children(pid: int) -> set[int] | None:
    """The children of ``pid`` (its main thread's), or ``None`` where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as listing:
            return {int(child) for child in listing.read().split()}
    except (OSError, ValueError):
        return None


def _process_table() -> dict[int, tuple[int, int]] | None:
    """pid -> (parent pid, session id) for every live (non-zombie) process; None off Linux."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    table = {}
    for entry in entries:
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields is not None and fields[0] != b"Z":
                table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table
