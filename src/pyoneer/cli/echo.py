"""Printing a line for the person at the terminal, whoever reads it and however it ends."""

from __future__ import annotations

import sys


def echo(text: str, err: bool = False) -> None:
    """Print a line to stdout (or stderr); a reader gone away (``| head``) is not an error."""
    stream = sys.stderr if err else sys.stdout
    try:
        stream.write(text + "\n")
        stream.flush()
    except (BrokenPipeError, ValueError):
        pass
