"""The Ray engine: workers as Ray actors on the nodes of a Ray cluster.

Ray owns membership, placement, transport and node failure; Pyoneer owns blueprints,
pyoneers, status and the ledger. The project directory (and Pyoneer itself) travel to
the nodes through Ray's runtime environment; each worker pyoneer is a ``RayWorker`` on
the manager's side, talking to a ``NodeWorker`` actor sized by its job's resources.
Ray's exceptions become Pyoneer's in one place, ``failures.lost_reason``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from pyoneer.blueprints.job import Job, Resources
from pyoneer.blueprints.project import Project
from pyoneer.engines.ray.address import check_reachable, is_loopback
from pyoneer.engines.ray.failures import first_line, lost_reason
from pyoneer.engines.ray.node import STDERR_KEY, NodeWorker
from pyoneer.engines.ray.outputs import Files, gather, place
from pyoneer.engines.ray.resources import covers, ray_resources, resource_word
from pyoneer.engines.ray.shipping import PACKAGE, human, pack_list
from pyoneer.errors import UsageError
from pyoneer.machine.streams import index_path
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.engine import Engine, Report
from pyoneer.pyoneers.events import Resume, TaskEnded, TaskStarted, WorkerLost
from pyoneer.pyoneers.pyoneer import Pyoneer
from pyoneer.pyoneers.worker import BaseWorker
from pyoneer.status import BlueprintStatus, PyoneerStatus

#: seconds between two looks at a worker's progress on its node
POLL = 0.25
#: seconds a stopping node worker gets to end its task trees before its actor is killed
STOP_WAIT = 10.0


_INSTALL_HINT = "the Ray engine needs Ray: pip install 'pyoneer[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(_INSTALL_HINT) from None
    return ray


class RayEngine(Engine):
    """Workers on a Ray cluster: the one at ``address``, else ``RAY_ADDRESS``, else a local one."""

    name = "ray"

    def __init__(self, address: str | None = None, announce: Callable[[str], None] | None = None) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        if not self.address or is_loopback(self.address):
            # A Ray started for this run must listen on loopback only, and a cluster on
            # loopback must be reached there. Ray reads this at import (and its processes
            # inherit it): 0 keeps every listener, and every address, on 127.0.0.1.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        self.ray = _import_ray()
        self.announce = announce or (lambda _text: None)
        self._actor_class: Any = None
        self._outputs: dict[str, Files] = {}
        self._lock = threading.Lock()
        self._project: Project | None = None
        #: workers whose actor Ray has not placed yet (waiting for resources)
        self.unplaced = 0

    # Engine ------------------------------------------------------------------------

    def open(self, project: Project) -> None:
        """Check what travels, connect to the cluster, and ship the project with Ray."""
        from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE

        shipment = pack_list(project.root)
        shipment.check_limit(GCS_STORAGE_MAX_SIZE)
        where = self.address or "a local Ray instance (127.0.0.1)"
        self.announce(f"shipping {len(shipment.files)} files ({human(shipment.size)}) of {project.root} to {where}")
        runtime_env = {
            "working_dir": str(project.root),
            "excludes": list(shipment.excludes),
            "py_modules": [str(PACKAGE)],
            "env_vars": dict(project.environment.env),
        }
        packages = project.environment.wanted_packages(project.root)
        if packages:
            runtime_env["pip"] = packages
        self._connect(runtime_env)
        self._actor_class = self.ray.remote(NodeWorker)
        self._project = project

    def _connect(self, runtime_env: dict[str, Any]) -> None:
        ray = self.ray
        if ray.is_initialized():
            ray.shutdown()
        options = {"runtime_env": runtime_env, "log_to_driver": False, "logging_level": "WARNING"}
        if self.address:
            check_reachable(self.address)
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                # a Ray of our own for this run: listening on loopback only, gone after it
                ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", **options)
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds here; all mean "cannot connect"
            where = self.address or "a new local Ray instance"
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise UsageError(
                f"cannot connect to {where}: {first}\n"
                "  hint: check the address (ray status); a cluster with token authentication needs "
                "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) set here too"
            ) from exc

    def slots(self) -> int:
        """The cluster's CPUs: how many one-CPU jobs may run at once."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def create_worker(self, name: str, context: RunContext, report: Report) -> Pyoneer:
        """A worker pyoneer whose actor is made when it is first handed a job."""
        return RayWorker(name, context, report, self)

    def fits(self, worker: Pyoneer, job: Job) -> bool:
        """An idle worker takes a job whose resources its actor already holds."""
        size = getattr(worker, "size", None)
        return size is None or covers(size, job.resources)

    def close(self) -> None:
        """Disconnect from the cluster (and stop the local Ray we started, if any)."""
        if self.ray.is_initialized():
            self.ray.shutdown()

    # For the workers ---------------------------------------------------------------

    def infeasible(self, resources: Resources) -> str:
        """Why no node of the cluster can ever host ``resources`` ("" if one can)."""
        nodes = [node["Resources"] for node in self.ray.nodes() if node.get("Alive")]
        wanted = ray_resources(resources)
        if any(all(node.get(key, 0) >= amount for key, amount in wanted.items()) for node in nodes):
            return ""
        for key, amount in wanted.items():
            best = max((node.get(key, 0) for node in nodes), default=0)
            if best < amount:
                shown = human(best) if key == "memory" else f"{best:g}"
                asked = human(amount) if key == "memory" else f"{amount:g}"
                return f"no node of the cluster offers {resource_word(key)} = {asked} (the most any node has: {shown})"
        return "no single node of the cluster offers all of " + ", ".join(f"{k}={v:g}" for k, v in wanted.items())

    def actor_for(self, name: str, run_id: str, resources: Resources) -> Any:
        """A new node worker actor sized by ``resources``."""
        wanted = ray_resources(resources)
        options: dict[str, Any] = {
            "num_cpus": wanted.pop("CPU"),
            "num_gpus": wanted.pop("GPU", 0),
            "max_concurrency": 4,  # poll and stop while a job runs
            "max_restarts": 0,
        }
        if "memory" in wanted:
            options["memory"] = wanted.pop("memory")
        if wanted:
            options["resources"] = wanted
        return self._actor_class.options(**options).remote(name, run_id)

    def inputs_for(self, job: str) -> Files:
        """The outputs of every job upstream of ``job``, to place in its directory."""
        dependencies = self._project.dependencies
        upstream, stack = set(), list(dependencies[job])
        while stack:
            name = stack.pop()
            if name not in upstream:
                upstream.add(name)
                stack.extend(dependencies[name])
        files: Files = {}
        for name in upstream:
            with self._lock:
                kept = self._outputs.get(name)
            if kept is None:
                # not run in this run (reused by --resume): its outputs came home last time
                kept = gather(self._project.root, self._project.job(name).outputs)
            files.update(kept)
        return files

    @contextlib.contextmanager
    def counting_unplaced(self) -> Iterator[None]:
        """Count a worker as waiting for Ray to place its actor while inside."""
        with self._lock:
            self.unplaced += 1
        try:
            yield
        finally:
            with self._lock:
                self.unplaced -= 1

    def keep_outputs(self, job: str, files: Files) -> None:
        """Hold ``job``'s outputs for its dependents, and bring them home."""
        with self._lock:
            self._outputs[job] = files
        place(self._project.root, files)


class RayWorker(BaseWorker):
    """The manager's side of a worker that lives on a Ray node as an actor.

    Its actor is made when its first job says how big it must be.
    """

    def __init__(self, name: str, context: RunContext, report: Report, engine: RayEngine) -> None:
        super().__init__(name, context, report)
        self.pid = None
        self.host = ""
        self.size: Resources | None = None
        self._engine = engine
        self._ray = engine.ray
        self._actor: Any = None

    def unassign(self) -> Job:
        """Let go of the ended job and go back to idle.

        An idle worker keeps its actor for the next job, unless other workers wait for
        resources: then the actor goes, so what it holds is free for them.
        """
        job = super().unassign()
        if self._actor is not None and self._engine.unplaced > 0:
            with contextlib.suppress(Exception):  # tidy its node first; killed anyway
                self._ray.get(self._actor.stop.remote(), timeout=STOP_WAIT)
            self._ray.kill(self._actor, no_restart=True)
            self._actor, self.size = None, None
        return job

    def _cancel(self) -> None:
        """Cancel the job on its node (ending its process trees) and end the actor."""
        with self._guard:
            actor = self._actor
        if actor is not None:
            try:
                self._ray.get(actor.stop.remote(), timeout=STOP_WAIT)
            except Exception:  # noqa: BLE001 - a dead or stuck actor is killed below anyway
                pass
            self._ray.kill(actor, no_restart=True)

    # Following a job ---------------------------------------------------------------

    def _work(self, job: Job) -> None:
        problem = self._engine.infeasible(job.resources)
        if problem:
            self._end(job, BlueprintStatus.FAILED, problem)
            return
        try:
            status, resume = self._follow(job)
        except OSError:
            raise  # here, not on the node: the machine refused a local log (a fault of the run)
        except Exception as exc:  # noqa: BLE001 - sorted by lost_reason
            reason = lost_reason(self._ray, exc)
            if self._stopping:
                self._end(job, BlueprintStatus.CANCELLED)
            elif reason is None:
                # not a lost worker: the job cannot run there (its environment, our bug);
                # it fails with Ray's words rather than leave the run waiting for ever
                self._end(job, BlueprintStatus.FAILED, first_line(exc))
            else:
                with self._guard:
                    self._become(PyoneerStatus.LOST)
                self._report(WorkerLost(worker=self.name, job=job.name, reason=reason))
            return
        self._end(job, status, resume=resume)

    def _follow(self, job: Job) -> tuple[BlueprintStatus, Resume | None]:
        """Run ``job`` on this worker's actor (made, and placed, first if need be): how it
        ended, or where it goes on when it was handed back to wait for a retry."""
        with self._guard:
            # either stop() sees this actor and kills it, or this sees stop() and quits
            if self._stopping:
                return BlueprintStatus.CANCELLED, None
            if self._actor is None:
                self._actor = self._engine.actor_for(self.name, self._context.run_id, job.resources)
                self.size = job.resources
                placed = False
            else:
                placed = True
        if not placed:
            with self._engine.counting_unplaced():
                self.host, self.pid = self._ray.get(self._actor.where.remote())
        with self._guard:
            if self._stopping:  # stopped while Ray was placing the actor
                return BlueprintStatus.CANCELLED, None
            done = self._actor.run_job.remote(
                self._context.project, job.name, self._engine.inputs_for(job.name), self._earlier,
                self._context.learned.get(job.name), self._resume,
            )
        cursor, offsets = 0, {}
        while True:
            finished, _ = self._ray.wait([done], timeout=POLL)
            cursor = self._relay(cursor, offsets)
            if finished:
                break
        word, outputs, resume = self._ray.get(done)
        self._relay(cursor, offsets)
        status = BlueprintStatus(word)
        if status is BlueprintStatus.SUCCEEDED:
            self._engine.keep_outputs(job.name, outputs)
        return status, resume

    def _relay(self, cursor: int, offsets: dict[str, int]) -> int:
        """Bring home new log bytes and events from the node; the new cursor."""
        events, chunks = self._ray.get(self._actor.poll.remote(cursor, offsets))
        told = []
        for event in events:  # first: a TaskStarted starts its log afresh
            if isinstance(event, (TaskStarted, TaskEnded)):
                attempt = event.attempt
                local = self._context.log_path(attempt.job, attempt.task, attempt.number)
                if isinstance(event, TaskStarted):
                    local.unlink(missing_ok=True)  # a fresh log, even after a lost worker
                    index_path(local).unlink(missing_ok=True)
                # told here, now (this machine's clock), as this worker's; the rest (retry_in) as told
                event = replace(event, worker=self.name, attempt=replace(attempt, log=local), at=time.time())
            told.append(event)
        # each list of stderr's pieces before its log's bytes (a reader reads it first);
        # then the events: an attempt told ended has its last lines here already
        for key in sorted(chunks, key=lambda key: not key.endswith(STDERR_KEY)):
            data = chunks[key]
            job, task, number = key.removesuffix(STDERR_KEY).rsplit("/", 2)
            path = self._context.log_path(job, task, int(number))
            path = index_path(path) if key.endswith(STDERR_KEY) else path
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as log:
                log.write(data)
            offsets[key] = offsets.get(key, 0) + len(data)
        for event in told:
            self._report(event)
        return cursor + len(events)

