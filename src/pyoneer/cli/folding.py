"""Identical lines from many members, folded into one with a count, as Ray does.

A sweep of forty members that each print "loading data" would fill the screen with
forty copies. The first is shown at once, under its member's name; copies from other
members within ``WINDOW`` seconds are counted instead, and the count is shown once the
window has passed: ``loading data [repeated 39x across members]``. A member repeating
its own line is its output and is never folded. Logs keep every byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyoneer.cli.echo import Line

#: seconds after a line's first showing during which copies from other members are counted
WINDOW = 2.0


@dataclass
class _Seen:
    job: str
    at: float
    copies: int = 0


class Folder:
    """Folds lines ``(job, text, from_stderr)``; one per view of a run of several jobs.

    A line on stderr and the same text on stdout are two lines: each stays on its stream.
    """

    def __init__(self, window: float = WINDOW) -> None:
        self._window = window
        self._seen: dict[tuple[str, bool], _Seen] = {}

    def take(self, lines: Sequence[Line], now: float) -> list[Line]:
        """The lines to show now: each, unless another member showed it within the window."""
        shown = []
        for job, text, from_stderr in lines:
            key = (text, from_stderr)
            seen = self._seen.get(key) if text.strip() else None
            if seen is not None and now - seen.at < self._window:
                if seen.job != job:
                    seen.copies += 1
                    continue
            elif text.strip():
                if seen is not None and seen.copies:
                    shown.append(_folded(key, seen))
                self._seen[key] = _Seen(job, now)
            shown.append((job, text, from_stderr))
        return shown

    def due(self, now: float, everything: bool = False) -> list[Line]:
        """The counts of lines whose window has passed (all of them at the run's end)."""
        shown = []
        for key, seen in list(self._seen.items()):
            if everything or now - seen.at >= self._window:
                del self._seen[key]
                if seen.copies:
                    shown.append(_folded(key, seen))
        return shown


def _folded(key: tuple[str, bool], seen: _Seen) -> Line:
    text, from_stderr = key
    return seen.job, f"{text} [repeated {seen.copies}x across members]", from_stderr
