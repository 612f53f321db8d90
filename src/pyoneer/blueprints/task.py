"""The task: one Python script, its arguments, environment and limits."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pyoneer.blueprints.checks import (
    check_env,
    check_flag,
    check_name,
    check_script,
    check_strings,
    is_positive,
    type_name,
)
from pyoneer.blueprints.kind import Kind
from pyoneer.blueprints.retry import check_backoff, seconds_of
from pyoneer.errors import ProjectError


@dataclass(frozen=True)
class Task:
    """One Python script: its path (relative to the project root), args, env and limits.

    ``timeout`` is in seconds (``None``: no limit); ``retries`` is how many times a
    failed attempt is tried again. ``env`` is stored as sorted pairs so a task stays
    hashable; ``environment`` gives it back as a dict.
    """

    kind: ClassVar[Kind] = Kind.TASK

    script: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None
    retries: int = 0
    name: str | None = None
    #: run in a fresh interpreter rather than a warm fork (see the README)
    fresh: bool = False
    #: seconds between a failed attempt's end and the next attempt (``"30s"``, ``"2m"`` in a file)
    retry_delay: float = 0.0
    #: each wait is this many times the one before (see ``pyoneer.blueprints.retry``)
    retry_backoff: float = 2.0
    #: the longest wait
    retry_delay_max: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "script", check_script(self.script))
        check_flag(self.fresh, "fresh")
        object.__setattr__(self, "args", check_strings(self.args, "args"))
        object.__setattr__(self, "env", check_env(self.env, "env"))
        if self.timeout is not None and not is_positive(self.timeout):
            raise ProjectError(
                f"must be a positive number of seconds, got {self.timeout!r}",
                key="timeout",
            )
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise ProjectError(
                f"must be a whole number, 0 or more, got {self.retries!r}", key="retries"
            )
        object.__setattr__(self, "retry_delay", seconds_of(self.retry_delay, "retry_delay"))
        object.__setattr__(self, "retry_delay_max", seconds_of(self.retry_delay_max, "retry_delay_max"))
        object.__setattr__(self, "retry_backoff", check_backoff(self.retry_backoff))
        if self.name is not None:
            check_name(self.name, "name", "task")

    @classmethod
    def from_command(cls, command: str) -> Task:
        """A task from a command line such as ``"check.py --strict"`` (split like a shell)."""
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise ProjectError(f"cannot split {command!r}: {exc}") from exc
        if not words:
            raise ProjectError("is empty", hint='write the script path, e.g. "extract.py"')
        return cls(script=words[0], args=tuple(words[1:]))

    @property
    def environment(self) -> dict[str, str]:
        """The task's own environment variables, as a dict."""
        return dict(self.env)

    @property
    def default_name(self) -> str:
        """The name used when none is given: the script's file name without suffix."""
        return self.name or Path(self.script).stem or "task"


def as_task(value: object) -> Task:
    if isinstance(value, Task):
        return value
    if isinstance(value, str):
        return Task.from_command(value)
    raise ProjectError(
        f"must be a Task or a command string, got {type_name(value)}",
        hint='e.g. "extract.py --fast" or { script = "extract.py" }',
    )
