"""How long a failed attempt waits before the next: a delay that grows, with jitter.

Attempt n+1 starts no sooner than ``delay × backoff^(n-1)`` seconds after attempt n
ended, ±10% (so that many members failing at once do not all retry at the same
instant), and never later than ``delay_max`` (10 minutes unless told). A delay of 0, the
default, retries at once, as before.
"""

from __future__ import annotations

import random
import re

from pyoneer.errors import ProjectError

#: the longest wait unless ``retry_delay_max`` says otherwise, in seconds
DELAY_MAX = 600.0

#: how much each wait may differ from its nominal length, either way
JITTER = 0.1

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|m|h)?\s*$")


def seconds_of(value: object, key: str) -> float:
    """A duration as written in a project file: a number of seconds, or ``"30s"``,
    ``"2m"``, ``"1h"``; a ``ProjectError`` naming ``key`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and value == value:
        return float(value)
    found = _DURATION.match(value) if isinstance(value, str) else None
    if found is None:
        raise ProjectError(f"must be a duration, 0 or more: seconds, or e.g. \"30s\", \"2m\", \"1h\"; got {value!r}",
                           key=key)
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def wait_before(attempt: int, delay: float, backoff: float, delay_max: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after attempt number ``attempt`` (1, 2, ...) failed."""
    if delay <= 0:
        return 0.0
    nominal = min(delay * backoff ** (attempt - 1), delay_max)
    jittered = nominal * (1 + (rng or random).uniform(-JITTER, JITTER))
    return min(jittered, delay_max)


def check_backoff(value: object) -> float:
    """A backoff factor: a number, 1 or more (1: the same delay every time)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 1:
        raise ProjectError(f"must be a number, 1 or more, got {value!r}", key="retry_backoff",
                           hint="2 doubles the wait after each failed attempt; 1 keeps it the same")
    return float(value)
