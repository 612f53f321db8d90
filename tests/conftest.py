"""Shared helpers: real projects in temporary directories, the real CLI in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


def write_project(root: Path, toml: str | None = None, scripts: dict[str, str] | None = None) -> Path:
    """Write ``pyoneer.toml`` (if given) and each script (dedented) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if toml is not None:
        (root / "pyoneer.toml").write_text(textwrap.dedent(toml))
    for name, body in (scripts or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
    return root


def pyoneer_command(*args: str) -> list[str]:
    """The ``pyoneer`` command line, run with this interpreter."""
    return [sys.executable, "-m", "pyoneer", *args]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``pyoneer ARGS`` to its end in a child process; its output and exit code."""
    return subprocess.run(
        pyoneer_command(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def is_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def wait_until(condition, timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """An empty directory for a project."""
    root = tmp_path / "proj"
    root.mkdir()
    return root
