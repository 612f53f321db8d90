"""Slurm's own commands, the one place that runs them: ``sbatch``, ``squeue``, ``scancel``.

Pyoneer talks to Slurm the way its users do, through the commands on the login node's
``PATH`` (and the ``SLURM_CONF`` they read), never through a port of its own. What
those commands say when they refuse becomes a ``ClusterError`` here, in Slurm's words.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from pyoneer.errors import ClusterError, UsageError

#: seconds a Slurm command may take before the controller is taken to be out of reach
COMMAND_TIMEOUT = 60.0

#: the states of a Slurm job that has not ended
_ALIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUED",
                    "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"})


class JobState(NamedTuple):
    """One Slurm job, as ``squeue`` shows it."""

    state: str
    #: why it waits (``Priority``, ``Resources``), or why it ended (``NodeDown``...)
    reason: str
    #: the node it runs on ("" while it waits)
    node: str

    @property
    def alive(self) -> bool:
        """True while the job waits or runs."""
        return self.state in _ALIVE


class Slurm:
    """The Slurm commands of this machine; refuses to exist without ``sbatch``."""

    def __init__(self) -> None:
        found = {name: shutil.which(name) for name in ("sbatch", "squeue", "scancel", "sinfo")}
        missing = [name for name, path in found.items() if path is None]
        if missing:
            raise UsageError(
                f"the Slurm engine needs Slurm's commands, and {', '.join(missing)} is not on PATH\n"
                "  hint: run Pyoneer on the cluster's login node (where sbatch works), or load Slurm's module"
            )
        self._paths = found

    def submit(self, script: str, options: Sequence[str]) -> str:
        """Queue ``script`` (a batch script's text) with ``options``; the Slurm job id."""
        out = self._run("sbatch", ["--parsable", *options], stdin=script)
        return out.strip().split(";")[0]

    def refusal(self, options: Sequence[str]) -> str:
        """Why Slurm would refuse a job with ``options`` ("" if it would take it).

        ``sbatch --test-only`` asks the controller itself: partition, account, QOS,
        walltime and size are judged as a real submission would be, and nothing is queued.
        """
        try:
            self._run("sbatch", ["--test-only", *options, "--wrap", "true"])
        except ClusterError as exc:
            return str(exc).removeprefix("sbatch: ")
        return ""

    def states(self, ids: Iterable[str]) -> dict[str, JobState]:
        """What Slurm knows of the jobs ``ids``, in one ``squeue`` call (ended ones too,
        while Slurm keeps them: ``MinJobAge``); a job it no longer knows is missing."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        try:
            out = self._run("squeue", ["-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T|%r|%N"])
        except ClusterError as exc:
            if "Invalid job id" in str(exc):
                return {}  # none of them is known any more
            raise
        states = {}
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 4:
                states[parts[0]] = JobState(parts[1], parts[2], parts[3])
        return states

    def cpus(self, partitions: Sequence[str]) -> int:
        """How many CPUs the nodes of ``partitions`` have (of every node if none is named)."""
        where = ["-p", ",".join(partitions)] if partitions else []
        out = self._run("sinfo", ["-h", "-N", *where, "-o", "%N %c"])
        nodes = dict(line.split() for line in out.splitlines() if len(line.split()) == 2)
        return sum(int(count) for count in nodes.values() if count.isdigit())

    def signal(self, number: str, name: str) -> None:
        """Send signal ``name`` (``TERM``) to the batch script of job ``number`` alone: the
        job itself goes on until that process ends it."""
        self._run("scancel", ["--batch", f"--signal={name}", number])

    def cancel(self, ids: Iterable[str]) -> None:
        """Cancel the jobs ``ids`` (those already ended are no error)."""
        ids = sorted(set(ids))
        if ids:
            try:
                self._run("scancel", ids)
            except ClusterError:
                pass  # scancel says so of a job that already ended; the others are cancelled

    def _run(self, command: str, args: Sequence[str], stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                [self._paths[command], *args], input=stdin, capture_output=True, text=True,
                timeout=COMMAND_TIMEOUT, env=os.environ,
            )
        except subprocess.TimeoutExpired:
            raise ClusterError(f"{command} did not answer within {COMMAND_TIMEOUT:g} s: is slurmctld up?") from None
        except OSError as exc:
            raise ClusterError(f"cannot run {command}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()
            raise ClusterError(said[-1] if said else command)
        return done.stdout
