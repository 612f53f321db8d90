"""``pyoneer init``: write a small example project that works.

The files are the package's ``starter/`` directory, copied as they are, except that the
project file names the project after its folder.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pyoneer.blueprints.projectfile import PROJECT_FILE, PYPROJECT_FILE
from pyoneer.errors import MachineError, UsageError


def init_project(directory: Path) -> list[Path]:
    """Write the starter project into ``directory``; the files written.

    Refuses, writing nothing, if the directory already holds a project or any file
    the starter would overwrite.
    """
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory")
    _refuse_existing_project(directory)
    starter = resources.files("pyoneer.cli") / "starter"
    sources = sorted(
        (item for item in starter.iterdir() if item.is_file() and not item.name.startswith((".", "__"))),
        key=lambda item: item.name,
    )
    clashes = [directory / item.name for item in sources if (directory / item.name).exists()]
    if clashes:
        raise UsageError(
            f"{directory} already has {', '.join(path.name for path in clashes)}; "
            "nothing was written (choose an empty directory)"
        )
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for item in sources:
            target = directory / item.name
            target.write_bytes(_named(item.name, item.read_bytes(), directory))
            written.append(target)
    except OSError as exc:
        raise MachineError.from_os(exc, "write the example project to", exc.filename or directory) from exc
    return written


#: the starter's name in its project file, replaced by the folder's
_STARTER_NAME = b'name = "starter"'


def _named(file_name: str, content: bytes, directory: Path) -> bytes:
    """The starter's ``content``; its project file with the folder's name for the project's."""
    if file_name != PROJECT_FILE:
        return content
    name = directory.resolve().name or "project"
    return content.replace(_STARTER_NAME, b"name = " + json.dumps(name, ensure_ascii=False).encode(), 1)


def _refuse_existing_project(directory: Path) -> None:
    if (directory / PROJECT_FILE).exists():
        raise UsageError(f"{directory / PROJECT_FILE} already exists; nothing was written")
    pyproject = directory / PYPROJECT_FILE
    if pyproject.is_file() and "[tool.pyoneer" in pyproject.read_text(errors="replace"):
        raise UsageError(f"{pyproject} already has a [tool.pyoneer] project; nothing was written")
