"""Where a cluster scheduler puts a job: the ``slurm`` tables of the project file.

``[engine.slurm]`` sets the defaults of a run (``partition``, ``account``, ``qos``,
``time``, ``options``, and the run's own ``idle`` and ``max_workers``);
``jobs.NAME.slurm`` overrides the first five for one job. Both are checked here, as the
file is read, so a walltime written wrong is refused with its key before anything is
queued. A job keeps its table as sorted ``(key, value)`` pairs: an immutable value, no
part of what the job computes (its fingerprint).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyoneer.blueprints.checks import check_keys, check_strings, is_positive, type_name
from pyoneer.errors import ProjectError

#: what a job may set (and the engine's table too): what a worker's allocation is asked with
JOB_KEYS = ("partition", "account", "qos", "time", "options")
#: what only ``[engine.slurm]`` sets: how the run keeps its workers
ENGINE_KEYS = (*JOB_KEYS, "idle", "max_workers")

_TIME_HINT = 'Slurm\'s forms: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS", e.g. time = "4:00:00"'
_CLOCK = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def walltime_seconds(text: str, key: str) -> int:
    """The seconds of a Slurm walltime (``"90"`` minutes, ``"1:30:00"``, ``"2-12"``...)."""
    match = _CLOCK.match(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()[1:]):
        raise ProjectError(f"{text!r} is not a walltime", key=key, hint=_TIME_HINT)
    days, first, second, third = (int(part) if part else None for part in match.groups())
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = first, second or 0, third or 0
    elif third is not None:  # HH:MM:SS
        hours, minutes, seconds = first, second, third
    else:  # MM or MM:SS
        hours, minutes, seconds = 0, first, second or 0
    if seconds > 59 or (days is not None or third is not None) and minutes > 59:
        raise ProjectError(f"{text!r} is not a walltime: minutes and seconds go up to 59", key=key, hint=_TIME_HINT)
    total = (((days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise ProjectError(f"{text!r} is no time at all", key=key, hint=_TIME_HINT)
    return total


def check_placement(value: object, key: str, allowed: tuple[str, ...] = JOB_KEYS) -> tuple[tuple[str, Any], ...]:
    """A ``slurm`` table, checked key by key, as sorted pairs (``options`` as a tuple)."""
    if isinstance(value, tuple):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise ProjectError(f"must be a table, got {type_name(value)}", key=key,
                           hint='e.g. slurm = { partition = "gpu", time = "4:00:00" }')
    check_keys(value, allowed, key)
    checked: dict[str, Any] = {}
    for name, item in value.items():
        where = f"{key}.{name}"
        if name == "options":
            checked[name] = check_strings(item, where)
            for index, option in enumerate(checked[name]):
                if not option.startswith("-"):
                    raise ProjectError(f"{option!r} is not an sbatch option", key=f"{where}[{index}]",
                                       hint='write each option whole, e.g. options = ["--constraint=a100"]')
        elif name == "idle":
            if not is_positive(item):
                raise ProjectError(f"must be a positive number of seconds, got {item!r}", key=where)
            checked[name] = float(item)
        elif name == "max_workers":
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                raise ProjectError(f"must be a whole number, 1 or more, got {item!r}", key=where)
            checked[name] = item
        else:
            if not isinstance(item, str) or not item.strip():
                raise ProjectError(f"must be a non-empty string, got {item!r}", key=where)
            if name == "time":
                walltime_seconds(item, where)
            checked[name] = item.strip()
    return tuple(sorted(checked.items()))
