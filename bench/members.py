"""Matrix members against jobs written by hand: is a sweep of 1,000 as cheap as 1,000 jobs?

    python bench/members.py                 # 1,000 of each, 5 repeats
    python bench/members.py --size 8000 --repeat 3

Two projects of the same shape: one job whose matrix (a x b x c) has SIZE members, and
SIZE independent jobs written out in pyoneer.toml, every task the same one-line script.
For each: reading the file (``pyoneer.load``: expansion, placeholders, validation), the
manager alone on a no-op engine, and ``pyoneer.run`` with the ledger. Medians over the
repeats, and the members' time over the jobs'.
"""

from __future__ import annotations

import argparse
import gc
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


def factors(size: int) -> tuple[int, int, int]:
    a = round(size ** (1 / 3))
    while size % a:
        a -= 1
    b = round((size // a) ** 0.5)
    while (size // a) % b:
        b -= 1
    return a, b, size // a // b


def write(root: Path, size: int, matrix: bool) -> Path:
    root.mkdir(parents=True)
    (root / "s.py").write_text("x = 1\n")
    if matrix:
        a, b, c = factors(size)
        lists = ", ".join(f"{key} = {list(range(n))}" for key, n in (("a", a), ("b", b), ("c", c)))
        toml = f'[jobs.sweep]\nmatrix = {{ {lists} }}\ntasks = ["s.py --a {{a}} --b {{b}} --c {{c}}"]\n'
    else:
        a, b, c = factors(size)
        toml = "".join(
            f'[jobs.j-{i}-{j}-{k}]\ntasks = ["s.py --a {i} --b {j} --c {k}"]\n'
            for i in range(a) for j in range(b) for k in range(c)
        )
    (root / "pyoneer.toml").write_text(toml)
    return root


def timed(action) -> float:  # noqa: ANN001
    gc.collect()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def alone(project) -> None:  # noqa: ANN001
    manager = pyoneer.Manager(NoopEngine(), workers=2)
    manager.start()
    manager.assign(project)
    assert manager.run().ok
    manager.stop()


def with_ledger(project) -> None:  # noqa: ANN001
    shutil.rmtree(project.root / ".pyoneer", ignore_errors=True)
    assert pyoneer.run(project, workers=2, engine=NoopEngine()).ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pyoneer-bench-members-"))
    try:
        figures: dict[str, dict[str, float]] = {}
        for kind, matrix in (("members", True), ("jobs", False)):
            root = write(base / kind, options.size, matrix)
            project = pyoneer.load(root)
            assert len(project.jobs) == options.size
            samples = {
                "load": [timed(lambda: pyoneer.load(root)) for _ in range(options.repeat)],
                "manager": [timed(lambda: alone(project)) for _ in range(options.repeat)],
                "ledger": [timed(lambda: with_ledger(project)) for _ in range(options.repeat)],
            }
            figures[kind] = {name: statistics.median(values) for name, values in samples.items()}
        print(f"{options.size} members of one matrix vs {options.size} jobs written out; median of {options.repeat}")
        print(f"{'':8} {'load s':>8} {'manager s':>10} {'us/job':>7} {'ledger s':>9} {'us/job':>7}")
        for kind, values in figures.items():
            print(f"{kind:8} {values['load']:8.3f} {values['manager']:10.3f} "
                  f"{values['manager'] / options.size * 1e6:7.1f} {values['ledger']:9.3f} "
                  f"{values['ledger'] / options.size * 1e6:7.1f}")
        ratio = {name: figures["members"][name] / figures["jobs"][name] for name in ("load", "manager", "ledger")}
        print("members / jobs: " + ", ".join(f"{name} {value:.2f}" for name, value in ratio.items()))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
