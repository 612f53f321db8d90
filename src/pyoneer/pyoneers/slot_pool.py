"""The CPU slots of one run: what running jobs hold, and what is free for the next.

A plain mutable data structure, owned by one manager for one run and then thrown away.
A job takes as many slots as its ``cpus``, and all of them if it asks for more than
there are, so that it runs alone rather than never.
"""

from __future__ import annotations

#: a hair of slack for fractional CPUs that add up to a whole (0.1 * 3 + 0.7)
_EPSILON = 1e-9


class SlotPool:
    """``total`` CPU slots shared by the jobs of one run."""

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError(f"a run needs at least one slot, got {total}")
        self.total = total
        self.free = float(total)
        self._held: dict[str, float] = {}

    def need(self, cpus: float) -> float:
        """How many slots a job asking for ``cpus`` takes: at most all of them."""
        return min(float(cpus), float(self.total))

    def take(self, job: str, cpus: float) -> bool:
        """Give ``job`` its slots if they are free; False (and nothing taken) if not."""
        if job in self._held:
            raise ValueError(f"{job!r} already holds slots")
        need = self.need(cpus)
        if need > self.free + _EPSILON:
            return False
        self.free -= need
        self._held[job] = need
        return True

    def give_back(self, job: str) -> None:
        """``job`` has ended (or lost its worker): its slots are free again."""
        self.free += self._held.pop(job)

    def holds(self, job: str) -> bool:
        """Whether ``job`` holds slots now."""
        return job in self._held
