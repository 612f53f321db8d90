"""Targets: the jobs a user names with ``--only`` and ``--from``, and what they bring along.

A target is a job's name, a matrix job as written (all its members), a member
(``train[seed=1,lr=0.1]``, or its escaped name, ``test[os=ubuntu%2022.04]``), a selector
(``train[seed=1]``: the members with those values, each readable or escaped) or a glob
over names (``train*``, ``count_?``; ``*`` and ``?`` only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from pyoneer.blueprints.checks import did_you_mean
from pyoneer.blueprints.project import Project
from pyoneer.errors import ProjectError, UsageError


class Selection(NamedTuple):
    """What a run with targets covers: the project cut down to the targets and what they
    need, the targets themselves, and the jobs that must run whatever their state."""

    project: Project
    targets: frozenset[str] = frozenset()
    #: the targets and, for ``--from``, everything downstream of them
    forced: frozenset[str] = frozenset()


def select(project: Project, only: Iterable[str] = (), start: Iterable[str] = ()) -> Selection:
    """The run that ``--only`` (``only``) and ``--from`` (``start``) targets ask for.

    ``--only JOB``: JOB runs, and what it needs runs where it is not up to date.
    ``--from JOB``: JOB and everything downstream of it run; what they need, likewise.
    Jobs neither asked for nor needed are left out of the run.
    """
    only, start = list(only), list(start)
    if not only and not start:
        return Selection(project)
    dependencies = project.dependencies
    targets = {name for target in only for name in named(project, target, "--only")}
    starts = {name for target in start for name in named(project, target, "--from")}
    forced = targets | downstream_of(dependencies, starts)
    kept = upstream_of(dependencies, forced)
    return Selection(only_jobs(project, kept), frozenset(targets | starts), frozenset(forced))


def named(project: Project, target: str, option: str) -> list[str]:
    """The jobs of ``project`` that ``target`` names, in project order; a target that
    names none is a ``UsageError`` (exit 2) with a hint."""
    names = [job.name for job in project.jobs]
    if target in names:
        return [target]
    if "%" in target or "~" in target:  # a member's escaped name, or its log folder's
        from pyoneer.blueprints.member_names import forms

        escaped = [job.name for job in project.jobs if job.matrix and target in forms(job.group, dict(job.matrix))]
        if escaped:
            return escaped
    groups: dict[str, list[str]] = {}
    for job in project.jobs:
        groups.setdefault(job.group, []).append(job.name)
    if target in groups:
        return groups[target]
    if "[" in target and not any(mark in target for mark in "*?"):
        return _selected(project, target, option)
    if any(mark in target for mark in "*?"):
        glob = re.compile(re.escape(target).replace(r"\*", ".*").replace(r"\?", "."))
        matches = [name for name in names if glob.fullmatch(name) or glob.fullmatch(name.partition("[")[0])]
        if matches:
            return matches
    hint = did_you_mean(target, list(groups)) or f"its jobs: {_some(list(groups))}"
    raise UsageError(f"{option} {target!r} names no job of the project\n  hint: {hint}")


def _selected(project: Project, target: str, option: str) -> list[str]:
    from pyoneer.blueprints.member_names import parse_reference, selects

    try:
        group, selector = parse_reference(target)
    except ProjectError as exc:
        raise UsageError(f"{option} {target!r}: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else "")) from None
    members = [job for job in project.jobs if job.group == group]
    if not members:
        groups = list(dict.fromkeys(job.group for job in project.jobs))
        hint = did_you_mean(group, groups) or f"its jobs: {_some(groups)}"
        raise UsageError(f"{option} {target!r}: the project has no job {group!r}\n  hint: {hint}")
    chosen = [job.name for job in members if selects(dict(job.matrix), selector)]
    if not chosen:
        keys = list(dict.fromkeys(key for job in members for key, _ in job.matrix))
        hint = f"its matrix keys: {', '.join(keys)}" if keys else f"{group!r} has no matrix"
        raise UsageError(f"{option} {target!r} matches no member of {group!r}\n  hint: {hint}")
    return chosen


def upstream_of(dependencies: Mapping[str, Iterable[str]], names: Iterable[str]) -> set[str]:
    """``names`` and every job they need, directly or not."""
    found: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(dependencies[name])
    return found


def downstream_of(dependencies: Mapping[str, Iterable[str]], names: Iterable[str]) -> set[str]:
    """``names`` and every job that needs them, directly or not."""
    dependents: dict[str, list[str]] = {name: [] for name in dependencies}
    for name, upstream in dependencies.items():
        for other in upstream:
            dependents[other].append(name)
    return upstream_of(dependents, names)


def only_jobs(project: Project, names: Iterable[str]) -> Project:
    """The project cut down to ``names`` (which include everything they need)."""
    kept = set(names)
    if len(kept) == len(project.jobs):
        return project
    from dataclasses import replace

    dependencies = project.dependencies
    return replace(
        project,
        jobs=tuple(job for job in project.jobs if job.name in kept),
        needs=tuple((name, dependencies[name]) for name in dependencies if name in kept and dependencies[name]),
    )


def _some(names: list[str], most: int = 8) -> str:
    return ", ".join(names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")
