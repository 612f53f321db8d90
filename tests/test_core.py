"""The pure core, alone: the plan, the slot pool, the worker pool, the tally, and the
manager driven one step at a time with an engine whose workers the test moves by hand.

No process starts here: a ``HandWorker`` holds its job until the test says how it ends
(``succeed``, ``fail``, ``vanish``, ``break_down``), and each of those is a report the
manager handles at its next ``step``.
"""

from __future__ import annotations

import queue
from pathlib import Path

import pytest
from conftest import write_project

from pyoneer import (
    BlueprintStatus,
    Engine,
    Job,
    Manager,
    Project,
    PyoneerStatus,
    Resources,
)
from pyoneer.errors import EXIT_FAILED, MachineError
from pyoneer.pyoneers.engine import Capacity
from pyoneer.pyoneers.events import (
    Attempt,
    Event,
    Faulted,
    JobChanged,
    TaskEnded,
    WorkerLost,
)
from pyoneer.pyoneers.manager import MAX_REASSIGNMENTS
from pyoneer.pyoneers.plan import Plan
from pyoneer.pyoneers.slot_pool import SlotPool
from pyoneer.pyoneers.tally import Tally
from pyoneer.pyoneers.worker import BaseWorker
from pyoneer.pyoneers.worker_pool import WorkerPool
from pyoneer.status import RunState

S = BlueprintStatus


# The plan ------------------------------------------------------------------------------


def _project(root: Path, needs: dict[str, list[str]], names: str = "abcd", **cpus: float) -> Project:
    write_project(root, scripts={"x.py": ""})
    jobs = [Job(name, tasks=["x.py"], resources={"cpus": cpus.get(name, 1)}) for name in names]
    return Project("p", jobs=jobs, needs=needs, root=root)


def test_plan_starts_reused_jobs_succeeded_and_readies_what_they_free(tmp_path: Path) -> None:
    plan = Plan(_project(tmp_path, {"b": ["a"], "c": ["b"]}), reused=frozenset({"a"}))
    assert plan.status["a"] is S.SUCCEEDED
    assert plan.open() == [("b", S.READY), ("d", S.READY)]


def test_plan_requeues_a_lost_job_at_the_head_of_the_queue(tmp_path: Path) -> None:
    plan = Plan(_project(tmp_path, {}))
    plan.open()
    plan.start("a")
    assert plan.next_ready() == "b"
    assert plan.requeue("a") == ("a", S.READY)
    assert plan.next_ready() == "a"  # it waited longest
    with pytest.raises(ValueError, match="not the next ready job"):
        plan.start("b")


def test_plan_cancels_the_rest_and_a_cancelled_dependent_stays_cancelled(tmp_path: Path) -> None:
    plan = Plan(_project(tmp_path, {"b": ["a"]}))
    plan.open()
    plan.start("a")
    assert sorted(plan.cancel_rest()) == [("b", S.CANCELLED), ("c", S.CANCELLED), ("d", S.CANCELLED)]
    assert plan.finish("a", S.SUCCEEDED) == [("a", S.SUCCEEDED)]  # b is not made ready again
    assert plan.finished


def test_plan_skips_everything_downstream_of_a_failure(tmp_path: Path) -> None:
    plan = Plan(_project(tmp_path, {"b": ["a"], "c": ["b"], "d": ["a", "b"]}))
    plan.open()
    plan.start("a")
    changes = plan.finish("a", S.FAILED)
    assert changes[0] == ("a", S.FAILED)
    assert sorted(changes[1:]) == [("b", S.SKIPPED), ("c", S.SKIPPED), ("d", S.SKIPPED)]
    assert plan.finished


# The slot pool -------------------------------------------------------------------------


def test_slot_pool_gives_what_is_free_and_takes_it_back() -> None:
    slots = SlotPool(3)
    assert slots.take("a", 2)
    assert not slots.take("b", 2)  # one slot free
    assert not slots.holds("b") and slots.free == 1
    assert slots.take("c", 0.5) and slots.take("d", 0.5)
    assert not slots.take("e", 0.5)
    slots.give_back("a")
    assert slots.free == 2 and not slots.holds("a")
    with pytest.raises(ValueError, match="already holds"):
        slots.take("c", 1)


def test_slot_pool_lets_a_job_bigger_than_the_pool_run_alone() -> None:
    slots = SlotPool(2)
    assert slots.need(8) == 2
    assert slots.take("big", 8) and slots.free == 0
    slots.give_back("big")
    assert slots.free == 2
    with pytest.raises(ValueError):
        SlotPool(0)


def test_slot_pool_adds_fractions_up_to_a_whole() -> None:
    slots = SlotPool(1)
    for name in "abcdefghij":
        assert slots.take(name, 0.1), name
    assert not slots.take("k", 0.1)


# The worker pool -----------------------------------------------------------------------


class _Named:
    """Just enough of a pyoneer for the pool: a name and a status."""

    def __init__(self, name: str, status: PyoneerStatus = PyoneerStatus.IDLE) -> None:
        self.name = name
        self.status = status

    def get_status(self) -> PyoneerStatus:
        return self.status


def _pool_of(count: int, limit: int = 4) -> tuple[WorkerPool, list[_Named]]:
    pool = WorkerPool(limit)
    workers = [_Named(pool.new_name()) for _ in range(count)]
    for worker in workers:
        pool.add(worker)  # type: ignore[arg-type]
    return pool, workers


def test_worker_pool_names_workers_once_and_knows_when_it_is_full() -> None:
    pool, workers = _pool_of(2, limit=2)
    assert [w.name for w in workers] == ["worker-1", "worker-2"]
    assert pool.full
    pool.remove("worker-1")
    assert not pool.full
    assert pool.new_name() == "worker-3"  # a name is never given twice in a run


def test_worker_pool_hands_out_the_last_idle_worker_that_fits() -> None:
    pool, (one, two, three) = _pool_of(3)
    for at, worker in enumerate((one, two, three)):
        pool.park(worker, now=float(at))  # type: ignore[arg-type]
    assert pool.take_idle(lambda w: True) is three  # the warmest first
    assert pool.take_idle(lambda w: w is one) is one
    assert pool.take_idle(lambda w: w is one) is None  # not idle any more
    assert pool.drain_idle() == [two]
    assert pool.take_idle(lambda w: True) is None


def test_worker_pool_lets_go_of_workers_idle_too_long() -> None:
    pool, (one, two) = _pool_of(2)
    pool.park(one, now=0.0)  # type: ignore[arg-type]
    pool.park(two, now=50.0)  # type: ignore[arg-type]
    assert pool.expired(now=70.0, timeout=60.0) == [one]
    assert pool.expired(now=70.0, timeout=60.0) == []
    assert pool.take_idle(lambda w: True) is two
    one.status = PyoneerStatus.STOPPED
    assert pool.not_stopped() == [two]


# The tally -----------------------------------------------------------------------------


def test_tally_makes_each_jobs_result(tmp_path: Path) -> None:
    tally = Tally(["a", "b", "c"])
    log = tmp_path / "a.log"
    tally.attempted(Attempt("a", "x", 1, log, started=10.0, ended=11.0, exit_code=3))
    tally.attempted(Attempt("a", "x", 2, log, started=12.0, ended=15.0, exit_code=0))
    tally.holders["a"] = "worker-1"
    assert tally.lost("b") == 1 and tally.lost("b") == 2
    tally.reasons["b"] = "2 workers lost"
    status = {"a": S.SUCCEEDED, "b": S.FAILED, "c": S.SUCCEEDED}
    a, b, c = tally.results(status, reused=frozenset({"c"}))
    assert (a.name, a.status, a.tries, a.duration, a.worker) == ("a", S.SUCCEEDED, 2, 5.0, "worker-1")
    assert (b.status, b.reason, b.failure) == (S.FAILED, "2 workers lost", None)
    assert c.reused and c.attempts == ()


# The manager, one step at a time -------------------------------------------------------


class HandWorker(BaseWorker):
    """A worker that holds its job until the test ends it; no thread, no process."""

    def __init__(self, name: str, context, report) -> None:  # noqa: ANN001
        super().__init__(name, context, report)
        self.jobs: list[str] = []
        self._broken = False

    def run(self) -> None:
        with self._guard:
            self._become(PyoneerStatus.WORKING)
            self._mark(S.RUNNING)
            self.jobs.append(self._blueprint.name)

    def _work(self, job: Job) -> None:  # never called: the test ends each job
        raise AssertionError("a hand worker runs nothing")

    def _cancel(self) -> None:
        """As a real worker does when stopped mid-job: the job ends cancelled."""
        if self.get_status() is PyoneerStatus.WORKING and not self._broken:
            self._end(self._blueprint, S.CANCELLED)

    def succeed(self) -> None:
        self._end(self._blueprint, S.SUCCEEDED)

    def fail(self, code: int = 3) -> None:
        job = self._blueprint
        attempt = Attempt(job.name, "x", 1, Path("x.log"), started=1.0, ended=2.0, exit_code=code)
        self._report(TaskEnded(self.name, attempt, retries=0))
        self._end(job, S.FAILED)

    def vanish(self, why: str = "node died") -> None:
        with self._guard:
            self._become(PyoneerStatus.LOST)
        self._report(WorkerLost(self.name, self._blueprint.name, why))

    def break_down(self, error: MachineError) -> None:
        self._broken = True  # its thread is over: it reports no end of its job
        self._report(Faulted(self.name, self._blueprint.name, error))


class HandEngine(Engine):
    """Workers the test moves by hand; ``fits`` says which idle worker may take a job."""

    name = "hand"

    def __init__(self, slots: int = 2, capacity: Capacity = Capacity()) -> None:
        self.made: dict[str, HandWorker] = {}
        self._slots = slots
        self._capacity = capacity
        self.fitting = lambda worker, job: True

    def capacity(self) -> Capacity:
        return self._capacity

    def create_worker(self, name: str, context, report) -> HandWorker:  # noqa: ANN001
        self.made[name] = HandWorker(name, context, report)
        return self.made[name]

    def slots(self) -> int:
        return self._slots

    def fits(self, worker, job) -> bool:  # noqa: ANN001
        return self.fitting(worker, job)


class Heard:
    """An observer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def notify(self, event: Event) -> None:
        self.events.append(event)

    def jobs(self) -> list[tuple[str, BlueprintStatus]]:
        return [(e.job, e.status) for e in self.events if isinstance(e, JobChanged)]


def _begun(project: Project, engine: HandEngine, **options) -> tuple[Manager, Heard]:  # noqa: ANN003
    heard = Heard()
    manager = Manager(engine, observers=[heard], **options)
    manager.start()
    manager.assign(project)
    manager.begin()
    return manager, heard


def _running(engine: HandEngine) -> dict[str, str]:
    """Which worker runs which job now."""
    return {
        name: worker.blueprint.name
        for name, worker in engine.made.items()
        if worker.get_status() is PyoneerStatus.WORKING
    }


def test_a_step_hands_ready_jobs_to_new_workers_within_the_slots(tmp_path: Path) -> None:
    project = _project(tmp_path, {"d": ["a", "b", "c"]})
    engine = HandEngine(slots=2)
    manager, heard = _begun(project, engine)
    assert heard.jobs() == [("a", S.READY), ("b", S.READY), ("c", S.READY)]
    manager.step(0)
    assert _running(engine) == {"worker-1": "a", "worker-2": "b"}  # two slots, two workers
    engine.made["worker-1"].succeed()
    manager.step(0)  # hears a succeeded
    manager.step(0)  # c goes to the idle worker-1: lazy, no third worker
    assert _running(engine) == {"worker-1": "c", "worker-2": "b"}
    assert engine.made["worker-1"].jobs == ["a", "c"]
    for name in ("worker-1", "worker-2"):
        engine.made[name].succeed()
        manager.step(0)
    manager.step(0)
    assert _running(engine) == {"worker-1": "d"} or _running(engine) == {"worker-2": "d"}
    next(iter(w for w in engine.made.values() if w.get_status() is PyoneerStatus.WORKING)).succeed()
    manager.step(0)
    assert manager.finished
    result = manager.conclude()
    assert result.ok and len(engine.made) == 2
    assert all(worker.get_status() is PyoneerStatus.STOPPED for worker in engine.made.values())
    assert isinstance(heard.events[-1].result, RunState) and heard.events[-1].result is RunState.SUCCEEDED


def test_a_big_job_is_not_overtaken_by_smaller_ones(tmp_path: Path) -> None:
    project = _project(tmp_path, {}, names="abc", a=1, b=2, c=1)
    engine = HandEngine(slots=2)
    manager, _ = _begun(project, engine)
    manager.step(0)
    assert _running(engine) == {"worker-1": "a"}  # b needs both slots: c waits behind it
    engine.made["worker-1"].succeed()
    manager.step(0)
    manager.step(0)
    assert _running(engine) == {"worker-1": "b"}


def test_a_lost_worker_s_job_goes_to_a_new_worker(tmp_path: Path) -> None:
    project = _project(tmp_path, {"b": ["a"]}, names="ab")
    engine = HandEngine(slots=1)
    manager, heard = _begun(project, engine)
    manager.step(0)
    engine.made["worker-1"].vanish()
    manager.step(0)  # a is ready again, worker-1 is gone
    assert ("a", S.READY) in heard.jobs()[-1:]
    manager.step(0)
    assert _running(engine) == {"worker-2": "a"}
    assert engine.made["worker-1"].get_status() is PyoneerStatus.LOST
    engine.made["worker-2"].succeed()
    manager.step(0)
    manager.step(0)
    engine.made["worker-2"].succeed()
    manager.step(0)
    result = manager.conclude()
    assert result.ok and result.job("a").worker == "worker-2"


def test_a_job_that_loses_too_many_workers_fails_and_its_dependents_are_skipped(tmp_path: Path) -> None:
    project = _project(tmp_path, {"b": ["a"]}, names="ab")
    engine = HandEngine(slots=1)
    manager, _ = _begun(project, engine)
    for lost in range(1, MAX_REASSIGNMENTS + 2):
        manager.step(0)
        engine.made[f"worker-{lost}"].vanish("killed")
        manager.step(0)
    assert manager.finished
    result = manager.conclude()
    assert result.statuses == {"a": S.FAILED, "b": S.SKIPPED}
    assert result.job("a").reason == f"{MAX_REASSIGNMENTS + 1} workers lost while running it (last: killed)"
    assert result.exit_code == EXIT_FAILED


def test_an_idle_worker_is_let_go_after_its_idle_timeout(tmp_path: Path) -> None:
    project = _project(tmp_path, {"b": ["a"]}, names="abc")
    engine = HandEngine(slots=2)
    manager, _ = _begun(project, engine, idle_timeout=0.0)
    manager.step(0)
    assert _running(engine) == {"worker-1": "a", "worker-2": "c"}
    engine.made["worker-2"].succeed()
    manager.step(0)  # worker-2 goes idle: nothing is ready for it (b waits for a)
    manager.step(0)  # and is let go
    assert engine.made["worker-2"].get_status() is PyoneerStatus.STOPPED
    assert [row.pyoneer for row in manager.snapshot() if row.role == "worker"] == ["worker-1"]
    engine.made["worker-1"].succeed()
    manager.step(0)
    manager.step(0)
    assert _running(engine) == {"worker-1": "b"}


def test_an_idle_worker_that_does_not_fit_is_let_go_for_a_new_one(tmp_path: Path) -> None:
    project = _project(tmp_path, {"b": ["a"]}, names="ab")
    engine = HandEngine(slots=1)
    engine.fitting = lambda worker, job: job.name == "a"
    manager, _ = _begun(project, engine)
    manager.step(0)
    engine.made["worker-1"].succeed()
    manager.step(0)
    manager.step(0)
    assert engine.made["worker-1"].get_status() is PyoneerStatus.STOPPED
    assert _running(engine) == {"worker-2": "b"}


def test_an_interrupt_cancels_what_has_not_started_and_stops_every_worker(tmp_path: Path) -> None:
    project = _project(tmp_path, {"b": ["a"]}, names="abc")
    engine = HandEngine(slots=1)
    manager, heard = _begun(project, engine)
    manager.step(0)
    manager.interrupt("SIGTERM received")
    manager.step(0)
    assert {job: status for job, status in heard.jobs()[-2:]} == {"b": S.CANCELLED, "c": S.CANCELLED}
    manager.step(0)  # a's cancellation
    assert manager.finished
    result = manager.conclude()
    assert result.interrupted and result.exit_code == 130
    assert result.statuses == {"a": S.CANCELLED, "b": S.CANCELLED, "c": S.CANCELLED}


def test_a_fault_of_the_machine_fails_the_job_and_winds_the_run_down(tmp_path: Path) -> None:
    project = _project(tmp_path, {"b": ["a"]}, names="abc")
    engine = HandEngine(slots=2)
    manager, _ = _begun(project, engine)
    manager.step(0)
    fault = MachineError(tmp_path / "x.log", "write", "the disk is full").during_run()
    engine.made["worker-1"].break_down(fault)
    manager.step(0)
    manager.step(0)
    assert manager.finished and manager.fault is fault
    result = manager.conclude()
    assert result.statuses == {"a": S.FAILED, "b": S.SKIPPED, "c": S.CANCELLED}
    assert "the disk is full" in result.job("a").reason
    assert not result.interrupted and result.exit_code == EXIT_FAILED
    assert all(worker.get_status() is PyoneerStatus.STOPPED for worker in engine.made.values())


def test_the_inbox_is_where_reports_wait_for_the_next_step(tmp_path: Path) -> None:
    project = _project(tmp_path, {}, names="a")
    engine = HandEngine(slots=1)
    manager, heard = _begun(project, engine)
    manager.step(0)
    engine.made["worker-1"].succeed()
    assert heard.jobs()[-1] == ("a", S.RUNNING)  # reported, not heard yet
    manager.step(0)
    assert heard.jobs()[-1] == ("a", S.SUCCEEDED)
    assert isinstance(manager._inbox, queue.SimpleQueue) and manager._inbox.empty()


# GPUs and custom resources in the slot pool --------------------------------------------


def test_slot_pool_hands_out_whole_devices_and_shares_fractions() -> None:
    slots = SlotPool(8, gpus=["0", "1", "2"], custom={"license": 2})
    two = slots.take("two", Resources(gpus=2))
    assert two.devices == ("0", "1")
    half = slots.take("half", Resources(gpus=0.5))
    assert half.devices == ("2",)
    other_half = slots.take("other-half", Resources(gpus=0.5))
    assert other_half.devices == ("2",)  # shares the device already in part use
    assert slots.take("one", Resources(gpus=1)) is None  # no whole device is free
    cpu = slots.take("cpu", Resources())
    assert cpu.devices == ()  # handed out here: none for a job that asked for none
    slots.give_back("two")
    assert slots.take("one", Resources(gpus=1)).devices == ("0",)
    assert slots.take("lic", Resources(custom={"license": 2})).custom == (("license", 2),)
    assert slots.take("lic-2", Resources(custom={"license": 1})) is None
    slots.give_back("lic")
    assert slots.take("lic-2", Resources(custom={"license": 1})) is not None


def test_slot_pool_says_what_could_never_fit() -> None:
    slots = SlotPool(2, gpus=["0"], custom={"license": 1})
    assert slots.never_fits(Resources(gpus=2)) == "it asks for 2 GPUs, and there are 1"
    assert slots.never_fits(Resources(gpus=0.5)) == ""
    assert slots.never_fits(Resources(custom={"license": 3})) == "it asks for 3 of 'license', and there is 1"
    assert SlotPool(2).never_fits(Resources(gpus=4)) == ""  # GPUs not handed out here (Ray places them)


def test_a_job_no_slot_could_ever_hold_fails_instead_of_waiting(tmp_path: Path) -> None:
    write_project(tmp_path, scripts={"x.py": ""})
    jobs = [Job("big", tasks=["x.py"], resources={"custom": {"license": 5}}), Job("after", tasks=["x.py"]),
            Job("free", tasks=["x.py"])]
    project = Project("p", jobs=jobs, needs={"after": ["big"]}, root=tmp_path)
    engine = HandEngine(slots=1, capacity=Capacity(custom=(("license", 1),)))
    manager, _ = _begun(project, engine)
    manager.step(0)
    engine.made["worker-1"].succeed()
    manager.step(0)
    assert manager.finished
    result = manager.conclude()
    assert result.statuses == {"big": S.FAILED, "after": S.SKIPPED, "free": S.SUCCEEDED}
    assert result.job("big").reason == "it asks for 5 of 'license', and there is 1"
