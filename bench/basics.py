"""What every workload of the benchmark shares: the interpreter measured, progress on
stderr, a row of results and its table, and the memory of a process tree.

Imported by ``bench.py`` and by each workload's module (``oneline.py`` A-D, ``peers.py``,
``manager.py`` E, ``bigrun.py`` F, ``heavy.py`` G, ``slurm.py`` S); nothing here is a
dependency of Pyoneer.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: the interpreter measured: the benchmark runs itself again with it (a clean venv, or --python)
PYTHON = sys.executable
WORKERS = 2
MODE_BASELINE = "baseline"


def log(message: str) -> None:
    """Progress, on stderr."""
    print(message, file=sys.stderr, flush=True)


def pyoneer_command() -> tuple[list[str], str]:
    """The console script next to this interpreter if there is one, else ``python -m pyoneer``."""
    script = Path(PYTHON).with_name("pyoneer")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], f"{script} (the console script next to sys.executable)"
    return [PYTHON, "-m", "pyoneer"], f"{PYTHON} -m pyoneer (no console script next to sys.executable)"


# Results -------------------------------------------------------------------------------
@dataclass
class Row:
    """One workload in one mode: its samples, and why it has none if so."""

    workload: str
    mode: str
    times: list[float] = field(default_factory=list)
    tasks: int = 0
    note: str = ""
    status: str = "ok"  # ok | n/a | skipped | error
    #: CPU seconds (user + system) of every process of each sample, from getrusage(RUSAGE_CHILDREN)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        """The median wall time of the samples, seconds."""
        return statistics.median(self.times) if self.times else None

    @property
    def cpu_per_task_ms(self) -> float | None:
        """The median CPU of a sample over its tasks, milliseconds."""
        return statistics.median(self.cpu) / self.tasks * 1000 if self.cpu and self.tasks else None


def children_cpu() -> float:
    """CPU seconds used so far by this process's ended children and everything they reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``-`` for none."""
    return "-" if value is None else f"{value:.{digits}f}"


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    """A plain-text table, the columns in ``right`` aligned to the right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


# Memory of a process tree --------------------------------------------------------------


class TreePeak:
    """The peak memory of a process tree while the ``with`` block runs, sampled every 0.1 s.

    The tree is every descendant of this process (and this process too with
    ``include_self``). Two sums are kept, each at its own peak: RSS, which counts a page
    shared by several processes (a fork server's library and the children forked from it)
    once in each of them, and PSS (``/proc/PID/smaps_rollup``), which splits such a page
    between its sharers, so that it sums to what the tree really holds.
    """

    def __init__(self, include_self: bool = False, every: float = 0.1) -> None:
        self.rss = 0  #: the peak of the summed RSS, bytes
        self.pss = 0  #: the peak of the summed PSS, bytes
        self._include_self = include_self
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self._every):
                return

    def _sample(self) -> None:
        me = os.getpid()
        page = os.sysconf("SC_PAGE_SIZE")
        parents, rss = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * page
        tree = [pid for pid in rss if (pid == me and self._include_self) or (pid != me and _below(pid, me, parents))]
        self.rss = max(self.rss, sum(rss[pid] for pid in tree))
        self.pss = max(self.pss, sum(_pss(pid) for pid in tree))


def _below(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    while pid in parents and pid != ancestor and pid > 1:
        pid = parents[pid]
    return pid == ancestor


def _pss(pid: int) -> int:
    """The proportional set size of a process, bytes (0 when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
