"""Ray's exceptions become Pyoneer's here, and only here."""

from __future__ import annotations

from typing import Any


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]


def lost_reason(ray: Any, exc: BaseException) -> str | None:
    """The words for a worker lost to Ray (its actor, process or node died); None if not that."""
    lost = (
        ray.exceptions.RayActorError,
        ray.exceptions.ActorUnavailableError,
        ray.exceptions.ObjectLostError,
        ray.exceptions.OwnerDiedError,
        ray.exceptions.NodeDiedError,
        ray.exceptions.WorkerCrashedError,
    )
    if isinstance(exc, lost):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{type(exc).__name__}: {first}"[:300]
    return None
