"""Whether each job is up to date: the rules of ``--resume``, ``--only``, ``--from`` and ``--dry-run``.

A job is reused only when all of these hold (see the README's "Reruns"):

- it succeeded before: its latest real success, in any run, is what it is compared with;
- its fingerprint's parts are unchanged (scripts, args, env, matrix values, the
  parameters it uses, its declared patterns, what it needs);
- the project modules its scripts import (``pyoneer.blueprints.imports``), its declared
  inputs and its declared outputs are as they were then (``pyoneer.machine.files``);
- nothing it needs runs in this run; and a job it needs that succeeded after it did left
  its declared outputs the same bytes as the job saw them when it started ("early
  cutoff", as Bazel and Shake do; an upstream job with no declared outputs counts as
  changed, make's rule).

A job that runs makes everything downstream of it run. Each decision says why, in the
words ``--dry-run``, the summary and ``pyoneer status`` show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pyoneer.blueprints.fingerprint import Printed, fingerprinted
from pyoneer.blueprints.project import Project
from pyoneer.errors import MachineError
from pyoneer.ledger.store import Success
from pyoneer.machine.files import FileState, matching, state_of, states

#: a module a job's scripts import: its state now (None: gone) and the script that imports it
Module = tuple[FileState | None, str]


class Reason(NamedTuple):
    """One reason a job runs or is reused: a kind (for ``--json``) and the words for people."""

    kind: str
    text: str
    path: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The reason as ``--json`` gives it."""
        data: dict[str, Any] = {"kind": self.kind, "text": self.text}
        if self.path is not None:
            data["path"] = self.path
        return data


class Decision(NamedTuple):
    """Whether a job runs in this run or is reused, and why."""

    job: str
    runs: bool
    reasons: tuple[Reason, ...]
    #: the run whose success the job is reused from (or, for a job that runs, compared with)
    origin: str | None = None

    @property
    def why(self) -> str:
        """The reasons in words, at most three of them: ``script count.py changed``."""
        texts = [reason.text for reason in self.reasons]
        more = f" (and {len(texts) - 3} more)" if len(texts) > 3 else ""
        return "; ".join(texts[:3]) + more


class Recorded(NamedTuple):
    """A job's success as the ledger keeps it, decoded once: its parts, its modules
    (path -> [size, mtime_ns, sha256, by]) and its inputs' states."""

    parts: dict[str, Any]
    modules: dict[str, list[Any]]
    inputs: dict[str, FileState]


def _recorded(success: Success | None) -> Recorded | None:
    if success is None or success.parts is None:
        return None  # none, or from before schema 3
    return Recorded(json.loads(success.parts), json.loads(success.modules or "{}"), _states(success.inputs))


class Survey:
    """What each job of the project is made of now: a plain record, made once per run.

    ``prints`` are the jobs' fingerprints, ``parts`` what they are made of (and
    ``parts_json`` the same as the ledger keeps it), ``modules`` and ``inputs`` the states
    of their project modules and declared inputs; ``before`` what the ledger recorded of
    each job's latest success (decoded here, once, for the survey and the decisions).
    """

    def __init__(self, root: Path, printed: Mapping[str, Printed]) -> None:
        self.root = root
        self.prints = {name: value.fingerprint for name, value in printed.items()}
        self.parts = {name: value.parts for name, value in printed.items()}
        self.parts_json = {name: value.text for name, value in printed.items()}
        self.modules: dict[str, dict[str, Module]] = {}
        self.inputs: dict[str, dict[str, FileState]] = {}
        self.before: dict[str, Recorded] = {}

    def modules_json(self, job: str) -> str:
        """The job's modules as the ledger keeps them: path -> [size, mtime_ns, sha256, by]."""
        modules = self.modules[job]
        if not modules:
            return "{}"
        return json.dumps({path: [*state, by] for path, (state, by) in modules.items() if state})

    def add_imports(self, job: str, imports: Mapping[str, str]) -> bool:
        """Add the modules a job's warm tasks listed as they ran (path -> the script that
        ran), beyond those its scripts' import statements name; True if there were any."""
        modules = self.modules[job]
        added = False
        for path, by in imports.items():
            if path not in modules:
                try:
                    state = state_of(self.root / path)
                except OSError:
                    continue  # unreadable now: the import statements still count
                if state is not None:
                    modules[path] = (state, by)
                    added = True
        return added

    def inputs_now(self, job: str, patterns: Iterable[str]) -> dict[str, FileState]:
        """The job's inputs as they are now (as it starts), read only where they changed."""
        known = self.inputs.get(job, {})
        try:
            return states(self.root, matching(self.root, patterns), known)
        except OSError as exc:
            raise MachineError.from_os(exc, "read an input", exc.filename or self.root) from exc


def survey(project: Project, successes: Mapping[str, Success]) -> Survey:
    """Look at the project as it is now; ``successes`` (the ledger's) spare reading files
    whose size and time are unchanged."""
    root = project.root
    result = Survey(root, fingerprinted(project))
    scan = _Scan(root)
    for job in project.jobs:
        recorded = _recorded(successes.get(job.name))
        if recorded is not None:
            result.before[job.name] = recorded
        try:
            result.modules[job.name] = _modules(project, job, result.parts[job.name], recorded, scan)
            if job.inputs:
                known = recorded.inputs if recorded else {}
                result.inputs[job.name] = states(root, matching(root, job.inputs), known)
        except OSError as exc:
            raise MachineError.from_os(exc, f"read job {job.name}'s file", exc.filename or root) from exc
    return result


class _Scan:
    """A ``ModuleScan``, made on first use: reading scripts (and importing ``ast``, ~1 ms)
    is needed only where a script or a module changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._scan: Any = None
        self._states: dict[str, FileState | None] = {}

    def state(self, path: str, known: FileState | None) -> FileState | None:
        """A module's state now, looked at once however many jobs import it."""
        if path not in self._states:
            self._states[path] = state_of(self.root / path, known)
        return self._states[path]

    def modules(self, script: str, search: list[str]) -> list[str]:
        if self._scan is None:
            from pyoneer.blueprints.imports import ModuleScan

            self._scan = ModuleScan(self.root)
        return self._scan.modules(script, search)


def _modules(
    project: Project, job: Any, parts: dict[str, Any], recorded: Recorded | None, scan: _Scan
) -> dict[str, Module]:
    """The job's project modules now. While its scripts and the modules it imported are
    unchanged, the modules it imports are the same ones: no script is read again."""
    before = recorded.modules if recorded is not None else None
    if before is not None and recorded.parts.get("scripts") == parts["scripts"]:
        now = {path: (scan.state(path, FileState(*entry[:3])), entry[3]) for path, entry in before.items()}
        if all(state is not None and state.same(FileState(*before[path][:3])) for path, (state, _) in now.items()):
            return now
    known = {path: FileState(*entry[:3]) for path, entry in (before or {}).items()}
    found: dict[str, Module] = {}
    for task in job.tasks:
        search = search_path(project, task)
        for path in scan.modules(task.script, search):
            if path not in found:
                found[path] = (scan.state(path, known.get(path)), task.script)
    for path, entry in (before or {}).items():  # what its warm tasks listed as they ran, too
        if path not in found:
            found[path] = (scan.state(path, known[path]), entry[3])
    return found


def search_path(project: Project, task: Any) -> list[str]:
    """The project folders ``PYTHONPATH`` adds for ``task`` (relative to the root)."""
    value = dict(task.env).get("PYTHONPATH", dict(project.environment.env).get("PYTHONPATH", ""))
    folders = []
    for entry in filter(None, value.split(":")):
        path = (project.root / entry).resolve()
        if path.is_relative_to(project.root):
            folders.append(path.relative_to(project.root).as_posix())
    return folders


def _states(text: str | None) -> dict[str, FileState]:
    return {path: FileState(*entry[:3]) for path, entry in json.loads(text).items()} if text else {}


# Deciding ---------------------------------------------------------------------------


def decide(
    project: Project,
    now: Survey,
    successes: Mapping[str, Success],
    *,
    resume: bool,
    targets: Iterable[str] = (),
    forced: Iterable[str] = (),
) -> dict[str, Decision]:
    """For each job of ``project``, in run order: does it run, and why.

    ``targets`` (of ``--only`` and ``--from``) and the other ``forced`` jobs (downstream of
    a ``--from``) run whatever their state; without ``resume`` every job runs.
    """
    targets, forced = set(targets), set(forced) | set(targets)
    if not resume and not forced:  # a plain run: every job runs, nothing to look at
        return {job.name: Decision(job.name, True, (_ALL,)) for job in project.jobs}
    dependencies = project.dependencies
    decisions: dict[str, Decision] = {}
    for layer in project.layers():
        for name in layer:
            success = successes.get(name)
            origin = success.run_id if success else None
            if name in forced:
                mark = [Reason("target", "target")] if name in targets else []
                upstream = _upstream_runs(dependencies[name], decisions)
                decisions[name] = Decision(name, True, (*mark, *upstream), origin)
                continue
            if not resume:
                decisions[name] = Decision(name, True, (_ALL,), origin)
                continue
            notes: list[Reason] = []  # what changed upstream and did not matter
            reasons = _changes(project, name, now, success, successes, decisions, dependencies[name], notes)
            if reasons:
                decisions[name] = Decision(name, True, tuple(reasons), origin)
            else:
                assert success is not None
                up_to_date = Reason("up_to_date", f"up to date (run {success.run_id})")
                decisions[name] = Decision(name, False, (up_to_date, *notes), origin)
    return decisions


_ALL = Reason("all", "run without --resume")


def _upstream_runs(needs: Iterable[str], decisions: Mapping[str, Decision]) -> list[Reason]:
    return [Reason("upstream", f"upstream {other} runs", other) for other in needs if decisions[other].runs]


def _changes(
    project: Project,
    name: str,
    now: Survey,
    success: Success | None,
    successes: Mapping[str, Success],
    decisions: Mapping[str, Decision],
    needs: Iterable[str],
    notes: list[Reason],
) -> list[Reason]:
    """Why the job must run again; none if it is up to date.

    An upstream job that reran and left its outputs as they were is added to ``notes``.
    """
    if success is None:
        return [Reason("never_succeeded", "never succeeded")]
    if success.parts is None:
        return [Reason("untracked", "recorded before imports were tracked")]
    if success.failed_since is not None:
        run_id, status = success.failed_since
        return [Reason("tried_since", f"{status} in run {run_id}, after its success")]
    recorded = now.before[name]
    reasons = _part_changes(recorded.parts, now.parts[name])
    reasons += _module_changes(recorded.modules, now.modules[name])
    if project.job(name).inputs:
        reasons += _input_changes(recorded.inputs, now.inputs.get(name, {}))
    reasons += _output_changes(now.root, _states(success.outputs))
    for other in needs:
        if decisions[other].runs:
            reasons.append(Reason("upstream", f"upstream {other} runs", other))
        elif successes[other].run_started > success.run_started:
            if project.job(other).outputs and same_outputs(_upstream_of(success, other), successes[other].outputs):
                notes.append(Reason("cutoff", f"upstream {other} reran; its outputs are unchanged", other))
            else:
                reasons.append(Reason("upstream", f"upstream {other} ran since", other))
    return reasons


def cut_off(project: Project, name: str, decisions: Mapping[str, Decision], success: Success | None) -> str | None:
    """Why a job that was to run only because jobs it needs run in this run may be reused
    after all, now that they succeeded: each left its declared outputs the bytes the job
    saw when it last succeeded ("early cutoff" within a run). None: it runs.

    Called by the manager as the last of those jobs succeeds, so its dependents are
    reused in the same run, and the wave stops there.
    """
    decision = decisions.get(name)
    if success is None or decision is None or not decision.runs or not decision.reasons:
        return None
    reran = []
    for reason in decision.reasons:
        other = reason.path
        # anything else (its own change, a target, an upstream that ran in an earlier run) stands
        if reason.kind != "upstream" or other is None or not decisions[other].runs:
            return None
        outputs = project.job(other).outputs
        if not outputs or not same_outputs(_upstream_of(success, other), outputs_json(project.root, outputs)):
            return None
        reran.append(other)
    return f"up to date (run {success.run_id}); " + "; ".join(
        f"upstream {other} reran; its outputs are unchanged" for other in reran
    )


def _upstream_of(success: Success, other: str) -> str | None:
    """The outputs of ``other`` as the job saw them when it last started to succeed (JSON)."""
    if not success.upstream:
        return None
    seen = json.loads(success.upstream).get(other)
    return json.dumps(seen) if seen is not None else None


def same_outputs(before: str | None, after: str | None) -> bool:
    """Whether two records of declared outputs (JSON: path -> state) hold the same bytes:
    the same files with the same hashes, whenever they were written."""
    if before is None or after is None:
        return False
    old, new = json.loads(before), json.loads(after)
    return old.keys() == new.keys() and all(old[path][2] == new[path][2] for path in old)


def _part_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Reason]:
    reasons = []
    old_scripts = old.get("scripts", {})
    for script, digest in new["scripts"].items():
        if old_scripts.get(script) != digest:
            reasons.append(Reason("script", f"script {script} changed", script))
    if [task["script"] for task in old.get("tasks", [])] != [task["script"] for task in new["tasks"]]:
        reasons.append(Reason("tasks", "tasks changed"))
    old_params, new_params = old.get("params", {}), new.get("params", {})
    for param in sorted(old_params.keys() | new_params.keys()):
        if old_params.get(param) != new_params.get(param):
            reasons.append(Reason("param", f"param {param} changed", param))
    explained = any(reason.kind == "param" for reason in reasons)  # a parameter fills args and env
    if not explained and [t["args"] for t in old.get("tasks", [])] != [t["args"] for t in new["tasks"]]:
        reasons.append(Reason("args", "args changed"))
    old_env = (old.get("env"), [task["env"] for task in old.get("tasks", [])])
    if not explained and old_env != (new.get("env"), [task["env"] for task in new["tasks"]]):
        reasons.append(Reason("env", "env changed"))
    if old.get("matrix", {}) != new.get("matrix", {}):
        reasons.append(Reason("matrix", "matrix values changed"))
    for key in ("inputs", "outputs"):
        if old.get(key, []) != new.get(key, []):
            reasons.append(Reason(key, f"declared {key} changed"))
    if sorted(old.get("needs", {})) != sorted(new.get("needs", {})):
        reasons.append(Reason("needs", "needs changed"))
    return reasons


def _module_changes(old: dict[str, list[Any]], new: Mapping[str, Module]) -> list[Reason]:
    reasons = []
    for path, (state, by) in new.items():
        entry = old.get(path)
        if state is None:
            reasons.append(Reason("module", f"{path} missing (imported by {by})", path))
        elif entry is None:
            reasons.append(Reason("module", f"{path} newly imported (by {by})", path))
        elif not state.same(FileState(*entry[:3])):
            reasons.append(Reason("module", f"{path} changed (imported by {by})", path))
    return reasons


def _input_changes(old: Mapping[str, FileState], new: Mapping[str, FileState]) -> list[Reason]:
    reasons = []
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            reasons.append(Reason("input", f"input {path} removed", path))
        elif path not in old:
            reasons.append(Reason("input", f"input {path} added", path))
        elif not new[path].same(old[path]):
            reasons.append(Reason("input", f"input {path} changed", path))
    return reasons


def _output_changes(root: Path, old: Mapping[str, FileState]) -> list[Reason]:
    reasons = []
    for path, recorded in old.items():
        try:
            state = state_of(root / path, recorded)
        except OSError as exc:
            raise MachineError.from_os(exc, "read an output", root / path) from exc
        if state is None:
            reasons.append(Reason("output", f"output {path} missing", path))
        elif not state.same(recorded):
            reasons.append(Reason("output", f"output {path} changed", path))
    return reasons


def outputs_json(root: Path, patterns: Iterable[str]) -> str:
    """A job's declared outputs as it succeeded, as the ledger keeps them."""
    try:
        found = states(root, matching(root, patterns))
    except OSError as exc:
        raise MachineError.from_os(exc, "read an output", exc.filename or root) from exc
    return json.dumps({path: list(state) for path, state in found.items()})


def inputs_json(found: Mapping[str, FileState]) -> str:
    """A job's inputs as it started, as the ledger keeps them."""
    return json.dumps({path: list(state) for path, state in found.items()})
