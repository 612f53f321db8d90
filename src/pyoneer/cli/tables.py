"""The reading commands' tables: ``pyoneer status``, ``pyoneer runs`` and the plan of
``pyoneer run --dry-run``, for people and as ``--json``.

They print what ``pyoneer.ledger.history`` read (the ``--json`` shapes), with ``rich``
(``columns``: a long table as aligned text).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from pyoneer.cli.columns import Cell, print_table
from pyoneer.cli.summary import group_status
from pyoneer.status import WAITING, BlueprintStatus

if TYPE_CHECKING:
    from pyoneer.ledger.uptodate import Decision

_STYLE = {
    "succeeded": "green", "failed": "bold red", "skipped": "yellow", "cancelled": "magenta",
    "interrupted": "magenta", "running": "bold blue", "ready": "cyan", "not_ready": "dim",
    "lost": "bold red", "working": "bold blue",
}


def _styled(word: str | None) -> Cell:
    return (word, _STYLE[word]) if word in _STYLE else word or ""


def _clock(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else ""


def _span(start: float | None, end: float | None) -> str:
    if not start:
        return ""
    return f"{(end or time.time()) - start:.1f} s"


def print_status(state: dict[str, Any], console: Console) -> None:
    """The state of a run as a table: each pyoneer, its status, its blueprint, its status."""
    run = state["run"]
    result = run["result"] or ""
    console.print(
        f"run [bold]{run['id']}[/] of {escape(run['project'])}: "
        f"{f'[{_STYLE[result]}]{result}[/]' if result in _STYLE else escape(result)}, "
        f"started {_clock(run['started'])}, {_span(run['started'], run['ended'])}"
        f" (manager pid {run['manager']['pid']} on {escape(run['manager']['host'])})"
        + (f", resumed from {run['resumed_from']}" if run["resumed_from"] else ""),
        highlight=False,
    )
    columns = ["pyoneer", "status", "kind", "blueprint", "blueprint status", "attempt",
               "started", "duration", "exit", "host"]
    why = any(row.get("why") for row in state["blueprints"])  # a run that --resume or a target decided
    allocations = {pyoneer["id"]: pyoneer.get("allocation") for pyoneer in state["pyoneers"]}
    rows: list[list[Cell]] = []
    groups = _matrix_groups(state["blueprints"])
    hiding, indent = False, ""
    for row in state["blueprints"]:
        if row["kind"] == "job" and row.get("matrix") is not None:
            group = row["name"].partition("[")[0]
            members = groups.pop(group, None)
            if members is not None:  # the first member: the line of the whole matrix
                ends = [(BlueprintStatus(member["status"]), member["reused"]) for member in members]
                rows.append(["", "", "matrix", (group, "bold"), group_status(ends),
                             "", "", "", "", "", *([""] if why else [])])
            # a member that succeeded is counted above; one that did not is listed, with its tasks
            hiding = row["status"] == BlueprintStatus.SUCCEEDED.value
        if row["kind"] != "task":
            indent = "  " if row.get("matrix") is not None else ""  # a member: under its matrix
            hiding = hiding and row.get("matrix") is not None
        if hiding:
            continue
        name = indent + row["name"] if row["kind"] != "task" else "  " + indent + row["name"]
        status = "reused" if row["reused"] else row["status"]
        waiting = _waiting(row)
        cells: list[Cell] = [
            row["pyoneer"] or "-",
            _styled(row["pyoneer_status"]) if row["pyoneer_status"] else "-",
            row["kind"],
            name,
            (waiting, "yellow") if waiting else _styled(status) if status != "reused" else ("reused", "green"),
            str(row["attempt"]) if row["kind"] == "task" else "",
            _clock(row["started"])[11:],  # the time of day; the date is in the heading
            _span(row["started"], row["ended"]),
            "" if row["exit_code"] is None else str(row["exit_code"]),
            _host(row["host"], allocations.get(row["pyoneer"])),
        ]
        if why:
            cells.append((row["why"] or "", "dim") if row["kind"] == "job" else "")
        rows.append(cells)
    print_table(console, [*columns, "why"] if why else columns, rows, right=("attempt", "exit"))


def _host(host: str | None, allocation: str | None) -> str:
    """Where a pyoneer lives: its host, and the cluster's job it lives in (Slurm's), once placed."""
    if host and allocation:
        return f"{host} (Slurm job {allocation})"
    return host or ""


def _waiting(row: dict[str, Any]) -> str:
    """``waiting: Priority`` for a job whose worker waits in a cluster's queue ("" otherwise)."""
    reason = row.get("reason") or ""
    if row["kind"] != "job" or row["status"] != BlueprintStatus.RUNNING.value or not reason.startswith(WAITING):
        return ""
    return "waiting: " + reason.removeprefix(WAITING)


def _matrix_groups(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The job rows of each matrix's members, by the job as written."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["kind"] == "job" and row.get("matrix") is not None:
            groups.setdefault(row["name"].partition("[")[0], []).append(row)
    return groups


def print_runs(runs: list[dict[str, Any]], console: Console) -> None:
    """The history, one run a line."""
    columns = ["run", "started", "duration", "result", "succeeded", "failed", "skipped", "reused"]
    # single scripts side by side keep their runs in one folder's history: say whose each is
    named = len({run["project"] for run in runs}) > 1
    if named:
        columns.insert(1, "project")
    if any(run.get("matrices") for run in runs):
        columns.append("matrices")
    rows: list[list[Cell]] = []
    for run in runs:
        jobs = run["jobs"]
        cells: list[Cell] = [
            run["id"], _clock(run["started"]), _span(run["started"], run["ended"]), _styled(run["result"]),
            str(jobs.get("succeeded", 0)), str(jobs.get("failed", 0)), str(jobs.get("skipped", 0)),
            str(jobs.get("reused", 0)),
        ]
        if named:
            cells.insert(1, run["project"])
        if "matrices" in columns:  # each matrix: its members that succeeded (ran or reused), of all
            cells.append(", ".join(
                f"{group} {ends.get('succeeded', 0) + ends.get('reused', 0)}/{sum(ends.values())}"
                for group, ends in run.get("matrices", {}).items()
            ))
        rows.append(cells)
    print_table(console, columns, rows, right=("succeeded", "failed", "skipped", "reused"))


def plan_json(
    project: str, decisions: Sequence[Decision], preloads: Mapping[str, list[tuple[str, int, str]]] | None = None
) -> dict[str, Any]:
    """``pyoneer run --dry-run --json``: each job, whether it runs or is reused, and why;
    and what its fork server preloads, learned from earlier runs, and why (``preloads``)."""
    preloads = preloads or {}
    jobs = [
        {
            "name": decision.job,
            "action": "run" if decision.runs else "reuse",
            "reason": decision.why,
            "reasons": [reason.as_json() for reason in decision.reasons],
            "origin": decision.origin,
            "preload": [{"module": module, "import_ms": round(cost / 1000, 1), "what": what}
                        for module, cost, what in preloads.get(decision.job, ()) if module],
        }
        for decision in decisions
    ]
    runs = sum(1 for decision in decisions if decision.runs)
    return {"project": project, "jobs": jobs, "counts": {"run": runs, "reuse": len(decisions) - runs}}


def print_plan(
    decisions: Sequence[Decision], console: Console | None = None,
    preloads: Mapping[str, list[tuple[str, int, str]]] | None = None,
) -> None:
    """``pyoneer run --dry-run``: a line per job, ``run`` or ``reuse`` and why; then what
    each job's fork server preloads, learned, and why (``print_preloads``)."""
    console = console or Console(highlight=False)
    rows = [
        [("run", "bold blue") if decision.runs else ("reuse", "green"), decision.job, decision.why]
        for decision in decisions
    ]
    print_table(console, ("action", "job", "why"), rows)
    runs = sum(1 for decision in decisions if decision.runs)
    console.print(f"dry run: {runs} to run, {len(decisions) - runs} to reuse; nothing was run")
    planned = {decision.job for decision in decisions}  # --only: the jobs of this run alone
    print_preloads({job: told for job, told in (preloads or {}).items() if job in planned}, console)


def print_preloads(preloads: Mapping[str, list[tuple[str, int, str]]], console: Console) -> None:
    """What each job's fork server preloads, learned from earlier runs, and why (a line
    a module; nothing where nothing was learned)."""
    rows = [[job, module or "-", f"{cost / 1000:.0f} ms" if module else "", what]
            for job, told in preloads.items() for module, cost, what in told]
    if rows:
        console.print("learned preload (what the tasks imported last time):")
        print_table(console, ("job", "module", "import", "what"), rows)


def dumps(value: Any) -> str:
    """JSON for ``--json`` output: stable key order, no NaN."""
    return json.dumps(value, indent=2, sort_keys=False, allow_nan=False)
