"""The up-to-date check of ``--resume``: how long deciding takes when nothing changed.

    python bench/uptodate.py                       # 1,000 jobs, 10,000 inputs, 1 GB; 5 repeats
    python bench/uptodate.py --jobs 200 --inputs 5 --size 10000 --repeat 3   # a smaller one

The project: JOBS jobs, each one task (a script that imports a project module, which
imports another), INPUTS declared input files of SIZE bytes each under
``data/<job>/``, and one declared output. It is run once for real with the ledger, on an
engine whose workers run nothing (``noop_engine``; the outputs are written beforehand),
so that every job has a success to compare with. Then, with nothing changed, the
benchmark times what ``pyoneer run --resume`` does before any job starts (and all of
what ``--dry-run`` does): open the ledger, read each job's latest success, look at the
project's scripts, modules, inputs and outputs, and decide. Each input's size and
modification time are its fast path: an unchanged file is never read. Last, one input
is rewritten and the check is timed again, to show that only the changed file is read.

Target: under 2 s for 1,000 jobs with 10,000 inputs and 1 GB of inputs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from noop_engine import NoopEngine  # noqa: E402

import pyoneer  # noqa: E402
from pyoneer.runner import preview  # noqa: E402


def write(root: Path, jobs: int, inputs: int, size: int) -> Path:
    """The project, its inputs and its outputs, under ``root``."""
    root.mkdir(parents=True)
    (root / "task.py").write_text("import helpers\nprint(helpers.VALUE)\n")
    (root / "helpers.py").write_text("from base import BASE\nVALUE = BASE + 1\n")
    (root / "base.py").write_text("BASE = 1\n")
    block = bytes(range(256)) * (size // 256 + 1)
    lines = []
    for number in range(jobs):
        name = f"j{number:05d}"
        folder = root / "data" / name
        folder.mkdir(parents=True)
        for index in range(inputs):
            (folder / f"part-{index:03d}.bin").write_bytes(block[index:index + size])
        (root / "out").mkdir(exist_ok=True)
        (root / "out" / f"{name}.txt").write_text(name)
        lines.append(
            f'[jobs.{name}]\ntasks = ["task.py {name}"]\ninputs = ["data/{name}/*.bin"]\noutputs = ["out/{name}.txt"]\n'
        )
    (root / "pyoneer.toml").write_text("".join(lines))
    return root


def timed(action) -> float:  # noqa: ANN001
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--inputs", type=int, default=10, help="input files per job")
    parser.add_argument("--size", type=int, default=100_000, help="bytes per input file")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pyoneer-bench-uptodate-"))
    try:
        made = time.perf_counter()
        root = write(base / "project", options.jobs, options.inputs, options.size)
        total = options.jobs * options.inputs
        print(f"{options.jobs} jobs, {total} inputs, {total * options.size / 1e9:.2f} GB of inputs"
              f" (written in {time.perf_counter() - made:.1f} s)")
        project = pyoneer.load(root)
        first = timed(lambda: pyoneer.run(project, workers=2, engine=NoopEngine()))
        print(f"first run (every input hashed once, as it is recorded): {first:.2f} s")

        def check() -> None:
            decisions = preview(pyoneer.load(root), resume=True)
            assert not any(decision.runs for decision in decisions), [d.why for d in decisions if d.runs][:3]

        samples = [timed(check) for _ in range(options.repeat)]
        print(f"unchanged, load + decide: median {statistics.median(samples):.3f} s,"
              f" best {min(samples):.3f} s of {options.repeat}  (target: under 2 s)")
        changed = root / "data" / "j00000" / "part-000.bin"
        changed.write_bytes(b"changed" + changed.read_bytes()[7:])

        def one_changed() -> None:
            decisions = preview(pyoneer.load(root), resume=True)
            assert [decision.job for decision in decisions if decision.runs] == ["j00000"]

        print(f"one input changed: {timed(one_changed):.3f} s (only that file is read)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
