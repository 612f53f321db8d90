"""The machine a benchmark ran on, for the report's header: CPU, memory, Python and its
start-up, the Pyoneer measured and its git commit, the load average."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from basics import PYTHON, REPO


def cpu_model() -> str:
    """The CPU's model name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total() -> str:
    """The machine's memory, GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def git_state(source: Path) -> str:
    """The commit, whether src/ differs from it, and a fingerprint of the code measured."""
    if REPO not in source.parents:
        return f"not this repository's src/; code sha1 {code_fingerprint(source)}"

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--", "src").strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    return f"{commit}{' + uncommitted changes under src/' if dirty else ''}; code sha1 {code_fingerprint(source)}"


def code_fingerprint(source: Path) -> str:
    """A hash of every file of the pyoneer package: tells whether the code changed meanwhile."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def load_average() -> str:
    """The 1, 5 and 15-minute load averages."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def startup_ms(argv: list[str], times: int = 5) -> float:
    """The median wall time of running ``argv``, milliseconds."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def compile_pyoneer() -> None:
    """Write Pyoneer's bytecode once, as an installed package has it.

    With PYTHONDONTWRITEBYTECODE set (as on some machines) an editable install would
    otherwise compile every changed module again at each start, inside A-D.
    """
    import compileall

    import pyoneer

    compileall.compile_dir(str(Path(pyoneer.__file__).resolve().parent), quiet=1)


def describe_machine(command_text: str) -> dict:
    """The header's facts, with ``command_text`` saying how Pyoneer is started."""
    import pyoneer

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "memory": mem_total(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": PYTHON,
        "pyoneer_version": getattr(pyoneer, "__version__", "unknown"),
        "pyoneer_source": str(Path(pyoneer.__file__).resolve().parent),
        "git": git_state(Path(pyoneer.__file__).resolve().parent),
        "pyoneer_command": command_text,
        "python_startup_ms": round(startup_ms([PYTHON, "-c", "pass"]), 1),
        "python_startup_no_site_ms": round(startup_ms([PYTHON, "-S", "-c", "pass"]), 1),
        "load_average_start": load_average(),
    }
