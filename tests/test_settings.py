"""Project-wide settings: [environment], [engine], resources and outputs, on the local engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli, write_project

import pyoneer
from pyoneer import ProjectError, Resources
from pyoneer.blueprints.projectfile import read


def test_environment_env_reaches_every_task_and_a_task_env_wins(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [environment]
        env = { STAGE = "test", COLOR = "blue" }
        [jobs.show]
        tasks = ["show.py", { script = "show.py", env = { COLOR = "red" }, name = "again" }]
        """,
        {"show.py": "import os, json\nopen(os.environ['PYONEER_TASK'] + '.json', 'w').write(json.dumps([os.environ['STAGE'], os.environ['COLOR']]))\n"},
    )
    assert pyoneer.run(pyoneer.load(project_dir)).ok
    assert json.loads((project_dir / "show.json").read_text()) == ["test", "blue"]
    assert json.loads((project_dir / "again.json").read_text()) == ["test", "red"]


def test_engine_table_is_read_and_checked(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[engine]\nname = "ray"\naddress = "127.0.0.1:6379"\n[jobs.a]\ntasks = ["a.py"]\n',
        {"a.py": ""},
    )
    found = read(project_dir)
    assert (found.engine.name, found.engine.address) == ("ray", "127.0.0.1:6379")

    write_project(project_dir, '[engine]\nadress = "x"\n[jobs.a]\ntasks = ["a.py"]\n')
    with pytest.raises(ProjectError, match=r"engine\.adress: unknown key") as info:
        read(project_dir)
    assert "did you mean 'address'" in str(info.value)


def test_unknown_engine_is_refused_before_anything_runs(project_dir: Path) -> None:
    write_project(project_dir, '[engine]\nname = "spark"\n[jobs.a]\ntasks = ["a.py"]\n', {"a.py": "open('ran', 'w')\n"})
    result = run_cli("run", str(project_dir))
    assert result.returncode == 2
    assert "unknown engine 'spark'" in result.stderr and "Traceback" not in result.stderr
    assert not (project_dir / "ran").exists()
    flag = run_cli("run", str(project_dir), "--engine", "local", "--address", "127.0.0.1:1")
    assert flag.returncode == 2 and "--address is for the Ray engine" in flag.stderr


def test_resources_accept_sizes_and_custom_amounts() -> None:
    resources = Resources.from_mapping({"cpus": 2, "gpus": 1, "memory": "4GB", "custom": {"big_disk": 1}})
    assert resources.memory == 4_000_000_000 and resources.custom == (("big_disk", 1),)
    assert Resources.from_mapping({"memory": "512MiB"}).memory == 512 * 2**20
    for bad, key in (({"memory": "lots"}, "resources.memory"), ({"gpus": -1}, "resources.gpus"),
                     ({"custom": {"x": 0}}, "resources.custom.x")):
        with pytest.raises(ProjectError) as info:
            Resources.from_mapping(bad)
        assert info.value.key == key


def test_outputs_must_stay_inside_the_project(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.a]\ntasks = ["a.py"]\noutputs = ["../secret/*"]\n', {"a.py": ""})
    with pytest.raises(ProjectError) as info:
        pyoneer.load(project_dir)
    assert info.value.key == "jobs.a.outputs[0]" and "inside the project" in str(info.value)


def test_check_shows_resources_and_outputs(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[jobs.a]\ntasks = ["a.py"]\nresources = { cpus = 2, custom = { big_disk = 1 } }\noutputs = ["out/*.json"]\n',
        {"a.py": ""},
    )
    result = run_cli("check", str(project_dir))
    assert result.returncode == 0
    assert "resources: cpus 2, big_disk 1" in result.stdout and "outputs: out/*.json" in result.stdout


def test_missing_requirements_file_is_refused(project_dir: Path) -> None:
    write_project(project_dir, '[environment]\nrequirements = "reqs.txt"\n[jobs.a]\ntasks = ["a.py"]\n', {"a.py": ""})
    with pytest.raises(ProjectError) as info:
        pyoneer.load(project_dir)
    assert info.value.key == "environment.requirements"
