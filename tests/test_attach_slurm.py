"""``pyoneer attach`` of a run submitted to a real Slurm shows its tasks' output, as
``pyoneer run`` does; ``-q`` only the status lines; a late attach the last lines of the
tasks still running, and nothing of those that have ended.

The cluster is ``slurm_cluster``'s, started for this module as ``test_slurm`` starts it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from attaching import WAITER, Attaching
from slurm_cluster import missing, reached

from conftest import child_env, pyoneer_command, run_cli, write_project

pytestmark = [pytest.mark.slurm, pytest.mark.skipif(bool(missing()), reason=missing() or "-")]


@pytest.fixture(scope="module", autouse=True)
def cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The cluster, reached through ``SLURM_CONF`` by every command the tests start."""
    with reached(tmp_path_factory.mktemp("slurm")) as made:
        yield made


def _attach(root: Path, *flags: str) -> Attaching:
    return Attaching(pyoneer_command("attach", *flags, "--path", str(root)), child_env())


def test_attach_shows_the_tasks_lines_headed_by_their_jobs(tmp_path: Path) -> None:
    go = tmp_path / "go"
    toml = "".join(f'[jobs.{name}]\ntasks = [{{ script = "waiter.py", args = ["{name}"], env = {{ GO = "{go}" }} }}]\n'
                   for name in ("left", "right"))
    root = write_project(tmp_path / "two", toml, {"waiter.py": WAITER})
    submitted = run_cli("submit", str(root), "--engine", "slurm")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    shown, quiet = _attach(root), _attach(root, "-q")
    try:
        shown.wait_for(": waiting\n")
        late = _attach(root)  # a task runs, and has printed its first line
        late.wait_for("attached to a running run")
    finally:
        go.touch()
    (code, text, errors), (quiet_code, quiet_text, _), (late_code, late_text, late_errors) = (
        shown.end(), quiet.end(), late.end())
    assert code == 0 and quiet_code == 0 and late_code == 0, text + quiet_text + late_text
    for name in ("left", "right"):
        for said, warned in ((text, errors), (late_text, late_errors)):  # stderr's on stderr
            assert f"{name} | {name}: a warning\n" in warned and "a warning" not in said, warned
        assert f"{name} | {name}: waiting\n" in text, text
        for number in range(3):
            assert f"\n{name} | {name}: line {number}\n" in text and f"{name}: line {number}\n" in late_text, text
        assert f"{name} succeeded" in quiet_text, quiet_text
    assert ": line" not in quiet_text and ": waiting" not in quiet_text, quiet_text

    again = run_cli("attach", "--path", str(root))  # the run has ended: nothing of its past output
    assert again.returncode == 0 and "left succeeded" in again.stdout, again.stdout + again.stderr
    assert ": line" not in again.stdout and ": waiting" not in again.stdout, again.stdout
