"""The pyoneers and the status model: the seven methods, 1-to-1, checked transitions."""

from __future__ import annotations

import inspect
import queue
from pathlib import Path

import pytest
from conftest import write_project

import pyoneer
from pyoneer import (
    AssignmentError,
    BlueprintStatus,
    Job,
    LocalEngine,
    Manager,
    Project,
    Pyoneer,
    PyoneerStatus,
    TransitionError,
    Worker,
)
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.events import JobEnded, TaskEnded, TaskStarted
from pyoneer.pyoneers.plan import Plan
from pyoneer.status import advance

SEVEN = {"get_status", "get_blueprint_status", "run", "assign", "unassign", "stop", "start"}


def test_pyoneer_declares_exactly_the_seven_methods() -> None:
    assert set(Pyoneer.__abstractmethods__) == SEVEN
    with pytest.raises(TypeError):
        Pyoneer("nobody")  # abstract
    for cls in (Manager, Worker):
        assert issubclass(cls, Pyoneer) and not inspect.isabstract(cls)


def test_public_api_is_pinned() -> None:
    assert sorted(pyoneer.__all__) == sorted(
        [
            "AssignmentError", "BlueprintStatus", "Engine", "Environment", "Job", "JobResult", "Kind",
            "LocalEngine", "Manager", "Project", "ProjectError", "Pyoneer", "PyoneerError",
            "PyoneerStatus", "Resources", "RunResult", "StateRow", "Task", "TransitionError",
            "UsageError", "Worker", "__version__", "load", "run",
        ]
    )
    for name in pyoneer.__all__:
        assert getattr(pyoneer, name) is not None
    for error in ("ProjectError", "UsageError", "AssignmentError", "TransitionError"):
        assert issubclass(getattr(pyoneer, error), pyoneer.PyoneerError)


def test_status_transitions_are_checked() -> None:
    assert advance(BlueprintStatus.NOT_READY, BlueprintStatus.READY) is BlueprintStatus.READY
    with pytest.raises(TransitionError, match="succeeded to running"):
        advance(BlueprintStatus.SUCCEEDED, BlueprintStatus.RUNNING)
    with pytest.raises(TransitionError):
        advance(BlueprintStatus.NOT_READY, BlueprintStatus.SUCCEEDED)
    with pytest.raises(TransitionError):
        advance(PyoneerStatus.STOPPED, PyoneerStatus.WORKING)
    with pytest.raises(TransitionError):
        advance(PyoneerStatus.LOST, PyoneerStatus.IDLE)


def _one_job_project(root: Path, body: str = "print('ok')\n") -> Project:
    write_project(root, '[jobs.only]\ntasks = ["only.py"]\n', {"only.py": body})
    return pyoneer.load(root)


def test_worker_lifecycle_and_one_blueprint_at_a_time(project_dir: Path) -> None:
    project = _one_job_project(project_dir)
    job = project.jobs[0]
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    worker = Worker("worker-1", RunContext("test-run", project), inbox.put)
    assert worker.get_status() is PyoneerStatus.STOPPED
    with pytest.raises(TransitionError):
        worker.assign(job)  # not started yet
    worker.start()
    assert worker.get_status() is PyoneerStatus.IDLE and worker.get_blueprint_status() is None
    worker.assign(job)
    assert worker.get_status() is PyoneerStatus.ASSIGNED
    assert worker.get_blueprint_status() is BlueprintStatus.READY
    with pytest.raises(AssignmentError, match="already holds job 'only'"):
        worker.assign(Job("other", tasks=["only.py"]))
    worker.run()
    reports = [inbox.get(timeout=30) for _ in range(3)]
    assert [type(report) for report in reports] == [TaskStarted, TaskEnded, JobEnded]
    assert reports[-1].status is BlueprintStatus.SUCCEEDED
    # lazy: it holds the ended job, assigned, until its manager lets it go
    assert worker.get_status() is PyoneerStatus.ASSIGNED
    assert worker.get_blueprint_status() is BlueprintStatus.SUCCEEDED
    assert worker.unassign() is job
    assert worker.get_status() is PyoneerStatus.IDLE
    worker.stop()
    assert worker.get_status() is PyoneerStatus.STOPPED


def test_manager_holds_one_project_and_reports_the_state(project_dir: Path) -> None:
    project = _one_job_project(project_dir)
    manager = Manager(LocalEngine(), workers=1)
    manager.start()
    manager.assign(project)
    with pytest.raises(AssignmentError):
        manager.assign(project)
    result = manager.run()
    assert result.ok
    assert manager.get_status() is PyoneerStatus.ASSIGNED
    assert manager.get_blueprint_status() is BlueprintStatus.SUCCEEDED
    rows = manager.snapshot()
    assert (rows[0].pyoneer, rows[0].role, rows[0].kind, rows[0].blueprint) == (
        "manager", "manager", "project", "proj"
    )
    assert rows[0].blueprint_status is BlueprintStatus.SUCCEEDED
    # the worker was released at the end; the job row shows how it ended
    job_rows = [row for row in rows if row.blueprint == "only"]
    assert [row.blueprint_status for row in job_rows] == [BlueprintStatus.SUCCEEDED]
    assert all(row.status is PyoneerStatus.STOPPED for row in rows if row.role == "worker")
    manager.unassign()
    manager.stop()
    assert manager.get_status() is PyoneerStatus.STOPPED


def test_plan_readies_skips_and_cancels(tmp_path: Path) -> None:
    write_project(tmp_path, scripts={"x.py": ""})
    jobs = [Job(name, tasks=["x.py"]) for name in ("a", "b", "c", "d")]
    project = Project("p", jobs=jobs, needs={"b": ["a"], "c": ["b"], "d": []}, root=tmp_path)
    plan = Plan(project)
    assert plan.open() == [("a", BlueprintStatus.READY), ("d", BlueprintStatus.READY)]
    assert plan.next_ready() == "a"
    plan.start("a")
    assert plan.finish("a", BlueprintStatus.SUCCEEDED) == [
        ("a", BlueprintStatus.SUCCEEDED), ("b", BlueprintStatus.READY)
    ]
    plan.start("d")
    plan.start("b")
    assert plan.finish("b", BlueprintStatus.FAILED) == [
        ("b", BlueprintStatus.FAILED), ("c", BlueprintStatus.SKIPPED)
    ]
    assert not plan.finished
    assert plan.finish("d", BlueprintStatus.SUCCEEDED) == [("d", BlueprintStatus.SUCCEEDED)]
    assert plan.finished


def test_layers_give_the_run_order(tmp_path: Path) -> None:
    write_project(tmp_path, scripts={"x.py": ""})
    jobs = [Job(name, tasks=["x.py"]) for name in ("report", "extract", "stats", "squares")]
    needs = {"report": ["stats", "squares"], "stats": ["extract"], "squares": ["extract"]}
    project = Project("p", jobs=jobs, needs=needs, root=tmp_path)
    assert project.layers() == [["extract"], ["stats", "squares"], ["report"]]
