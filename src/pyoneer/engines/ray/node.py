"""The node side of a Ray worker: the body of the actor, on whatever node Ray placed it.

It runs one job at a time with the ordinary local ``Worker`` (so a script runs on a node
exactly as it runs here), in a fresh copy of the project made for that job alone, and
keeps what the worker reports until the manager's side polls for it. It imports nothing
of Ray: ``ray_engine`` wraps it with ``ray.remote``.

A node is lost in pieces: its raylet killed (the OOM killer), then the actor's process,
its fork server, in any order, or the raylet alone while the actor lingers. So every
process of the actor's tasks carries a mark of the actor's own (``PYONEER_NODE_WORKER``,
put in the actor's environment before any process starts, so a warm task has it from
its fork server), and a watchdog detached from the actor (``Watchdog.guard``) ends
whatever carries it, wherever its parent is, once the actor or the raylet is gone.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from pyoneer.blueprints.project import Project
from pyoneer.engines.ray.outputs import Files, gather, place
from pyoneer.errors import PyoneerError
from pyoneer.machine.processes import Watchdog
from pyoneer.machine.streams import Relay, index_path
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.events import Event, Faulted, JobEnded, Resume, TaskStarted
from pyoneer.pyoneers.worker import Worker
from pyoneer.status import BlueprintStatus


#: the environment entry that marks every process of one node worker (see the module's doc)
OWNER = "PYONEER_NODE_WORKER"


class NodeWorker:
    """Runs jobs on this node for one worker pyoneer of one run."""

    def __init__(self, name: str, run_id: str) -> None:
        self.name = name
        self.run_id = run_id
        # this process is the actor's alone: what it starts from now on inherits the mark
        os.environ[OWNER] = f"{os.getpid()}-{secrets.token_hex(8)}"
        self._owned = frozenset({f"{OWNER}={os.environ[OWNER]}".encode()})
        self.base = Path.cwd()  # Ray's unpacked copy of the project on this node
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._logs: dict[str, Path] = {}
        self._ended = threading.Event()
        self._fault: PyoneerError | None = None
        self._paused: Resume | None = None  # where the job in progress goes on, if handed back
        self._worker: Worker | None = None
        self._watchdog: Watchdog | None = None
        self._relay: Relay | None = None
        self._workdir: Path | None = None
        #: the directories of jobs handed back to wait for a retry, kept for when they go on
        self._resting: dict[str, Path] = {}

    def where(self) -> tuple[str, int]:
        """The host and process this worker lives in."""
        return socket.gethostname(), os.getpid()

    def run_job(
        self, project: Project, job_name: str, inputs: Files, earlier: dict[str, int] | None = None,
        learned: tuple[str, ...] | None = None, resume: Resume | None = None,
    ) -> tuple[str, Files, Resume | None]:
        """Run ``job_name`` in a directory of its own; its status, its declared outputs,
        and where it goes on if it was handed back to wait for a retry (status ``ready``).

        ``earlier``: the attempts of its tasks that workers lost with it made (numbered after);
        ``learned``: what its fork server preloads, learned from earlier runs (None: it learns nothing);
        ``resume``: it goes on after such a wait, in the directory it left here. Its earlier
        tasks' files are there only: on another node it starts over from its first task
        (its attempts numbered after those made), as a job whose worker was lost does."""
        with self._lock:
            # a new job: the manager's side follows it from a cursor and offsets of 0,
            # from the moment this call begins (copying the project may take a while)
            self._events.clear()
            self._logs.clear()
        kept = self._resting.pop(job_name, None)
        if kept is not None and resume is not None:
            if self._workdir is not None and self._workdir not in self._resting.values():
                shutil.rmtree(self._workdir, ignore_errors=True)
            workdir = self._workdir = kept
        else:
            if kept is not None:
                shutil.rmtree(kept, ignore_errors=True)
            resume = None
            workdir = self._fresh_workdir(project.job(job_name).folder)
            place(workdir, inputs)
        here = dataclasses.replace(project, root=workdir)
        job = here.job(job_name)
        with self._lock:
            self._ended.clear()
            self._fault = None
            self._paused = None
            if self._watchdog is None:
                self._watchdog = Watchdog()
                # the raylet (the actor's parent): its end is this worker's, even if the
                # actor's process lingers
                lifeline = os.getppid()
                self._watchdog.guard(self._owned, lifeline if lifeline > 1 else None)
            if self._relay is None:
                self._relay = Relay()  # started after the mark: the watchdog ends it with the rest
            taught = {job_name: tuple(learned)} if learned is not None else {}  # learns and preloads as here
            self._worker = worker = Worker(self.name, RunContext(self.run_id, here, taught), self._report,
                                           self._watchdog, relay=self._relay)
        worker.start()
        worker.assign(job, earlier=earlier, resume=resume)
        worker.run()
        self._ended.wait()
        status = worker.get_blueprint_status()
        worker.stop()
        if self._fault is not None:  # this node refused the job's files: the job fails, saying why
            raise RuntimeError(str(self._fault))
        outputs = gather(workdir, job.outputs) if status is BlueprintStatus.SUCCEEDED else {}
        if self._paused is not None:
            self._resting[job_name] = workdir  # kept: the next job gets a directory of its own
        return status.value, outputs, self._paused

    def poll(self, cursor: int, offsets: dict[str, int]) -> tuple[list[Event], dict[str, bytes]]:
        """Events from ``cursor`` on, and what each attempt's log gained past ``offsets``."""
        with self._lock:
            events = self._events[cursor:]
            logs = dict(self._logs)
        chunks = {}
        for key, path in logs.items():
            try:
                with path.open("rb") as log:
                    log.seek(offsets.get(key, 0))
                    data = log.read()
            except OSError:
                continue
            if data:
                chunks[key] = data
        return events, chunks

    def stop(self) -> None:
        """End the job in progress (its process trees) and tidy the node."""
        worker = self._worker
        if worker is not None:
            worker.stop()
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None
        for workdir in {self._workdir, *self._resting.values()} - {None}:
            shutil.rmtree(workdir, ignore_errors=True)
        self._resting.clear()

    def _report(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, TaskStarted):
                attempt = event.attempt
                key = log_key(attempt.job, attempt.task, attempt.number)
                # the log before its list of stderr's pieces: a poll reads them in this
                # order, so the list read covers every byte of the log read
                self._logs[key] = attempt.log
                self._logs[key + STDERR_KEY] = index_path(attempt.log)
            if isinstance(event, Faulted):
                self._fault = event.error
            elif isinstance(event, JobEnded):
                self._paused = event.resume
            elif not isinstance(event, JobEnded):
                self._events.append(event)
        if isinstance(event, (JobEnded, Faulted)):
            self._ended.set()

    def _fresh_workdir(self, folder: str) -> Path:
        # one directory a job, so two jobs on a node never see each other's files; the
        # last job's directory is kept until now, so its logs could still be read (one
        # that waits to retry is kept until it goes on)
        if self._workdir is not None and self._workdir not in self._resting.values():
            shutil.rmtree(self._workdir, ignore_errors=True)
        # named by the job's folder: a member's escaped name (its values may hold "/")
        workdir = Path(tempfile.mkdtemp(prefix=f"pyoneer-{folder}-"))
        shutil.copytree(self.base, workdir, dirs_exist_ok=True, symlinks=True)
        self._workdir = workdir
        return workdir


def log_key(job: str, task: str, attempt: int) -> str:
    """How an attempt's log is named between the node and the manager's side (its list
    of stderr's pieces, ``pyoneer.machine.streams``, adds ``STDERR_KEY``)."""
    return f"{job}/{task}/{attempt}"


#: what names an attempt's list of stderr's pieces, after its ``log_key``
STDERR_KEY = ".stderr"
