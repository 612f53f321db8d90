"""What the command line gives, read into values: ``-p``/``--params``, ``--gpus``,
``--resource`` and ``-m``, each refused as a ``UsageError`` that names the option."""

from __future__ import annotations

from pathlib import Path

from pyoneer.errors import UsageError


def params(given: tuple[str, ...], file: Path | None) -> dict[str, object]:
    """The parameters the command line sets: the file's first, then each -p."""
    from pyoneer.blueprints.params import GivenParams

    values = GivenParams()
    if file is not None:
        from pyoneer.blueprints.params import read_params_file

        values.update(read_params_file(file))
        values.origin.update(dict.fromkeys(values, f"--params {file}"))  # an error names the file
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"-p {item!r}: write NAME=VALUE, e.g. -p epochs=10")
        values[name.strip()] = value
        values.origin.pop(name.strip(), None)  # -p wins, and its error says -p
    return values


def gpus(given: str) -> tuple[str, ...]:
    """``--gpus 0,1,3``: the device ids, in order."""
    ids = tuple(gpu.strip() for gpu in given.split(",") if gpu.strip())
    if len(set(ids)) != len(ids):
        raise UsageError(f"--gpus {given}: a device is named twice")
    return ids


def resources(given: tuple[str, ...]) -> dict[str, float]:
    """``--resource license=2``: each custom resource's amount."""
    amounts: dict[str, float] = {}
    for item in given:
        name, equals, amount = item.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = 0.0
        if not equals or not name.strip() or not value > 0:
            raise UsageError(f"--resource {item!r}: write NAME=AMOUNT with a positive amount, e.g. --resource license=2")
        amounts[name.strip()] = value
    return amounts


def sweep(given: tuple[str, ...]) -> dict[str, list[str]]:
    """The values of each ``-m KEY=V1,V2`` (as text; read as TOML values later)."""
    sweep: dict[str, list[str]] = {}
    for item in given:
        name, equals, values = item.partition("=")
        if not equals or not name.strip() or not values.strip():
            flag = getattr(item, "option", "") or "-m"  # as the user wrote it
            raise UsageError(f"{flag} {item!r}: write KEY=V1,V2,..., e.g. {flag} lr=0.1,0.01")
        sweep[name.strip()] = [value.strip() for value in values.split(",")]
    return sweep
