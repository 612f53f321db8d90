"""GPUs and custom resources of this machine, on the local engine, without a GPU in sight.

Pyoneer is given devices the way a real machine gives them: a ``CUDA_VISIBLE_DEVICES``
in its environment, or a stand-in ``nvidia-smi`` on ``PATH``. Each task records the
devices it was handed and when it held them; the tests check that no whole device is
held by two jobs at once, that fractions share, and that impossible requests are
refused before anything runs. Concurrency is shown by tasks that wait for each other
(a rendezvous), never by timing.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from itertools import combinations
from pathlib import Path

import pytest
from conftest import pyoneer_command, write_project

# records the devices it got and when it held them; with RENDEZVOUS set, waits until the
# other job named there has started too (so both must hold their share at once)
HOLD = """
import json, os, sys, time
from pathlib import Path
name = os.environ["PYONEER_JOB"]
Path("held").mkdir(exist_ok=True)
started = time.time()
Path("held", name + ".start").write_text("")
other = os.environ.get("RENDEZVOUS")
if other:
    deadline = time.monotonic() + 60
    while not Path("held", other + ".start").exists():
        if time.monotonic() > deadline:
            sys.exit("the other job never came")
        time.sleep(0.01)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.2)
Path("held", name + ".json").write_text(json.dumps(
    {"devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": started, "end": time.time()}))
"""


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    return subprocess.run(pyoneer_command("run", str(root), *args), capture_output=True, text=True,
                          timeout=120, env={**base, "COLUMNS": "200", **(env or {})})


def held(root: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in (root / "held").glob("*.json")}


def overlap(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def most_at_once(records) -> int:  # noqa: ANN001
    """The most intervals that were open at one instant (a sweep over their ends)."""
    edges = sorted([(record["start"], 1) for record in records] + [(record["end"], -1) for record in records],
                   key=lambda edge: (edge[0], edge[1]))
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def gpu_jobs(count: int, gpus: float, **extra: str) -> str:
    lines = []
    for number in range(1, count + 1):
        env = extra.get(f"env{number}", "")
        lines.append(f'[jobs.j{number}]\nresources = {{ gpus = {gpus} }}\ntasks = [{{ script = "hold.py", env = {{ {env} }} }}]\n')
    return "\n".join(lines)


def test_each_whole_gpu_job_holds_devices_of_its_own(project_dir: Path) -> None:
    write_project(project_dir, gpu_jobs(4, 1) + '\n[jobs.cpu]\ntasks = ["hold.py"]\n', {"hold.py": HOLD})
    result = run(project_dir, "--workers", "4", env={"CUDA_VISIBLE_DEVICES": "0,1"})
    assert result.returncode == 0, result.stdout + result.stderr
    records = held(project_dir)
    assert records["cpu"]["devices"] == ""  # a job that asked for none cannot take one by accident
    gpu = {name: record for name, record in records.items() if name != "cpu"}
    assert all(record["devices"] in ("0", "1") for record in gpu.values()), gpu
    for (a, first), (b, second) in combinations(gpu.items(), 2):
        if first["devices"] == second["devices"]:
            assert not overlap(first, second), f"{a} and {b} held GPU {first['devices']} at once"
    assert most_at_once(gpu.values()) <= 2  # two devices: at most two GPU jobs at a time


def test_a_project_that_asks_for_no_gpu_leaves_the_devices_alone(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.cpu]\ntasks = ["hold.py"]\n', {"hold.py": HOLD})
    result = run(project_dir, env={"CUDA_VISIBLE_DEVICES": "0,1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert held(project_dir)["cpu"]["devices"] == "0,1"  # a script run by Pyoneer sees what it would see alone


def test_two_jobs_of_half_a_gpu_share_one_device(project_dir: Path) -> None:
    toml = gpu_jobs(2, 0.5, env1='RENDEZVOUS = "j2"', env2='RENDEZVOUS = "j1"')
    write_project(project_dir, toml, {"hold.py": HOLD})
    result = run(project_dir, "--workers", "2", env={"CUDA_VISIBLE_DEVICES": "7"})
    assert result.returncode == 0, result.stdout + result.stderr  # each waited for the other: they shared
    records = held(project_dir)
    assert records["j1"]["devices"] == records["j2"]["devices"] == "7"
    assert overlap(records["j1"], records["j2"])


def test_a_stand_in_nvidia_smi_lists_the_devices_and_gpus_overrides_them(project_dir: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\n[ \"$1\" = -L ] || exit 2\n"
                    "echo 'GPU 0: Stand-in GPU (UUID: GPU-aaaa)'\necho 'GPU 1: Stand-in GPU (UUID: GPU-bbbb)'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    write_project(project_dir, gpu_jobs(1, 2), {"hold.py": HOLD})
    path = f"{bin_dir}:{os.environ['PATH']}"
    result = run(project_dir, env={"PATH": path})
    assert result.returncode == 0, result.stdout + result.stderr
    assert held(project_dir)["j1"]["devices"] == "0,1"
    write_project(project_dir, gpu_jobs(1, 1), {"hold.py": HOLD})
    result = run(project_dir, "--gpus", "3", env={"PATH": path})
    assert result.returncode == 0, result.stdout + result.stderr
    assert held(project_dir)["j1"]["devices"] == "3"
    write_project(project_dir, '[engine]\ngpus = [5, 6]\n' + gpu_jobs(1, 2), {"hold.py": HOLD})
    assert run(project_dir, env={"PATH": path}).returncode == 0
    assert held(project_dir)["j1"]["devices"] == "5,6"


@pytest.mark.parametrize(
    ("toml", "env", "words"),
    [
        pytest.param(gpu_jobs(1, 2), {"CUDA_VISIBLE_DEVICES": "0"},
                     ["job 'j1' asks for 2 GPUs, and this machine has 1 (0 from CUDA_VISIBLE_DEVICES)",
                      "jobs.j1.resources.gpus"], id="too-many"),
        pytest.param(gpu_jobs(1, 1), {"PATH": "/nonexistent"},
                     ["asks for 1 GPUs, and this machine has 0 (none: no CUDA_VISIBLE_DEVICES and no nvidia-smi)",
                      "--gpus 0,1"], id="none-found"),
        pytest.param('[jobs.j1]\nresources = { custom = { license = 1 } }\ntasks = ["hold.py"]\n', {},
                     ["job 'j1' asks for 1 of 'license', and this machine has 0",
                      "--resource license=1"], id="undeclared-custom"),
        pytest.param('[jobs.j1]\nresources = { gpus = 1.5 }\ntasks = ["hold.py"]\n', {},
                     ["jobs.j1.resources.gpus", "a fraction of one GPU or a whole number"], id="fraction-above-one"),
    ],
)
def test_requests_the_machine_cannot_meet_are_refused_before_anything_runs(
    project_dir: Path, toml: str, env: dict[str, str], words: list[str]
) -> None:
    write_project(project_dir, toml, {"hold.py": HOLD})
    result = run(project_dir, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert not (project_dir / "held").exists()


def test_custom_resources_are_shared_as_cpu_slots_are(project_dir: Path) -> None:
    toml = "\n".join(
        f'[jobs.j{n}]\nresources = {{ custom = {{ license = 1 }} }}\ntasks = ["hold.py"]\n' for n in (1, 2, 3)
    )
    write_project(project_dir, toml, {"hold.py": HOLD})
    result = run(project_dir, "--workers", "3", "--resource", "license=1")
    assert result.returncode == 0, result.stdout + result.stderr
    records = list(held(project_dir).values())
    assert len(records) == 3
    assert not any(overlap(a, b) for a, b in combinations(records, 2)), "two jobs held the one license at once"
    rendezvous = (
        '[engine]\nresources = { license = 2 }\n'
        '[jobs.j1]\nresources = { custom = { license = 1 } }\ntasks = [{ script = "hold.py", env = { RENDEZVOUS = "j2" } }]\n'
        '[jobs.j2]\nresources = { custom = { license = 1 } }\ntasks = [{ script = "hold.py", env = { RENDEZVOUS = "j1" } }]\n'
    )
    write_project(project_dir, rendezvous, {"hold.py": HOLD})
    result = run(project_dir, "--workers", "2")
    assert result.returncode == 0, result.stdout + result.stderr  # two licenses: they ran together


def test_gpu_options_are_for_the_local_engine(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.j1]\ntasks = ["hold.py"]\n', {"hold.py": HOLD})
    result = run(project_dir, "--engine", "ray", "--gpus", "0")
    assert result.returncode == 2 and "describe this machine to the local engine" in result.stderr
    bad = run(project_dir, "--resource", "license=many")
    assert bad.returncode == 2 and "write NAME=AMOUNT" in bad.stderr
