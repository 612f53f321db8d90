"""The status model: what a pyoneer is doing, how its blueprint stands, and how a run stands.

Status never lives in a blueprint. A pyoneer has a ``PyoneerStatus``; the blueprint it
holds has a ``BlueprintStatus`` *as seen by that pyoneer*. Every change goes through
``advance``, the one place that checks it against the allowed transitions; an
impossible change is a bug and raises ``TransitionError``.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from pyoneer.errors import TransitionError


class PyoneerStatus(str, Enum):
    """What a pyoneer is doing."""

    #: started, holding no blueprint, waiting to be handed one
    IDLE = "idle"
    #: holding a blueprint, not working on it (before it starts, or after it ended)
    ASSIGNED = "assigned"
    #: working on its blueprint
    WORKING = "working"
    #: not started yet, or stopped for good
    STOPPED = "stopped"
    #: its manager can no longer reach it (its process or machine died)
    LOST = "lost"


class BlueprintStatus(str, Enum):
    """How a blueprint stands, as seen by the pyoneer working on it."""

    #: waiting for the blueprints it depends on
    NOT_READY = "not_ready"
    #: may start as soon as a pyoneer takes it
    READY = "ready"
    #: being worked on
    RUNNING = "running"
    #: ended well
    SUCCEEDED = "succeeded"
    #: ended badly (a non-zero exit, a timeout), retries spent
    FAILED = "failed"
    #: never ran because something it depends on failed
    SKIPPED = "skipped"
    #: stopped before it ended (Ctrl-C, SIGTERM, a stopping pyoneer)
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True once nothing more can happen to the blueprint in this run."""
        return self in _FINAL


class RunState(str, Enum):
    """How a run stands in the ledger: running, then how it ended."""

    #: its manager is at work (or died without saying so: see ``ledger.store.interrupted``)
    RUNNING = "running"
    #: every job succeeded
    SUCCEEDED = "succeeded"
    #: some job failed, was skipped, or the machine stopped the run
    FAILED = "failed"
    #: stopped before its end (Ctrl-C, SIGTERM), or its manager died
    INTERRUPTED = "interrupted"
    #: a submitted run whose manager went with its cluster (the head node died): its
    #: mirror can never hear how it ended
    LOST = "lost"

    @classmethod
    def ended_as(cls, status: BlueprintStatus) -> RunState:
        """The run's end, from how its project ended (succeeded, failed or cancelled)."""
        return _RUN_ENDS[status]


_FINAL = frozenset(
    {
        BlueprintStatus.SUCCEEDED,
        BlueprintStatus.FAILED,
        BlueprintStatus.SKIPPED,
        BlueprintStatus.CANCELLED,
    }
)

_RUN_ENDS = {
    BlueprintStatus.SUCCEEDED: RunState.SUCCEEDED,
    BlueprintStatus.FAILED: RunState.FAILED,
    BlueprintStatus.CANCELLED: RunState.INTERRUPTED,
}

#: how a running job's reason begins while its worker waits in a cluster's queue (then
#: the scheduler's own reason: ``waiting in the queue: Priority``)
WAITING = "waiting in the queue: "

#: a blueprint in one of these has not ended; when its run is interrupted, it is cancelled
OPEN_STATUSES = (BlueprintStatus.NOT_READY, BlueprintStatus.READY, BlueprintStatus.RUNNING)

_P, _B = PyoneerStatus, BlueprintStatus

PYONEER_TRANSITIONS: dict[PyoneerStatus, frozenset[PyoneerStatus]] = {
    _P.STOPPED: frozenset({_P.IDLE}),
    _P.IDLE: frozenset({_P.ASSIGNED, _P.STOPPED, _P.LOST}),
    _P.ASSIGNED: frozenset({_P.WORKING, _P.IDLE, _P.STOPPED, _P.LOST}),
    _P.WORKING: frozenset({_P.ASSIGNED, _P.STOPPED, _P.LOST}),
    _P.LOST: frozenset(),
}

BLUEPRINT_TRANSITIONS: dict[BlueprintStatus, frozenset[BlueprintStatus]] = {
    _B.NOT_READY: frozenset({_B.READY, _B.SKIPPED, _B.CANCELLED}),
    _B.READY: frozenset({_B.RUNNING, _B.CANCELLED}),
    # running -> ready: its worker was lost, and the job waits for another
    _B.RUNNING: frozenset({_B.SUCCEEDED, _B.FAILED, _B.CANCELLED, _B.READY}),
    _B.SUCCEEDED: frozenset(),
    _B.FAILED: frozenset(),
    _B.SKIPPED: frozenset(),
    _B.CANCELLED: frozenset(),
}

_S = TypeVar("_S", PyoneerStatus, BlueprintStatus)


def advance(current: _S, new: _S) -> _S:
    """Return ``new`` if the status model allows ``current -> new``, else raise."""
    table = PYONEER_TRANSITIONS if isinstance(current, PyoneerStatus) else BLUEPRINT_TRANSITIONS
    if new not in table[current]:
        raise TransitionError(
            f"a {type(current).__name__} cannot change from {current.value} to {new.value}"
        )
    return new
