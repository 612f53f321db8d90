"""How the corpus was chosen (run once, by hand; the tests only read its result).

    python tests/corpus/choose.py SOURCE_CHECKOUT [--most 150]

From a checkout of TheAlgorithms/Python (MIT, see LICENSE.md here), the scripts that a
test can run anywhere: they import only the standard library (and nothing that opens a
window, a socket or a terminal), read no input, are under 20 kB, end within 2 s, and
print exactly the same (stdout, stderr, exit code) in plain ``python script.py`` runs
under three hash seeds (a script whose output follows the order of a set of strings is
not deterministic: two runs may agree by chance). Each is copied under ``thealgorithms/`` with its path kept, largest-first
directories interleaved so that every kind of script is there; ``scripts.txt`` lists them.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: standard modules a test machine may not offer, or that reach outside the process
_AVOID = {"tkinter", "turtle", "socket", "urllib", "http", "ftplib", "smtplib", "webbrowser", "curses",
          "multiprocessing", "concurrent", "asyncio", "ssl", "select", "signal", "subprocess", "getpass",
          "readline", "sqlite3", "ctypes", "threading", "tempfile", "shutil", "glob", "pathlib", "os"}


def candidate(path: Path) -> bool:
    source = path.read_bytes()
    if len(source) > 20_000 or b"input(" in source or b"open(" in source:
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                return False
            names = [node.module or ""]
        for name in names:
            top = name.partition(".")[0]
            if top not in sys.stdlib_module_names or top in _AVOID:
                return False
    return True


def behaviour(path: Path, seed: str) -> tuple[int, bytes, bytes] | None:
    try:
        done = subprocess.run([sys.executable, path.name], cwd=path.parent, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=2, env={**os.environ, "PYTHONHASHSEED": seed})
    except subprocess.TimeoutExpired:
        return None
    return done.returncode, done.stdout, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path)
    parser.add_argument("--most", type=int, default=150)
    options = parser.parse_args()
    chosen: dict[str, list[Path]] = {}
    for path in sorted(options.source.rglob("*.py")):
        relative = path.relative_to(options.source)
        if relative.parts[0].startswith(".") or "test" in path.name or path.name == "__init__.py":
            continue
        if not candidate(path):
            continue
        first = behaviour(path, "1")
        if first is None or any(first != behaviour(path, seed) for seed in ("2", "3")):
            continue  # too slow, or not the same every time
        chosen.setdefault(relative.parts[0], []).append(relative)
    picked: list[Path] = []
    while len(picked) < options.most and any(chosen.values()):
        for folder in sorted(chosen, key=lambda name: -len(chosen[name])):
            if chosen[folder] and len(picked) < options.most:
                picked.append(chosen[folder].pop(0))
    target = HERE / "thealgorithms"
    shutil.rmtree(target, ignore_errors=True)
    for relative in sorted(picked):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(options.source / relative, target / relative)
    (HERE / "scripts.txt").write_text("".join(f"{path.as_posix()}\n" for path in sorted(picked)))
    print(f"{len(picked)} scripts")


if __name__ == "__main__":
    main()
