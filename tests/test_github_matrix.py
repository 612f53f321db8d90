"""GitHub Actions' ``strategy.matrix``, as GitHub users write it: a table of GitHub's cases,
in our own words and values, each with the members it must give.

Covered here: products, ``include`` extending versus adding, include-only, partial
``exclude``, hyphenated keys, values with spaces and slashes, object (table) values and
matching inside them, the case and type rules of GitHub's expressions (strings
regardless of case, a string against a number as numbers), and an ``exclude`` that
removes nothing (refused, as actionlint refuses it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli, write_project

import pyoneer
from pyoneer import ProjectError


def members(root: Path, matrix: str) -> list[dict[str, object]]:
    """The values of each member of a job with ``matrix``, in order."""
    write_project(root, f'[jobs.t]\nmatrix = {matrix}\ntasks = ["t.py"]\n', {"t.py": ""})
    return [dict(job.matrix) for job in pyoneer.load(root).jobs]


CASES = [
    pytest.param("{ os = ['linux', 'mac'], py = [3, 4] }",
                 [{"os": "linux", "py": 3}, {"os": "linux", "py": 4}, {"os": "mac", "py": 3}, {"os": "mac", "py": 4}],
                 id="product"),
    pytest.param("{ fruit = ['apple', 'pear'], animal = ['cat', 'dog'], include = ["
                 "{ color = 'green' }, { color = 'pink', animal = 'cat' }, { fruit = 'apple', shape = 'circle' },"
                 "{ fruit = 'banana' }, { fruit = 'banana', animal = 'cat' }] }",
                 [{"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
                  {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
                  {"fruit": "pear", "animal": "cat", "color": "pink"},
                  {"fruit": "pear", "animal": "dog", "color": "green"},
                  {"fruit": "banana"},
                  {"fruit": "banana", "animal": "cat"}],
                 id="include-extends-or-adds"),
    pytest.param("{ include = [{ site = 'prod', url = 'a' }, { site = 'test', url = 'b' }] }",
                 [{"site": "prod", "url": "a"}, {"site": "test", "url": "b"}], id="include-only"),
    pytest.param("{ os = ['linux', 'mac'], py = [3, 4], env = ['dev', 'ci'], exclude = [{ os = 'mac', env = 'ci' }] }",
                 [{"os": "linux", "py": 3, "env": "dev"}, {"os": "linux", "py": 3, "env": "ci"},
                  {"os": "linux", "py": 4, "env": "dev"}, {"os": "linux", "py": 4, "env": "ci"},
                  {"os": "mac", "py": 3, "env": "dev"}, {"os": "mac", "py": 4, "env": "dev"}],
                 id="partial-exclude"),
    pytest.param("{ node-version = [18, 20], exclude = [{ node-version = 18 }] }",
                 [{"node-version": 20}], id="hyphenated-key"),
    pytest.param("{ python = ['3.8', '3.9'], exclude = [{ python = 3.8 }] }",
                 [{"python": "3.9"}], id="string-against-number"),
    pytest.param("{ os = ['Linux', 'mac'], exclude = [{ os = 'LINUX' }] }",
                 [{"os": "mac"}], id="strings-regardless-of-case"),
    pytest.param("{ python = [3.8, 3.9], include = [{ python = '3.8', extra = 'lint' }] }",
                 [{"python": 3.8, "extra": "lint"}, {"python": 3.9}], id="include-extends-across-types"),
    pytest.param("{ debug = [true, false], exclude = [{ debug = 1 }] }",
                 [{"debug": False}], id="boolean-against-number"),
    pytest.param("{ image = ['ubuntu 22.04', '16/Dockerfile.c9s'], greeting = ['Hello World'] }",
                 [{"image": "ubuntu 22.04", "greeting": "Hello World"},
                  {"image": "16/Dockerfile.c9s", "greeting": "Hello World"}], id="spaces-and-slashes"),
    pytest.param("{ os = [{ name = 'ubuntu', version = '22.04' }, { name = 'mac', version = 14 }] }",
                 [{"os": {"name": "ubuntu", "version": "22.04"}}, {"os": {"name": "mac", "version": 14}}],
                 id="object-values"),
    pytest.param("{ os = [{ name = 'ubuntu', version = 22 }, { name = 'ubuntu', version = 24 }, { name = 'mac', version = 14 }],"
                 " exclude = [{ os = { name = 'UBUNTU', version = '22' } }] }",
                 [{"os": {"name": "ubuntu", "version": 24}}, {"os": {"name": "mac", "version": 14}}],
                 id="exclude-matches-inside-a-table"),
    pytest.param("{ os = [{ name = 'ubuntu', version = 22 }, { name = 'mac', version = 14 }],"
                 " exclude = [{ os = { name = 'mac' } }] }",
                 [{"os": {"name": "ubuntu", "version": 22}}], id="partial-exclude-inside-a-table"),
    pytest.param("{ os = [{ name = 'ubuntu', arch = 'x64' }, { name = 'mac', arch = 'arm' }],"
                 " include = [{ os = { arch = 'ARM' }, runner = 'big' }, { os = { name = 'windows' } }] }",
                 [{"os": {"name": "ubuntu", "arch": "x64"}}, {"os": {"name": "mac", "arch": "arm"}, "runner": "big"},
                  {"os": {"name": "windows"}}],
                 id="include-matches-a-tables-fields-or-adds"),
]


@pytest.mark.parametrize(("matrix", "expected"), CASES)
def test_githubs_cases_give_githubs_members(project_dir: Path, matrix: str, expected: list[dict[str, object]]) -> None:
    assert members(project_dir, matrix) == expected


@pytest.mark.parametrize(
    ("matrix", "entry"),
    [
        pytest.param("{ python = ['3.8', '3.9'], exclude = [{ python = '3.10' }] }", '{ python = "3.10" }', id="no-value"),
        pytest.param("{ os = ['linux'], py = [3], exclude = [{ os = 'linux', py = 4 }] }", '{ os = "linux", py = 4 }',
                     id="no-combination"),
    ],
)
def test_an_exclude_that_removes_nothing_is_refused(project_dir: Path, matrix: str, entry: str) -> None:
    with pytest.raises(ProjectError) as info:
        members(project_dir, matrix)
    assert info.value.key == "jobs.t.matrix.exclude[0]"
    assert f"exclude entry {entry} removes no combination" in str(info.value)
    assert "a typo, or a line left from an older matrix" in str(info.value)


def test_a_hyphenated_key_is_a_placeholder_through_the_command(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[jobs.test]\nmatrix = { node-version = [18, 20] }\ntasks = ["t.py --node {node-version}"]\n',
        {"t.py": "import sys\nopen(f'node-{sys.argv[2]}.txt', 'w').write('ok')\n"},
    )
    result = run_cli("run", str(project_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project_dir / "node-18.txt").exists() and (project_dir / "node-20.txt").exists()
    shown = run_cli("logs", "test[node-version=18]/t", cwd=project_dir)
    assert shown.returncode == 0, shown.stderr
    only = run_cli("run", str(project_dir), "--only", "test[node-version=20]", "--dry-run")
    assert "test[node-version=20]" in only.stdout and "test[node-version=18]" not in only.stdout, only.stdout
