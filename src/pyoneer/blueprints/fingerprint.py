"""Fingerprints: a job's identity from what it runs, for ``pyoneer run --resume``.

A job's fingerprint hashes, for each task in order, the script's path and bytes, its
args and env, and then the fingerprints of the jobs it needs: so a change to a script
changes its job and every job downstream of it. Timeouts and retries are left out:
they change how a job is tried, not what it computes.
"""

from __future__ import annotations

import json

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
    dependencies = project.dependencies
    scripts: dict[str, str] = {}
    result: dict[str, str] = {}
    for layer in project.layers():
        for name in layer:
            content = _job_content(project, project.job(name), scripts)
            content["needs"] = sorted(result[other] for other in dependencies[name])
            result[name] = _digest(content)
    return result


def _job_content(project: Project, job: Job, scripts: dict[str, str]) -> dict[str, object]:
    tasks = []
    for task in job.tasks:
        if task.script not in scripts:
            path = project.root / task.script
            try:
                scripts[task.script] = sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                raise MachineError.from_os(exc, "read the script", path) from exc
        tasks.append(
            {"script": task.script, "bytes": scripts[task.script], "args": task.args, "env": task.env}
        )
    content: dict[str, object] = {"tasks": tasks, "env": project.environment.env}
    if job.matrix:  # PYONEER_MATRIX is part of what a member's tasks see (plain jobs hash as before)
        from pyoneer.blueprints.placeholders import as_json

        content["matrix"] = as_json(dict(job.matrix))
    return content


def _digest(content: dict[str, object]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return sha256(canonical.encode()).hexdigest()
