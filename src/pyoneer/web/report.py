"""``pyoneer report``: one run as a single HTML file that opens offline and asks for nothing.

The run page of the web view (graph, timeline, state table, why each job ran), with its
style, script and data inline, plus the end of each failed task's log. It needs only
the standard library: no ``pyoneer[ui]``. A report is made to be sent, so it copies no
log that lies outside the project's ``.pyoneer/`` (a symlink, a path in the ledger that
leads out): it leaves that one out, saying so. Its Content-Security-Policy (a ``<meta>``)
lets it make no request at all.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pyoneer.errors import LedgerError, MachineError
from pyoneer.ledger.store import Ledger
from pyoneer.web.logs import inside, tail
from pyoneer.web.pages import run_page
from pyoneer.web.shell import page

#: how much of each failed task's log a report carries
TAIL_BYTES = 16 * 1024


def report(ledger: Ledger, root: Path, run_id: str | None = None) -> tuple[str, str]:
    """The report of a run (the latest by default): (its run id, the HTML)."""
    data = run_page(ledger, run_id)
    data["tails"] = _failed_tails(data, root)
    config = {"mode": "report", "home": "#", "base": ""}
    title = f"Pyoneer report: {data['project']} run {data['run']['id']}"
    return data["run"]["id"], page(data, config, title)


def _failed_tails(data: dict[str, Any], root: Path) -> dict[str, dict[str, Any]]:
    """The end of the log of every attempt that failed, by ``job/task/attempt`` (with
    ``left_out`` saying why, instead, for a log outside ``.pyoneer/``)."""
    tails: dict[str, dict[str, Any]] = {}
    for row in data["blueprints"]:
        if row["kind"] == "task" and row["status"] == "failed" and row["log"]:
            key = f"{row['name']}/{row['attempt']}"
            try:
                path = inside(root, row["log"], f"{row['name']} attempt {row['attempt']}")
            except LedgerError as exc:
                tails[key] = {"text": "", "offset": 0, "left_out": exc.message + " (left out of this report)"}
                continue
            start, text = tail(path, TAIL_BYTES)
            tails[key] = {"text": text.decode("utf-8", "replace"), "offset": start}
    return tails


def write_report(path: Path, text: str) -> None:
    """Write the report to ``path`` (whole, or not at all)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise MachineError.from_os(exc, "write the report", path) from exc
