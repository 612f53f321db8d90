"""A submitted run's stream and its mirror, without a cluster: a real local run told as
its stream (what the manager on a cluster writes), read back cut at every kind of place.

The Ray cluster's tests (``test_submit.py``) cover the same path end to end; these say,
quickly, that however the stream is read — in pieces, again from the start, with lines
of others mixed in — the mirror ends with exactly the run's rows and logs.
"""

from __future__ import annotations

import contextlib
import io
import random
import sqlite3
import time
from pathlib import Path

from conftest import write_project

from pyoneer.blueprints.projectfile import load
from pyoneer.engines.local import LocalEngine
from pyoneer.ledger import submissions
from pyoneer.ledger.store import Ledger
from pyoneer.runner import run
from pyoneer.submission.broadcast import Broadcast
from pyoneer.submission.mirror import Mirror
from pyoneer.submission.stream import lines

TOML = """
[jobs.a]
tasks = ["a.py"]
[jobs.b]
tasks = ["b.py", "b.py"]
needs = ["a"]
[jobs.flaky]
tasks = [{ script = "flaky.py", retries = 1, retry_delay = 0.2 }]  # handed back for its wait: told too
"""
SCRIPTS = {
    "a.py": "import sys\nfor n in range(300): print('a line', n)\nsys.stdout.buffer.write(b'\\xff\\xfe raw\\n')\n",
    "b.py": "print('b')\n",
    "flaky.py": "import os, sys\nprint('try', os.environ['PYONEER_ATTEMPT'])\nsys.exit(os.environ['PYONEER_ATTEMPT'] == '1')\n",
}


def told(tmp_path: Path) -> tuple[Path, str, str]:
    """A run of a real project, told as its stream; its root, its run id and the stream."""
    root = write_project(tmp_path / "there", TOML, SCRIPTS)
    out = io.StringIO()
    broadcast = Broadcast(out, root)
    result = run(load(root), 2, engine=LocalEngine(), follower=broadcast.follow)
    broadcast.end(result)
    assert result.ok
    return root, result.run_id, out.getvalue()


def mirror_of(tmp_path: Path, run_id: str) -> tuple[Path, Ledger, submissions.Submission]:
    home = tmp_path / "here"
    home.mkdir()
    ledger = Ledger.open(home)
    submission = submissions.Submission(f"pyoneer-{run_id}", run_id, "http://127.0.0.1:1", "there", time.time(), {})
    submissions.add(ledger, submission)
    return home, ledger, submission


def rows(root: Path, run_id: str) -> dict[str, list[tuple]]:
    with contextlib.closing(sqlite3.connect(root / ".pyoneer" / "ledger.db")) as db:
        return {
            "runs": db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchall(),
            "pyoneers": db.execute("SELECT * FROM pyoneers WHERE run_id = ? ORDER BY rowid", (run_id,)).fetchall(),
            "assignments": db.execute("SELECT * FROM assignments WHERE run_id = ? ORDER BY 2, 3, 4",
                                      (run_id,)).fetchall(),
            "events": db.execute("SELECT at, subject, change, detail FROM events WHERE run_id = ? ORDER BY seq",
                                 (run_id,)).fetchall(),
        }


def logs(root: Path, run_id: str) -> dict[str, bytes]:
    folder = root / ".pyoneer" / "runs" / run_id
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*.log"))}


def test_the_mirror_holds_the_runs_rows_and_logs_however_its_stream_is_read(tmp_path: Path) -> None:
    there, run_id, stream = told(tmp_path)
    here, ledger, submission = mirror_of(tmp_path, run_id)
    # others write into the same output (Ray, Python's warnings), even mid-line
    noisy = stream.replace("\n@pyoneer 7 ", "\nsome warning without an end@pyoneer 7 ")
    noisy = "Running entrypoint for job x\n" + noisy
    chance = random.Random(7)
    cuts = sorted(chance.sample(range(len(noisy)), 40)) + [len(noisy)]
    with contextlib.closing(ledger):
        for cut in cuts:  # each read: the whole output so far, as Ray's job server hands it out
            mirror = Mirror(here, ledger, submissions.find(ledger))
            mirror.take(lines(noisy[:cut], mirror.heard))
        again = Mirror(here, ledger, submissions.find(ledger))
        assert again.take(lines(noisy)) == []  # everything was heard, once
        last = max(line.number for line in lines(noisy))
        assert submissions.find(ledger).heard == last
    assert rows(here, run_id) == rows(there, run_id)
    assert logs(here, run_id) == logs(there, run_id)
    assert b"\xff\xfe raw" in logs(here, run_id)["a/a.1.log"]
    assert set(logs(here, run_id)) == {"a/a.1.log", "b/b.1.log", "b/b-2.1.log", "flaky/flaky.1.log", "flaky/flaky.2.log"}


def test_a_gap_waits_for_its_line_unless_the_job_has_ended(tmp_path: Path) -> None:
    _, run_id, stream = told(tmp_path)
    here, ledger, submission = mirror_of(tmp_path, run_id)
    found = list(lines(stream))
    with contextlib.closing(ledger):
        mirror = Mirror(here, ledger, submission)
        gapped = [line for line in found if line.number != 3]
        assert [line.number for line in mirror.take(gapped)] == [1, 2]
        assert [line.number for line in mirror.take(gapped, ended=True)][:1] == [4]
        assert mirror.heard == found[-1].number


def test_the_stream_ends_with_the_runs_result(tmp_path: Path) -> None:
    _, run_id, stream = told(tmp_path)
    found = list(lines(stream))
    assert [line.number for line in found] == list(range(1, len(found) + 1))
    assert found[0].kind == "run" and found[0].data["jobs"] == ["a", "b", "flaky"]
    assert found[-1].kind == "end" and found[-1].data["code"] == 0
    assert found[-1].data["result"]["run_id"] == run_id
    events = [line.data["event"]["kind"] for line in found if line.kind == "event"]
    assert events[0] == "RunStarted" and "RunEnded" in events[-3:]


def test_two_commands_applying_the_same_stream_at_once_apply_each_line_once(tmp_path: Path) -> None:
    there, run_id, stream = told(tmp_path)
    here, ledger, submission = mirror_of(tmp_path, run_id)
    ledger.close()
    # attach and status, each with its own connection, each thinking nothing was heard
    first, second = Ledger.open(here), Ledger.open(here)
    with contextlib.closing(first), contextlib.closing(second):
        one = Mirror(here, first, submissions.find(first))
        other = Mirror(here, second, submissions.find(second))
        found = list(lines(stream))
        half = len(found) // 2
        one.take(found[:half])
        other.take(found)  # stale: it had heard nothing when it began
        one.take(found)
    assert rows(here, run_id) == rows(there, run_id)
