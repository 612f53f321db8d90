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


def child_env(**changes: str | None) -> dict[str, str]:
    """This process's environment with ``changes`` (None removes a variable)."""
    env = {**os.environ, "COLUMNS": "200"}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


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


# Waits until the run's fork servers (children of its manager, the pyoneer process) are
# up and blocked in select(), waiting for requests: then the next tasks run warm.
WARMUP = """\
import os, sys, time

def stat(pid):
    with open(f"/proc/{pid}/stat", "rb") as file:
        return file.read().rsplit(b")", 1)[1].split()

def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as file:
        return file.read()

manager = os.getppid()
if b"forkserver.py" in cmdline(manager):  # this task itself ran warm
    manager = int(stat(manager)[1])
wanted = int(sys.argv[1])

def servers():
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and int(stat(entry)[1]) == manager and b"forkserver.py" in cmdline(entry):
                found.append(entry)
        except (OSError, IndexError, ValueError):
            pass
    return found

def waiting(pid):
    try:
        with open(f"/proc/{pid}/syscall") as file:
            return file.read().split()[0] in ("7", "23", "270", "271")  # poll, select, pselect6, ppoll
    except PermissionError:
        time.sleep(0.5)  # no way to look: give it time
        return True
    except (OSError, IndexError):
        return False

deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    found = servers()
    if len(found) >= wanted and all(waiting(pid) for pid in found):
        break
    time.sleep(0.02)
else:
    sys.exit("the fork servers did not come up")
"""
