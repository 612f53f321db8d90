"""Validation: a bad project is refused before anything runs, with a message a user can act on.

Every error from a project file names the file, the key path of the bad value
(``jobs.load.tasks[0].timeout``), the cause and, where one helps, a hint. The same
checks apply to blueprints built in Python (``Task``, ``Job``, ``Project``), which are
immutable, hashable values. A few tests go through the real ``pyoneer`` command to pin
exit code 2 and the absence of a traceback; the rest use the Python API, to stay fast.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from conftest import run_cli, write_project

import pyoneer
from pyoneer import Job, Project, ProjectError, Resources, Task

SCRIPTS = {"a.py": "", "b.py": "", "extract.py": "", "load.py": ""}


def load_error(root: Path, toml: str, scripts: dict[str, str] | None = None) -> ProjectError:
    """The ``ProjectError`` that loading the project written from ``toml`` raises."""
    write_project(root, toml, SCRIPTS if scripts is None else scripts)
    with pytest.raises(ProjectError) as info:
        pyoneer.load(root)
    return info.value


def assert_names(error: ProjectError, key: str, *fragments: str, file: str = "pyoneer.toml") -> None:
    """The error names ``file``, the key path ``key`` and each fragment (cause, hint)."""
    text = str(error)
    assert error.file is not None and error.file.name == file, text
    assert error.key == key, text
    assert text.startswith(f"{error.file}: {key}: "), text
    for fragment in fragments:
        assert fragment in text, text


def assert_clean_refusal(result) -> None:
    """The command refused the project: exit 2, an ``error:`` line, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr


# --- broken TOML ---------------------------------------------------------------------


def test_broken_toml_names_the_file(project_dir):
    error = load_error(project_dir, '[jobs.load]\ntasks = ["a.py"\n')
    assert error.file is not None and error.file.name == "pyoneer.toml"
    assert "not valid TOML" in str(error)


def test_cli_broken_toml_exits_2_without_traceback(project_dir):
    write_project(project_dir, "[jobs.load\ntasks = 1\n", SCRIPTS)
    result = run_cli("check", str(project_dir))
    assert_clean_refusal(result)
    assert "pyoneer.toml" in result.stderr
    assert "not valid TOML" in result.stderr


# --- unknown keys, with did-you-mean ---------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key", "hint"),
    [
        pytest.param(
            '[jobs.load]\ntasks = ["a.py"]\nneed = ["extract"]\n',
            "jobs.load.need",
            "did you mean 'needs'",
            id="job-need",
        ),
        pytest.param('[jobz.load]\ntasks = ["a.py"]\n', "jobz", "did you mean 'jobs'", id="top-level"),
        pytest.param(
            '[project]\nnam = "x"\n[jobs.load]\ntasks = ["a.py"]\n',
            "project.nam",
            "did you mean 'name'",
            id="project",
        ),
        pytest.param(
            '[jobs.load]\ntasks = [{ script = "a.py", timout = 5 }]\n',
            "jobs.load.tasks[0].timout",
            "did you mean 'timeout'",
            id="task",
        ),
        pytest.param(
            '[jobs.x]\ntasks = ["a.py"]\nresources = { cpu = 2 }\n',
            "jobs.x.resources.cpu",
            "did you mean 'cpus'",
            id="resources",
        ),
    ],
)
def test_unknown_key_suggests_the_known_one(project_dir, toml, key, hint):
    assert_names(load_error(project_dir, toml), key, "unknown key", "hint:", hint)


def test_unknown_key_without_close_match_lists_known_keys(project_dir):
    error = load_error(project_dir, '[jobs.load]\ntasks = ["a.py"]\nzzzzzz = 1\n')
    assert_names(error, "jobs.load.zzzzzz", "unknown key", "known keys: tasks, needs, resources")


def test_cli_unknown_key_names_file_key_and_hint(project_dir):
    write_project(project_dir, '[jobs.load]\ntasks = ["a.py"]\nneed = ["load"]\n', SCRIPTS)
    result = run_cli("check", str(project_dir))
    assert_clean_refusal(result)
    assert "pyoneer.toml: jobs.load.need: unknown key" in result.stderr
    assert "did you mean 'needs'" in result.stderr


# --- wrong values and wrong types in the file --------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key", "cause"),
    [
        pytest.param('tasks = [{ script = "a.py", timeout = 0 }]', "jobs.load.tasks[0].timeout",
                     "must be a positive number of seconds, got 0", id="timeout-0"),
        pytest.param('tasks = [{ script = "a.py", timeout = -1 }]', "jobs.load.tasks[0].timeout",
                     "must be a positive number of seconds, got -1", id="timeout-negative"),
        pytest.param('tasks = [{ script = "a.py", timeout = "30" }]', "jobs.load.tasks[0].timeout",
                     "must be a positive number of seconds, got '30'", id="timeout-string"),
        pytest.param('tasks = [{ script = "a.py", retries = -1 }]', "jobs.load.tasks[0].retries",
                     "must be a whole number, 0 or more, got -1", id="retries-negative"),
        pytest.param('tasks = [{ script = "a.py", retries = 1.5 }]', "jobs.load.tasks[0].retries",
                     "must be a whole number, 0 or more, got 1.5", id="retries-float"),
        pytest.param('tasks = [{ script = "a.py", args = [1] }]', "jobs.load.tasks[0].args[0]",
                     "must be a string, got int 1", id="args-int"),
        pytest.param('tasks = [{ script = "a.py", args = "x" }]', "jobs.load.tasks[0].args",
                     "must be a list of strings, got str", id="args-string"),
        pytest.param('tasks = [{ script = "a.py", env = { A = 1 } }]', "jobs.load.tasks[0].env.A",
                     "must be a string, got int 1", id="env-int"),
        pytest.param('tasks = [{ args = ["x"] }]', "jobs.load.tasks[0]",
                     "missing key 'script'", id="script-missing"),
        pytest.param("tasks = [3]", "jobs.load.tasks[0]", "must be a table, got int", id="task-int"),
        pytest.param('tasks = ["a.py"]\nresources = { cpus = 0 }', "jobs.load.resources.cpus",
                     "must be a positive number, got 0", id="cpus-0"),
        pytest.param('tasks = ["a.py"]\nresources = { cpus = -2 }', "jobs.load.resources.cpus",
                     "must be a positive number, got -2", id="cpus-negative"),
        pytest.param('tasks = ["a.py"]\nresources = { cpus = "two" }', "jobs.load.resources.cpus",
                     "must be a positive number, got 'two'", id="cpus-string"),
        pytest.param('tasks = ["a.py"]\nresources = 2', "jobs.load.resources",
                     "must be a table, got int", id="resources-int"),
        pytest.param('tasks = "a.py"', "jobs.load.tasks", "must be a list, got str", id="tasks-string"),
        pytest.param("tasks = []", "jobs.load.tasks", "a job needs at least one task", id="tasks-empty"),
        pytest.param('needs = []', "jobs.load", "missing key 'tasks'", id="tasks-missing"),
        pytest.param('tasks = ["a.py"]\nneeds = "a"', "jobs.load.needs",
                     "must be a list of strings, got str", id="needs-string"),
        pytest.param('tasks = ["a.py"]\n[jobs.other]\ntasks = [1]',
                     "jobs.other.tasks[0]", "must be a table, got int", id="second-job"),
    ],
)
def test_bad_value_names_file_key_and_cause(project_dir, toml, key, cause):
    assert_names(load_error(project_dir, f"[jobs.load]\n{toml}\n"), key, cause)


def test_job_table_that_is_not_a_table(project_dir):
    error = load_error(project_dir, "[jobs]\nx = 3\n")
    assert_names(error, "jobs.x", "must be a table, got int")


def test_invalid_job_name(project_dir):
    error = load_error(project_dir, '[jobs."my job"]\ntasks = ["a.py"]\n')
    assert error.file is not None and error.file.name == "pyoneer.toml"
    assert "job name 'my job' is not valid" in str(error)
    assert "hint:" in str(error)


@pytest.mark.parametrize("toml", ["", '[project]\nname = "x"\n', "jobs = {}\n"], ids=["blank", "project-only", "empty-jobs"])
def test_empty_project_is_refused(project_dir, toml):
    error = load_error(project_dir, toml)
    assert_names(error, "jobs", "no jobs", "hint: add a job")


# --- dependencies --------------------------------------------------------------------------


def test_unknown_dependency_lists_known_jobs(project_dir):
    error = load_error(project_dir, '[jobs.load]\ntasks = ["a.py"]\nneeds = ["nope"]\n')
    assert_names(error, "jobs.load.needs[0]", "unknown job 'nope'", "hint: known jobs: load")


def test_unknown_dependency_suggests_close_name(project_dir):
    toml = '[jobs.extract]\ntasks = ["a.py"]\n[jobs.load]\ntasks = ["b.py"]\nneeds = ["extrct"]\n'
    error = load_error(project_dir, toml)
    assert_names(error, "jobs.load.needs[0]", "unknown job 'extrct'", "did you mean 'extract'")


def cycle_of(error: ProjectError) -> list[str]:
    match = re.search(r"dependency cycle: (.*)", str(error))
    assert match, str(error)
    return match.group(1).strip().split(" -> ")


def is_rotation(printed: list[str], cycle: list[str]) -> bool:
    """``printed`` (first == last) walks ``cycle`` from some start, in that direction."""
    if len(printed) != len(cycle) + 1 or printed[0] != printed[-1]:
        return False
    loop = printed[:-1]
    return any(loop == cycle[i:] + cycle[:i] for i in range(len(cycle)))


def test_cycle_is_printed_whole_in_run_order(project_dir):
    toml = """
        [jobs.alpha]
        tasks = ["a.py"]
        needs = ["gamma"]
        [jobs.beta]
        tasks = ["a.py"]
        needs = ["alpha"]
        [jobs.gamma]
        tasks = ["a.py"]
        needs = ["beta"]
    """
    error = load_error(project_dir, toml)
    printed = cycle_of(error)
    assert error.file is not None and error.file.name == "pyoneer.toml"
    assert printed[0] == printed[-1]
    assert error.key == f"jobs.{printed[0]}.needs"
    # beta needs alpha, so alpha runs before beta: "alpha -> beta -> gamma -> alpha"
    assert is_rotation(printed, ["alpha", "beta", "gamma"]), printed


def test_cycle_names_every_job_in_it(project_dir):
    jobs = (Job(name, ["a.py"]) for name in ("alpha", "beta", "gamma"))
    write_project(project_dir, scripts=SCRIPTS)
    with pytest.raises(ProjectError) as info:
        Project("p", tuple(jobs), needs={"alpha": ["gamma"], "beta": ["alpha"], "gamma": ["beta"]}, root=project_dir)
    printed = cycle_of(info.value)
    assert printed[0] == printed[-1]
    assert sorted(printed[:-1]) == ["alpha", "beta", "gamma"]
    assert "hint: a job cannot wait" in str(info.value)


def test_self_dependency_is_a_cycle(project_dir):
    error = load_error(project_dir, '[jobs.alpha]\ntasks = ["a.py"]\nneeds = ["alpha"]\n')
    assert_names(error, "jobs.alpha.needs", "dependency cycle: alpha -> alpha")


# --- scripts ---------------------------------------------------------------------------------


def test_missing_script(project_dir):
    error = load_error(project_dir, '[jobs.load]\ntasks = ["a.py", "missing.py"]\n')
    assert_names(error, "jobs.load.tasks[1].script", "script 'missing.py' does not exist", str(project_dir))


def test_script_that_is_a_directory(project_dir):
    (project_dir / "steps.py").mkdir()
    error = load_error(project_dir, '[jobs.load]\ntasks = ["steps.py"]\n')
    assert_names(error, "jobs.load.tasks[0].script", "script 'steps.py' is a directory")


@pytest.mark.parametrize("task", ['"/tmp/a.py --fast"', '{ script = "/tmp/a.py" }'], ids=["command", "table"])
def test_absolute_script_is_refused(project_dir, task):
    error = load_error(project_dir, f"[jobs.load]\ntasks = [{task}]\n")
    assert_names(error, "jobs.load.tasks[0].script", "'/tmp/a.py' is absolute", "hint: give the path relative")


# --- finding the project ----------------------------------------------------------------------


def test_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ProjectError, match="does not exist"):
        pyoneer.load(missing)


def test_directory_without_project_file(project_dir):
    with pytest.raises(ProjectError) as info:
        pyoneer.load(project_dir)
    text = str(info.value)
    assert f"{project_dir} has no pyoneer.toml" in text
    assert "pyproject" not in text.splitlines()[0]
    assert f"pyoneer init {project_dir}" in text


def test_pyproject_without_tool_pyoneer(project_dir):
    (project_dir / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.black]\nline-length = 99\n')
    with pytest.raises(ProjectError) as info:
        pyoneer.load(project_dir)
    text = str(info.value)
    assert "has no pyoneer.toml, and its pyproject.toml has no [tool.pyoneer] table" in text
    assert "pyoneer init" in text


def test_pyproject_error_shows_tool_pyoneer_key(project_dir):
    write_project(project_dir, scripts=SCRIPTS)
    (project_dir / "pyproject.toml").write_text(
        '[tool.pyoneer.jobs.load]\ntasks = [{ script = "a.py", timeout = 0 }]\n'
    )
    with pytest.raises(ProjectError) as info:
        pyoneer.load(project_dir)
    assert_names(info.value, "tool.pyoneer.jobs.load.tasks[0].timeout", "positive number", file="pyproject.toml")


def test_pyproject_with_tool_pyoneer_loads(project_dir):
    write_project(project_dir, scripts=SCRIPTS)
    (project_dir / "pyproject.toml").write_text('[tool.pyoneer.jobs.load]\ntasks = ["a.py"]\n')
    project = pyoneer.load(project_dir)
    assert [job.name for job in project.jobs] == ["load"]


def test_script_args_refused_for_a_project(project_dir):
    write_project(project_dir, '[jobs.load]\ntasks = ["a.py"]\n', SCRIPTS)
    with pytest.raises(ProjectError, match="arguments after '--' are for a single script"):
        pyoneer.load(project_dir, ("--fast",))


def test_cli_path_that_does_not_exist(tmp_path):
    result = run_cli("check", str(tmp_path / "nowhere"))
    assert_clean_refusal(result)
    assert "nowhere does not exist" in result.stderr


def test_cli_directory_without_project(project_dir):
    (project_dir / "pyproject.toml").write_text('[project]\nname = "x"\n')
    result = run_cli("check", str(project_dir))
    assert_clean_refusal(result)
    assert "no [tool.pyoneer] table" in result.stderr
    assert "pyoneer init" in result.stderr


def test_cli_pyproject_error_names_pyproject(project_dir):
    write_project(project_dir, scripts=SCRIPTS)
    (project_dir / "pyproject.toml").write_text('[tool.pyoneer.jobs.load]\ntasks = ["a.py"]\nneed = []\n')
    result = run_cli("check", str(project_dir))
    assert_clean_refusal(result)
    assert "pyproject.toml: tool.pyoneer.jobs.load.need: unknown key" in result.stderr
    assert "did you mean 'needs'" in result.stderr


def test_cli_script_args_for_a_project_exit_2(project_dir):
    write_project(project_dir, '[jobs.load]\ntasks = ["a.py"]\n', SCRIPTS)
    result = run_cli("run", str(project_dir), "--", "--fast")
    assert_clean_refusal(result)
    assert "arguments after '--'" in result.stderr


def test_cli_bad_project_never_runs_anything(project_dir):
    marker = project_dir / "ran.txt"
    toml = """
        [jobs.first]
        tasks = ["first.py"]
        [jobs.second]
        tasks = ["missing.py"]
        needs = ["first"]
    """
    scripts = {"first.py": f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"}
    write_project(project_dir, toml, scripts)
    result = run_cli("run", str(project_dir))
    assert_clean_refusal(result)
    assert "jobs.second.tasks[0].script" in result.stderr
    assert not marker.exists()


def test_cli_usage_errors_exit_2(project_dir):
    write_project(project_dir, '[jobs.load]\ntasks = ["a.py"]\n', SCRIPTS)
    workers = run_cli("run", "--workers", "0", str(project_dir))
    assert workers.returncode == 2
    assert "--workers" in workers.stderr
    assert "Traceback" not in workers.stderr
    unknown = run_cli("frobnicate")
    assert unknown.returncode == 2
    assert "No such command" in unknown.stderr
    assert "Traceback" not in unknown.stderr


# --- the Python API -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "key", "cause"),
    [
        pytest.param(lambda: Task("a.py", timeout=0), "timeout", "positive number of seconds", id="timeout-0"),
        pytest.param(lambda: Task("a.py", timeout="30"), "timeout", "positive number of seconds", id="timeout-str"),
        pytest.param(lambda: Task("a.py", retries=-1), "retries", "whole number", id="retries-negative"),
        pytest.param(lambda: Task("a.py", retries=True), "retries", "whole number", id="retries-bool"),
        pytest.param(lambda: Task("a.py", args=[1]), "args[0]", "must be a string", id="args-int"),
        pytest.param(lambda: Task("a.py", env={"A": 1}), "env.A", "must be a string", id="env-int"),
        pytest.param(lambda: Task("/abs/a.py"), "script", "is absolute", id="script-absolute"),
        pytest.param(lambda: Task(""), "script", "is empty", id="script-empty"),
        pytest.param(lambda: Task("a.py", name="a b"), "name", "not valid", id="name-invalid"),
        pytest.param(lambda: Resources(cpus=0), "cpus", "positive number", id="cpus-0"),
        pytest.param(lambda: Job("load", []), "tasks", "at least one task", id="job-no-tasks"),
        pytest.param(lambda: Job("load", "a.py"), "tasks", "must be a list of tasks", id="job-tasks-str"),
        pytest.param(lambda: Job("load", ["a.py", 3]), "tasks[1]", "must be a Task or a command", id="job-task-int"),
        pytest.param(lambda: Job("load", ["/abs/a.py"]), "tasks[0].script", "is absolute", id="job-task-abs"),
        pytest.param(lambda: Job("load", ["a.py"], resources={"cpus": -2}), "resources.cpus",
                     "positive number", id="job-cpus"),
        pytest.param(lambda: Job("load", ["a.py"], resources={"cpu": 2}), "resources.cpu",
                     "did you mean 'cpus'", id="job-resources-key"),
        pytest.param(lambda: Job("load", [Task("a.py", name="x"), Task("b.py", name="x")]), "tasks",
                     "two tasks are named 'x'", id="job-duplicate-task-names"),
        pytest.param(lambda: Job("no good", ["a.py"]), "name", "not valid", id="job-name"),
    ],
)
def test_api_refuses_bad_blueprint_with_key(build, key, cause):
    with pytest.raises(ProjectError) as info:
        build()
    assert info.value.key == key
    assert info.value.file is None
    assert cause in str(info.value)


def test_api_duplicate_job_names(project_dir):
    write_project(project_dir, scripts=SCRIPTS)
    with pytest.raises(ProjectError, match="two jobs are named 'load'") as info:
        Project("p", (Job("load", ["a.py"]), Job("load", ["b.py"])), root=project_dir)
    assert info.value.key == "jobs.load"


def test_api_project_without_jobs(project_dir):
    with pytest.raises(ProjectError, match="at least one job"):
        Project("p", (), root=project_dir)


def test_api_unknown_dependency(project_dir):
    write_project(project_dir, scripts=SCRIPTS)
    with pytest.raises(ProjectError) as info:
        Project("p", (Job("load", ["a.py"]),), needs={"load": ["nope"]}, root=project_dir)
    assert info.value.key == "jobs.load.needs[0]"
    assert "known jobs: load" in str(info.value)


def test_api_missing_script_is_checked_under_root(project_dir):
    with pytest.raises(ProjectError) as info:
        Project("p", (Job("load", ["a.py"]),), root=project_dir)
    assert info.value.key == "jobs.load.tasks[0].script"
    assert "does not exist" in str(info.value)


# --- blueprints are immutable, hashable values -----------------------------------------------


def test_blueprints_are_frozen(project_dir):
    write_project(project_dir, scripts=SCRIPTS)
    task = Task("a.py")
    job = Job("load", [task])
    project = Project("p", (job,), root=project_dir)
    for blueprint, attribute, value in [(task, "script", "b.py"), (job, "name", "x"), (project, "jobs", ())]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(blueprint, attribute, value)


def test_equal_blueprints_hash_equal(project_dir):
    write_project(project_dir, scripts=SCRIPTS)
    one = Task("a.py", args=["x"], env={"B": "2", "A": "1"})
    two = Task("a.py", args=("x",), env=(("A", "1"), ("B", "2")))
    assert one == two and hash(one) == hash(two)
    assert len({Job("load", [one]), Job("load", (two,))}) == 1
    first = Project("p", (Job("load", [one]),), needs={}, root=project_dir)
    second = Project("p", (Job("load", [two]),), root=project_dir)
    assert first == second and hash(first) == hash(second)


def test_job_is_reused_in_two_projects(project_dir):
    write_project(project_dir, scripts=SCRIPTS)
    shared = Job("extract", ["extract.py"])
    one = Project("one", (shared, Job("load", ["load.py"])), needs={"load": ["extract"]}, root=project_dir)
    two = Project("two", (shared,), root=project_dir)
    assert one.job("extract") is shared and two.job("extract") is shared
    assert one.dependencies == {"extract": (), "load": ("extract",)}
    assert two.dependencies == {"extract": ()}


def test_task_stores_args_and_env_as_tuples():
    task = Task("a.py", args=["x"], env={"B": "2", "A": "1"})
    assert task.args == ("x",)
    assert task.env == (("A", "1"), ("B", "2"))
    assert task.environment == {"A": "1", "B": "2"}


def test_from_command_splits_like_a_shell():
    task = Task.from_command("check.py --strict 'two words'")
    assert task == Task("check.py", args=("--strict", "two words"))


@pytest.mark.parametrize(("command", "cause"), [("", "is empty"), ("a.py 'open", "cannot split")])
def test_from_command_refuses_bad_command(command, cause):
    with pytest.raises(ProjectError, match=cause):
        Task.from_command(command)


def test_task_names_are_unique():
    assert Job("load", ["a.py", "a.py", "b.py"]).task_names == ("a", "a-2", "b")
    named = Job("load", ["a.py", Task("b.py", name="a-2"), "a.py"])
    assert named.task_names == ("a", "a-2", "a-3")


# --- once bugs: now fixed ---------------------------------------------------------------------


@pytest.mark.parametrize("env", ["A=1", 3, [1]], ids=["string", "int", "list"])
def test_env_that_is_not_a_table_is_a_project_error(env):
    with pytest.raises(ProjectError) as info:
        Task("a.py", env=env)
    assert info.value.key == "env"
    assert "must be a table of strings" in str(info.value)


def test_cli_env_string_is_refused_cleanly(project_dir):
    write_project(project_dir, '[jobs.load]\ntasks = [{ script = "a.py", env = "A=1" }]\n', SCRIPTS)
    result = run_cli("check", str(project_dir))
    assert_clean_refusal(result)
    assert "jobs.load.tasks[0].env" in result.stderr


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('tasks = [{ script = "a.py", timeout = nan }]', "jobs.load.tasks[0].timeout"),
        ('tasks = ["a.py"]\nresources = { cpus = nan }', "jobs.load.resources.cpus"),
    ],
    ids=["timeout", "cpus"],
)
def test_nan_is_not_a_positive_number(project_dir, toml, key):
    assert_names(load_error(project_dir, f"[jobs.load]\n{toml}\n"), key, "positive number")
