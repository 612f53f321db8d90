"""Choosing an engine by name: ``local`` (built in), ``ray`` (the optional extra) or ``slurm``
(Slurm's own commands on this machine)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyoneer.errors import UsageError
from pyoneer.machine.warm import ForkServer
from pyoneer.pyoneers.engine import Engine

ENGINE_NAMES = ("local", "ray", "slurm")


def engine_named(
    name: str,
    address: str | None = None,
    announce: Callable[[str], None] | None = None,
    spare: ForkServer | None = None,
    gpus: Sequence[str] | None = None,
    resources: Mapping[str, float] | None = None,
    slurm: Mapping[str, Any] | None = None,
) -> Engine:
    """The engine called ``name``; an unknown name is a usage error.

    ``address`` is the Ray cluster's; ``announce`` prints what the engine does before
    the run (the size of what travels to the nodes); ``spare`` is a fork server for the
    local engine's first worker; ``gpus`` and ``resources`` describe this machine to the
    local engine (on Ray, the cluster's nodes say what they have); ``slurm`` is the
    ``[engine.slurm]`` table.
    """
    if name == "local":
        if address:
            raise UsageError("--address is for the Ray engine; add --engine ray")
        from pyoneer.engines.local import LocalEngine

        return LocalEngine(spare, gpus=gpus, resources=resources)
    if name in ("ray", "slurm") and (gpus is not None or resources):
        raise UsageError(
            "--gpus, --resource and [engine] gpus/resources describe this machine to the local engine;"
            f" on {name.capitalize()} the nodes say what they have"
            + (" (ray start --num-gpus, --resources)" if name == "ray" else " (slurm.conf: Gres, CPUs)")
        )
    if name == "slurm":
        if address:
            raise UsageError("--address is for the Ray engine; Slurm is reached through sbatch on this machine")
        from pyoneer.engines.slurm.engine import SlurmEngine

        return SlurmEngine(slurm, announce=announce)
    if name == "ray":
        from pyoneer.engines.ray.engine import RayEngine  # Ray is an optional extra

        return RayEngine(address=address, announce=announce)
    raise UsageError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")
