"""The Slurm engine: workers as Slurm batch jobs, on the clusters researchers already have.

Slurm owns queueing, placement, node failure and killing; Pyoneer owns blueprints,
pyoneers, status and the ledger. A worker pyoneer is an allocation sized to the first
job it takes; being lazy, it takes the next job that fits, and idles between jobs
(``[engine.slurm] idle``, then it gives its allocation back). Workers and the manager
talk through files on the filesystem that the login and compute nodes share
(``mailbox``); the manager beats a heartbeat there, and asks ``squeue`` about all its
workers at once, only to learn of those that died without a word.

The rule for walltime: a job's time is the sum of its tasks' timeouts, each times its
tries (known only when every task has a timeout). A worker takes a job only when its
walltime left covers that plus ``MARGIN``; else the job gets a new worker. A job whose
time is more than a worker's whole walltime is refused before anything is queued.
"""

from __future__ import annotations

import math
import pickle
import shlex
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pyoneer.blueprints.job import Job, Resources
from pyoneer.blueprints.placement import JOB_KEYS, walltime_seconds
from pyoneer.blueprints.project import Project
from pyoneer.engines.slurm.commands import JobState, Slurm
from pyoneer.engines.slurm.environment import build_environment
from pyoneer.engines.slurm.mailbox import Heartbeat, write_whole
from pyoneer.engines.slurm.node import ENV_FILE
from pyoneer.engines.slurm.worker import Allocation, SlurmWorker
from pyoneer.errors import ClusterError, ProjectError
from pyoneer.pyoneers.context import WORKSPACE, RunContext
from pyoneer.pyoneers.engine import Engine, Report
from pyoneer.pyoneers.pyoneer import Pyoneer

#: seconds between two heartbeats of the manager
BEAT_EVERY = 2.0
#: seconds between two looks at the run's workers in Slurm's queue (one squeue for all)
WATCH_EVERY = 3.0
#: seconds of walltime a worker keeps in hand beyond a job's time
MARGIN = 30.0
#: seconds an idle worker waits for a job before it gives its allocation back
IDLE = 60.0


class SlurmEngine(Engine):
    """Workers as Slurm batch jobs, sized to their jobs, talking through shared files."""

    name = "slurm"

    def __init__(self, settings: Mapping[str, Any] | None = None, announce: Callable[[str], None] | None = None) -> None:
        self.slurm = Slurm()  # no sbatch here: refused before anything else
        self.settings = dict(settings or {})
        self.announce = announce or (lambda _text: None)
        self._lock = threading.Lock()
        self._project: Project | None = None
        self._run_dir: Path | None = None
        #: every allocation this run asked for and has not seen end, by Slurm job id
        self._live: set[str] = set()
        #: what squeue said of them last (and of those that ended since)
        self._states: dict[str, JobState] = {}
        self._ended: dict[str, JobState] = {}
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        #: where the project's packages were built (None: it declares none)
        self._environment: Path | None = None

    # Engine ---------------------------------------------------------------------------

    def open(self, project: Project) -> None:
        """Refuse what Slurm would refuse, before anything is queued; build the environment."""
        asked: dict[tuple[Any, ...], Job] = {}
        for job in project.jobs:
            key = f"jobs.{job.group}"
            if job.resources.custom:
                name = job.resources.custom[0][0]
                raise ProjectError(
                    f"custom resources ({name}) mean nothing to Slurm", key=f"{key}.resources.custom.{name}",
                    hint=f'ask Slurm for it in sbatch\'s words: {key}.slurm = {{ options = ["--gres={name}:1"] }}',
                )
            placement = self.placement_of(job)
            limit = _limit(placement)
            need = job_time(job)
            if need is not None and limit is not None and need + MARGIN > limit:
                raise ProjectError(
                    f"job {job.name!r} may take {need:g} s (its tasks' timeouts) and a worker's walltime is {limit} s",
                    key=f"{key}.slurm.time" if dict(job.slurm).get("time") else "engine.slurm.time",
                    hint=f"give it more time (with {MARGIN:g} s to spare), or shorter task timeouts",
                )
            asked.setdefault((placement, job.resources), job)
        for (placement, resources), job in asked.items():
            refusal = self.slurm.refusal(self.sbatch_options(placement, resources))
            if refusal:
                own = set(dict(job.slurm)) & {"partition", "account", "qos", "time", "options"}
                raise ProjectError(
                    f"Slurm refuses job {job.name!r}: {refusal}",
                    key=f"jobs.{job.group}.slurm" if own else "engine.slurm",
                    hint="check the partition, account, qos and walltime (sinfo, sacctmgr show assoc), "
                         "and that one node of the partition has what the job asks (scontrol show node)",
                )
        self._environment = build_environment(project, self.announce)
        self._project = project

    def slots(self) -> int:
        """``max_workers`` if set; else the CPUs of the partitions the run uses."""
        if self.settings.get("max_workers"):
            return int(self.settings["max_workers"])
        partitions = {dict(self.placement_of(job)).get("partition") for job in self._project.jobs}
        return max(1, self.slurm.cpus(sorted(name for name in partitions if name)))

    def idle_timeout(self) -> float:
        """``[engine.slurm] idle``: how long an idle worker keeps its allocation."""
        return float(self.settings.get("idle", IDLE))

    def create_worker(self, name: str, context: RunContext, report: Report) -> Pyoneer:
        """A worker whose batch job is queued when its first job comes."""
        with self._lock:
            if self._run_dir is None:
                self._start(context)
        return SlurmWorker(name, context, report, self)

    def fits(self, worker: Pyoneer, job: Job) -> bool:
        """An idle worker takes a job with its Slurm settings, within its size and time left."""
        place = getattr(worker, "place", None)
        if place is None:
            return True
        if place.placement != self.placement_of(job) or not _covers(place.size, job.resources):
            return False
        need, left = job_time(job), place.time_left(time.time())
        return need is None or left is None or left >= need + MARGIN

    def close(self) -> None:
        """Stop the heartbeat and the watch; cancel any allocation still alive."""
        self._closing.set()
        for thread in self._threads:
            thread.join()
        with self._lock:
            alive = set(self._live)
            self._live.clear()
        self.slurm.cancel(alive)

    # For the workers ------------------------------------------------------------------

    def placement_of(self, job: Job) -> tuple[tuple[str, Any], ...]:
        """The Slurm settings a job's worker is asked with: the engine's, overridden by the job's."""
        merged = {key: value for key, value in self.settings.items() if key in JOB_KEYS}
        merged.update(dict(job.slurm))
        return tuple(sorted(merged.items()))

    def sbatch_options(self, placement: tuple[tuple[str, Any], ...], resources: Resources) -> list[str]:
        """``sbatch``'s options for an allocation with ``placement`` that holds ``resources``."""
        settings = dict(placement)
        # never requeued by Slurm: a worker that ended is lost, and its manager moves its job
        options = ["--nodes=1", "--ntasks=1", "--no-requeue", f"--cpus-per-task={math.ceil(resources.cpus)}"]
        if resources.gpus:
            options.append(f"--gres=gpu:{math.ceil(resources.gpus)}")
        if resources.memory:
            options.append(f"--mem={math.ceil(resources.memory / 2**20)}M")
        options += [f"--{key}={settings[key]}" for key in ("partition", "account", "qos", "time") if key in settings]
        return options + list(settings.get("options", ()))

    def worker_dir(self, name: str) -> Path:
        """Where a worker's mailboxes and Slurm output live."""
        return self._run_dir / name

    def allocate(self, worker: str, job: Job) -> Allocation:
        """Queue a batch job for ``worker``, sized to ``job``."""
        placement = self.placement_of(job)
        directory = self.worker_dir(worker)
        options = [
            f"--job-name=pyoneer-{self._run_dir.parent.name}-{worker}",
            f"--output={directory / 'slurm.out'}",
            f"--chdir={self._project.root}",
            *self.sbatch_options(placement, job.resources),
        ]
        command = [sys.executable, "-m", "pyoneer.engines.slurm.node", str(self._run_dir), worker]
        script = "#!/bin/sh\n# a Pyoneer worker\nexec " + " ".join(shlex.quote(word) for word in command) + "\n"
        number = self.slurm.submit(script, options)
        with self._lock:
            self._live.add(number)
        return Allocation(number, placement, job.resources, _limit(placement))

    def state(self, number: str) -> JobState | None:
        """What squeue said of the allocation last (None: not asked yet)."""
        with self._lock:
            return self._ended.get(number) or self._states.get(number)

    def ended(self, number: str) -> JobState | None:
        """How the allocation ended, once squeue has seen it end (None while it lives)."""
        with self._lock:
            return self._ended.get(number)

    def release(self, number: str) -> None:
        """Make sure the allocation is gone (cancelled if it still lives)."""
        with self._lock:
            alive = number in self._live
            self._live.discard(number)
        if alive and number not in self._ended:
            self.slurm.cancel([number])

    def cannot_start(self, worker: str, place: Allocation, state: JobState) -> str:
        """Why a worker's batch job ended before its node side said hello, in words."""
        output = self.worker_dir(worker) / "slurm.out"
        try:
            lines = [line for line in output.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        # the error itself, not what Python prints after it (the stack of a fatal error)
        errors = [line for line in lines if "Error" in line or "error:" in line]
        said = (errors or lines)[-1].strip() if lines else f"no output at {output}"
        node = state.node or "its node"
        return (
            f"{worker} (Slurm job {place.id} on {node}) could not start Pyoneer: {said}\n"
            f"  hint: every node must see {self._project.root} at the same path and run {sys.executable} "
            "with Pyoneer installed (a shared filesystem, the same environment)"
        )

    # The heartbeat and the watch ------------------------------------------------------

    def _start(self, context: RunContext) -> None:
        self._run_dir = context.project.root / WORKSPACE / "runs" / context.run_id / "slurm"
        self._run_dir.mkdir(parents=True, exist_ok=True)
        # what each job's fork server preloads travels too: a node learns and preloads as here
        told = (context.run_id, context.project, dict(context.learned))
        write_whole(self._run_dir / "project.pickle", pickle.dumps(told))
        if self._environment is not None:
            write_whole(self._run_dir / ENV_FILE, str(self._environment).encode())
        heartbeat = Heartbeat(self._run_dir / "beat")
        heartbeat.beat()
        for target, every in ((heartbeat.beat, BEAT_EVERY), (self._watch, WATCH_EVERY)):
            thread = threading.Thread(target=self._every, args=(target, every), daemon=True, name="pyoneer-slurm")
            thread.start()
            self._threads.append(thread)

    def _every(self, target: Callable[[], None], seconds: float) -> None:
        while not self._closing.wait(seconds):
            try:
                target()
            except (OSError, ClusterError):
                pass  # the next turn tries again; a worker's loss is judged on what was seen

    def _watch(self) -> None:
        """One squeue for every allocation of the run still alive."""
        with self._lock:
            asked = set(self._live) - set(self._ended)
        if not asked:
            return
        states = self.slurm.states(asked)
        with self._lock:
            for number in asked:
                state = states.get(number, JobState("MISSING", "", ""))
                self._states[number] = state
                if not state.alive:
                    self._ended[number] = state
                    self._live.discard(number)


def job_time(job: Job) -> float | None:
    """A job's time in seconds: its tasks' timeouts, each times its tries (None: unknown)."""
    if any(task.timeout is None for task in job.tasks):
        return None
    return sum(task.timeout * (task.retries + 1) for task in job.tasks)


def _limit(placement: tuple[tuple[str, Any], ...]) -> int | None:
    time_text = dict(placement).get("time")
    return walltime_seconds(time_text, "time") if time_text else None


def _covers(size: Resources, need: Resources) -> bool:
    return size.cpus >= need.cpus and size.gpus >= need.gpus and size.memory >= need.memory

