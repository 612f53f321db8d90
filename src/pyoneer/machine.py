"""Where a worker meets the machine: starting a script's process and ending its tree.

Only workers use this module (managers never start processes). Each task runs as
``sys.executable script args`` in a new session, so it and everything it starts share
a session id even after their parents die; ending a task signals that whole session
plus any descendant that left it, first politely (SIGTERM), then for good (SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

#: seconds a task's processes get between SIGTERM and SIGKILL
KILL_GRACE = 3.0


class TaskProcess:
    """One running attempt of a task: a child process whose output goes to a log file."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
    ) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as output:
            self._popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session and process group
            )
        self.pid = self._popen.pid

    def wait(self, timeout: float | None) -> int | None:
        """Wait for the process; its exit code, or ``None`` if ``timeout`` passed first."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def end(self, grace: float = KILL_GRACE) -> int:
        """End the process and every process it started; return its exit code."""
        end_tree(self.pid, lambda: self._popen.poll() is not None, grace)
        return self._popen.wait()

    def sweep(self) -> None:
        """Kill whatever the ended process left running (daemons, stray grandchildren)."""
        _signal_all(_tree(self.pid), signal.SIGKILL)


def python_argv(script: Path, args: Sequence[str]) -> list[str]:
    """The command line that runs ``script`` like ``python script args`` would."""
    return [sys.executable, str(script), *args]


def end_tree(pid: int, ended: Callable[[], bool], grace: float) -> None:
    """SIGTERM the tree of ``pid``; after ``grace`` seconds SIGKILL what is left."""
    members = _tree(pid)
    _signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not (ended() and not _alive(_tree(pid))):
        time.sleep(0.02)
    _signal_all(members | _tree(pid), signal.SIGKILL)


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if _is_running(pid)}


def _is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _tree(leader: int) -> set[int]:
    """Every live process of ``leader``'s session, and every descendant of ``leader``.

    Reads /proc once. Off Linux, falls back to the process group.
    """
    table = _process_table()
    if table is None:
        return _group_fallback(leader)
    members = {pid for pid, (_, session) in table.items() if session == leader}
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


def _process_table() -> dict[int, tuple[int, int]] | None:
    """pid -> (parent pid, session id) for every live (non-zombie) process; None off Linux."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    table = {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if fields[0] != b"Z":
            table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def _group_fallback(leader: int) -> set[int]:
    try:
        os.killpg(leader, 0)
    except OSError:
        return set()
    return {-leader}  # os.kill(-pgid, sig) signals the whole group
