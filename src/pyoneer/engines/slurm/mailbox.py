"""How a Slurm worker and its manager talk: numbered files on the filesystem they share.

Compute nodes see the project's directory, but often cannot open a connection back to
the login node; so nothing listens anywhere. Under the run's directory::

    .pyoneer/runs/<run id>/slurm/
        project.pickle            the project, written once by the manager
        beat                      the manager's heartbeat: rewritten every few seconds
        <worker>/orders/00000001  what the manager asks: a job, or stop
        <worker>/told/00000001    what the worker tells: hello, its events, bye
        <worker>/slurm.out        what Slurm and the batch script printed

Every file is written whole under a temporary name, then renamed into place, so a
reader never sees half of one. A reader opens the next number or finds nothing: one
failed ``open`` a look, no directory listing, no polling storm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: seconds between two looks at a quiet mailbox (each side notices the other within about a second)
LOOK_EVERY = 0.2
#: seconds before the first look after something happened (then twice as long each time)
LOOK_SOON = 0.005


class Pace:
    """How long to wait before the next look at a mailbox: soon after something happened
    (an order sent, a job ended: the answer is likely near), then longer and longer, up to
    ``LOOK_EVERY`` while nothing happens. Short jobs go at the pace of their work, not of
    the looks; a quiet worker costs five failed ``open`` calls a second."""

    def __init__(self) -> None:
        self._wait = LOOK_EVERY

    def hurry(self) -> None:
        """Something happened: look again soon."""
        self._wait = LOOK_SOON

    def next(self) -> float:
        """Seconds to wait before the next look."""
        wait = self._wait
        self._wait = min(wait * 2, LOOK_EVERY)
        return wait


def write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as file:
        file.write(data)
    os.replace(temporary, path)


class Mailbox:
    """One side of a worker's two mailboxes: it sends into one directory, receives from the other."""

    def __init__(self, outgoing: Path, incoming: Path) -> None:
        self._outgoing = outgoing
        self._incoming = incoming
        self._sent = 0
        self._received = 0

    @classmethod
    def of_manager(cls, worker_dir: Path) -> Mailbox:
        """The manager's side of a worker's mailboxes (it sends orders, hears what was told)."""
        return cls(worker_dir / "orders", worker_dir / "told")

    @classmethod
    def of_worker(cls, worker_dir: Path) -> Mailbox:
        """The worker's side (on its node): it tells, and takes orders."""
        return cls(worker_dir / "told", worker_dir / "orders")

    def open(self) -> None:
        """Make both directories (the manager does, before the worker is queued)."""
        self._outgoing.mkdir(parents=True, exist_ok=True)
        self._incoming.mkdir(parents=True, exist_ok=True)

    def send(self, message: dict[str, Any]) -> None:
        """Put ``message`` (a JSON value) in the other side's box, after the ones before it."""
        self._sent += 1
        write_whole(self._outgoing / f"{self._sent:08d}", json.dumps(message).encode())

    def receive(self) -> list[dict[str, Any]]:
        """The messages sent since the last call, in order (none: an empty list)."""
        messages = []
        while True:
            try:
                data = (self._incoming / f"{self._received + 1:08d}").read_bytes()
            except FileNotFoundError:
                return messages
            self._received += 1
            messages.append(json.loads(data))


class Heartbeat:
    """The manager's heartbeat: a counter in a file, rewritten while the manager lives.

    A worker judges silence by its own clock (how long the counter has not changed),
    never by comparing clocks across machines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._count = 0
        self._seen: str | None = None
        self._since = 0.0

    def beat(self) -> None:
        """The manager is alive: change the counter."""
        self._count += 1
        write_whole(self.path, str(self._count).encode())

    def silent_for(self, now: float) -> float:
        """Seconds (by ``now``, a monotonic clock) since the counter last changed."""
        try:
            seen = self.path.read_text()
        except OSError:
            seen = None
        if seen != self._seen or not self._since:
            self._seen, self._since = seen, now
        return now - self._since
