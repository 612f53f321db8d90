"""Workload O: does showing a task's output slow its run? (issue 22, section 1)

    python bench/output.py                     # 30 MB, 5 repeats, through a pipe and a pty
    python bench/output.py --mb 30 --repeat 9

One task prints ``--mb`` MB (100-byte lines) and exits. ``pyoneer run flood.py`` is timed
whole, from outside, with its output shown (the default) and with ``--quiet``, read
through a pipe (as CI reads it) and through a pseudo-terminal (the live view, rich),
whose reader drains everything as a fast terminal would. Each sample runs in a fresh
temporary directory; the modes rotate within a repeat. The goal: shown within 10% of
quiet. Report to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

FLOOD = """
import sys
line = "x" * 99 + "\\n"
for _ in range({chunks}):
    sys.stdout.write(line * 10_000)
sys.stdout.flush()
"""


def pyoneer() -> list[str]:
    """The ``pyoneer`` of the repository's venv, else of this interpreter."""
    venv = REPO / ".venv" / "bin" / "pyoneer"
    return [str(venv)] if venv.exists() else [sys.executable, "-m", "pyoneer"]


def timed(argv: list[str], cwd: Path, terminal: bool) -> float:
    """Seconds ``argv`` takes, its output read to the end (a pipe, or a pty)."""
    start = time.perf_counter()
    if not terminal:
        done = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise SystemExit(f"{argv} exited {done.returncode}: {done.stdout[-2000:]!r}")
        return time.perf_counter() - start
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    proc = subprocess.Popen(argv, cwd=cwd, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    while True:
        try:
            if not os.read(leader, 1 << 16):
                break
        except OSError:
            break
    code = proc.wait()
    os.close(leader)
    if code != 0:
        raise SystemExit(f"{argv} exited {code} on a pty")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    command = pyoneer()
    modes = [(f"{where}, {shown}", where == "pty", shown == "quiet")
             for where in ("pipe", "pty") for shown in ("shown", "quiet")]
    times: dict[str, list[float]] = {name: [] for name, _, _ in modes}
    for repeat in range(args.repeat):
        order = modes[repeat % len(modes):] + modes[:repeat % len(modes)]
        for name, terminal, quiet in order:
            with tempfile.TemporaryDirectory(prefix="pyoneer-bench-o-") as directory:
                root = Path(directory)
                (root / "flood.py").write_text(FLOOD.format(chunks=args.mb))
                argv = [*command, "run", *(["-q"] if quiet else []), "flood.py"]
                times[name].append(timed(argv, root, terminal))
                print(f"repeat {repeat + 1}: {name}: {times[name][-1]:.3f} s", file=sys.stderr)
    print(f"workload O: one task printing {args.mb} MB, `pyoneer run` timed whole, median of {args.repeat}")
    print(f"{'mode':<16} {'median s':>9} {'min s':>7} {'vs quiet':>9}")
    for name, _terminal, quiet in modes:
        median = statistics.median(times[name])
        base = statistics.median(times[name.split(",")[0] + ", quiet"])
        ratio = "" if quiet else f"{median / base:.2f}x"
        print(f"{name:<16} {median:>9.3f} {min(times[name]):>7.3f} {ratio:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
