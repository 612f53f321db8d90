"""A job's declared outputs: gathered where it ran, placed where they are needed.

Outputs travel as plain ``{relative path: bytes}`` maps through the manager's side:
never from worker to worker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

Files = dict[str, bytes]


def gather(root: Path, patterns: Iterable[str]) -> Files:
    """Every file under ``root`` that matches one of ``patterns``, by relative path."""
    found: Files = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def place(root: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` under ``root``, making folders as needed."""
    base = root.resolve()
    for name, data in files.items():
        target = (base / name).resolve()
        if base not in target.parents:
            raise ValueError(f"output {name!r} would land outside {base}")  # a bug: checked upstream
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
