"""The GPUs of this machine, as CUDA numbers them for the processes started here.

From the first of these that says anything: ``CUDA_VISIBLE_DEVICES`` in this process's
environment (the devices it was given; an empty value means none), else what
``nvidia-smi -L`` lists, else none. Nothing here touches a device: CUDA is never
initialised in Pyoneer's own processes, so a warm fork server stays safe to fork.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping

#: a line of ``nvidia-smi -L``: ``GPU 0: NVIDIA H200 (UUID: GPU-...)``
_LISTED = re.compile(r"^GPU (\d+):")


def find_gpus(env: Mapping[str, str] | None = None) -> tuple[tuple[str, ...], str]:
    """The GPU ids tasks may be handed, and where they were found (for messages)."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return tuple(device.strip() for device in visible.split(",") if device.strip()), "CUDA_VISIBLE_DEVICES"
    listed = _listed_by_nvidia_smi(env)
    if listed is not None:
        return listed, "nvidia-smi -L"
    return (), "no CUDA_VISIBLE_DEVICES and no nvidia-smi"


def _listed_by_nvidia_smi(env: Mapping[str, str]) -> tuple[str, ...] | None:
    program = _on_path("nvidia-smi", env.get("PATH", os.defpath))
    if program is None:
        return None
    try:
        done = subprocess.run([program, "-L"], capture_output=True, text=True, timeout=10, env=dict(env))
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return ()  # a driver that answers with an error has no device for us
    return tuple(match.group(1) for line in done.stdout.splitlines() if (match := _LISTED.match(line.strip())))


def _on_path(name: str, path: str) -> str | None:
    """The program ``name`` as ``PATH`` finds it (``shutil.which``, without importing
    shutil: it brings the compression modules, ~3 ms of every run)."""
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or os.curdir, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None
