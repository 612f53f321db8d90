"""What each page of the web view (and the report) shows, as plain data: the JSON beside
every page, which the page's script draws.

Read from the ledger through ``pyoneer.ledger.history``: the state table is exactly
``pyoneer status --json``, the runs exactly ``pyoneer runs --json``; the graph
(``pyoneer.web.graph``) and the timeline are made from the same rows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pyoneer.ledger import history
from pyoneer.ledger.store import Ledger
from pyoneer.web.graph import graph, state_of


def runs_page(ledger: Ledger) -> dict[str, Any]:
    """The runs, newest first, as ``pyoneer runs --json`` has them."""
    runs = history.run_list(ledger)
    return {"page": "runs", "project": runs[-1]["project"] if runs else "", "runs": runs[::-1]}


def run_page(ledger: Ledger, run_id: str) -> dict[str, Any]:
    """One run: its state table, its graph, its timeline, and why each job ran."""
    state = history.run_state(ledger, run_id)
    rows = state["blueprints"]
    for row in rows:
        if row["kind"] == "task":
            job, _, task = row["name"].rpartition("/")  # a member's values may hold "/"
            row["link"] = log_link(state["run"]["id"], job, task, row["attempt"])
    jobs = [row for row in rows if row["kind"] == "job"]
    return {
        "page": "run",
        "project": state["run"]["project"],
        **state,
        "graph": graph(jobs),
        "timeline": timeline(state),
    }


def timeline(state: dict[str, Any]) -> dict[str, Any]:
    """Every task attempt as a bar on the lane of the worker (and host) that ran it; the
    jobs a ``--resume`` reused, apart (they ran in an earlier run).

    On a cluster whose workers come and go (Slurm allocations), a lane is a node instead:
    attempts on one node at once take a row each under it (``n2``, ``n2 ·2``)."""
    run = state["run"]
    by_node = any(pyoneer.get("allocation") for pyoneer in state["pyoneers"] if pyoneer["role"] == "worker")
    bars = []
    for row in state["blueprints"]:
        if row["kind"] != "task" or row["started"] is None:
            continue
        job, _, task = row["name"].rpartition("/")  # a member's values may hold "/"
        bars.append({
            "lane": f"{row['host']} · {row['pyoneer']}" if row["host"] else row["pyoneer"],
            "job": job, "task": task, "attempt": row["attempt"],
            "start": row["started"], "end": row["ended"], "state": row["status"],
            "reason": row["reason"], "link": row.get("link"), "node": row["host"] or row["pyoneer"],
        })
    lanes = _node_lanes(bars, run["ended"]) if by_node else list(dict.fromkeys(bar["lane"] for bar in bars))
    for bar in bars:
        del bar["node"]
    reused = [row["name"] for row in state["blueprints"] if row["kind"] == "job" and state_of(row) == "reused"]
    return {"start": run["started"], "end": run["ended"], "lanes": lanes, "bars": bars, "reused": reused}


def _node_lanes(bars: list[dict[str, Any]], run_end: float | None) -> list[str]:
    """Give each bar the lane of its node, a row of its own while another runs there; the lanes."""
    rows: dict[str, list[float]] = {}  # node -> when each of its rows is free again
    for bar in sorted(bars, key=lambda bar: bar["start"]):
        free = rows.setdefault(bar["node"], [])
        end = bar["end"] or run_end or float("inf")
        row = next((index for index, until in enumerate(free) if until <= bar["start"]), len(free))
        free[row:row + 1] = [end]
        bar["lane"] = bar["node"] if row == 0 else f"{bar['node']} ·{row + 1}"
    return [node if row == 0 else f"{node} ·{row + 1}" for node in sorted(rows) for row in range(len(rows[node]))]


def log_link(run_id: str, job: str, task: str, attempt: int) -> str:
    """The page of one attempt's log (``/runs/ID/logs/JOB/TASK/N``)."""
    return f"/runs/{quote(run_id)}/logs/{quote(job, safe='')}/{quote(task, safe='')}/{attempt}"
