"""The project's packages on a cluster: built once, shared by every worker.

``[environment] packages`` and ``requirements`` are installed into
``.pyoneer/envs/<hash>`` on the shared filesystem, with ``uv`` where it is installed
(else ``pip``), for the interpreter that runs the workers; every worker of every run
puts that directory first on its path, and it is built again only when what it holds
changes (the hash is of the interpreter and the packages). It is built under a
temporary name and renamed into place when whole, so a worker never sees half of it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pyoneer.blueprints.project import Project
from pyoneer.errors import ProjectError
from pyoneer.pyoneers.context import WORKSPACE


def build_environment(project: Project, say: Callable[[str], None]) -> Path | None:
    """The directory holding the project's packages, built if need be (None: it asks for none)."""
    packages = project.environment.wanted_packages(project.root)
    if not packages:
        return None
    key = hashlib.sha256("\n".join([sys.executable, sys.version, *packages]).encode()).hexdigest()[:16]
    target = project.root / WORKSPACE / "envs" / key
    if target.is_dir():
        return target
    building = target.with_name(f".{key}.{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    command = (
        [uv, "pip", "install", "--quiet", "--python", sys.executable, "--target", str(building), *packages] if uv
        else [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--target", str(building), *packages]
    )
    say(f"installing {len(packages)} package(s) for the workers into {target} ({'uv' if uv else 'pip'})")
    done = subprocess.run(command, cwd=project.root, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        said = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise ProjectError(
            f"cannot install the project's packages: {said[-1].strip() if said else f'exit code {done.returncode}'}",
            key="environment.packages" if project.environment.packages else "environment.requirements",
            hint=" ".join(command[:4]) + " ... says more",
        )
    try:
        os.replace(building, target)
    except OSError:  # another run built it meanwhile
        shutil.rmtree(building, ignore_errors=True)
    return target
