"""Group commit, in SQL: the changes noted since the last commit, made into as few
statements as they allow (one ``executemany`` per run of a statement, one per shape of
blueprint update), in the order they were noted.
"""

from __future__ import annotations

from typing import Any


def runs_of(statements: list[tuple[str, Any]]) -> list[tuple[str, list[Any]]]:
    """The statements, in order, with each run of the same statement made one (its rows)."""
    runs: list[tuple[str, list[Any]]] = []
    for statement, parameters in statements:
        if runs and runs[-1][0] == statement:
            runs[-1][1].append(parameters)
        else:
            runs.append((statement, [parameters]))
    return runs


def grouped(blueprints: dict[tuple[str, str, str], dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """The blueprint updates by the columns they set: one ``executemany`` per shape."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for (run_id, kind, name), values in blueprints.items():
        row = {"run_id": run_id, "kind": kind, "name": name, **values}
        by_columns.setdefault(tuple(sorted(values)), []).append(row)
    return by_columns


def update_blueprint(columns: tuple[str, ...]) -> str:
    """The UPDATE of a job's or project's row that sets ``columns`` (named parameters)."""
    assigned = ", ".join(f"{column} = :{column}" for column in columns)
    return (
        f"UPDATE assignments SET {assigned}"
        " WHERE run_id = :run_id AND kind = :kind AND name = :name AND attempt = 0"
    )


