"""``pyoneer attach`` of a run submitted to a real Ray cluster shows its tasks' output,
as ``pyoneer run`` does; ``-q`` only the status lines; a late attach none of the past
but the last lines of tasks still running.

The cluster is ``test_submit``'s (its fixture: one more cluster, for this module).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

pytest.importorskip("ray")
from attaching import WAITER, Attaching  # noqa: E402
from conftest import child_env, pyoneer_command, write_project  # noqa: E402
from test_submit import JobCluster, cli, cluster, explain, submit  # noqa: E402, F401


def _waiting(root: Path, go: Path, *names: str) -> Path:
    toml = "".join(f'[jobs.{name}]\ntasks = [{{ script = "waiter.py", args = ["{name}"], env = {{ GO = "{go}" }} }}]\n'
                   for name in names)
    return write_project(root, toml, {"waiter.py": WAITER})


def _attach(root: Path, *flags: str) -> Attaching:
    return Attaching(pyoneer_command("attach", *flags, "--path", str(root)), child_env())


def test_attach_shows_the_tasks_lines_headed_by_their_jobs_and_quiet_none(cluster: JobCluster,
                                                                          tmp_path: Path) -> None:
    go = tmp_path / "go"
    root = _waiting(tmp_path / "two", go, "left", "right")
    submit(cluster, root)
    shown, quiet = _attach(root), _attach(root, "-q")
    try:
        shown.wait_for(": waiting\n")
    finally:
        go.touch()
    (code, text, errors), (quiet_code, quiet_text, _) = shown.end(), quiet.end()
    assert code == 0 and quiet_code == 0, text + quiet_text
    for name in ("left", "right"):
        assert f"{name} | {name}: a warning\n" in errors and "a warning" not in text, errors  # stderr's on stderr
        assert f"{name} | {name}: waiting\n" in text, text
        for number in range(3):
            assert f"\n{name} | {name}: line {number}\n" in text, text
        assert f"{name} succeeded" in text and f"{name} succeeded" in quiet_text, quiet_text
    assert ": line" not in quiet_text and ": waiting" not in quiet_text, quiet_text

    late = cli("attach", "--path", str(root))  # the run has ended: nothing of its past output
    assert late.returncode == 0 and "left succeeded" in late.stdout, explain(late)
    assert ": line" not in late.stdout and ": waiting" not in late.stdout, explain(late)


def test_attach_shows_one_jobs_lines_as_they_are_and_a_late_one_the_last_of_them(cluster: JobCluster,
                                                                                 tmp_path: Path) -> None:
    go = tmp_path / "go"
    root = _waiting(tmp_path / "one", go, "solo")
    submit(cluster, root)
    early = _attach(root)
    try:
        early.wait_for("\nsolo: waiting\n")
        late = _attach(root)  # the task runs, and has printed its first line
        late.wait_for("attached to a running run")
    finally:
        go.touch()
    for code, text, errors in (early.end(), late.end()):
        assert code == 0, text
        assert "solo: a warning\n" in errors and "a warning" not in text, errors
        assert "\nsolo: waiting\n" in text and "\nsolo: line 0\nsolo: line 1\nsolo: line 2\n" in text, text
        assert "| solo:" not in text, text
