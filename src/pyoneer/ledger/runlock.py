"""One run at a time per project: an exclusive lock on ``.pyoneer/run.lock``.

The lock is an ``flock``, which the kernel drops when its holder dies, so a lock left by
a dead manager is simply taken over. The file holds the holder's pid and run id, to name
them when a second run is refused.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pyoneer.errors import BusyError, MachineError
from pyoneer.ledger.workspace import prepare_workspace, workspace_of

LOCK_FILE = "run.lock"


class RunLock:
    """Held while a manager runs the project rooted at ``root``; ``script``: a single
    script's run, which holds a lock of its own (``run-SCRIPT.lock``), so that two scripts
    side by side in one folder run at once."""

    def __init__(self, root: Path, script: str | None = None) -> None:
        self.root = root
        self.path = workspace_of(root) / (f"run-{script}.lock" if script else LOCK_FILE)
        self._fd: int | None = None

    def acquire(self, run_id: str) -> None:
        """Take the lock, or raise ``BusyError`` naming the running manager."""
        prepare_workspace(self.root)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise MachineError.from_os(exc, "open the run lock", self.path) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").split()
            os.close(fd)
            pid, run = (holder + ["?", "?"])[:2]
            raise BusyError(
                f"{self._what()} is being run now (run {run}, manager pid {pid}); nothing was changed\n"
                f"  hint: wait for it, follow it with 'pyoneer status', or stop it with 'kill {pid}'"
            ) from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {run_id}\n".encode())
        except OSError as exc:
            self.release()
            raise MachineError.from_os(exc, "write the run lock", self.path) from exc

    def _what(self) -> Path:
        base = self.path.parent.parent
        return base / self.path.stem.removeprefix("run-") if self.path.name != LOCK_FILE else base

    def release(self) -> None:
        """Let go of the lock."""
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
