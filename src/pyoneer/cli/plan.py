"""``pyoneer check``'s picture of a project: its steps, its jobs and their members, their tasks.

The members of a matrix are listed under their job with a count, and a member that
needs every member of another job says so in one word instead of listing them all.
"""

from __future__ import annotations

import shlex
from itertools import groupby

from pyoneer.blueprints.job import Job, Resources
from pyoneer.blueprints.project import Project


def describe(project: Project) -> list[str]:
    """The lines ``pyoneer check`` prints: the project, then each step of the run."""
    groups = _groups(project)
    written = len(groups)
    count = _jobs(len(project.jobs)) if written == len(project.jobs) else (
        f"{_jobs(written)}, {len(project.jobs)} with the members of their matrices"
    )
    lines = [f"project {project.name} ({project.root}): {count}, valid"]
    dependencies = project.dependencies
    for number, layer in enumerate(project.layers(), start=1):
        lines.append(f"step {number}:")
        for group, names in groupby(layer, key=lambda name: project.job(name).group):
            names = list(names)
            if project.job(names[0]).matrix:
                members = len(groups[group])
                here = f"{len(names)} of its {members} members" if len(names) < members else _members(members)
                lines.append(f"  {group}  ({here})")
                lines += [line for name in names for line in _job(project.job(name), dependencies[name], groups, "    ")]
            else:
                lines += _job(project.job(names[0]), dependencies[names[0]], groups, "  ")
    return lines


def _members(count: int) -> str:
    return f"{count} member" if count == 1 else f"{count} members"


def _jobs(count: int) -> str:
    return f"{count} job" if count == 1 else f"{count} jobs"


def _groups(project: Project) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for job in project.jobs:
        groups.setdefault(job.group, []).append(job.name)
    return groups


def _job(job: Job, needs: tuple[str, ...], groups: dict[str, list[str]], indent: str) -> list[str]:
    lines = [f"{indent}{job.name}" + (f"  (needs {_needs(needs, groups)})" if needs else "")]
    inner = indent + "  "
    if job.resources != Resources():
        lines.append(f"{inner}resources: {_resources(job.resources)}")
    if job.inputs:
        lines.append(f"{inner}inputs: {', '.join(job.inputs)}")
    if job.outputs:
        lines.append(f"{inner}outputs: {', '.join(job.outputs)}")
    for task, task_name in zip(job.tasks, job.task_names):
        limits = []
        if task.timeout is not None:
            limits.append(f"timeout {task.timeout:g} s")
        if task.retries:
            limits.append(f"retries {task.retries}")
        command = shlex.join([task.script, *task.args])  # an argument with a space shows as one
        lines.append(f"{inner}{task_name}: {command}" + (f"  [{', '.join(limits)}]" if limits else ""))
    return lines


def _needs(needs: tuple[str, ...], groups: dict[str, list[str]]) -> str:
    """What a job needs, a whole matrix in a word: ``train (all 10 members), prep[data=sea]``."""
    words, seen = [], set(needs)
    for group, members in groups.items():
        if len(members) > 1 and set(members) <= seen:
            words.append(f"{group} (all {len(members)} members)")
            seen -= set(members)
    return ", ".join([*words, *(name for name in needs if name in seen)])


def _resources(resources: Resources) -> str:
    parts = [f"cpus {resources.cpus:g}"]
    if resources.gpus:
        parts.append(f"gpus {resources.gpus:g}")
    if resources.memory:
        parts.append(f"memory {resources.memory} bytes")
    parts += [f"{name} {amount:g}" for name, amount in resources.custom]
    return ", ".join(parts)
