"""Checks shared by the blueprints and the project file: each refuses a bad value with its key.

Every check raises ``ProjectError`` naming the key path of the bad value and, where it
can, a hint (the closest known key, the shape expected).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path

from pyoneer.errors import ProjectError

#: Names of jobs and tasks appear in paths and on the command line (``logs JOB/TASK``).
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def is_positive(value: object) -> bool:
    # "not > 0" rather than "<= 0", so NaN is refused too
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def type_name(value: object) -> str:
    return type(value).__name__


def check_name(value: object, key: str, what: str) -> str:
    if not isinstance(value, str):
        raise ProjectError(f"{what} name must be a string, got {type_name(value)}", key=key)
    if not _NAME.match(value):
        raise ProjectError(
            f"{what} name {value!r} is not valid",
            key=key,
            hint="use letters, digits, '_', '-' and '.', starting with a letter or digit",
        )
    return value


def check_strings(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ProjectError(f"must be a list of strings, got {type_name(value)}", key=key)
    items = tuple(value)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ProjectError(
                f"must be a string, got {type_name(item)} {item!r}",
                key=f"{key}[{index}]",
                hint='quote it, e.g. "3"',
            )
    return items


def _as_table(value: object, key: str, of: str) -> Mapping[object, object]:
    """``value`` as a table: a mapping, or the stored form of one (sorted pairs)."""
    if isinstance(value, tuple):
        with contextlib.suppress(TypeError, ValueError):
            value = dict(value)
    if not isinstance(value, Mapping):
        raise ProjectError(f"must be a table of {of}, got {type_name(value)}", key=key)
    return value


def check_env(value: object, key: str) -> tuple[tuple[str, str], ...]:
    value = _as_table(value, key, "strings")
    for name, setting in value.items():
        if not isinstance(name, str) or not isinstance(setting, str):
            raise ProjectError(
                f"must be a string, got {type_name(setting)} {setting!r}",
                key=f"{key}.{name}",
                hint='quote it, e.g. "1"',
            )
    return tuple(sorted(value.items()))


def check_flag(value: object, key: str) -> None:
    if not isinstance(value, bool):
        raise ProjectError(f"must be true or false, got {value!r}", key=key)


def check_patterns(value: object, key: str) -> tuple[str, ...]:
    """Glob patterns of files inside the project (``outputs``, ``inputs``), each refused with its index."""
    patterns = check_strings(value, key)
    for index, pattern in enumerate(patterns):
        parts = Path(pattern).parts
        if not pattern.strip() or Path(pattern).is_absolute() or ".." in parts:
            raise ProjectError(
                f"{pattern!r} must be a pattern inside the project",
                key=f"{key}[{index}]",
                hint='a path relative to the project root, e.g. "results/*.json"',
            )
    return patterns


def check_script(value: object, key: str = "script") -> str:
    if isinstance(value, PathLike):
        value = str(value)
    if not isinstance(value, str):
        raise ProjectError(f"must be a path string, got {type_name(value)}", key=key)
    if not value.strip():
        raise ProjectError("is empty", key=key, hint='e.g. "extract.py"')
    if Path(value).is_absolute():
        raise ProjectError(
            f"{value!r} is absolute",
            key=key,
            hint="give the path relative to the project root, so the project can move",
        )
    return value


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value: object, key: str) -> int:
    """A size in bytes from a number or a string such as ``"4GB"`` or ``"512 MiB"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value) if isinstance(value, str) else None
    if match and match.group(2).lower() in _UNITS:
        return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise ProjectError(
        f"must be a size such as \"4GB\" or a number of bytes, got {value!r}",
        key=key,
        hint="units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB",
    )


def check_amounts(value: object, key: str) -> tuple[tuple[str, float], ...]:
    value = _as_table(value, key, "amounts")
    for name, amount in value.items():
        if not isinstance(name, str) or not is_positive(amount):
            raise ProjectError(f"must be a positive number, got {amount!r}", key=f"{key}.{name}")
    return tuple(sorted(value.items()))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the choice closest to ``word``, or ``""`` when none is close."""
    import difflib  # only when there is a mistake to explain

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def check_keys(table: Iterable[str], allowed: Iterable[str], key: str = "") -> None:
    """Refuse any key of ``table`` not in ``allowed``, hinting at the closest known key."""
    allowed = list(allowed)
    for name in table:
        if name not in allowed:
            hint = did_you_mean(name, allowed) or f"known keys: {', '.join(allowed)}"
            path = f"{key}.{name}" if key else name
            raise ProjectError("unknown key", key=path, hint=hint)


def toml_key(name: str) -> str:
    """``name`` as TOML writes a key: bare when it can be, quoted otherwise."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)
