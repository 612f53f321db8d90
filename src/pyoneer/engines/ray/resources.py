"""A job's resources in Ray's words (``CPU``, ``GPU``, ``memory``, custom names)."""

from __future__ import annotations

from pyoneer.blueprints.job import Resources


def ray_resources(resources: Resources) -> dict[str, float]:
    wanted: dict[str, float] = {"CPU": float(resources.cpus)}
    if resources.gpus:
        wanted["GPU"] = float(resources.gpus)
    if resources.memory:
        wanted["memory"] = float(resources.memory)
    wanted.update({name: float(amount) for name, amount in resources.custom})
    return wanted


def covers(size: Resources, need: Resources) -> bool:
    have, want = ray_resources(size), ray_resources(need)
    return all(have.get(key, 0) >= amount for key, amount in want.items())


def resource_word(key: str) -> str:
    return {"CPU": "cpus", "GPU": "gpus", "memory": "memory"}.get(key, f"custom resource {key}")
