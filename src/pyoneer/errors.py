"""Every error Pyoneer raises on purpose.

The tree::

    PyoneerError                 root; the CLI catches it in one place
    ├── ProjectError             bad project input (file, key path, cause, hint); exit 2
    ├── UsageError               bad command-line use; exit 2
    ├── LedgerError              a ledger that cannot be read, or has no such run; exit 2
    ├── BusyError                the project is being run by another manager; exit 2
    ├── AssignmentError          a pyoneer asked to hold two blueprints at once (a bug)
    └── TransitionError          an impossible change of status (a bug)

Each class builds its own message, so the CLI only prints ``str(error)``.
"""

from __future__ import annotations

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


class BusyError(PyoneerError):
    """Another manager is running this project now; nothing was changed."""


class AssignmentError(PyoneerError):
    """A pyoneer that already holds a blueprint was handed another (1-to-1 rule)."""

    exit_code = 1


class TransitionError(PyoneerError):
    """A status was asked to change in a way the status model forbids."""

    exit_code = 1
