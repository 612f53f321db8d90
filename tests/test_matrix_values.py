"""Matrix values as GitHub users write them: any string (spaces, slashes, ``=``, ``,``,
brackets, quotes, non-ASCII, 300 characters), and tables (``{os.name}``).

A member's name keeps its values readable; its log folder is its escaped name (each
character of a value but letters, digits and ``_ . + : @ -`` as ``%XX``), and
``--only``, selectors and ``pyoneer logs`` take either form. Real runs, through the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli, write_project

import pyoneer

LONG = "x" * 300
#: a value of each kind that cannot stand in a path or a shell word as it is, and its escaped form
ODD = {
    "ubuntu 22.04": "ubuntu%2022.04",
    "16/Dockerfile.c9s": "16%2FDockerfile.c9s",
    "a=b": "a%3Db",
    "one,two": "one%2Ctwo",
    "[x]": "%5Bx%5D",
    "it's \"quoted\"": "it%27s%20%22quoted%22",
    "café ☕": "caf%C3%A9%20%E2%98%95",
}
SAY = "import json, os, sys\nprint(json.dumps({'argv': sys.argv[1:], 'job': os.environ['PYONEER_JOB']}))\n"


def odd_project(root: Path) -> None:
    values = ", ".join(json.dumps(value) for value in [*ODD, LONG])
    write_project(root, f'[jobs.test]\nmatrix = {{ image = [{values}], node-version = [16] }}\n'
                        'tasks = ["say.py --image {image} --node {node-version}"]\n', {"say.py": SAY})


def said(text: str) -> dict[str, object]:
    return json.loads(text.strip().splitlines()[-1])


def test_any_string_is_a_value_each_member_named_readably_with_its_value_as_one_argument(project_dir: Path) -> None:
    odd_project(project_dir)
    result = run_cli("run", str(project_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    state = json.loads(run_cli("status", str(project_dir), "--json").stdout)
    names = [row["name"] for row in state["blueprints"] if row["kind"] == "job"]
    assert names == [f"test[image={value},node-version=16]" for value in [*ODD, LONG]]
    for value, escaped in ODD.items():
        folder = next((project_dir / ".pyoneer" / "runs").glob(f"*/test[[]image={escaped},node-version=16]"))
        log = said((folder / "say.1.log").read_text())
        assert log == {"argv": ["--image", value, "--node", "16"], "job": f"test[image={value},node-version=16]"}


def test_a_long_value_makes_a_short_folder_that_a_user_can_name(project_dir: Path) -> None:
    odd_project(project_dir)
    assert run_cli("run", str(project_dir)).returncode == 0
    (folder,) = (project_dir / ".pyoneer" / "runs").glob("*/test[[]image=xxx*")
    assert len(folder.name) == 200 and "~" in folder.name, folder.name
    by_folder = run_cli("logs", str(project_dir), folder.name)
    assert by_folder.returncode == 0, by_folder.stderr
    assert said(by_folder.stdout)["argv"] == ["--image", LONG, "--node", "16"]


def test_logs_take_a_members_readable_or_escaped_name(project_dir: Path) -> None:
    odd_project(project_dir)
    assert run_cli("run", str(project_dir)).returncode == 0
    for value, escaped in ODD.items():
        for name in (f"test[image={value},node-version=16]", f"test[image={escaped},node-version=16]"):
            for target in (name, name + "/say"):
                shown = run_cli("logs", str(project_dir), target)
                assert shown.returncode == 0, (target, shown.stderr)
                assert said(shown.stdout)["argv"] == ["--image", value, "--node", "16"], target


def test_only_and_selectors_take_either_form(project_dir: Path) -> None:
    odd_project(project_dir)
    for value, escaped in ODD.items():
        for target in (f"test[image={value}]", f"test[image={escaped}]", f"test[image={escaped},node-version=16]"):
            planned = run_cli("run", str(project_dir), "--only", target, "--dry-run")
            assert planned.returncode == 0, (target, planned.stderr)
            runs = [line for line in planned.stdout.splitlines() if line.startswith("run ")]
            assert runs == [f"run     test[image={value},node-version=16]  target"], (target, planned.stdout)


def test_a_needs_selector_with_an_odd_value_picks_its_member(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.build]\nmatrix = { image = ["ubuntu 22.04", "16/Dockerfile.c9s"] }\n'
                               'tasks = ["say.py {image}"]\n'
                               '[jobs.publish]\nneeds = ["build[image=16/Dockerfile.c9s]"]\ntasks = ["say.py"]\n'
                               '[jobs.announce]\nneeds = ["build[image=ubuntu%2022.04]"]\ntasks = ["say.py"]\n',
                  {"say.py": SAY})
    project = pyoneer.load(project_dir)
    assert project.dependencies["publish"] == ("build[image=16/Dockerfile.c9s]",)
    assert project.dependencies["announce"] == ("build[image=ubuntu 22.04]",)


def test_a_table_value_fills_in_its_fields_and_reaches_the_task_whole(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.test]\nmatrix = { os = [{ name = "ubuntu", version = "22.04" }, '
                               '{ name = "mac", version = 14 }] }\n'
                               'tasks = ["show.py {os.name} {os.version} {os}"]\noutputs = ["out/{os.name}.json"]\n',
                  {"show.py": "import json, os, pathlib, sys\npathlib.Path('out').mkdir(exist_ok=True)\n"
                              "pathlib.Path('out', sys.argv[1] + '.json').write_text(json.dumps("
                              "{'argv': sys.argv[1:], 'matrix': json.loads(os.environ['PYONEER_MATRIX'])}))\n"})
    result = run_cli("run", str(project_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    ubuntu = json.loads((project_dir / "out" / "ubuntu.json").read_text())
    assert ubuntu == {"argv": ["ubuntu", "22.04", '{"name":"ubuntu","version":"22.04"}'],
                      "matrix": {"os": {"name": "ubuntu", "version": "22.04"}}}
    mac = json.loads((project_dir / "out" / "mac.json").read_text())
    assert mac["matrix"] == {"os": {"name": "mac", "version": 14}}
    state = json.loads(run_cli("status", str(project_dir), "--json").stdout)
    jobs = {row["name"]: row["matrix"] for row in state["blueprints"] if row["kind"] == "job"}
    assert jobs == {"test[os={name=ubuntu,version=22.04}]": {"os": {"name": "ubuntu", "version": "22.04"}},
                    "test[os={name=mac,version=14}]": {"os": {"name": "mac", "version": 14}}}
    planned = run_cli("run", str(project_dir), "--only", "test[os.name=mac]", "--dry-run")
    assert "test[os={name=mac,version=14}]" in planned.stdout and "ubuntu" not in planned.stdout, planned.stdout


def test_a_field_that_a_table_lacks_is_refused_with_a_hint(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.test]\nmatrix = { os = [{ name = "ubuntu" }] }\ntasks = ["say.py {os.nme}"]\n',
                  {"say.py": SAY})
    result = run_cli("check", str(project_dir))
    assert result.returncode == 2
    assert "jobs.test.tasks[0]: {os.nme}: os has no field 'nme'" in result.stderr
    assert "did you mean 'name'?" in result.stderr


def test_a_matrix_may_have_more_members_than_githubs_256(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.t]\nmatrix = { a = [' + ", ".join(map(str, range(20))) + "], b = ["
                  + ", ".join(map(str, range(20))) + '] }\ntasks = ["say.py {a} {b}"]\n', {"say.py": SAY})
    assert len(pyoneer.load(project_dir).jobs) == 400
    checked = run_cli("check", str(project_dir))
    assert checked.returncode == 0 and "400 with the members of their matrices" in checked.stdout, checked.stdout
