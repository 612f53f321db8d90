"""Placeholders: ``{key}`` in a job's text, filled with a matrix value or a parameter.

``{key}`` (a name in braces) is replaced by the value, written as TOML writes it
(``0.1``, ``true``, ``sea``); ``{{`` and ``}}`` are literal braces. Braces that do not
form a placeholder, such as a JSON argument (``{"a": 1}``), are left as they are. A
placeholder that names nothing known is refused, with the key path and a hint.

A matrix value may be a table (``{ name = "ubuntu", version = "22.04" }``), as GitHub's
objects: ``{os.name}`` fills in one of its fields, and ``{os}`` the whole table as
compact JSON (what a script can parse). In a member's name a table reads
``{name=ubuntu,version=22.04}``.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pyoneer.blueprints.checks import did_you_mean, type_name
from pyoneer.errors import ProjectError



class Table(Mapping[str, Any]):
    """A matrix value that is a table, as GitHub's objects: read-only, hashable (a job
    holding it stays a value), its fields in the order written; lists inside are tuples."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, Any]]) -> None:
        self._fields = dict(fields)

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __hash__(self) -> int:
        return hash(tuple(self._fields.items()))

    def __repr__(self) -> str:
        return f"Table({self._fields!r})"


#: what a parameter may be: a TOML scalar; a matrix value may also be a table (or a list)
Value = str | int | float | bool | datetime.date | datetime.datetime | datetime.time | Table | tuple

#: ``{name}`` or ``{name.field.field}`` (a table's field)
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\}")
_SCALARS = (str, int, float, bool, datetime.date, datetime.datetime, datetime.time)


def check_value(value: object, key: str) -> Value:
    """``value`` if it is a TOML scalar (a string, number, boolean or date), else refuse it."""
    if not isinstance(value, _SCALARS):
        raise ProjectError(
            f"must be a string, a number, a boolean or a date, got {type_name(value)}", key=key
        )
    return value


def check_matrix_value(value: object, key: str) -> Value:
    """``value`` as a matrix value: a TOML scalar, or a table (or list) of them, made
    read-only; anything else is refused."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return Table((name, check_matrix_value(item, f"{key}.{name}")) for name, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(check_matrix_value(item, f"{key}[{index}]") for index, item in enumerate(value))
    raise ProjectError(f"must be a string, a number, a boolean, a date or a table, got {type_name(value)}", key=key)


def render(value: Value) -> str:
    """``value`` as TOML writes it: ``0.1``, ``true``, ``sea``, ``2026-01-01``; a table
    as ``{name=ubuntu,version=22.04}`` and a list as ``[a,b]``."""
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{name}={render(item)}" for name, item in value.items()) + "}"
    if isinstance(value, tuple):
        return "[" + ",".join(render(item) for item in value) + "]"
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
        base, *fields = name.split(".")
        if base not in values:
            known = list(values)
            hint = did_you_mean(base, known) or (
                f"known names: {', '.join(known)}" if known else "add it to the job's matrix or to [params]"
            )
            raise ProjectError(
                f"{{{name}}} names no matrix key or parameter", key=key,
                hint=hint + "; write {{ and }} for literal braces",
            )
        value = field_of(values[base], fields, name, key)
        # a whole table (or list) fills in as JSON: the form a script can read back
        return json.dumps(_jsonable(value), separators=(",", ":"), ensure_ascii=False) if isinstance(value, (Mapping, tuple)) else render(value)

    return _TOKEN.sub(replace, text)


def field_of(value: Value, fields: list[str], name: str, key: str | None) -> Value:
    """The field that ``fields`` (``["name"]`` of ``{os.name}``) reach inside ``value``."""
    for at, field in enumerate(fields):
        reached = ".".join([name.split(".")[0], *fields[:at]])
        if not isinstance(value, Mapping):
            raise ProjectError(f"{{{name}}}: {reached} is {render(value)}, not a table with fields", key=key)
        if field not in value:
            hint = did_you_mean(field, list(value)) or f"its fields: {', '.join(value)}"
            raise ProjectError(f"{{{name}}}: {reached} has no field {field!r}", key=key, hint=hint)
        value = value[field]
    return value


def names_in(text: str) -> set[str]:
    """The names of the placeholders in ``text``, a field's table for ``{os.name}``
    (``{{`` and ``}}`` are no placeholders)."""
    return {match.group(1).split(".")[0] for match in _TOKEN.finditer(text) if match.group(1)}


def as_json(values: Mapping[str, Value]) -> dict[str, object]:
    """``values`` as JSON can hold them: numbers, booleans and strings as they are, tables
    as objects, lists as arrays, dates as text."""
    return {name: _jsonable(value) for name, value in values.items()}


def _jsonable(value: Value) -> Any:
    if isinstance(value, Mapping):
        return {name: _jsonable(item) for name, item in value.items()}
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value if isinstance(value, (str, int, float, bool)) else render(value)
