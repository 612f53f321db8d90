"""What of the project travels to the nodes: every file but the ignored ones.

The project directory goes to the nodes as Ray's ``working_dir``. Files matched by the
project's ``.gitignore`` or ``.pyoneerignore`` (git's pattern rules, read with
``pathspec``) stay home, and so do ``.pyoneer/`` and ``.git/``. Before anything is sent,
the size is known, and a project past Ray's limit is refused with its largest files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pyoneer.errors import UsageError

#: Pyoneer itself, which travels to the nodes with the project
PACKAGE = Path(__file__).resolve().parents[2]
IGNORE_FILES = (".gitignore", ".pyoneerignore")
#: never shipped: Pyoneer's own records and version control
ALWAYS_IGNORED = (".pyoneer/", ".git/")


@dataclass(frozen=True)
class Shipment:
    """The files of a project that travel, and their total size in bytes."""

    root: Path
    files: tuple[tuple[str, int], ...]
    excludes: tuple[str, ...]

    @property
    def size(self) -> int:
        """Total bytes."""
        return sum(size for _, size in self.files)

    def largest(self, count: int = 5) -> list[tuple[str, int]]:
        """The ``count`` largest files, largest first."""
        return sorted(self.files, key=lambda item: -item[1])[:count]

    def check_limit(self, limit: int) -> None:
        """Refuse a shipment Ray could not take, naming what makes it big."""
        if self.size < limit:
            return
        listing = "\n".join(f"    {human(size):>10}  {name}" for name, size in self.largest())
        raise UsageError(
            f"the project is {human(self.size)}, past the {human(limit)} that Ray takes as a working "
            f"directory; its largest files:\n{listing}\n"
            "  hint: list what the nodes do not need in .pyoneerignore (same rules as .gitignore)"
        )


def pack_list(root: Path) -> Shipment:
    """What of ``root`` would travel, with each file's size."""
    from pathspec import GitIgnoreSpec  # part of the ray extra

    patterns = list(ALWAYS_IGNORED)
    for name in IGNORE_FILES:
        ignore = root / name
        if ignore.is_file():
            patterns += ignore.read_text(errors="replace").splitlines()
    spec = GitIgnoreSpec.from_lines(patterns)
    files = []
    for folder, dirs, names in os.walk(root):
        relative = Path(folder).relative_to(root)
        dirs[:] = [d for d in dirs if not spec.match_file(f"{(relative / d).as_posix()}/")]
        for name in names:
            path = (relative / name).as_posix()
            if not spec.match_file(path):
                files.append((path, (Path(folder) / name).stat().st_size))
    return Shipment(root, tuple(sorted(files)), tuple(p for p in patterns if p.strip() and not p.startswith("#")))


def human(size: float) -> str:
    """A byte count for people: ``12.3 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
