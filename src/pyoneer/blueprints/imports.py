"""The project's own modules a script imports, found by reading its import statements.

``python script.py`` looks for modules first in the script's own folder (then in
``PYTHONPATH``, then in the installed packages). What a script imports from that folder,
or from a ``PYTHONPATH`` folder inside the project, is part of what its job computes:
``--resume`` must rerun the job when one of those modules changes. They are found here
without running anything, in every mode and on every engine alike: each ``import``
and ``from ... import`` of the script, of the modules it imports, and so on, resolved
as Python would resolve it. A string given to ``importlib.import_module`` or
``__import__`` counts too. What only a running script could tell (a folder added to
``sys.path`` at run time, a module name computed on the fly) is not seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: an import a module asks for: the dotted name, and how many leading dots it had
_Request = tuple[str, int]


class ModuleScan:
    """Finds the project modules of scripts under ``root``; each file is read once."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._requests: dict[Path, list[_Request]] = {}
        self._found: dict[tuple[str, tuple[str, ...]], list[str]] = {}

    def modules(self, script: str, search: Sequence[str] = ()) -> list[str]:
        """Every project module ``script`` imports, directly or not: paths relative to the
        root, in the order found. ``search`` adds folders (relative to the root) that
        Python looks in after the script's own, as ``PYTHONPATH`` does."""
        key = (script, tuple(search))
        if key not in self._found:  # many jobs, one script: looked at once
            self._found[key] = self._modules(script, search)
        return self._found[key]

    def named(self, script: str, search: Sequence[str] = ()) -> set[str]:
        """The top-level names that ``script`` and the project modules it imports ask
        for in an absolute import (``import torch.nn`` names ``torch``; a string given
        to ``importlib.import_module`` counts), from the project and from outside it."""
        files = [(self.root / script).resolve(), *(self.root / path for path in self.modules(script, search))]
        return {name.split(".")[0] for path in files for name, level in self._imports_of(path) if name and not level}

    def _modules(self, script: str, search: Sequence[str]) -> list[str]:
        start = (self.root / script).resolve()
        folders = [start.parent, *(self.root / folder for folder in search)]
        seen: dict[Path, None] = {}
        stack = [start]
        while stack:
            path = stack.pop()
            for name, level in self._imports_of(path):
                for found in self._resolve(name, level, path, folders):
                    if found not in seen and found != start:
                        seen[found] = None
                        stack.append(found)
        return [path.relative_to(self.root).as_posix() for path in seen]

    def _imports_of(self, path: Path) -> list[_Request]:
        if path not in self._requests:
            try:
                source = path.read_bytes()
            except OSError:
                source = b""  # the script meets the same problem itself; nothing to follow
            self._requests[path] = _parsed(source, path) if b"import" in source else []
        return self._requests[path]

    def _resolve(self, name: str, level: int, importer: Path, folders: list[Path]) -> list[Path]:
        """The files ``import name`` runs, from ``importer``: each package's ``__init__``
        on the way, then the module; none if it is not a module of the project."""
        if level:
            package = importer.parent
            for _ in range(level - 1):
                package = package.parent
            return self._files_of(package, name.split(".") if name else [])
        parts = name.split(".")
        for folder in folders:
            files = self._files_of(folder, parts)
            if files:
                return files
        return []

    def _files_of(self, folder: Path, parts: list[str]) -> list[Path]:
        files: list[Path] = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            package = folder / part
            if package.is_dir():
                init = package / "__init__.py"
                if init.is_file():
                    files.append(init)
                folder = package
                continue
            module = folder / f"{part}.py"
            if last and module.is_file():
                files.append(module)
            break  # no package of that name: nothing further down can be imported through it
        return [path for path in files if _under(path, self.root)]


def _parsed(source: bytes, path: Path) -> list[_Request]:
    import ast  # here, not at the top: a project whose scripts import nothing never needs it

    try:
        tree = ast.parse(source, str(path))
    except (SyntaxError, ValueError):
        return []
    return list(_requests(tree, ast))


def _requests(tree: Any, ast: Any) -> Iterable[_Request]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            yield base, node.level
            for alias in node.names:  # ``from package import module`` imports the module
                if alias.name != "*":
                    yield f"{base}.{alias.name}" if base else alias.name, node.level
        elif isinstance(node, ast.Call) and _names_a_module(node, ast):
            yield node.args[0].value, 0  # type: ignore[attr-defined]


def _names_a_module(call: Any, ast: Any) -> bool:
    """``importlib.import_module("x")``, ``import_module("x")`` or ``__import__("x")``."""
    function = call.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return (
        name in ("import_module", "__import__")
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
        and not call.args[0].value.startswith(".")
    )


def _under(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)
