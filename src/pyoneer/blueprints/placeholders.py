"""Placeholders: ``{key}`` in a job's text, filled with a matrix value or a parameter.

``{key}`` (a name in braces) is replaced by the value, written as TOML writes it
(``0.1``, ``true``, ``sea``); ``{{`` and ``}}`` are literal braces. Braces that do not
form a placeholder, such as a JSON argument (``{"a": 1}``), are left as they are. A
placeholder that names nothing known is refused, with the key path and a hint.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping

from pyoneer.blueprints.checks import did_you_mean, type_name
from pyoneer.errors import ProjectError

#: what a matrix value or a parameter may be: a TOML scalar
Value = str | int | float | bool | datetime.date | datetime.datetime | datetime.time

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_-]*)\}")
_SCALARS = (str, int, float, bool, datetime.date, datetime.datetime, datetime.time)


def check_value(value: object, key: str) -> Value:
    """``value`` if it is a TOML scalar (a string, number, boolean or date), else refuse it."""
    if not isinstance(value, _SCALARS):
        raise ProjectError(
            f"must be a string, a number, a boolean or a date, got {type_name(value)}", key=key
        )
    return value


def render(value: Value) -> str:
    """``value`` as TOML writes it: ``0.1``, ``true``, ``sea``, ``2026-01-01``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def fill(text: str, values: Mapping[str, Value], key: str) -> str:
    """``text`` with every ``{name}`` replaced by its value and ``{{``/``}}`` by a brace."""
    if "{" not in text and "}" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        if name not in values:
            known = list(values)
            hint = did_you_mean(name, known) or (
                f"known names: {', '.join(known)}" if known else "add it to the job's matrix or to [params]"
            )
            raise ProjectError(
                f"{{{name}}} names no matrix key or parameter", key=key,
                hint=hint + "; write {{ and }} for literal braces",
            )
        return render(values[name])

    return _TOKEN.sub(replace, text)


def names_in(text: str) -> set[str]:
    """The names of the placeholders in ``text`` (``{{`` and ``}}`` are no placeholders)."""
    return {match.group(1) for match in _TOKEN.finditer(text) if match.group(1)}


def as_json(values: Mapping[str, Value]) -> dict[str, object]:
    """``values`` as JSON can hold them: numbers, booleans and strings as they are, dates as text."""
    return {
        name: value if isinstance(value, (str, int, float, bool)) else render(value)
        for name, value in values.items()
    }
