"""The graph of a run, laid out for drawing: its jobs (a matrix as one node), in layers.

Plain data for the page and the report to draw: each node has a column (its layer: one
more than the deepest job it needs) and a row (ordered by where the jobs it needs sit, so
that edges cross less). A matrix is one node with its members' counts, which the page
opens to list them. A graph of more than ``MAX_NODES`` nodes is not drawn node by node:
the page shows each layer as one box with its counts instead, so it never freezes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: above this many nodes (matrices counted once), the page draws layers, not nodes
MAX_NODES = 300

#: how a set of jobs stands, worst first: the first of these that any member has
_PRECEDENCE = ("failed", "running", "cancelled", "skipped", "ready", "not_ready", "succeeded", "reused")


def state_of(row: dict[str, Any]) -> str:
    """A job's state in one word: its status, or ``reused``."""
    return "reused" if row.get("reused") else row["status"]


def graph(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's jobs (rows of ``pyoneer status --json``) as nodes, edges and layers."""
    group_of = {row["name"]: _group(row) for row in jobs}
    nodes: dict[str, dict[str, Any]] = {}
    needs: dict[str, dict[str, None]] = {}
    for row in jobs:
        name = group_of[row["name"]]
        node = nodes.get(name)
        if node is None:
            node = nodes[name] = {"id": name, "members": [] if row.get("matrix") is not None else None}
            needs[name] = {}
        if node["members"] is not None:
            node["members"].append({"name": row["name"], "state": state_of(row), "why": row.get("why")})
        else:
            node.update(state=state_of(row), why=row.get("why"))
        for other in row.get("needs") or ():
            upstream = group_of.get(other)
            if upstream is not None and upstream != name:
                needs[name][upstream] = None
    for node in nodes.values():
        if node["members"] is not None:
            node["counts"] = _counts(member["state"] for member in node["members"])
            node["state"] = next(word for word in _PRECEDENCE if word in node["counts"])
    layer = _layers(needs)
    rows = _rows(list(nodes), needs, layer)
    for name, node in nodes.items():
        node["layer"], node["row"] = layer[name], rows[name]
        node["needs"] = list(needs[name])
    states = [state_of(row) for row in jobs]
    done = sum(1 for state in states if state in ("succeeded", "reused", "failed", "skipped", "cancelled"))
    return {
        "nodes": list(nodes.values()),
        "edges": [[upstream, name] for name in nodes for upstream in needs[name]],
        "layers": 1 + max(layer.values(), default=-1),
        "mode": "nodes" if len(nodes) <= MAX_NODES else "layers",
        "done": done,
        "total": len(jobs),
        "counts": _counts(states),
    }


def _group(row: dict[str, Any]) -> str:
    return row["name"].partition("[")[0] if row.get("matrix") is not None else row["name"]


def _counts(states: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


def _layers(needs: dict[str, dict[str, None]]) -> dict[str, int]:
    """Each node's layer: 0 for one that needs nothing, else one more than its deepest need."""
    layer: dict[str, int] = {}
    for start in needs:
        stack = [(start, False)]
        while stack:  # iterative: a chain of thousands of jobs must not hit the recursion limit
            name, ready = stack.pop()
            if name in layer:
                continue
            if ready:
                layer[name] = 1 + max((layer[other] for other in needs[name] if other in layer), default=-1)
                continue
            stack.append((name, True))
            stack.extend((other, False) for other in needs[name] if other not in layer)
    return layer


def _rows(order: list[str], needs: dict[str, dict[str, None]], layer: dict[str, int]) -> dict[str, int]:
    """Each node's row within its layer: by the mean row of what it needs (barycentres),
    declaration order breaking ties."""
    by_layer: dict[int, list[str]] = {}
    for name in order:
        by_layer.setdefault(layer[name], []).append(name)
    rows: dict[str, int] = {}
    for number in sorted(by_layer):
        names = by_layer[number]
        position = {name: index for index, name in enumerate(names)}

        def centre(name: str, position: dict[str, int] = position) -> tuple[float, int]:
            placed = [rows[other] for other in needs[name] if other in rows]
            return (sum(placed) / len(placed) if placed else position[name], position[name])

        for row, name in enumerate(sorted(names, key=centre)):
            rows[name] = row
    return rows
