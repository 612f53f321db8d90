"""Fingerprints: a job's identity from what it runs, for ``pyoneer run --resume``.

A job's fingerprint hashes, for each task in order, the script's path and bytes, its
args and env; the project's env; a member's matrix values and the parameters the job
uses; its declared inputs and outputs (the patterns: the files themselves are checked
apart, see ``pyoneer.ledger.uptodate``); and then the fingerprints of the jobs it needs.
Timeouts and retries are left out: they change how a job is tried, not what it computes.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

try:  # the interpreter's own SHA-256: hashlib's first import loads OpenSSL, ~2 ms of every run
    from _sha256 import sha256  # Python 3.11
except ImportError:  # pragma: no cover - other Pythons
    try:
        from _sha2 import sha256  # Python 3.12 and newer
    except ImportError:
        from hashlib import sha256

from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project
from pyoneer.errors import MachineError


def fingerprints(project: Project) -> dict[str, str]:
    """Each job's name mapped to its fingerprint (a hex sha256)."""
    return {name: printed.fingerprint for name, printed in fingerprinted(project).items()}


class Printed(NamedTuple):
    """A job's fingerprint, the parts it is made of (kept in the ledger, so that
    ``--resume`` can say which part changed) and those parts as the JSON text hashed."""

    fingerprint: str
    parts: dict[str, Any]
    text: str


def fingerprinted(project: Project) -> dict[str, Printed]:
    """Each job's fingerprint and what it is made of."""
    dependencies = project.dependencies
    scripts: dict[str, str] = {}
    result: dict[str, Printed] = {}
    for layer in project.layers():
        for name in layer:
            parts = job_parts(project, project.job(name), scripts)
            parts["needs"] = {other: result[other].fingerprint for other in dependencies[name]}
            text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
            result[name] = Printed(sha256(text.encode()).hexdigest(), parts, text)
    return result


def job_parts(project: Project, job: Job, scripts: dict[str, str] | None = None) -> dict[str, Any]:
    """What a job computes, as data: its tasks' scripts (hashed), args and env, the
    project's env, its matrix values, the parameters it uses, and its declared files.
    ``scripts`` caches the scripts' hashes across jobs."""
    scripts = {} if scripts is None else scripts
    tasks = []
    for task in job.tasks:
        if task.script not in scripts:
            path = project.root / task.script
            try:
                scripts[task.script] = sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                raise MachineError.from_os(exc, "read the script", path) from exc
        tasks.append({"script": task.script, "args": list(task.args), "env": dict(task.env)})
    parts: dict[str, Any] = {
        "tasks": tasks,
        "scripts": {task.script: scripts[task.script] for task in job.tasks},
        "env": dict(project.environment.env),
    }
    if job.matrix or job.params:
        from pyoneer.blueprints.placeholders import as_json  # only a matrix or [params] needs it

        parts["matrix"] = as_json(dict(job.matrix))
        parts["params"] = as_json(dict(job.params))
    if job.inputs:
        parts["inputs"] = list(job.inputs)
    if job.outputs:
        parts["outputs"] = list(job.outputs)
    return parts

