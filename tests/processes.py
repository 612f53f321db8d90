"""The one home of the tests' process tracking, read from /proc: who is alive, who
descends from whom, when a process started, what it runs.

The product has its own (``pyoneer.machine.proctree``); the tests read /proc for
themselves, so that a bug there cannot hide from them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from conftest import wait_until


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def is_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie counts as dead)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != b"Z"


def alive(pids: Iterable[int]) -> list[int]:
    """The ones of ``pids`` still alive."""
    return [pid for pid in pids if is_alive(pid)]


def all_gone(pids: Iterable[int], timeout: float) -> bool:
    """True once none of ``pids`` is alive, polling up to ``timeout`` seconds."""
    pids = list(pids)
    return wait_until(lambda: not alive(pids), timeout)


def started_at(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot): with the pid, a process's identity."""
    fields = stat_fields(pid)
    return fields[19].decode() if fields is not None else None


def parents() -> dict[int, int]:
    """Every process's parent, now."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields is not None:
                found[int(entry)] = int(fields[1])
    return found


def descendants(pid: int) -> dict[int, str | None]:
    """Every live descendant of ``pid`` now (children, grandchildren...), with its start time."""
    children: dict[int, list[int]] = {}
    for child, parent in parents().items():
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {child: started_at(child) for child in found if is_alive(child)}


def command_line(pid: int) -> str:
    """What ``pid`` runs, as one line ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
