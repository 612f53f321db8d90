"""Stopping leaves no process behind, for WARM tasks too (forked from a worker's fork server).

The same rule as in ``test_stopping.py`` — after ``pyoneer run`` ends, however it ends,
no process it started remains — checked for tasks that run warm: forked from a worker's
fork server (``forkserver.py``), a Linux child subreaper that takes in the orphans of
its tasks' trees. ``test_stopping.py`` runs its one-task projects both ways; the cases
here are those that need a setup of their own: orphans that left the session and
cleared their environment, and several workers.

Each project here begins with a ``warmup`` job that waits until the fork servers are up
(blocked in ``select``, waiting for requests), and the jobs under test need it. Each warm script
records its parent's pid (``NAME.server``) and command line, and every test checks that
the parent really was a fork server: the test then did test the warm path.

The task scripts (``kit.py`` and friends) and the ``Tracker`` that kills, whatever
happens, every process a test started are those of ``test_stopping.py``; the tracker
here also kills fork servers a failing test may leave behind.
"""

from __future__ import annotations

import os
import re
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import WARMUP, write_project
from processes import alive, command_line, is_alive, started_at
from test_stopping import Tracker, all_gone, finish, names, recorded, wait_for_pids

pytestmark = pytest.mark.slow

#: how long a test waits for the processes that should be gone (a few seconds)
GONE = 5.0


# Shared by the warm scripts: record the task and who its parent is.
WARMKIT = '''
    """Record a task's pid, its parent's pid (``NAME.server``) and command line."""
    import os
    import kit


    def note(prefix=""):
        """Record this process as ``PREFIXtask`` and its parent as ``PREFIXserver``."""
        kit.record(f"{prefix}task")
        parent = os.getppid()
        with open(f"/proc/{parent}/cmdline", "rb") as cmdline:
            (kit.PIDS / f"{kit.TAG}.{prefix}parent.cmdline").write_bytes(cmdline.read())
        kit.record(f"{prefix}server", parent)
'''

# ``warm_orphan.py sleep|exit [setsid] [bare] [child] [stray]``: the task (maybe with a
# sleeping ``child``) has a ``middle`` process start an ``orphan`` and exit at once, so
# the orphan is re-parented (to the fork server, a subreaper, when the task runs warm);
# the task writes who the orphan's parent is then, and sleeps (to time out, or be stopped)
# or exits 0. ``setsid``: the orphan also leaves the task's session; ``bare``: and it runs
# with an empty environment (no PYONEER_* marks). ``stray``: the middle process also starts
# ``stray``, a second orphan that does both.
WARM_ORPHAN = """
    import os
    import sys
    import kit
    import warmkit

    mode, options = sys.argv[1], set(sys.argv[2:])
    warmkit.note()
    if "child" in options:
        kit.fork("child", lambda: None)

    def middle():
        kit.sleeper("orphan", start_new_session="setsid" in options, env={} if "bare" in options else None)
        if "stray" in options:
            kit.sleeper("stray", start_new_session=True, env={})
        os._exit(0)

    os.waitpid(kit.fork("middle", middle), 0)
    kit.wait_for("orphan", *(["child"] if "child" in options else []), *(["stray"] if "stray" in options else []))
    (kit.PIDS / f"{kit.TAG}.orphan.parent").write_text(str(kit.parent_of(kit.recorded("orphan"))))
    if mode == "sleep":
        kit.sleep_forever()
"""

# ``warm_background.py [wait]``: a task that leaves a child sleeping in the background (in
# its session) and ends well: at once, or once the file ``go`` appears. Recorded under its
# task's name: TASK.task, TASK.server, TASK.background.
WARM_BACKGROUND = """
    import os
    import sys
    import time
    import kit
    import warmkit

    task = os.environ["PYONEER_TASK"]
    warmkit.note(f"{task}.")
    kit.sleeper(f"{task}.background")
    while "wait" in sys.argv[1:] and not (kit.HERE / "go").exists():
        time.sleep(0.01)
"""

WARM_SCRIPTS = {
    "warmup.py": WARMUP,
    "warmkit.py": WARMKIT,
    "warm_orphan.py": WARM_ORPHAN,
    "warm_background.py": WARM_BACKGROUND,
}


# Helpers -------------------------------------------------------------------------------


class WarmTracker(Tracker):
    """``Tracker``, that also kills the fork servers its projects' tasks recorded."""

    def project(self, root: Path, toml: str) -> Path:
        """A project in ``root`` with ``toml``, the scripts of test_stopping.py and the warm ones."""
        super().project(root, toml)
        write_project(root, None, WARM_SCRIPTS)
        return root

    def clean(self) -> None:
        super().clean()
        for root in self.roots:
            for key, pid in recorded(root).items():
                # only a live fork server: never a reused pid
                if (
                    key.endswith(".server")
                    and is_alive(pid)
                    and "forkserver.py" in command_line(pid)
                ):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass


@pytest.fixture
def tracker() -> Iterator[WarmTracker]:
    tracked = WarmTracker()
    try:
        yield tracked
    finally:
        tracked.clean()


def warm_project(jobs: str, warmups: int = 1) -> str:
    """A project's TOML: ``warmups`` jobs (``warmup_1``...) that wait for as many fork
    servers, then ``jobs`` (dedented), whose jobs should need them."""
    lines = []
    for number in range(1, warmups + 1):
        lines += [f"[jobs.warmup_{number}]", f'tasks = ["warmup.py {warmups}"]', ""]
    return "\n".join(lines) + textwrap.dedent(jobs)


def assert_warm(root: Path, tag: str) -> None:
    """The task recorded under ``tag`` (``JOB.ATTEMPT.`` or ``JOB.ATTEMPT.TASK.``) ran warm."""
    parent = (
        (root / "pids" / f"{tag}parent.cmdline")
        .read_bytes()
        .replace(b"\0", b" ")
        .decode()
    )
    assert "forkserver.py" in parent, f"{tag} ran fresh: its parent was {parent!r}"


def orphan_parent(root: Path, tag: str) -> int:
    return int((root / "pids" / f"{tag}orphan.parent").read_text())


def watch_servers(tracker: WarmTracker, pids: dict[str, int]) -> None:
    """Remember the recorded fork servers (for the clean-up) while they surely run."""
    for key, pid in pids.items():
        if key.endswith(".server") and "forkserver.py" in command_line(pid):
            tracker.seen[pid] = started_at(pid)


# A warm task ends well, leaving an orphan --------------------------------------------------


@pytest.mark.parametrize("bare", [False, True], ids=["keeps-env", "empty-env"])
def test_a_warm_tasks_setsid_orphan_is_killed_after_it_exits_0(
    tracker: WarmTracker, project_dir: Path, bare: bool
) -> None:
    # empty-env: no PYONEER_* marks and no session of the task's: only as the fork
    # server's orphan can it be found
    args = '["exit", "setsid", "bare"]' if bare else '["exit", "setsid"]'
    root = tracker.project(
        project_dir,
        warm_project(
            f"""
            [jobs.main]
            needs = ["warmup_1"]
            tasks = [{{ script = "warm_orphan.py", args = {args} }}]
            """
        ),
    )
    process = tracker.start(root, "--workers", "1")
    code, output = finish(process)
    pids = recorded(root)

    assert code == 0, output
    assert pids.keys() == names("main", "task", "server", "middle", "orphan")
    assert_warm(root, "main.1.")
    # the orphan was taken in by the fork server (the subreaper), not by init
    assert orphan_parent(root, "main.1.") == pids["main.1.server"]
    assert all_gone(pids.values(), GONE), f"still alive: {alive(pids.values())}"


# Timeouts ------------------------------------------------------------------------------


def test_a_warm_task_that_times_out_loses_its_whole_tree(
    tracker: WarmTracker, project_dir: Path
) -> None:
    root = tracker.project(
        project_dir,
        warm_project(
            """
            [jobs.main]
            needs = ["warmup_1"]
            tasks = [{ script = "warm_orphan.py", args = ["sleep", "child", "setsid", "bare"], timeout = 1 }]
            """
        ),
    )
    process = tracker.start(root, "--workers", "1")
    expected = names("main", "task", "server", "child", "middle", "orphan")
    pids = wait_for_pids(process, root, expected)
    watch_servers(tracker, pids)
    started = tracker.descendants(process)  # the tree, the fork server, the watchdog
    code, output = finish(process)
    pids = recorded(root)

    assert code == 1, output
    assert "timed out after 1 s" in output, output
    assert pids.keys() == expected
    assert_warm(root, "main.1.")
    assert orphan_parent(root, "main.1.") == pids["main.1.server"]
    assert all_gone(pids.values(), GONE), f"still alive: {alive(pids.values())}"
    assert all_gone(started, GONE), f"still alive: {alive(started)}"


# Ctrl-C ----------------------------------------------------------------------------------


def test_sigint_kills_a_warm_tasks_tree_and_its_orphans(
    tracker: WarmTracker, project_dir: Path
) -> None:
    root = tracker.project(
        project_dir,
        warm_project(
            """
            [jobs.main]
            needs = ["warmup_1"]
            tasks = [{ script = "warm_orphan.py", args = ["sleep", "child", "setsid", "bare"] }]

            [jobs.after]
            needs = ["main"]
            tasks = ["marker.py"]
            """
        ),
    )
    process = tracker.start(root, "--workers", "1")
    expected = names("main", "task", "server", "child", "middle", "orphan")
    pids = wait_for_pids(process, root, expected)
    watch_servers(tracker, pids)
    started = tracker.descendants(process)
    assert set(pids.values()) - {pids["main.1.middle"]} <= started.keys()
    process.send_signal(signal.SIGINT)
    code, output = finish(process)

    assert code == 130, output
    assert "SIGINT received" in output, output
    assert "interrupted" in output, output
    assert re.search(r"\bmain cancelled\b", output), output
    assert re.search(r"\bafter cancelled\b", output), output
    assert not (root / "after.ran").exists()
    assert_warm(root, "main.1.")
    assert orphan_parent(root, "main.1.") == pids["main.1.server"]
    assert recorded(root).keys() == expected
    assert all_gone(pids.values(), GONE), f"still alive: {alive(pids.values())}"
    assert all_gone(started, GONE), f"still alive: {alive(started)}"


# SIGKILL of pyoneer ----------------------------------------------------------------------


def test_sigkill_of_pyoneer_ends_a_warm_tasks_orphans(
    tracker: WarmTracker, project_dir: Path
) -> None:
    # pyoneer cannot clean up after SIGKILL: the watchdog must. The orphan left the task's
    # session but keeps the PYONEER_* variables, and its parent is the fork server, which
    # the watchdog was told takes in orphans. ``stray`` (setsid, empty environment) carries
    # nothing to tell it by: the fork server ends it when the manager's pipe closes.
    root = tracker.project(
        project_dir,
        warm_project(
            """
            [jobs.main]
            needs = ["warmup_1"]
            tasks = [{ script = "warm_orphan.py", args = ["sleep", "child", "setsid", "stray"] }]
            """
        ),
    )
    process = tracker.start(root, "--workers", "1")
    expected = names("main", "task", "server", "child", "middle", "orphan", "stray")
    pids = wait_for_pids(process, root, expected)
    watch_servers(tracker, pids)
    started = tracker.descendants(process)
    assert set(pids.values()) - {pids["main.1.middle"]} <= started.keys()
    process.kill()
    code, _ = finish(process)

    assert code == -signal.SIGKILL
    assert_warm(root, "main.1.")
    assert orphan_parent(root, "main.1.") == pids["main.1.server"]
    assert all_gone(pids.values(), GONE), f"still alive: {alive(pids.values())}"
    assert all_gone(started, GONE), f"still alive: {alive(started)}"


# Nothing left after a run --------------------------------------------------------------


def test_a_successful_warm_run_leaves_no_background_process_nor_fork_server(
    tracker: WarmTracker, project_dir: Path
) -> None:
    root = tracker.project(
        project_dir,
        warm_project(
            """
            [jobs.left]
            needs = ["warmup_1", "warmup_2"]
            tasks = ["warm_background.py", "warm_background.py"]

            [jobs.right]
            needs = ["warmup_1", "warmup_2"]
            tasks = ["warm_background.py", "warm_background.py", { script = "warm_background.py", args = ["wait"] }]
            """,
            warmups=2,
        ),
    )
    process = tracker.start(root, "--workers", "2")
    tasks = {"left": ["warm_background", "warm_background-2"]}
    tasks["right"] = ["warm_background", "warm_background-2", "warm_background-3"]
    expected = {
        f"{job}.1.{task}.{member}"
        for job, names_ in tasks.items()
        for task in names_
        for member in ("task", "server", "background")
    }
    # the last task waits for ``go``: meanwhile look at everything the run has started
    pids = wait_for_pids(process, root, expected)
    watch_servers(tracker, pids)
    started = tracker.descendants(process)
    (root / "go").touch()
    code, output = finish(process)

    assert code == 0, output
    assert recorded(root).keys() == expected
    for job, names_ in tasks.items():
        for task in names_:
            assert_warm(root, f"{job}.1.{task}.")
    servers = {pid for key, pid in pids.items() if key.endswith(".server")}
    assert len(servers) == 2, servers  # both workers' fork servers ran tasks
    assert all_gone(pids.values(), GONE), f"still alive: {alive(pids.values())}"
    assert all_gone(started, GONE), f"still alive: {alive(started)}"
