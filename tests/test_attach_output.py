"""What ``pyoneer attach`` shows of a submitted run's tasks' output (``pyoneer.cli.attached``).

The real thing is checked end to end in ``test_attach_ray.py`` and ``test_attach_slurm.py``;
here, on this machine alone, what a late attach replays: an attempt that ended before it
nothing, a running one its last lines and what follows, a later one all of it.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from pyoneer.cli.attached import TAIL_LINES, AttachedOutput, tail_start
from pyoneer.cli.display import PlainDisplay
from pyoneer.pyoneers.events import Attempt, TaskEnded, TaskStarted


def _events(job: str, log: Path) -> tuple[TaskStarted, TaskEnded]:
    attempt = Attempt(job, "main.py", 1, log, time.time())
    return TaskStarted("worker-1", attempt, 0), TaskEnded("worker-1", attempt, 0)


def _shown(tmp_path: Path, jobs: list[str]) -> tuple[AttachedOutput, io.StringIO]:
    out = io.StringIO()
    view = PlainDisplay(out)
    attached = AttachedOutput(view, view.say)
    attached.outline("run-1", jobs)
    return attached, out


def test_the_tail_of_a_log_begins_at_a_line_within_its_bounds(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\nthree\nfour")
    assert log.read_bytes()[tail_start(log, lines=2):] == b"two\nthree\nfour"  # and the line not ended
    log.write_bytes(b"one\ntwo\nthree\n")
    assert log.read_bytes()[tail_start(log, lines=2):] == b"two\nthree\n"
    assert log.read_bytes()[tail_start(log, lines=9, most=10):] == b"three\n"  # "two" began before the window
    log.write_bytes(b"x" * 100)
    assert tail_start(log, most=10) == 100  # one endless line: nothing of it replayed
    assert tail_start(tmp_path / "missing.log") == 0


def test_a_late_attach_shows_running_attempts_from_their_tail_and_later_ones_whole(tmp_path: Path) -> None:
    attached, out = _shown(tmp_path, ["early", "running", "later"])
    early, running, later = (tmp_path / f"{name}.log" for name in ("early", "running", "later"))
    early.write_text("early output\n")
    running.write_text("".join(f"old {number}\n" for number in range(100)))
    started, ended = _events("early", early)
    attached.notify(started)
    attached.notify(ended)
    still, stops = _events("running", running)
    attached.notify(still)
    attached.caught_up()  # attach has heard what was before

    with running.open("a") as log:
        log.write("new line\n")
    begins, ends = _events("later", later)
    later.write_text("later output\n")
    attached.notify(begins)
    attached.notify(ends)
    attached.notify(stops)
    attached.close()

    text = out.getvalue()
    assert "early output" not in text, text
    assert f"running | old {99 - TAIL_LINES}\n" not in text and f"running | old {100 - TAIL_LINES}\n" in text, text
    assert "running | old 99\nrunning | new line\n" in text, text
    assert "later | later output\n" in text, text
    assert "attached to a running run" in text, text


def test_one_job_shows_its_lines_as_they_are(tmp_path: Path) -> None:
    attached, out = _shown(tmp_path, ["only"])
    log = tmp_path / "only.log"
    attached.caught_up()
    started, ended = _events("only", log)
    attached.notify(started)
    log.write_text("hello\nno end")
    attached.notify(ended)
    attached.close()
    assert out.getvalue() == "hello\nno end\n"
