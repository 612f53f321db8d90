"""Parameters: ``[params]`` defaults, overridden from the command line (``-p name=value``).

A parameter is filled into a job's text exactly as a matrix value is (``{epochs}``); it
reaches a task only through what it is filled into, so a job's fingerprint changes
exactly when a parameter it uses changes. A value given as text (from the command line)
is read as a TOML value and must have the type of its default: ``-p epochs=ten`` is
refused when ``epochs = 3``. A string default takes the text as it is.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path

from pyoneer.blueprints.checks import did_you_mean, type_name
from pyoneer.blueprints.matrix import check_key
from pyoneer.blueprints.placeholders import Value, check_value, render
from pyoneer.errors import ProjectError, UsageError


class GivenParams(dict):  # type: ignore[type-arg]
    """Parameters given on the command line, each remembering where: ``origin[name]`` is
    ``"--params FILE"`` for one a file set (``-p`` when absent), so an error names it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.origin: dict[str, str] = {}


def _where(overrides: Mapping[str, object], name: str) -> str | None:
    """``--params FILE`` if the file named in an error set ``name``; None for ``-p``."""
    return getattr(overrides, "origin", {}).get(name)


def resolve_params(table: object, overrides: Mapping[str, object]) -> dict[str, Value]:
    """The ``[params]`` defaults, with ``overrides`` (by name) put in their place."""
    if not isinstance(table, Mapping):
        raise ProjectError(f"must be a table of values, got {type_name(table)}", key="params")
    params: dict[str, Value] = {}
    for name, value in table.items():
        check_key(name, f"params.{name}")
        params[name] = check_value(value, f"params.{name}")
    for name, given in overrides.items():
        if name not in params:
            known = list(params)
            hint = did_you_mean(name, known) or (
                f"known parameters: {', '.join(known)}" if known else "declare it under [params] first"
            )
            where = _where(overrides, name)
            raise UsageError(f"{where}: unknown parameter {name!r}\n  hint: {hint}" if where
                             else f"unknown parameter {name!r} (-p {name}=...)\n  hint: {hint}")
        try:
            params[name] = _typed_as(params[name], given, name)
        except UsageError as exc:
            where = _where(overrides, name)
            if where is None:
                raise
            text = str(exc).replace(f"e.g. -p {name}=", f"in {where.removeprefix('--params ')}: {name} = ")
            raise UsageError(f"{where}: {text}") from None
    return params


def _typed_as(default: Value, given: object, name: str) -> Value:
    """``given`` as a value of the default's type, or a usage error that says what was expected."""
    if isinstance(given, str) and not isinstance(default, str):
        parsed = _parsed_or_none(given)
        given = given if parsed is None else parsed  # text that is no TOML value stays text: refused below
    elif isinstance(given, str):
        parsed = _parsed_or_none(given)
        given = parsed if isinstance(parsed, str) else given  # "quoted" or plain text alike
    if isinstance(default, float) and isinstance(given, int) and not isinstance(given, bool):
        given = float(given)
    if type(given) is not type(default):
        raise UsageError(
            f"parameter {name!r} is {_kind(default)} (default {render(default)}), "
            f"got {_kind(given)} {given!r}\n  hint: e.g. -p {name}={render(default)}"
        )
    return given  # type: ignore[return-value]


def _parsed_or_none(text: str) -> object:
    import tomllib

    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return None


def _kind(value: object) -> str:
    kinds = ((bool, "a boolean"), (int, "a whole number"), (float, "a number"), (str, "a string"),
             (datetime.datetime, "a date and time"), (datetime.date, "a date"), (datetime.time, "a time"))
    for kind, word in kinds:
        if isinstance(value, kind):
            return word
    return type_name(value)


def read_params_file(path: Path) -> dict[str, object]:
    """The parameters of a TOML file (``--params FILE.toml``): ``name = value`` lines."""
    import tomllib

    try:
        with path.open("rb") as stream:
            values = tomllib.load(stream)
    except OSError as exc:
        raise UsageError(f"--params {path}: cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--params {path}: not valid TOML: {exc}") from None
    for name, value in values.items():
        try:
            check_value(value, name)
        except ProjectError as exc:
            raise UsageError(f"--params {path}: {exc}") from None
    return values
