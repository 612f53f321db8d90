"""The pyoneer: an agent with one role and at most one blueprint at a time.

``Pyoneer`` is the abstract base class of every agent (``Manager``, ``Worker``). Its
public contract is exactly the seven methods of the seed. The base class also keeps the
pyoneer's own status and blueprint in one guarded place, so that every change is
checked by ``pyoneer.status.advance`` and the state of a pyoneer can be read from any
thread.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pyoneer.errors import AssignmentError
from pyoneer.status import BlueprintStatus, PyoneerStatus, advance

HOST = os.uname().nodename  # gethostname(), without importing socket


@dataclass(frozen=True)
class StateRow:
    """One row of the state of the system: a pyoneer and its blueprint, as it stands."""

    pyoneer: str
    role: str
    #: ``None`` for a job that no pyoneer holds now
    status: PyoneerStatus | None
    kind: str
    blueprint: str
    blueprint_status: BlueprintStatus | None
    host: str = HOST


class Pyoneer(ABC):
    """An agent of Pyoneer: one role, one blueprint at a time.

    Lifecycle: ``start`` (stopped -> idle), ``assign`` (idle -> assigned), ``run``
    (assigned -> working, then back to assigned when the blueprint has ended),
    ``unassign`` (assigned -> idle), ``stop`` (-> stopped).
    """

    #: the pyoneer's role, e.g. "manager" or "worker"
    role: ClassVar[str] = "pyoneer"

    def __init__(self, name: str) -> None:
        self.name = name
        self.host = HOST
        #: the process the pyoneer lives in
        self.pid: int | None = os.getpid()
        #: where a cluster placed it, in the cluster's words (a Slurm job id); "" here
        self.allocation = ""
        self._guard = threading.RLock()
        self._status = PyoneerStatus.STOPPED
        self._blueprint: Any = None
        self._blueprint_status: BlueprintStatus | None = None

    # The seven methods of the seed -------------------------------------------------

    @abstractmethod
    def get_status(self) -> PyoneerStatus:
        """What this pyoneer is doing."""

    @abstractmethod
    def get_blueprint_status(self) -> BlueprintStatus | None:
        """How the blueprint this pyoneer holds stands (``None`` when it holds none)."""

    @abstractmethod
    def run(self) -> Any:
        """Work on the assigned blueprint."""

    @abstractmethod
    def assign(self, blueprint: Any) -> None:
        """Take ``blueprint``; raises ``AssignmentError`` if one is already held."""

    @abstractmethod
    def unassign(self) -> Any:
        """Let go of the held blueprint (which has ended) and return it."""

    @abstractmethod
    def stop(self) -> None:
        """Stop for good, ending any work in progress."""

    @abstractmethod
    def start(self) -> None:
        """Get ready to be assigned blueprints."""

    # Shared bookkeeping, used by the implementations above ------------------------

    @property
    def blueprint(self) -> Any:
        """The blueprint held now, or ``None``."""
        return self._blueprint

    def state(self) -> StateRow:
        """This pyoneer and its blueprint, as one row of the state of the system."""
        with self._guard:
            blueprint = self._blueprint
            return StateRow(
                pyoneer=self.name,
                role=self.role,
                status=self._status,
                kind=blueprint.kind.value if blueprint is not None else "",
                blueprint=blueprint.name if blueprint is not None else "",
                blueprint_status=self._blueprint_status,
                host=self.host,
            )

    def _become(self, status: PyoneerStatus) -> None:
        with self._guard:
            self._status = advance(self._status, status)

    def _mark(self, status: BlueprintStatus) -> None:
        with self._guard:
            current = self._blueprint_status
            self._blueprint_status = status if current is None else advance(current, status)

    def _take(self, blueprint: Any, status: BlueprintStatus) -> None:
        with self._guard:
            if self._blueprint is not None:
                raise AssignmentError(
                    f"{self.role} {self.name} already holds {self._blueprint.kind.value} "
                    f"{self._blueprint.name!r}; unassign it before assigning {blueprint.name!r}"
                )
            self._become(PyoneerStatus.ASSIGNED)
            self._blueprint = blueprint
            self._blueprint_status = status

    def _release(self) -> Any:
        with self._guard:
            blueprint = self._blueprint
            self._become(PyoneerStatus.IDLE)
            self._blueprint = None
            self._blueprint_status = None
            return blueprint

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self._status.value}>"
