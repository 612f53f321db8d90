"""The recorder: an observer of the manager that writes each change into the ledger.

Called in the manager's own thread, in the order things happen. The changes of one
step of the manager — an event and everything it causes — are one transaction,
committed when the step ends (``settle``), before the manager waits for anything
else: whatever instant the manager dies at, the ledger opens, reads correctly, and
tells the truth up to its last step.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyoneer.blueprints.job import Job
from pyoneer.ledger import learned
from pyoneer.ledger.store import Ledger
from pyoneer.ledger.uptodate import Decision, Survey, inputs_json, outputs_json
from pyoneer.machine.proctree import started_at
from pyoneer.pyoneers.events import (
    Event,
    Faulted,
    Interrupted,
    JobChanged,
    PyoneerChanged,
    Queued,
    RunEnded,
    RunStarted,
    TaskEnded,
    TaskStarted,
    WorkerLost,
)
from pyoneer.pyoneers.pyoneer import HOST
from pyoneer.status import WAITING, BlueprintStatus


class LedgerRecorder:
    """Writes a run into ``ledger``.

    ``survey`` is what the jobs are made of as the run starts (fingerprints, their parts,
    modules, inputs): kept with each job, so that a later ``--resume`` can compare;
    ``decisions`` say why each job runs or is reused, when ``--resume`` or a target decided.
    A job's inputs are written down as it starts, its outputs as it succeeds.
    """

    def __init__(
        self,
        ledger: Ledger,
        survey: Survey | None = None,
        decisions: Mapping[str, Decision] | None = None,
        resumed_from: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.survey = survey
        self.decisions = decisions or {}
        self.resumed_from = resumed_from
        self._run_id = ""
        self._root = Path()
        self._project = ""
        self._positions: dict[str, int] = {}
        self._jobs: dict[str, Job] = {}
        #: the modules each job's warm tasks listed as they ended: path -> its task's script
        self._imports: dict[str, dict[str, str]] = {}
        self._retrying: set[str] = set()  # jobs handed back to wait for their next attempt (retry_delay)
        self._needs: dict[str, tuple[str, ...]] = {}
        self._reused_at_start: frozenset[str] = frozenset()
        #: each upstream job's declared outputs (path -> state), read once a run
        self._outputs: dict[str, dict[str, Any]] = {}
        self._handlers: dict[type, Any] = {}

    def notify(self, event: Event) -> None:
        """Write ``event`` down (committed at the end of the manager's step)."""
        kind = type(event)
        handler = self._handlers.get(kind)
        if handler is None:  # looked up by name once per kind of event
            handler = self._handlers[kind] = getattr(self, "_on_" + kind.__name__, _ignore)
        handler(event)

    def settle(self) -> None:
        """The manager's step is over: commit its changes as one transaction."""
        self.ledger.commit()

    def _on_RunStarted(self, event: RunStarted) -> None:
        project = event.project
        self._run_id, self._root, self._project = event.run_id, project.root, project.name
        pid = os.getpid()
        self.ledger.begin_run(
            event.run_id, project.name, pid, started_at(pid) or "", HOST, self.resumed_from
        )
        rows = [{"kind": "project", "name": project.name, "pyoneer": "manager",
                 "fingerprint": None, "status": BlueprintStatus.RUNNING.value, "position": 0,
                 "started": event.at}]
        dependencies = project.dependencies
        self._needs = dependencies
        self._reused_at_start = frozenset(event.reused)
        for position, job in enumerate(project.jobs, start=1):
            self._positions[job.name] = position
            self._jobs[job.name] = job
            reused = job.name in event.reused
            status = BlueprintStatus.SUCCEEDED if reused else BlueprintStatus.NOT_READY
            rows.append({"kind": "job", "name": job.name, "pyoneer": "", "status": status.value,
                         "position": position, "reused": int(reused),
                         "matrix": _matrix_json(job.matrix), "needs": json.dumps(dependencies[job.name]) if dependencies[job.name] else "[]",
                         **self._records(job.name, reused)})
        self.ledger.add_blueprints(event.run_id, rows)
        self.ledger.commit()

    def _records(self, name: str, reused: bool) -> dict[str, Any]:
        """What a job's row keeps for later decisions: its fingerprint and parts, and why
        it runs; a reused job keeps only why, and the run it stands on."""
        decision = self.decisions.get(name)
        records: dict[str, Any] = {"why": decision.why if decision else None}
        survey = self.survey
        if survey is not None and name in survey.prints:
            records["fingerprint"] = survey.prints[name]
            if reused:
                records["reused_from"] = decision.origin if decision else None
            else:
                records["parts"] = survey.parts_json[name]
                records["modules"] = survey.modules_json(name)
        return records

    def _on_PyoneerChanged(self, event: PyoneerChanged) -> None:
        self.ledger.set_pyoneer(
            self._run_id, event.pyoneer, event.role, event.host, event.pid, event.status.value, event.allocation
        )

    def _on_Queued(self, event: Queued) -> None:
        # the job runs (its worker holds it), but waits for the worker's place on the cluster
        reason = WAITING + event.reason if event.reason else None
        self.ledger.set_blueprint(self._run_id, "job", event.job, BlueprintStatus.RUNNING.value, reason=reason)

    def _on_JobChanged(self, event: JobChanged) -> None:
        if event.reused:
            if event.job in self._reused_at_start:
                return  # written with the run's first rows
            # reused during the run (early cutoff): it stands on its last success, as at the start
            decision = self.decisions.get(event.job)
            self.ledger.set_blueprint(self._run_id, "job", event.job, event.status.value, reused=1,
                                      why=event.reason, reused_from=decision.origin if decision else None)
            return
        values: dict[str, object] = {}
        if event.worker:
            values["pyoneer"] = event.worker
        if event.job in self._retrying:
            if self._went_on(event, values):
                self.ledger.set_blueprint(self._run_id, "job", event.job, event.status.value, **values)
                return
        if event.reason:
            values["reason"] = event.reason
            if event.status in (BlueprintStatus.SKIPPED, BlueprintStatus.CANCELLED):
                values["why"] = event.reason  # why it did not run: status, --json and the web view say it
        job = self._jobs.get(event.job)
        if event.status is BlueprintStatus.RUNNING:
            values["started"] = event.at
            if job is not None and job.inputs and self.survey is not None:
                values["inputs"] = inputs_json(self.survey.inputs_now(job.name, job.inputs))
            upstream = self._upstream_outputs(event.job)
            if upstream:
                values["upstream"] = json.dumps(upstream)
        elif event.status.is_final:
            values["ended"] = event.at
            if event.status is BlueprintStatus.SUCCEEDED and job is not None:
                if job.outputs:
                    values["outputs"] = outputs_json(self._root, job.outputs)
                    self._outputs[job.name] = json.loads(values["outputs"])
                imports = self._imports.pop(job.name, None)
                if imports and self.survey is not None and self.survey.add_imports(job.name, imports):
                    values["modules"] = self.survey.modules_json(job.name)
        self.ledger.set_blueprint(self._run_id, "job", event.job, event.status.value, **values)

    def _went_on(self, event: JobChanged, values: dict[str, object]) -> bool:
        """A job that waits to retry changed: ready (no worker holds it through the wait),
        or running again (its start, inputs and upstream stay as they were when it first
        started: True, nothing more to write), or ended (stopped during the wait)."""
        if event.status is BlueprintStatus.READY:
            values["pyoneer"] = ""
            return True
        self._retrying.discard(event.job)
        decision = self.decisions.get(event.job)
        values.update(retry_at=None, why=decision.why if decision else None)  # why it runs: what it was
        return event.status is BlueprintStatus.RUNNING

    def _upstream_outputs(self, name: str) -> dict[str, dict[str, Any]]:
        """The declared outputs of the jobs ``name`` needs, as it starts: what early cutoff
        compares a later rerun of theirs with (``pyoneer.ledger.uptodate``)."""
        found = {}
        for other in self._needs.get(name, ()):
            job = self._jobs.get(other)
            if job is None or not job.outputs:
                continue
            if other not in self._outputs:  # reused, or failed: its files as they are
                self._outputs[other] = json.loads(outputs_json(self._root, job.outputs))
            found[other] = self._outputs[other]
        return found

    def _on_TaskStarted(self, event: TaskStarted) -> None:
        attempt = event.attempt
        self.ledger.start_attempt(
            self._run_id,
            f"{attempt.job}/{attempt.task}",
            attempt.number,
            event.worker,
            attempt.started,
            _relative(attempt.log, self._root),
            self._positions.get(attempt.job, 0),
        )

    def _on_TaskEnded(self, event: TaskEnded) -> None:
        attempt = event.attempt
        if event.retry_in:  # status and --json say when the next attempt starts (status counts down to it)
            at = (attempt.ended or event.at) + event.retry_in
            clock = time.strftime("%H:%M:%S", time.localtime(at))
            self._retrying.add(attempt.job)
            self.ledger.set_blueprint(self._run_id, "job", attempt.job, BlueprintStatus.RUNNING.value, retry_at=at,
                                      why=f"retrying at {clock} (attempt {attempt.number + 1} of {event.retries + 1})")
        if attempt.learned or attempt.refused:
            learned.note(self.ledger, attempt.job, attempt.learned, attempt.refused)
        if attempt.imports and attempt.ok and attempt.job in self._jobs:
            job = self._jobs[attempt.job]
            script = dict(zip(job.task_names, (task.script for task in job.tasks))).get(attempt.task, attempt.task)
            found = self._imports.setdefault(attempt.job, {})
            for path in attempt.imports:
                found.setdefault(path, script)
        if attempt.ok:
            status = BlueprintStatus.SUCCEEDED
        elif attempt.cancelled:
            status = BlueprintStatus.CANCELLED
        else:
            status = BlueprintStatus.FAILED
        self.ledger.end_attempt(
            self._run_id,
            f"{attempt.job}/{attempt.task}",
            attempt.number,
            status.value,
            attempt.ended or event.at,
            attempt.exit_code,
            attempt.reason,
        )

    def _on_WorkerLost(self, event: WorkerLost) -> None:
        self.ledger.note(self._run_id, event.worker, "lost", f"while running {event.job}: {event.reason}")

    def _on_Faulted(self, event: Faulted) -> None:
        self.ledger.note(self._run_id, event.worker, "faulted", f"while running {event.job}: {event.error}")

    def _on_Interrupted(self, event: Interrupted) -> None:
        self.ledger.note(self._run_id, "run", "interrupting", event.reason)

    def _on_RunEnded(self, event: RunEnded) -> None:
        self.ledger.set_blueprint(self._run_id, "project", self._project, event.status.value, ended=event.at)
        self.ledger.end_run(self._run_id, event.result)


def _matrix_json(matrix: tuple[tuple[str, object], ...]) -> str | None:
    """A member's values as the ledger keeps them (None for a job without a matrix)."""
    if not matrix:
        return None
    from pyoneer.blueprints.placeholders import (
        as_json,  # only projects with a matrix need it
    )

    return json.dumps(as_json(dict(matrix)))


def _ignore(event: Event) -> None:
    """What the recorder does with an event the ledger has no place for."""


def _relative(path: Path, root: Path) -> str:
    # by the strings: Path.relative_to costs more than the rest of recording an attempt
    text, prefix = str(path), str(root).rstrip("/") + "/"
    return text.removeprefix(prefix)
