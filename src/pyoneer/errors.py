"""Every error Pyoneer raises on purpose.

The tree::

    PyoneerError                 root; the CLI catches it in one place
    ├── ProjectError             bad project input (file, key path, cause, hint); exit 2
    │   └── ProjectErrors        several at once, each with its key path (a file fixed in one round)
    ├── UsageError               bad command-line use; exit 2
    ├── LedgerError              a ledger that cannot be read, or has no such run; exit 2
    ├── BusyError                the project is being run by another manager; exit 2
    ├── MachineError             the machine refused a file of the project (disk full, permission,
    │                            a file where a directory should be, ...); exit 2 before a run, 1 during
    ├── AssignmentError          a pyoneer asked to hold two blueprints at once (a bug)
    └── TransitionError          an impossible change of status (a bug)

Each class builds its own message, so the CLI only prints ``str(error)``.
"""

from __future__ import annotations

import errno
from pathlib import Path

#: Exit codes of the ``pyoneer`` command; part of the public contract.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class PyoneerError(Exception):
    """Root of every error Pyoneer raises on purpose."""

    exit_code: int = EXIT_INVALID


class ProjectError(PyoneerError):
    """A project description that cannot run: names the file, the key path and the cause.

    ``key`` is a dotted path such as ``jobs.load.tasks[0].timeout``; ``file`` is the file
    the value came from (``None`` for projects built in Python).
    """

    def __init__(
        self,
        message: str,
        *,
        key: str = "",
        file: Path | str | None = None,
        hint: str = "",
    ) -> None:
        self.message = message
        self.key = key
        self.file = Path(file) if file is not None else None
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = [str(self.file)] if self.file is not None else []
        if self.key:
            where.append(self.key)
        text = ": ".join([*where, self.message])
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def within(self, prefix: str = "", *, file: Path | str | None = None) -> ProjectError:
        """The same error seen from an enclosing value: key prefixed, file filled in."""
        key = _join_key(prefix, self.key)
        return ProjectError(
            self.message, key=key, file=self.file or file, hint=self.hint
        )


class ProjectErrors(ProjectError):
    """Every problem found in one project file, so it is fixed in one round.

    ``errors`` are the single errors, in the order of the file; at most ``SHOWN`` are
    printed, then how many more there are. It is a ``ProjectError`` (its first error's
    key and hint), so whoever catches one catches both.
    """

    #: how many problems the message lists
    SHOWN = 20

    def __init__(self, errors: list[ProjectError], file: Path | str | None = None) -> None:
        self.errors = tuple(error.within(file=file) for error in errors)
        first = self.errors[0]
        super().__init__(first.message, key=first.key, file=first.file, hint=first.hint)

    def _render(self) -> str:
        where = f" in {self.errors[0].file}" if self.errors and self.errors[0].file else ""
        lines = [f"{len(self.errors)} problems{where}:"]
        for error in self.errors[: self.SHOWN]:
            head = f"{error.key}: {error.message}" if error.key else error.message
            lines.append("  " + head.replace("\n", "\n  "))
            if error.hint:
                lines.append(f"    hint: {error.hint}")
        if len(self.errors) > self.SHOWN:
            lines.append(f"  ... and {len(self.errors) - self.SHOWN} more")
        return "\n".join(lines)

    def within(self, prefix: str = "", *, file: Path | str | None = None) -> ProjectError:
        """Each error seen from an enclosing value."""
        return ProjectErrors([error.within(prefix, file=file) for error in self.errors])

    @classmethod
    def of(cls, errors: list[ProjectError]) -> ProjectError:
        """One error as itself, several as one ``ProjectErrors`` (flattened)."""
        flat = [single for error in errors for single in (error.errors if isinstance(error, ProjectErrors) else (error,))]
        # two checks may find the same fault (a missing script): say it once
        flat = list({str(error): error for error in flat}.values())
        return flat[0] if len(flat) == 1 else cls(flat)


def _join_key(prefix: str, key: str) -> str:
    if not prefix:
        return key
    if not key:
        return prefix
    return prefix + key if key.startswith("[") else f"{prefix}.{key}"


class UsageError(PyoneerError):
    """The command line was used in a way that cannot work."""


class LedgerError(PyoneerError):
    """The ledger cannot be used: not a Pyoneer ledger, a newer schema, no such run."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(message + (f"\n  hint: {hint}" if hint else ""))


class ClusterError(PyoneerError):
    """The cluster of a submitted run cannot be reached, or refused what was asked."""


class BusyError(PyoneerError):
    """Another manager is running this project now; nothing was changed."""


class AssignmentError(PyoneerError):
    """A pyoneer that already holds a blueprint was handed another (1-to-1 rule)."""

    exit_code = 1


class TransitionError(PyoneerError):
    """A status was asked to change in a way the status model forbids."""

    exit_code = 1


class MachineError(PyoneerError):
    """The machine refused an operation on one of the project's files or directories.

    Names the path, what Pyoneer was doing and the cause in words, with a hint. It is an
    error of the machine, not of the project: before a run it exits 2 (nothing ran);
    once a run has begun, 1 (the run stopped, and what it did is in the ledger).
    """

    def __init__(self, path: Path | str, doing: str, cause: str, hint: str = "", exit_code: int = EXIT_INVALID) -> None:
        self.path = Path(path)
        self.doing = doing
        self.cause = cause
        self.hint = hint
        self.exit_code = exit_code
        text = f"cannot {doing} {self.path}: {cause}"
        if exit_code == EXIT_FAILED:
            text = "the run stopped: " + text
        super().__init__(text + (f"\n  hint: {hint}" if hint else ""))

    @classmethod
    def from_os(cls, exc: OSError, doing: str, path: Path | str | None = None) -> MachineError:
        """The error of the operating system ``exc``, met while doing ``doing`` to ``path``."""
        where = path if path is not None else exc.filename or "?"
        cause, hint = _words_for(exc.errno, exc.strerror or str(exc), where)
        return cls(where, doing, cause, hint)

    def during_run(self) -> MachineError:
        """The same error met once the run had begun (exit 1)."""
        if self.exit_code == EXIT_FAILED:
            return self
        return MachineError(self.path, self.doing, self.cause, self.hint, exit_code=EXIT_FAILED)


def _words_for(number: int | None, strerror: str, path: Path | str) -> tuple[str, str]:
    """The cause of an OS error in words, and what to do about it."""
    if number in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full", "free some space there, then run again (--resume keeps what succeeded)"
    if number in (errno.EACCES, errno.EPERM):
        return "permission denied", f"check who may read and write there: ls -ld {path}"
    if number == errno.EROFS:
        return "the file system is read-only", "run the project from a directory you can write to"
    if number in (errno.EEXIST, errno.ENOTDIR):
        return "a file stands where a directory should be", "move that file away, then run again"
    if number == errno.ENOENT:
        return "it does not exist (was it removed?)", ""
    if number == errno.EISDIR:
        return "it is a directory", ""
    return strerror, ""
