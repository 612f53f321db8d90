"""Where SQLite meets the machine: connections made alike, and the faults of the machine
(a full disk, a read-only file system, no permission) told apart from those of the file,
becoming ``MachineError`` at this one boundary.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pyoneer.errors import MachineError


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=10, check_same_thread=False)
    configure(db)
    return db


def configure(db: sqlite3.Connection) -> None:
    # These touch the file: a file that is not a database fails here, as DatabaseError.
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA synchronous = NORMAL")


#: SQLite's words for a fault of the machine, not of the file's content
MACHINE_FAULTS = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM", "SQLITE_NOLFS")


def of_the_machine(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "").startswith(MACHINE_FAULTS)


@contextlib.contextmanager
def machine_faults(path: Path, doing: str) -> Iterator[None]:
    """The boundary: errors of the machine about the ledger become ``MachineError``."""
    try:
        yield
    except OSError as exc:
        raise MachineError.from_os(exc, doing, exc.filename or path) from exc
    except sqlite3.Error as exc:
        if not of_the_machine(exc):
            raise
        raise MachineError(path, doing, sqlite_cause(exc), sqlite_hint(exc, path)) from exc


def sqlite_cause(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith("SQLITE_FULL"):
        return "the disk is full"
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM")):
        return "it cannot be written (a read-only file system, or no permission)"
    if name.startswith("SQLITE_CANTOPEN"):
        return "it cannot be opened (no permission, or its directory is gone)"
    return f"{exc} ({name})"


def sqlite_hint(exc: sqlite3.Error, path: Path) -> str:
    if getattr(exc, "sqlite_errorname", "").startswith("SQLITE_FULL"):
        return "free some space there, then run again (--resume keeps what succeeded)"
    return f"check that you may write there: ls -ld {path.parent}"
