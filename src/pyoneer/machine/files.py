"""The state of files on this machine: size, modification time and a hash of the contents.

What ``--resume`` compares to tell whether a job's inputs, modules and outputs are as
they were. Size and modification time (in nanoseconds) are the fast path: when both are
what was recorded, the recorded hash is believed and the file is not read; only a file
whose size or time changed is hashed, so a touched but unchanged file still counts as
unchanged.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

try:  # the interpreter's own SHA-256: hashlib's first import loads OpenSSL, ~2 ms of every run
    from _sha256 import sha256  # Python 3.11
except ImportError:  # pragma: no cover - other Pythons
    try:
        from _sha2 import sha256  # Python 3.12 and newer
    except ImportError:
        from hashlib import sha256

_CHUNK = 1 << 20


class FileState(NamedTuple):
    """One file as it was seen: its size in bytes, modification time in ns, contents' sha256."""

    size: int
    mtime_ns: int
    sha256: str

    def same(self, other: FileState | None) -> bool:
        """True when ``other`` has the same contents (the hash decides; the times may differ)."""
        return other is not None and other.size == self.size and other.sha256 == self.sha256


def state_of(path: Path, known: FileState | None = None) -> FileState | None:
    """``path``'s state now, or ``None`` if it is not a file; ``known`` (what was seen
    before) spares reading it when its size and time are unchanged. ``OSError`` other
    than a missing file is raised (the caller names what it was doing)."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    if known is not None and known.size == info.st_size and known.mtime_ns == info.st_mtime_ns:
        return known
    return FileState(info.st_size, info.st_mtime_ns, _digest(path))


def states(root: Path, paths: Iterable[str], known: Mapping[str, FileState] | None = None) -> dict[str, FileState]:
    """The state of each of ``paths`` (relative to ``root``) that is a file; missing ones are left out."""
    known = known or {}
    found: dict[str, FileState] = {}
    for path in paths:
        state = state_of(root / path, known.get(path))
        if state is not None:
            found[path] = state
    return found


def matching(root: Path, patterns: Iterable[str]) -> list[str]:
    """The files under ``root`` that match any of the glob ``patterns``, relative, sorted."""
    found: set[str] = set()
    prefix = len(str(root).rstrip("/")) + 1
    for pattern in patterns:
        for path in root.glob(pattern):
            if path.is_file():
                found.add(str(path)[prefix:])
    return sorted(found)


def _digest(path: Path) -> str:
    digest = sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

