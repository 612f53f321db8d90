"""Stopping: timeouts, Ctrl-C (SIGINT) and SIGTERM end each task's whole process tree.

The rule: a timeout, SIGINT or SIGTERM kills each affected task's whole process tree,
grandchildren included; after ``pyoneer run`` exits, no process that it started remains.
Exit codes: 0 all jobs succeeded, 1 a job failed or timed out, 130 interrupted.

Every test runs real scripts in real child processes. Each process of a task's tree
writes (or has its parent write) its pid to ``pids/JOB.ATTEMPT.NAME.pid`` in the project
directory, so the test can check afterwards that each one is dead. Whatever a test
leaves behind, even when it fails, is killed with SIGKILL by the ``tracker`` fixture.
No assertion is about a duration: the tests poll, with generous limits.

Every test that runs the ``pyoneer`` command runs twice (the ``variant`` fixture): "warm",
the default, where even a one-task project's task is forked from a fork server (the
command starts a spare one at once), and "fresh", with ``fresh = true`` under
``[project]``, where each task is a new interpreter, started by the ``pyoneer`` process
itself or exec'd from its worker's fork server once that is up. Each task records how it
was started (``pids/JOB.ATTEMPT.task.json``: its command line, its parent's and
grandparent's), and each test checks that it really ran the way its variant says. A run
through the Python API (no spare fork server there) runs a one-task project fresh, started
by the calling process: that test has no variant.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import processes
import pytest
from conftest import pyoneer_command, run_cli, wait_until, write_project
from processes import alive, command_line, descendants, is_alive, started_at

import pyoneer
from pyoneer import BlueprintStatus

pytestmark = pytest.mark.slow

#: how long a test waits for the processes of a tree to be gone once they should be
GONE = 10.0

# Shared by the task scripts below (imported as ``kit``; a task runs with its project
# directory as working directory and its script's directory on sys.path).
KIT = '''
    """What the task scripts share: record pids, start children and grandchildren."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    HERE = Path(__file__).resolve().parent
    PIDS = HERE / "pids"
    TAG = f"{os.environ.get('PYONEER_JOB', 'none')}.{os.environ.get('PYONEER_ATTEMPT', '0')}"
    SLEEP = "import time; time.sleep(600)"
    STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"


    def pid_file(name):
        return PIDS / f"{TAG}.{name}.pid"


    def record(name, pid=None):
        """Write ``pid`` (default: this process's) to pids/TAG.NAME.pid, atomically."""
        PIDS.mkdir(exist_ok=True)
        tmp = PIDS / f".{TAG}.{name}.{os.getpid()}.tmp"
        tmp.write_text(str(os.getpid() if pid is None else pid))
        os.replace(tmp, pid_file(name))


    def recorded(name):
        return int(pid_file(name).read_text())


    def cmdline(pid):
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return [arg.decode(errors="replace") for arg in file.read().split(b"\\0")[:-1]]


    def record_task():
        """Record this process as ``task``, after how it was started (TAG.task.json): its
        command line (a warm fork keeps its fork server's), its parent's and grandparent's
        pids and command lines, read while they surely run."""
        parent = os.getppid()
        grandparent = parent_of(parent)
        about = {
            "cmdline": cmdline("self"),
            "parent": parent,
            "parent_cmdline": cmdline(parent),
            "grandparent": grandparent,
            "grandparent_cmdline": cmdline(grandparent),
        }
        PIDS.mkdir(exist_ok=True)
        tmp = PIDS / f".{TAG}.task.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(about))
        os.replace(tmp, PIDS / f"{TAG}.task.json")
        record("task")


    def wait_for(*names):
        """Wait until each of ``names`` has recorded its pid."""
        deadline = time.monotonic() + 120
        while not all(pid_file(name).exists() for name in names):
            if time.monotonic() > deadline:
                sys.exit(f"gave up waiting for {names}")
            time.sleep(0.005)


    def ignore_term():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


    def sleeper(name, stubborn=False, **options):
        """Start a new python process that sleeps 600 s and record its pid.

        ``stubborn``: it ignores SIGTERM, from birth (SIG_IGN survives exec) and explicitly.
        The project directory is its last argument, so its command line names the test.
        """
        process = subprocess.Popen(
            [sys.executable, "-c", STUBBORN if stubborn else SLEEP, str(HERE)],
            preexec_fn=ignore_term if stubborn else None,
            **options,
        )
        record(name, process.pid)
        return process


    def fork(name, body):
        """Run ``body()`` in a forked child python process that then sleeps; its pid."""
        pid = os.fork()
        if pid == 0:
            try:
                record(name)
                body()
                time.sleep(600)
            finally:
                os._exit(0)
        return pid


    def parent_of(pid):
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])


    def sleep_forever():
        time.sleep(600)
'''

# A task with a child and a grandchild. ``tree.py stubborn``: the grandchild ignores
# SIGTERM; ``tree.py deaf``: the task does, and so (inheriting it) its whole tree.
TREE = """
    import sys
    import kit

    if "deaf" in sys.argv[1:]:
        kit.ignore_term()
    kit.record_task()
    kit.fork("child", lambda: kit.sleeper("grandchild", stubborn="stubborn" in sys.argv[1:]))
    kit.wait_for("child", "grandchild")
    kit.sleep_forever()
"""

# ``orphan.py sleep|exit [setsid]``: a middle process starts a grandchild and exits at
# once, so the grandchild is re-parented (to init or a subreaper); the task writes who its
# parent is then, and sleeps (to time out) or exits 0. ``setsid``: the grandchild also
# leaves the task's session, like a daemon.
ORPHAN = """
    import os
    import sys
    import kit

    mode, setsid = sys.argv[1], "setsid" in sys.argv[2:]
    kit.record_task()

    def middle():
        kit.sleeper("orphan", start_new_session=setsid)
        os._exit(0)

    os.waitpid(kit.fork("middle", middle), 0)
    kit.wait_for("orphan")
    (kit.PIDS / "orphan.parent").write_text(str(kit.parent_of(kit.recorded("orphan"))))
    if mode == "sleep":
        kit.sleep_forever()
"""

# A task that leaves a child sleeping in the background and ends well: at once, or
# (``background.py wait``) once the file ``go`` appears in the project directory.
BACKGROUND = """
    import sys
    import time
    import kit

    kit.record_task()
    kit.sleeper("background")
    while "wait" in sys.argv[1:] and not (kit.HERE / "go").exists():
        time.sleep(0.01)
"""

# A task that ends well (exit 0) when asked to stop with SIGTERM.
GRACEFUL = """
    import signal
    import sys
    import kit

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    kit.record_task()
    kit.sleep_forever()
"""

# Leaves JOB.ran behind: proof that the job started.
MARKER = """
    import os
    from pathlib import Path

    Path(os.environ["PYONEER_JOB"] + ".ran").write_text("ran")
"""

SCRIPTS = {
    "kit.py": KIT,
    "tree.py": TREE,
    "orphan.py": ORPHAN,
    "background.py": BACKGROUND,
    "graceful.py": GRACEFUL,
    "marker.py": MARKER,
}


# Helpers -------------------------------------------------------------------------------


def names(job: str, *members: str, attempt: int = 1) -> set[str]:
    """The keys under which ``members`` of one attempt of ``job`` record their pids."""
    return {f"{job}.{attempt}.{member}" for member in members}


def recorded(root: Path) -> dict[str, int]:
    """Every pid recorded so far in ``root``: ``JOB.ATTEMPT.NAME`` -> pid."""
    folder = root / "pids"
    if not folder.is_dir():
        return {}
    return {path.name.removesuffix(".pid"): int(path.read_text()) for path in folder.glob("*.pid")}


def all_gone(pids: Iterable[int], timeout: float = GONE) -> bool:
    """True once none of ``pids`` is alive (zombies count as dead), polling up to ``timeout``."""
    return processes.all_gone(pids, timeout)


def fresh_project(toml: str) -> str:
    """``toml`` (dedented) with ``fresh = true`` under ``[project]``: every task runs fresh."""
    toml = textwrap.dedent(toml)
    header = re.search(r"^\[project\][ \t]*$", toml, re.MULTILINE)
    if header is None:
        return "[project]\nfresh = true\n\n" + toml
    return toml[: header.end()] + "\nfresh = true" + toml[header.end() :]


class Tracker:
    """The projects and ``pyoneer run`` processes of one test, to clean up whatever happens.

    ``fresh``: each project it writes says ``fresh = true`` under ``[project]``.
    """

    def __init__(self, fresh: bool = False) -> None:
        self.fresh = fresh
        self.roots: list[Path] = []
        self.runs: list[subprocess.Popen[str]] = []
        self.seen: dict[int, str | None] = {}

    def project(self, root: Path, toml: str) -> Path:
        """A project in ``root`` with ``toml`` (fresh, if the tracker is) and every script above."""
        write_project(root, fresh_project(toml) if self.fresh else toml, SCRIPTS)
        self.roots.append(root.resolve())
        return root

    def start(self, root: Path, *options: str) -> subprocess.Popen[str]:
        """``pyoneer run ROOT OPTIONS`` in the background, its output (both streams) piped."""
        process = subprocess.Popen(
            pyoneer_command("run", str(root), *options),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.runs.append(process)
        return process

    def descendants(self, process: subprocess.Popen[str]) -> dict[int, str | None]:
        """Every process ``process`` has started and that runs now (remembered, to clean up)."""
        found = descendants(process.pid)
        self.seen.update(found)
        return found

    def clean(self) -> None:
        """SIGKILL every pyoneer still running, then every process seen or recorded still alive."""
        for process in self.runs:
            if process.poll() is None:
                process.kill()
            try:
                process.communicate(timeout=30)
            except (subprocess.TimeoutExpired, ValueError):
                pass
        for pid, start in self.seen.items():
            if start is not None and is_alive(pid) and started_at(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for root in self.roots:
            # only a process whose command line names this project: never a reused pid
            for pid in recorded(root).values():
                if is_alive(pid) and str(root) in command_line(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass


@pytest.fixture(params=["warm", "fresh"])
def variant(request: pytest.FixtureRequest) -> str:
    """How the tasks of a test's projects run: "warm" (the default) or "fresh" (``fresh = true``)."""
    if request.param == "warm" and len(os.sched_getaffinity(0)) < 2:
        # pyoneer starts no spare fork server then, and a one-task project runs fresh
        pytest.skip("one-task projects run warm only with a core to spare (pyoneer.launch)")
    return request.param


@pytest.fixture
def tracker(request: pytest.FixtureRequest) -> Iterator[Tracker]:
    """A ``Tracker``; its projects are fresh in a test's "fresh" ``variant`` (if it has one)."""
    variant = request.getfixturevalue("variant") if "variant" in request.fixturenames else None
    tracked = Tracker(fresh=variant == "fresh")
    try:
        yield tracked
    finally:
        tracked.clean()


def how_started(root: Path, tag: str) -> dict:
    """How the task recorded under ``tag`` (``JOB.ATTEMPT``) was started (see ``kit.record_task``)."""
    return json.loads((root / "pids" / f"{tag}.task.json").read_text())


def is_pyoneer(cmdline: list[str], root: Path) -> bool:
    """Whether ``cmdline`` is that of ``pyoneer run ROOT [OPTIONS]``."""
    command = pyoneer_command("run", str(root))
    return cmdline[: len(command)] == command


def assert_ran(root: Path, variant: str, *tags: str, pyoneer: int | None = None) -> None:
    """Each task recorded under ``tags`` ran as ``variant`` says.

    Warm: it was forked from a fork server (it kept the server's command line, and its
    parent is that server), a child of the ``pyoneer run ROOT`` process. Fresh: it is a
    new interpreter (its command line is its script's), started by the ``pyoneer run
    ROOT`` process itself, or (exec'd) from a fork server that process started.
    ``pyoneer``: that process's pid, when the test knows it.
    """
    for tag in tags:
        about = how_started(root, tag)
        cmdline, parent = about["cmdline"], about["parent_cmdline"]
        if variant == "warm":
            assert any("forkserver.py" in arg for arg in cmdline), f"{tag} ran fresh in the warm variant: {about}"
            assert any("forkserver.py" in arg for arg in parent), f"{tag}'s parent was no fork server: {about}"
            starter = about["grandparent"], about["grandparent_cmdline"]
        else:
            assert not any("forkserver.py" in arg for arg in cmdline), f"{tag} ran warm in the fresh variant: {about}"
            assert len(cmdline) >= 2 and Path(cmdline[1]).resolve().parent == root.resolve(), (
                f"{tag} was no new interpreter running its script: {about}"
            )
            if any("forkserver.py" in arg for arg in parent):  # exec'd from a fork server
                starter = about["grandparent"], about["grandparent_cmdline"]
            else:
                starter = about["parent"], parent
        started_by, its_cmdline = starter
        assert is_pyoneer(its_cmdline, root), f"{tag} was not started by (a fork server of) pyoneer: {about}"
        if pyoneer is not None:
            assert started_by == pyoneer, f"{tag} was not started by (a fork server of) pyoneer {pyoneer}: {about}"


def wait_for_pids(process: subprocess.Popen[str], root: Path, expected: set[str]) -> dict[str, int]:
    """Wait until every pid in ``expected`` is recorded (failing if pyoneer ends first)."""
    wait_until(lambda: expected <= recorded(root).keys() or process.poll() is not None, 60)
    pids = recorded(root)
    if not expected <= pids.keys():
        output = process.communicate(timeout=30)[0] if process.poll() is not None else "(still running)"
        pytest.fail(f"missing pids {sorted(expected - pids.keys())}; pyoneer output:\n{output}")
    return pids


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for ``pyoneer run`` to end: its exit code and output."""
    output = process.communicate(timeout=120)[0]
    return process.returncode, output


# Timeouts ------------------------------------------------------------------------------


def test_timeout_kills_the_task_its_child_and_its_grandchild(
    tracker: Tracker, project_dir: Path, variant: str
) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.main]
        tasks = [{ script = "tree.py", timeout = 1 }]
        """,
    )
    result = run_cli("run", str(root))
    pids = recorded(root)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "timed out after 1 s" in result.stdout
    assert pids.keys() == names("main", "task", "child", "grandchild")
    assert_ran(root, variant, "main.1")
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"


def test_timeout_kills_a_grandchild_that_ignores_sigterm(
    tracker: Tracker, project_dir: Path, variant: str
) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.main]
        tasks = [{ script = "tree.py", args = ["stubborn"], timeout = 1 }]
        """,
    )
    result = run_cli("run", str(root))
    pids = recorded(root)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "timed out after 1 s" in result.stdout
    assert pids.keys() == names("main", "task", "child", "grandchild")
    assert_ran(root, variant, "main.1")
    # SIGTERM cannot end it: the worker must have escalated to SIGKILL
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"


def test_timeout_kills_a_tree_that_ignores_sigterm_after_the_grace(
    tracker: Tracker, project_dir: Path, variant: str
) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.main]
        tasks = [{ script = "tree.py", args = ["deaf"], timeout = 1 }]
        """,
    )
    result = run_cli("run", str(root))
    pids = recorded(root)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "timed out after 1 s" in result.stdout
    assert pids.keys() == names("main", "task", "child", "grandchild")
    assert_ran(root, variant, "main.1")
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"


def test_timeout_kills_the_tree_of_every_attempt(tracker: Tracker, project_dir: Path, variant: str) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.main]
        tasks = [{ script = "tree.py", timeout = 1, retries = 1 }]
        """,
    )
    result = run_cli("run", str(root))
    pids = recorded(root)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "attempt 1 failed: timed out after 1 s - retrying" in result.stdout
    assert "attempt 2 failed: timed out after 1 s" in result.stdout
    expected = names("main", "task", "child", "grandchild", attempt=1)
    expected |= names("main", "task", "child", "grandchild", attempt=2)
    assert pids.keys() == expected
    assert_ran(root, variant, "main.1", "main.2")
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"


@pytest.mark.parametrize(
    ("mode", "code"), [("sleep", 1), ("exit", 0)], ids=["task-times-out", "task-succeeds"]
)
def test_an_orphaned_grandchild_is_killed(
    tracker: Tracker, project_dir: Path, variant: str, mode: str, code: int
) -> None:
    root = tracker.project(
        project_dir,
        f"""
        [jobs.main]
        tasks = [{{ script = "orphan.py", args = ["{mode}"], timeout = 2 }}]
        """,
    )
    result = run_cli("run", str(root))
    pids = recorded(root)

    assert result.returncode == code, result.stdout + result.stderr
    if mode == "sleep":
        assert "timed out after 2 s" in result.stdout
    assert pids.keys() == names("main", "task", "middle", "orphan")
    assert_ran(root, variant, "main.1")
    # while the task still ran, the orphan's parent was no longer in the task's tree
    parent = int((root / "pids" / "orphan.parent").read_text())
    assert parent not in (pids["main.1.task"], pids["main.1.middle"])
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"


# Ctrl-C and SIGTERM --------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_kills_the_running_tree_and_cancels_the_rest(
    tracker: Tracker, project_dir: Path, variant: str, signum: signal.Signals
) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.first]
        tasks = ["tree.py"]

        [jobs.second]
        tasks = ["marker.py"]
        needs = ["first"]

        [jobs.third]
        tasks = ["marker.py"]
        """,
    )
    # one worker: 'first' runs, 'third' is ready and waits, 'second' is not ready
    process = tracker.start(root, "--workers", "1")
    pids = wait_for_pids(process, root, names("first", "task", "child", "grandchild"))
    started = tracker.descendants(process)  # the task's tree, and any helper (a watchdog)
    assert set(pids.values()) <= started.keys()
    assert_ran(root, variant, "first.1", pyoneer=process.pid)
    process.send_signal(signum)
    code, output = finish(process)

    assert code == 130, output
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"
    assert all_gone(started), f"still alive: {alive(started)}"
    assert f"{signum.name} received" in output
    assert "interrupted" in output
    assert re.search(r"\bfirst cancelled\b", output), output
    assert re.search(r"\bsecond cancelled\b", output), output
    assert re.search(r"\bthird cancelled\b", output), output
    assert not (root / "second.ran").exists()
    assert not (root / "third.ran").exists()
    assert recorded(root).keys() == pids.keys()  # nothing else was started


def test_sigint_kills_the_trees_of_two_jobs_running_in_parallel(
    tracker: Tracker, project_dir: Path, variant: str
) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.left]
        tasks = ["tree.py"]

        [jobs.right]
        tasks = [{ script = "tree.py", args = ["stubborn"] }]
        """,
    )
    process = tracker.start(root, "--workers", "2")
    expected = names("left", "task", "child", "grandchild") | names("right", "task", "child", "grandchild")
    pids = wait_for_pids(process, root, expected)
    started = tracker.descendants(process)
    assert_ran(root, variant, "left.1", "right.1", pyoneer=process.pid)
    process.send_signal(signal.SIGINT)
    code, output = finish(process)

    assert code == 130, output
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"
    assert all_gone(started), f"still alive: {alive(started)}"
    assert re.search(r"\bleft cancelled\b", output), output
    assert re.search(r"\bright cancelled\b", output), output


def test_signals_again_while_stopping_a_tree_that_ignores_sigterm(
    tracker: Tracker, project_dir: Path, variant: str
) -> None:
    # an impatient user: Ctrl-C, Ctrl-C again, then SIGTERM, during the grace period
    root = tracker.project(
        project_dir,
        """
        [jobs.first]
        tasks = [{ script = "tree.py", args = ["deaf"] }]

        [jobs.second]
        tasks = ["marker.py"]
        needs = ["first"]
        """,
    )
    process = tracker.start(root)
    pids = wait_for_pids(process, root, names("first", "task", "child", "grandchild"))
    started = tracker.descendants(process)
    assert_ran(root, variant, "first.1", pyoneer=process.pid)
    for signum in (signal.SIGINT, signal.SIGINT, signal.SIGTERM):
        if process.poll() is None:
            process.send_signal(signum)
            wait_until(lambda: process.poll() is not None, 0.3)
    code, output = finish(process)

    assert code == 130, output
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"
    assert all_gone(started), f"still alive: {alive(started)}"
    assert "Traceback" not in output and "error" not in output, output
    assert re.search(r"\bsecond cancelled\b", output), output
    assert not (root / "second.ran").exists()


# The manager dies between starting a task and telling the watchdog its pid: the
# watchdog, told beforehand what the task's environment will carry, still ends it.
RACE = """\
import os, signal, subprocess, sys
from pyoneer.machine.processes import Watchdog

run_id = sys.argv[1]
env = dict(os.environ, PYONEER_RUN_ID=run_id, PYONEER_JOB="race", PYONEER_TASK="race", PYONEER_ATTEMPT="1")
marks = frozenset(f"{name}={env[name]}".encode() for name in ("PYONEER_RUN_ID", "PYONEER_JOB", "PYONEER_TASK", "PYONEER_ATTEMPT"))
watchdog = Watchdog()
watchdog.expect(marks)
task = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(task.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # before watchdog.watch(task.pid, marks)
"""


def test_the_watchdog_ends_a_task_whose_manager_died_before_naming_it(tmp_path: Path) -> None:
    run_id = f"race-{os.getpid()}-{tmp_path.name}"
    died = subprocess.run([sys.executable, "-c", RACE, run_id], capture_output=True, text=True, timeout=60)
    task = int(died.stdout.split()[0])
    try:
        assert died.returncode == -signal.SIGKILL, died.stderr
        assert wait_until(lambda: not is_alive(task), timeout=10), "the task outlived its manager"
    finally:
        if is_alive(task):
            os.kill(task, signal.SIGKILL)


def test_sigkill_of_pyoneer_still_ends_every_tree(tracker: Tracker, project_dir: Path, variant: str) -> None:
    # pyoneer cannot clean up after SIGKILL: whatever it set up for that (a watchdog) must
    root = tracker.project(
        project_dir,
        """
        [jobs.left]
        tasks = ["tree.py"]

        [jobs.right]
        tasks = [{ script = "tree.py", args = ["stubborn"] }]
        """,
    )
    process = tracker.start(root, "--workers", "2")
    expected = names("left", "task", "child", "grandchild") | names("right", "task", "child", "grandchild")
    pids = wait_for_pids(process, root, expected)
    started = tracker.descendants(process)
    assert_ran(root, variant, "left.1", "right.1", pyoneer=process.pid)
    process.kill()
    code, _ = finish(process)

    assert code == -signal.SIGKILL
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"
    assert all_gone(started), f"still alive: {alive(started)}"


def test_sigint_while_the_task_exits_0_on_sigterm(tracker: Tracker, project_dir: Path, variant: str) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.first]
        tasks = ["graceful.py"]

        [jobs.second]
        tasks = ["marker.py"]
        needs = ["first"]
        """,
    )
    process = tracker.start(root)
    pids = wait_for_pids(process, root, names("first", "task"))
    assert_ran(root, variant, "first.1", pyoneer=process.pid)
    process.send_signal(signal.SIGINT)
    code, output = finish(process)

    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"
    assert not (root / "second.ran").exists()
    assert "error" not in output, output
    assert code == 130, output


# Nothing left after a run --------------------------------------------------------------


def test_a_successful_run_leaves_no_background_process(
    tracker: Tracker, project_dir: Path, variant: str
) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.main]
        tasks = ["background.py"]
        """,
    )
    result = run_cli("run", str(root))
    pids = recorded(root)

    assert result.returncode == 0, result.stdout + result.stderr
    assert pids.keys() == names("main", "task", "background")
    assert_ran(root, variant, "main.1")
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"


def test_after_a_successful_run_nothing_it_started_remains(
    tracker: Tracker, project_dir: Path, variant: str
) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.main]
        tasks = [{ script = "background.py", args = ["wait"] }]
        """,
    )
    process = tracker.start(root)
    pids = wait_for_pids(process, root, names("main", "task", "background"))
    started = tracker.descendants(process)  # the task, its child, and any helper of pyoneer's
    assert set(pids.values()) <= started.keys()
    assert_ran(root, variant, "main.1", pyoneer=process.pid)
    (root / "go").touch()  # the task may end now, leaving its child behind
    code, output = finish(process)

    assert code == 0, output
    assert all_gone(started), f"still alive: {alive(started)}"


@pytest.mark.parametrize(
    ("mode", "code"), [("sleep", 1), ("exit", 0)], ids=["task-times-out", "task-succeeds"]
)
def test_a_daemon_that_left_the_session_is_killed(
    tracker: Tracker, project_dir: Path, variant: str, mode: str, code: int
) -> None:
    root = tracker.project(
        project_dir,
        f"""
        [jobs.main]
        tasks = [{{ script = "orphan.py", args = ["{mode}", "setsid"], timeout = 2 }}]
        """,
    )
    result = run_cli("run", str(root))
    pids = recorded(root)

    assert result.returncode == code, result.stdout + result.stderr
    assert pids.keys() == names("main", "task", "middle", "orphan")
    assert_ran(root, variant, "main.1")
    assert all_gone(pids.values(), timeout=3), f"still alive: {alive(pids.values())}"


# The Python API ------------------------------------------------------------------------


def test_python_api_run_reports_the_timeout_and_kills_the_tree(tracker: Tracker, project_dir: Path) -> None:
    root = tracker.project(
        project_dir,
        """
        [jobs.main]
        tasks = [{ script = "tree.py", timeout = 1 }]
        """,
    )
    before = descendants(os.getpid())
    result = pyoneer.run(pyoneer.load(root))
    pids = recorded(root)
    left = {pid: start for pid, start in descendants(os.getpid()).items() if pid not in before}
    tracker.seen.update(left)

    job = result.job("main")
    assert job.status is BlueprintStatus.FAILED
    assert job.attempts[-1].reason == "timed out after 1 s"
    assert job.attempts[-1].timed_out_after == 1
    assert result.exit_code == 1
    assert not result.interrupted
    assert pids.keys() == names("main", "task", "child", "grandchild")
    # it ran fresh, started by this process: no spare fork server through the Python API
    about = how_started(root, "main.1")
    assert about["parent"] == os.getpid(), about
    assert not any("forkserver.py" in arg for arg in about["cmdline"]), about
    assert all_gone(pids.values()), f"still alive: {alive(pids.values())}"
    assert all_gone(left), f"still alive: {alive(left)}"  # nor anything else it started
