"""The node side of a Slurm worker: what each worker's batch job runs on its compute node.

    python -m pyoneer.engines.slurm.node RUN_DIR WORKER

It says hello (its node, process and Slurm job), then takes the jobs its manager
orders, one at a time, running each with the ordinary local ``Worker`` in the project's
own directory (shared with the login node): its tasks run warm, from its own fork
server, exactly as locally, and their logs land where the manager reads them. Between
jobs it idles. It ends when its manager says stop, when its manager falls silent for
``SILENCE`` seconds (killed, or its SSH session closed), or when Slurm ends it
(walltime, preemption, ``scancel``, a failing node): its tasks' trees are ended first,
so the allocation goes back with nothing left running.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
from pathlib import Path

from pyoneer.engines.slurm.mailbox import Heartbeat, Mailbox, Pace
from pyoneer.machine.processes import Watchdog
from pyoneer.machine.streams import Relay
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.events import Event, JobEnded, Resume, TaskEnded
from pyoneer.pyoneers.wire import event_to_wire
from pyoneer.pyoneers.worker import Worker

#: seconds of silence from the manager after which a worker gives its allocation back
SILENCE = 30.0

#: the file (under the run's Slurm directory) naming the built environment's packages, if any
ENV_FILE = "environment"


class NodeWorker:
    """One worker pyoneer's node side: a local ``Worker`` fed by its manager's orders."""

    def __init__(self, name: str, run_dir: Path) -> None:
        with (run_dir / "project.pickle").open("rb") as file:
            self.run_id, self.project, learned = pickle.load(file)
        self.name = name
        self.box = Mailbox.of_worker(run_dir / name)
        self.heartbeat = Heartbeat(run_dir / "beat")
        self.ended_by_slurm = threading.Event()
        self.pace = Pace()
        self._lock = threading.Lock()
        self._watchdog = Watchdog()
        self._relay = Relay()
        context = RunContext(self.run_id, self.project, learned)
        self._worker = Worker(name, context, self._report, self._watchdog, relay=self._relay)

    def hello(self) -> None:
        """Tell the manager where this worker lives."""
        self._send({"hello": {
            "node": os.environ.get("SLURMD_NODENAME") or os.uname().nodename,
            "pid": os.getpid(),
            "allocation": os.environ.get("SLURM_JOB_ID", ""),
            "started": time.time(),
        }})

    def serve(self) -> str:
        """Take orders until told to stop, or until the end comes otherwise; why it ended."""
        self._worker.start()
        self.pace.hurry()  # it said hello: its first order comes as soon as that is heard
        listened = 0.0
        try:
            while not self.ended_by_slurm.is_set():
                orders = self.box.receive()
                if orders:
                    self.pace.hurry()
                if any(order.get("stop") for order in orders):  # a stop wins over a job told with it
                    return "stopped by its manager"
                for order in orders:
                    resume = Resume(**order["resume"]) if order.get("resume") else None
                    self._worker.assign(self.project.job(order["job"]), earlier=order.get("earlier"), resume=resume)
                    self._worker.run()
                now = time.monotonic()
                if now - listened >= 1.0:  # the heartbeat, once a second however fast the looks
                    listened = now
                    if self.heartbeat.silent_for(now) > SILENCE:
                        return f"its manager was silent for {SILENCE:g} s"
                self.ended_by_slurm.wait(self.pace.next())
            return "ended by Slurm (SIGTERM)"
        finally:
            self._worker.stop()  # ends the job's task trees, if one runs
            self._relay.close()
            self._watchdog.close()

    def bye(self, why: str) -> None:
        """The last word: this worker is gone, and why."""
        self._send({"bye": why})

    def _report(self, event: Event) -> None:
        if self.ended_by_slurm.is_set() and isinstance(event, (JobEnded, TaskEnded)):
            return  # not the job's end: the manager hears the worker was lost, and moves the job
        if isinstance(event, JobEnded):
            self._worker.unassign()  # ready for the next order before the manager hears of the end
            self.pace.hurry()  # the next order is likely near
        self._send(event_to_wire(event, self.project.root))

    def _send(self, message: dict) -> None:
        with self._lock:
            self.box.send(message)


def main(argv: list[str]) -> int:
    """Run one worker's node side; its exit code."""
    run_dir, name = Path(argv[0]), argv[1]
    environment = run_dir / ENV_FILE
    if environment.exists():  # the project's packages, built once on the login node
        packages = environment.read_text().strip()
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (packages, os.environ.get("PYTHONPATH"))))
        sys.path.insert(0, packages)
    node = NodeWorker(name, run_dir)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: node.ended_by_slurm.set())
    node.hello()
    node.bye(node.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
