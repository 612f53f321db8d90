"""Sweeps: a job's matrix expanded into members, placeholders, parameters, and ``-m``.

Expansion and its refusals are checked by loading real project files; what members do
(their values, their dependencies, a failure among them) by running them with the real
``pyoneer`` command in a child process.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import run_cli, write_project

import pyoneer
from pyoneer import ProjectError, UsageError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sweep"

# a task that records what it was given: its arguments and its matrix values
RECORD = """
import json, os, sys
from pathlib import Path
out = Path("seen") / (os.environ["PYONEER_JOB"] + ".json")
out.parent.mkdir(exist_ok=True)
out.write_text(json.dumps({"args": sys.argv[1:], "matrix": json.loads(os.environ.get("PYONEER_MATRIX", "null")),
                           "env": os.environ.get("SETTING")}))
"""


def project(root: Path, toml: str, **scripts: str) -> Path:
    return write_project(root, toml, {"record.py": RECORD, **{f"{name}.py": body for name, body in scripts.items()}})


def members(root: Path) -> list[str]:
    return [job.name for job in pyoneer.load(root).jobs]


def seen(root: Path, job: str) -> dict:
    return json.loads((root / "seen" / f"{job}.json").read_text())


def refused(root: Path, toml: str) -> ProjectError:
    write_project(root, toml, {"record.py": RECORD})
    with pytest.raises(ProjectError) as raised:
        pyoneer.load(root)
    return raised.value


# Expansion -----------------------------------------------------------------------------


def test_every_combination_is_a_member_named_by_its_values_in_the_order_written(project_dir: Path) -> None:
    project(project_dir, """
        [jobs.train]
        matrix = { data = ["sea", "hills"], lr = [0.1, 0.01] }
        tasks = ["record.py"]
    """)
    assert members(project_dir) == [
        "train[data=sea,lr=0.1]", "train[data=sea,lr=0.01]", "train[data=hills,lr=0.1]", "train[data=hills,lr=0.01]",
    ]
    job = pyoneer.load(project_dir).jobs[1]
    assert (job.group, job.matrix) == ("train", (("data", "sea"), ("lr", 0.01)))


def test_exclude_and_include_follow_github_actions(project_dir: Path) -> None:
    project(project_dir, """
        [jobs.t]
        tasks = ["record.py"]

        [jobs.t.matrix]
        os = ["linux", "mac"]
        py = [3.11, 3.12]
        exclude = [{ os = "mac", py = 3.11 }]
        include = [{ os = "linux", extra = true }, { os = "bsd", py = 3.12 }]
    """)
    assert members(project_dir) == [
        "t[os=linux,py=3.11,extra=true]", "t[os=linux,py=3.12,extra=true]", "t[os=mac,py=3.12]", "t[os=bsd,py=3.12]",
    ]


def test_values_are_filled_in_everywhere_a_jobs_text_can_hold_them(project_dir: Path) -> None:
    project(project_dir, """
        [jobs.fill]
        matrix = { who = ["ann"], n = [2], ok = [true] }
        outputs = ["out/{who}-{n}.txt"]
        tasks = [
            "record.py --who {who} --n {n} --ok {ok} --json '{\\"a\\": 1}' --braces {{who}}",
            { script = "{who}.py", name = "task-{n}", args = ["x{n}y"], env = { SETTING = "s-{who}" } },
        ]
    """, ann=RECORD.replace('os.environ["PYONEER_JOB"]', 'os.environ["PYONEER_TASK"]'))
    (job,) = pyoneer.load(project_dir).jobs
    first, second = job.tasks
    assert first.args == ("--who", "ann", "--n", "2", "--ok", "true", "--json", '{"a": 1}', "--braces", "{who}")
    assert (second.script, second.name, second.args, second.environment) == (
        "ann.py", "task-2", ("x2y",), {"SETTING": "s-ann"}
    )
    assert job.outputs == ("out/ann-2.txt",)


def test_a_project_without_matrix_or_params_keeps_its_braces(project_dir: Path) -> None:
    project(project_dir, '[jobs.a]\ntasks = ["record.py {not_a_placeholder} {{"]\n')
    assert pyoneer.load(project_dir).jobs[0].tasks[0].args == ("{not_a_placeholder}", "{{")


@pytest.mark.parametrize(
    ("toml", "key", "words"),
    [
        pytest.param('matrix = { lr = [0.1] }\ntasks = ["record.py --lr {lrr}"]', "jobs.t.tasks[0]",
                     ["{lrr} names no matrix key or parameter", "did you mean 'lr'"], id="unknown-placeholder"),
        pytest.param('matrix = { lr = [0.1] }\noutputs = ["m/{seed}.json"]\ntasks = ["record.py"]', "jobs.t.outputs[0]",
                     ["{seed} names no matrix key", "known names: lr"], id="unknown-in-outputs"),
        pytest.param('matrix = ["a"]\ntasks = ["record.py"]', "jobs.t.matrix", ["must be a table of lists"], id="not-a-table"),
        pytest.param('matrix = { lr = [] }\ntasks = ["record.py"]', "jobs.t.matrix.lr", ["an empty list makes no members", "hint: give it a value or more"], id="empty-list"),
        pytest.param('matrix = { lr = [1, "1"] }\ntasks = ["record.py"]', "jobs.t.matrix",
                     ["two members are both named 't[lr=1]'", 'values that read alike (1 and "1")'], id="names-collide"),
        pytest.param('matrix = { lr = [1], exclude = [{ lrr = 1 }] }\ntasks = ["record.py"]', "jobs.t.matrix.exclude[0].lrr",
                     ["not a key of the matrix", "did you mean 'lr'"], id="exclude-unknown-key"),
        pytest.param('matrix = { lr = [1], exclude = [{ lr = 1 }] }\ntasks = ["record.py"]', "jobs.t.matrix",
                     ["has no members left"], id="all-excluded"),
        pytest.param('matrix = { "two words" = [1] }\ntasks = ["record.py"]', 'jobs.t.matrix."two words"',
                     ["cannot be a placeholder's name"], id="bad-key"),
    ],
)
def test_a_bad_matrix_is_refused_with_its_key_path(project_dir: Path, toml: str, key: str, words: list[str]) -> None:
    error = refused(project_dir, f"[jobs.t]\n{toml}\n")
    assert error.file == project_dir / "pyoneer.toml"
    text = str(error)
    assert f"{project_dir / 'pyoneer.toml'}: {key}: " in text, text
    for word in words:
        assert word in text, text


def test_a_matrix_key_and_a_parameter_may_not_share_a_name(project_dir: Path) -> None:
    error = refused(project_dir, '[params]\nlr = 0.5\n[jobs.t]\nmatrix = { lr = [0.1] }\ntasks = ["record.py"]\n')
    assert error.key == "jobs.t.matrix.lr" and "both a matrix key and a parameter" in str(error)


# Dependencies between members ----------------------------------------------------------

NEEDS = """
[jobs.prep]
matrix = { data = ["sea", "hills"] }
tasks = ["record.py"]

[jobs.train]
needs = ["prep"]
matrix = { data = ["sea", "hills"], seed = [1, 2] }
tasks = ["record.py"]

[jobs.pick]
needs = ["train[seed=1]"]
tasks = ["record.py"]

[jobs.report]
needs = ["train"]
tasks = ["record.py"]
"""


def test_members_need_the_members_that_agree_with_them_on_shared_keys(project_dir: Path) -> None:
    project(project_dir, NEEDS)
    needs = pyoneer.load(project_dir).dependencies
    assert needs["train[data=sea,seed=2]"] == ("prep[data=sea]",)
    assert needs["train[data=hills,seed=1]"] == ("prep[data=hills]",)
    assert needs["pick"] == ("train[data=sea,seed=1]", "train[data=hills,seed=1]")
    assert len(needs["report"]) == 4


@pytest.mark.parametrize(
    ("needs", "words"),
    [
        pytest.param('["train[sed=1]"]', ["'train' has no matrix key 'sed'", "did you mean 'seed'"], id="selector-key"),
        pytest.param('["train[seed=7]"]', ["no member of 'train' matches 'train[seed=7]'"], id="selector-nothing"),
        pytest.param('["trian"]', ["unknown job 'trian'", "did you mean 'train'"], id="unknown-job"),
        pytest.param('["train[seed]"]', ["'seed' in 'train[seed]' is not KEY=VALUE"], id="selector-no-value"),
        pytest.param('["train[seed=1,seed=2]"]', ["'seed' is given twice"], id="selector-twice"),
    ],
)
def test_needs_that_select_nothing_are_refused(project_dir: Path, needs: str, words: list[str]) -> None:
    toml = NEEDS.replace('needs = ["train[seed=1]"]', f"needs = {needs}")
    error = refused(project_dir, toml)
    assert error.key == "jobs.pick.needs[0]", str(error)
    for word in words:
        assert word in str(error)


def test_a_member_whose_shared_value_no_upstream_member_has_is_refused(project_dir: Path) -> None:
    error = refused(project_dir, """
        [jobs.prep]
        matrix = { data = ["sea"] }
        tasks = ["record.py"]
        [jobs.train]
        needs = ["prep"]
        matrix = { data = ["sea", "hills"] }
        tasks = ["record.py"]
    """)
    assert error.key == "jobs.train.needs[0]" and "no member of 'prep' has data=hills" in str(error)


def test_one_failed_member_skips_only_what_needs_it(project_dir: Path) -> None:
    project(project_dir, NEEDS.replace('[jobs.prep]\nmatrix = { data = ["sea", "hills"] }\ntasks = ["record.py"]',
                                       '[jobs.prep]\nmatrix = { data = ["sea", "hills"] }\ntasks = ["prep.py {data}"]'),
            prep="import sys\nsys.exit(3 if sys.argv[1] == 'hills' else 0)\n")
    result = run_cli("run", str(project_dir))
    assert result.returncode == 1, result.stdout + result.stderr
    state = json.loads(run_cli("status", str(project_dir), "--json").stdout)
    jobs = {row["name"]: row["status"] for row in state["blueprints"] if row["kind"] == "job"}
    assert jobs == {
        "prep[data=sea]": "succeeded", "prep[data=hills]": "failed",
        "train[data=sea,seed=1]": "succeeded", "train[data=sea,seed=2]": "succeeded",
        "train[data=hills,seed=1]": "skipped", "train[data=hills,seed=2]": "skipped",
        "pick": "skipped", "report": "skipped",
    }


def test_each_member_sees_its_values_typed_in_pyoneer_matrix(project_dir: Path) -> None:
    project(project_dir, """
        [jobs.t]
        matrix = { lr = [0.5], seed = [3], on = [false], day = [2026-01-02] }
        tasks = ["record.py --lr {lr} --day {day}"]

        [jobs.plain]
        tasks = ["record.py"]
    """)
    result = run_cli("run", str(project_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    member = seen(project_dir, "t[lr=0.5,seed=3,on=false,day=2026-01-02]")
    assert member["matrix"] == {"lr": 0.5, "seed": 3, "on": False, "day": "2026-01-02"}
    assert member["args"] == ["--lr", "0.5", "--day", "2026-01-02"]
    assert seen(project_dir, "plain")["matrix"] is None  # no PYONEER_MATRIX for a plain job
    logs = run_cli("logs", str(project_dir), "t[lr=0.5,seed=3,on=false,day=2026-01-02]")
    assert logs.returncode == 0, logs.stderr


# Parameters ----------------------------------------------------------------------------

PARAMS = """
[params]
epochs = 3
rate = 0.5
date = "2026-01-01"
name = "first run"

[jobs.uses]
tasks = ["record.py --epochs {epochs} --rate {rate} --date {date} --name {name}"]

[jobs.ignores]
tasks = ["record.py"]
"""


def test_parameters_fill_in_with_their_defaults_and_from_the_command_line(project_dir: Path, tmp_path: Path) -> None:
    project(project_dir, PARAMS)
    assert run_cli("run", str(project_dir)).returncode == 0
    assert seen(project_dir, "uses")["args"] == ["--epochs", "3", "--rate", "0.5", "--date", "2026-01-01",
                                                 "--name", "first run"]  # one argument, spaces and all
    params_file = tmp_path / "more.toml"
    params_file.write_text('rate = 2\nname = "from the file"\n')
    result = run_cli("run", str(project_dir), "--params", str(params_file), "-p", "epochs=10", "-p", "date=2026-02-01")
    assert result.returncode == 0, result.stderr
    assert seen(project_dir, "uses")["args"] == ["--epochs", "10", "--rate", "2.0", "--date", "2026-02-01",
                                                 "--name", "from the file"]


def test_a_parameter_changes_the_fingerprint_of_the_jobs_that_use_it_only(project_dir: Path) -> None:
    project(project_dir, PARAMS)
    assert run_cli("run", str(project_dir)).returncode == 0
    again = run_cli("run", str(project_dir), "--resume", "-p", "epochs=4")
    assert again.returncode == 0, again.stderr
    state = json.loads(run_cli("status", str(project_dir), "--json").stdout)
    reused = {row["name"]: row["reused"] for row in state["blueprints"] if row["kind"] == "job"}
    assert reused == {"uses": False, "ignores": True}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["-p", "epochs=ten"], ["parameter 'epochs' is a whole number (default 3), got a string 'ten'", "-p epochs=3"], id="type"),
        pytest.param(["-p", "rate=true"], ["parameter 'rate' is a number", "got a boolean"], id="bool-for-float"),
        pytest.param(["-p", "epoch=5"], ["unknown parameter 'epoch'", "did you mean 'epochs'"], id="unknown"),
        pytest.param(["-p", "epochs"], ["write NAME=VALUE"], id="no-value"),
    ],
)
def test_bad_parameters_are_refused_and_nothing_runs(project_dir: Path, args: list[str], words: list[str]) -> None:
    project(project_dir, PARAMS)
    result = run_cli("run", str(project_dir), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert not (project_dir / "seen").exists()


def test_parameters_through_the_python_api(project_dir: Path) -> None:
    project(project_dir, PARAMS)
    assert pyoneer.load(project_dir, params={"epochs": 7}).job("uses").tasks[0].args[1] == "7"
    with pytest.raises(UsageError, match="whole number"):
        pyoneer.load(project_dir, params={"epochs": "many"})


# A single script swept from the command line -------------------------------------------


def test_a_single_script_sweeps_over_the_values_of_m(project_dir: Path) -> None:
    script = project_dir / "record.py"
    write_project(project_dir, scripts={"record.py": RECORD})
    result = run_cli("run", str(script), "-m", "lr=0.1,0.01", "-m", "seed=1,2", "--", "--lr", "{lr}", "--seed", "{seed}")
    assert result.returncode == 0, result.stdout + result.stderr
    member = seen(project_dir, "record[lr=0.01,seed=2]")
    assert member["args"] == ["--lr", "0.01", "--seed", "2"] and member["matrix"] == {"lr": 0.01, "seed": 2}
    assert len(list((project_dir / "seen").iterdir())) == 4


def test_m_is_for_a_single_script_and_p_for_a_project(project_dir: Path) -> None:
    project(project_dir, PARAMS)
    on_project = run_cli("run", str(project_dir), "-m", "lr=1,2")
    assert on_project.returncode == 2 and "-m sweeps a single script" in on_project.stderr
    on_script = run_cli("run", str(project_dir / "record.py"), "-p", "epochs=1")
    assert on_script.returncode == 2 and "a single script has none" in on_script.stderr
    unknown = run_cli("run", str(project_dir / "record.py"), "-m", "lr=1", "--", "{rate}")
    assert unknown.returncode == 2 and "{rate} names no matrix key" in unknown.stderr


# The example, and what pyoneer check shows ---------------------------------------------


def test_check_lists_members_under_their_job_with_a_count(project_dir: Path) -> None:
    shutil.copytree(EXAMPLE, project_dir, dirs_exist_ok=True)
    result = run_cli("check", str(project_dir), "-p", "epochs=2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("3 jobs, 13 with the members of their matrices, valid")
    assert "  prep  (2 members)" in lines and "  train  (10 members)" in lines
    assert "    train[data=hills,lr=0.01,seed=3]  (needs prep[data=hills])" in lines
    assert "  report  (needs train (all 10 members))" in lines
    assert any(line.endswith("--lr 0.1 --seed 1 --epochs 2") for line in lines)


def test_the_example_sweep_fans_out_and_in(project_dir: Path) -> None:
    shutil.copytree(EXAMPLE, project_dir, dirs_exist_ok=True)
    result = run_cli("run", str(project_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    report = (project_dir / "results" / "report.txt").read_text().splitlines()
    assert report[0] == "10 models"
    assert report[1].startswith("best for hills: ") and report[2].startswith("best for sea: ")


# Members in the ledger and its readers -------------------------------------------------


def test_status_json_lists_every_member_with_its_values(project_dir: Path) -> None:
    project(project_dir, NEEDS)
    assert run_cli("run", str(project_dir)).returncode == 0
    state = json.loads(run_cli("status", str(project_dir), "--json").stdout)
    jobs = {row["name"]: row for row in state["blueprints"] if row["kind"] == "job"}
    assert jobs["train[data=hills,seed=2]"]["matrix"] == {"data": "hills", "seed": 2}
    assert jobs["report"]["matrix"] is None
    tasks = [row for row in state["blueprints"] if row["kind"] == "task"]
    assert all(row["matrix"] is None for row in tasks)


def test_logs_take_a_members_name_or_a_glob_for_exactly_one(project_dir: Path) -> None:
    project(project_dir, NEEDS.replace('matrix = { data = ["sea", "hills"], seed = [1, 2] }\ntasks = ["record.py"]',
                                       'matrix = { data = ["sea", "hills"], seed = [1, 2] }\ntasks = ["say.py {data} {seed}"]'),
            say="import sys\nprint('member', *sys.argv[1:])\n")
    assert run_cli("run", str(project_dir)).returncode == 0
    assert run_cli("logs", str(project_dir), "train[data=sea,seed=2]").stdout == "member sea 2\n"
    assert run_cli("logs", str(project_dir), "train*hills*seed=1*").stdout == "member hills 1\n"
    several = run_cli("logs", str(project_dir), "train*hills*")  # each under its header (tests/test_output.py)
    assert several.returncode == 0
    assert "==> train[data=hills,seed=1]/say (attempt 1) <==\nmember hills 1\n" in several.stdout
    assert "==> train[data=hills,seed=2]/say (attempt 1) <==\nmember hills 2\n" in several.stdout
    whole = run_cli("logs", str(project_dir), "train")
    assert whole.returncode == 2 and "'train' is a matrix of 4 members" in whole.stderr
    none = run_cli("logs", str(project_dir), "train*moon*")
    assert none.returncode == 2 and "no job of run" in none.stderr


def test_the_summary_and_status_group_members_and_list_those_that_did_not_succeed(project_dir: Path) -> None:
    project(project_dir, NEEDS.replace('[jobs.prep]\nmatrix = { data = ["sea", "hills"] }\ntasks = ["record.py"]',
                                       '[jobs.prep]\nmatrix = { data = ["sea", "hills"] }\ntasks = ["prep.py {data}"]'),
            prep="import sys\nsys.exit(3 if sys.argv[1] == 'hills' else 0)\n")
    result = run_cli("run", str(project_dir))
    assert result.returncode == 1
    summary = result.stdout[result.stdout.index("\nrun "):].splitlines()
    # each line without its duration (the machine decides that)
    assert "train[data=hills,seed=1]" in summary[6] and summary[6].endswith("needs prep[data=hills], which failed")
    # each line without why it was skipped (tests/test_why_not_run.py) and its duration (the machine decides that)
    table = [re.sub(r" (\d+\.\d s|\d+m\d+s|-)$", "", " ".join(line.split()).partition(" - needs ")[0])
             for line in summary[3:10]]
    assert table == [
        "prep 1/2 succeeded, 1 failed",
        "prep[data=hills] failed 1",
        "train 2/4 succeeded, 2 skipped",
        "train[data=hills,seed=1] skipped 0",
        "train[data=hills,seed=2] skipped 0",
        "pick skipped 0",
        "report skipped 0",
    ]
    runs = json.loads(run_cli("runs", str(project_dir), "--json").stdout)
    assert runs[-1]["matrices"] == {"prep": {"succeeded": 1, "failed": 1}, "train": {"succeeded": 2, "skipped": 2}}
    assert runs[-1]["jobs"] == {"succeeded": 3, "failed": 1, "skipped": 4}
    assert "prep 1/2, train 2/4" in run_cli("runs", str(project_dir)).stdout
    status = run_cli("status", str(project_dir)).stdout
    assert "matrix   train" in status and "2/4 succeeded, 2 skipped" in status
    assert "train[data=hills,seed=2]" in status and "train[data=sea,seed=2]" not in status


def test_an_upstream_member_without_a_shared_key_is_needed_by_every_member(project_dir: Path) -> None:
    project(project_dir, """
        [jobs.prep]
        matrix = { include = [{ data = "sea" }, { data = "hills" }, { extra = 1 }] }
        tasks = ["record.py"]

        [jobs.train]
        needs = ["prep"]
        matrix = { data = ["sea", "hills"] }
        tasks = ["record.py"]
    """)
    needs = pyoneer.load(project_dir).dependencies
    assert needs["train[data=sea]"] == ("prep[data=sea]", "prep[extra=1]")
    assert needs["train[data=hills]"] == ("prep[data=hills]", "prep[extra=1]")
