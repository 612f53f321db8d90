"""The stream of a submitted run: numbered lines, each a JSON object, on its job's output.

A line is ``@pyoneer <n> <json>``: ``n`` counts from 1 and never repeats, so a reader
that remembers the last number it applied can read the whole output again, after any
break, and apply each line once. The output also holds what Ray and Python print
there; text without the prefix, and a last line not yet ended, are not part of it.

Kinds (``k``): ``run`` (the run's outline, first), ``rows`` (ledger rows, as
``ledger.journal`` tells them), ``log`` (bytes of a task's log at an offset), ``event``
(an event, as ``pyoneers.wire`` tells it), ``say`` (a message), ``end`` (the result and
exit code, last) and ``error`` (the run could not start or go on: message, exit code).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

PREFIX = "@pyoneer "


class Line(NamedTuple):
    """One line of the stream: its number and what it says."""

    number: int
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        """What the line tells: run, rows, log, event, say, end or error."""
        return self.data["k"]


def line(number: int, kind: str, **data: Any) -> str:
    """The text of line ``number`` (ASCII only: bytes that are not UTF-8 are escaped)."""
    return f"{PREFIX}{number} {json.dumps({'k': kind, **data}, separators=(',', ':'))}\n"


def lines(output: str, after: int = 0) -> Iterator[Line]:
    """The stream's lines in ``output`` numbered above ``after``, in order."""
    ended = output.rfind("\n")
    for text in output[: ended + 1].splitlines():
        start = text.find(PREFIX)  # after what else began that line without ending it
        if start < 0:
            continue
        number, _, body = text[start + len(PREFIX):].partition(" ")
        if not number.isdigit() or int(number) <= after:
            continue
        try:
            data = json.loads(body)
        except ValueError:
            continue  # a line cut by something else writing into the same output
        yield Line(int(number), data)


def as_text(data: bytes) -> str:
    """Log bytes as a JSON-safe string that gives back the same bytes (``as_bytes``)."""
    return data.decode("utf-8", "surrogateescape")


def as_bytes(text: str) -> bytes:
    """The bytes that ``as_text`` told."""
    return text.encode("utf-8", "surrogateescape")


def first_number(output: str) -> int | None:
    """The number of the first line of the stream in ``output`` (None: it has none)."""
    start = 0
    while (start := output.find(PREFIX, start)) >= 0:
        number = output[start + len(PREFIX):].partition(" ")[0]
        if number.isdigit():
            return int(number)
        start += len(PREFIX)
    return None
