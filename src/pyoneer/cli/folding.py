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

#: seconds after a line's first showing during which copies from other members are counted
WINDOW = 2.0


@dataclass
class _Seen:
    job: str
    at: float
    copies: int = 0


class Folder:
    """Folds ``(job, line)`` pairs; one per view of a run of several jobs."""

    def __init__(self, window: float = WINDOW) -> None:
        self._window = window
        self._seen: dict[str, _Seen] = {}

    def take(self, lines: Sequence[tuple[str, str]], now: float) -> list[tuple[str, str]]:
        """The lines to show now: each, unless another member showed it within the window."""
        shown = []
        for job, text in lines:
            seen = self._seen.get(text) if text.strip() else None
            if seen is not None and now - seen.at < self._window:
                if seen.job != job:
                    seen.copies += 1
                    continue
            elif text.strip():
                if seen is not None and seen.copies:
                    shown.append(_folded(text, seen))
                self._seen[text] = _Seen(job, now)
            shown.append((job, text))
        return shown

    def due(self, now: float, everything: bool = False) -> list[tuple[str, str]]:
        """The counts of lines whose window has passed (all of them at the run's end)."""
        shown = []
        for text, seen in list(self._seen.items()):
            if everything or now - seen.at >= self._window:
                del self._seen[text]
                if seen.copies:
                    shown.append(_folded(text, seen))
        return shown


def _folded(text: str, seen: _Seen) -> tuple[str, str]:
    return seen.job, f"{text} [repeated {seen.copies}x across members]"
