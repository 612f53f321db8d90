"""The resources of one run as slots: what running jobs hold, and what is free for the next.

A plain mutable data structure, owned by one manager for one run and then thrown away.

- CPU slots: a job takes as many as its ``cpus``, and all of them if it asks for more
  than there are, so that it runs alone rather than never.
- GPUs, where the engine hands them out (the local engine): each device is a slot of
  capacity 1. A job asking for ``gpus = N`` (whole) takes N free devices; one asking
  for a fraction shares a device with others, as Ray does (two ``0.5`` on one device).
  The job learns its devices from its ``Grant``.
- Custom resources the engine declares (``license = 2``): amounts taken and given back.

Where the engine hands out no GPUs or custom resources (Ray places jobs itself), only
CPU slots are counted here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from pyoneer.blueprints.job import Resources

#: a hair of slack for fractions that add up to a whole (0.1 * 3 + 0.7)
_EPSILON = 1e-9


class Grant(NamedTuple):
    """What a running job holds: CPU slots, GPU devices (None: not handed out here), custom amounts."""

    cpus: float
    devices: tuple[str, ...] | None = None
    #: the share of each device the job holds (1.0 for a whole one)
    shares: tuple[float, ...] = ()
    custom: tuple[tuple[str, float], ...] = ()


class SlotPool:
    """``total`` CPU slots, and the GPUs (``gpus``) and ``custom`` resources handed out here."""

    def __init__(
        self, total: int, gpus: Sequence[str] | None = None, custom: Mapping[str, float] | None = None
    ) -> None:
        if total < 1:
            raise ValueError(f"a run needs at least one slot, got {total}")
        self.total = total
        self.free = float(total)
        #: each device's free share (None: GPUs are not handed out here)
        self.devices: dict[str, float] | None = None if gpus is None else dict.fromkeys(gpus, 1.0)
        self.custom: dict[str, float] | None = None if custom is None else dict(custom)
        self._declared = dict(custom or {})
        self._held: dict[str, Grant] = {}

    def need(self, cpus: float) -> float:
        """How many slots a job asking for ``cpus`` takes: at most all of them."""
        return min(float(cpus), float(self.total))

    def take(self, job: str, resources: Resources | float) -> Grant | None:
        """Give ``job`` what it needs if it is all free now; None (and nothing taken) if not.

        ``resources`` may be a bare number of CPUs.
        """
        if job in self._held:
            raise ValueError(f"{job!r} already holds slots")
        if not isinstance(resources, Resources):
            resources = Resources(cpus=resources)
        need = self.need(resources.cpus)
        if need > self.free + _EPSILON:
            return None
        devices = self._devices_for(resources.gpus)
        if devices is False:
            return None
        custom = tuple(resources.custom) if self.custom is not None else ()
        if any(amount > self.custom.get(name, 0.0) + _EPSILON for name, amount in custom):
            return None
        # everything is free: take it
        self.free -= need
        ids: tuple[str, ...] | None = None
        shares: tuple[float, ...] = ()
        if devices is not None:
            ids, shares = tuple(device for device, _ in devices), tuple(share for _, share in devices)
            for device, share in devices:
                self.devices[device] -= share
        for name, amount in custom:
            self.custom[name] -= amount
        grant = Grant(need, ids, shares, custom)
        self._held[job] = grant
        return grant

    def _devices_for(self, gpus: float) -> list[tuple[str, float]] | None | bool:
        """The devices (and shares) a request for ``gpus`` would take; False if not free now."""
        if self.devices is None:
            return None
        if not gpus:
            return []
        if gpus < 1:
            # a fraction: the fullest device it still fits on, so whole ones stay free
            fitting = [device for device, free in self.devices.items() if free + _EPSILON >= gpus]
            if not fitting:
                return False
            device = min(fitting, key=lambda name: self.devices[name])
            return [(device, float(gpus))]
        whole = [device for device, free in self.devices.items() if free > 1 - _EPSILON]
        if len(whole) < gpus:
            return False
        return [(device, 1.0) for device in whole[: int(gpus)]]

    def never_fits(self, resources: Resources) -> str:
        """Why a job asking for ``resources`` could never run here, even alone ("" if it could)."""
        if self.devices is not None and resources.gpus:
            enough = len(self.devices) >= (1 if resources.gpus < 1 else resources.gpus)
            if not enough:
                return f"it asks for {resources.gpus:g} GPUs, and there are {len(self.devices)}"
        if self.custom is not None:
            for name, amount in resources.custom:
                if amount > self._declared.get(name, 0.0) + _EPSILON:
                    return f"it asks for {amount:g} of {name!r}, and there is {self._declared.get(name, 0.0):g}"
        return ""

    def give_back(self, job: str) -> None:
        """``job`` has ended (or lost its worker): what it held is free again."""
        grant = self._held.pop(job)
        self.free += grant.cpus
        if grant.devices is not None and self.devices is not None:
            for device, share in zip(grant.devices, grant.shares):
                self.devices[device] += share
        for name, amount in grant.custom:
            self.custom[name] += amount

    def holds(self, job: str) -> bool:
        """Whether ``job`` holds slots now."""
        return job in self._held
