"""What each page of the web view (and the report) shows, as plain data: the JSON beside
every page, which the page's script draws.

Read from the ledger through ``pyoneer.ledger.history``: the state table is exactly
``pyoneer status --json``, the runs exactly ``pyoneer runs --json``; the graph
(``pyoneer.web.graph``) and the timeline are made from the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from pyoneer.errors import LedgerError, PyoneerError
from pyoneer.ledger import history, learned
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


def job_link(run_id: str, job: str) -> str:
    """The page of one job of a run (``/runs/ID/jobs/JOB``)."""
    return f"/runs/{quote(run_id)}/jobs/{quote(job, safe='')}"


def job_page(ledger: Ledger, run_id: str, job: str, given: dict[str, Any]) -> dict[str, Any]:
    """One job of a run: its row and its tasks' attempts, as the run page has them, and
    what its fork server preloads on the next run and why (``learned.told``): each
    module given in ``preload = [...]`` or learned (from which run, at what import
    cost), and those refused, with the reason the ledger keeps. ``given`` is what the
    project file says of the job now (see ``given_preload``)."""
    state = history.run_state(ledger, run_id)
    run = state["run"]
    rows = [row for row in state["blueprints"] if row["name"] == job and row["kind"] == "job"]
    if not rows:
        raise LedgerError(f"run {run['id']} has no job {job!r}", hint="its jobs are listed on the run's page")
    tasks = [row for row in state["blueprints"] if row["kind"] == "task" and row["name"].rpartition("/")[0] == job]
    for row in tasks:
        row["link"] = log_link(run["id"], job, row["name"].rpartition("/")[2], row["attempt"])
    preload = learned.told(ledger, job, given["modules"], given["learn"])
    started = {found.id: found.started for found in ledger.runs()}
    for row in preload:
        # learned in this run: preloaded from the next one on; in an earlier one: preloaded in this one
        row["when"] = None if row["run"] is None else (
            "this run" if row["run"] == run["id"] else "earlier" if started.get(row["run"], 0) < run["started"]
            else "later")
    return {"page": "job", "project": run["project"], "run": run, "job": rows[0], "tasks": tasks,
            "preload": preload, "preload_note": given["note"], "threshold_ms": learned.THRESHOLD_US // 1000}


def given_preload(root: Path, job: str) -> dict[str, Any]:
    """What the project file at ``root`` says now of ``job``'s preload: the modules given
    in ``preload = [...]`` (the project's, then the job's), whether it learns, and a note
    when it runs fresh (nothing preloaded), learns nothing, or the file cannot be read."""
    from pyoneer.blueprints.projectfile import load

    try:
        project = load(root)
    except PyoneerError as exc:
        return {"modules": (), "learn": True, "note": f"the project file cannot be read now ({exc}): "
                                                       "what it gives in preload is not shown"}
    found = next((each for each in project.jobs if each.name == job), None)
    if found is None:
        return {"modules": (), "learn": True, "note": "the project file no longer has this job"}
    learn = project.learn and found.learn
    note = "" if learn else "learning is off (preload = false): only what preload gives is preloaded"
    if project.fresh or found.fresh:
        note = "it runs fresh (fresh = true): each task a new interpreter, nothing preloaded"
    return {"modules": (*project.preload, *found.preload), "learn": learn, "note": note}
