"""Printing a line for the person at the terminal, whoever reads it and however it ends."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

#: a task's line as a view gets it: its job's name, its text, whether it came from stderr
Line = tuple[str, str, bool]


def echo(text: str, err: bool = False) -> None:
    """Print a line to stdout (or stderr); a reader gone away (``| head``) is not an error."""
    stream = sys.stderr if err else sys.stdout
    try:
        stream.write(text + "\n")
        stream.flush()
    except (BrokenPipeError, ValueError):
        pass


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed or odd one is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def plain_lines(lines: Sequence[Line], prefixed: bool) -> str:
    """Tasks' lines as plain text: as they are, or each headed ``job | ``."""
    if prefixed:
        return "".join(f"{job} | {text}\n" for job, text, _from_stderr in lines)
    return "".join(f"{text}\n" for _job, text, _from_stderr in lines)


def write_stderr(text: str, stream: TextIO | None = None) -> None:
    """Write tasks' stderr lines on ours, or ``stream`` (a reader gone away silences it)."""
    stream = sys.stderr if stream is None else stream
    try:
        stream.write(text)
        stream.flush()
    except (BrokenPipeError, ValueError, AttributeError):
        pass
