"""Honest reruns: what ``--resume``, ``--only``, ``--from`` and ``--dry-run`` run, and why.

Every run is the real ``pyoneer`` command in a child process, on a real project in a
temporary directory. Each script appends its job's name to ``ran.txt``, so a test
knows exactly which jobs ran (``ran(root)`` reads and empties it).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import WARMUP, run_cli, write_project

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wordcount"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: appended to every script of these tests: it says it ran
RAN = """
import os as _os
with open("ran.txt", "a") as _ran:
    _ran.write(_os.environ["PYONEER_JOB"] + "\\n")
"""


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = run_cli(*args)
    assert done.returncode == code, f"pyoneer {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def ran(root: Path) -> list[str]:
    """The jobs that ran since the last look, sorted (and forget them)."""
    path = root / "ran.txt"
    if not path.exists():
        return []
    names = sorted(path.read_text().split())
    path.unlink()
    return names


def plan(root: Path, *args: str) -> dict[str, tuple[str, str]]:
    """``pyoneer run --dry-run --json``: each job's action and reason."""
    data = json.loads(cli("run", str(root), "--dry-run", "--json", *args).stdout)
    return {job["name"]: (job["action"], job["reason"]) for job in data["jobs"]}


def status_rows(root: Path) -> dict[str, dict[str, Any]]:
    state = json.loads(cli("status", str(root), "--json").stdout)
    return {row["name"]: row for row in state["blueprints"] if row["kind"] == "job"}


def wordcount(root: Path, fresh: bool = False) -> Path:
    """A copy of examples/wordcount whose scripts say when they ran."""
    shutil.copytree(EXAMPLE, root)
    for script in ("count.py", "merge.py"):
        path = root / script
        path.write_text(path.read_text() + RAN)
    if fresh:
        toml = root / "pyoneer.toml"
        toml.write_text(toml.read_text().replace('name = "wordcount"', 'name = "wordcount"\nfresh = true'))
    return root


# The example, as a new user meets it ------------------------------------------------


@pytest.mark.parametrize("mode", ["warm", "fresh"])
def test_wordcount_reruns_exactly_what_each_change_touches(tmp_path: Path, mode: str) -> None:
    root = wordcount(tmp_path / "wordcount", fresh=mode == "fresh")
    cli("run", str(root))
    assert ran(root) == ["count_hills", "count_sea", "merge"]

    cli("run", str(root), "--resume")  # nothing changed: nothing runs
    assert ran(root) == []
    assert {row["reused"] for row in status_rows(root).values()} == {True}

    # a project module that count.py imports
    (root / "textutils.py").write_text((root / "textutils.py").read_text() + "\n# edited\n")
    assert plan(root, "--resume") == {
        "count_sea": ("run", "textutils.py changed (imported by count.py)"),
        "count_hills": ("run", "textutils.py changed (imported by count.py)"),
        "merge": ("run", "upstream count_sea runs; upstream count_hills runs"),
    }
    done = cli("run", str(root), "--resume")
    # a comment changes no count: merge, planned to run, is reused as they come out the same
    assert ran(root) == ["count_hills", "count_sea"]
    assert "textutils.py changed (imported by count.py)" in done.stdout  # the summary says why
    assert status_rows(root)["merge"]["reused"]
    assert status_rows(root)["count_sea"]["why"] == "textutils.py changed (imported by count.py)"

    # an input text
    with (root / "texts" / "sea.txt").open("a") as text:
        text.write("the sea again\n")
    assert plan(root, "--resume")["count_sea"] == ("run", "input texts/sea.txt changed")
    cli("run", str(root), "--resume")
    assert ran(root) == ["count_sea", "merge"]

    # the outputs the user asked for, deleted
    shutil.rmtree(root / "counts")
    shutil.rmtree(root / "results")
    reasons = plan(root, "--resume")
    assert reasons["count_sea"] == ("run", "output counts/sea.json missing")
    assert reasons["merge"][1].startswith("output results/top_words.txt missing")
    cli("run", str(root), "--resume")
    assert ran(root) == ["count_hills", "count_sea", "merge"]
    assert (root / "counts" / "sea.json").is_file() and (root / "results" / "top_words.txt").is_file()

    # an output edited by hand
    (root / "results" / "top_words.txt").write_text("edited 1\n")
    assert plan(root, "--resume")["merge"] == ("run", "output results/top_words.txt changed")
    cli("run", str(root), "--resume")
    assert ran(root) == ["merge"]

    # the script itself
    (root / "merge.py").write_text((root / "merge.py").read_text() + "\n# edited\n")
    assert plan(root, "--resume")["merge"] == ("run", "script merge.py changed")


def test_a_module_changed_at_any_depth_reruns_exactly_the_jobs_that_import_it(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "deep",
        """
        [jobs.a]
        tasks = ["a.py"]
        [jobs.b]
        tasks = ["b.py"]
        [jobs.c]
        needs = ["a"]
        tasks = ["c.py"]
        [jobs.d]
        tasks = ["tools/d.py"]
        """,
        {
            "a.py": "from lib import helpers\n" + RAN,
            "b.py": "import other\n" + RAN,
            "c.py": RAN,
            "tools/d.py": "import importlib\nimportlib.import_module('local')\n" + RAN,
            "tools/local.py": "import json\n",  # the standard library's: not the project's
            "lib/__init__.py": "",
            "lib/helpers.py": "from . import deep\n",
            "lib/deep.py": "VALUE = 1\n",
            "other.py": "VALUE = 2\n",
        },
    )
    cli("run", str(root))
    ran(root)
    (root / "lib" / "deep.py").write_text("VALUE = 3\n")
    reasons = plan(root, "--resume")
    assert reasons == {
        "a": ("run", "lib/deep.py changed (imported by a.py)"),
        "b": ("reuse", reasons["b"][1]),
        "c": ("run", "upstream a runs"),
        "d": ("reuse", reasons["d"][1]),
    }
    cli("run", str(root), "--resume")
    assert ran(root) == ["a", "c"]
    (root / "tools" / "local.py").write_text("VALUE = 4\n")  # found through import_module
    assert plan(root, "--resume")["d"] == ("run", "tools/local.py changed (imported by tools/d.py)")
    (root / "other.py").unlink()
    assert plan(root, "--resume")["b"] == ("run", "other.py missing (imported by b.py)")


SYS_PATH = """
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "vendor"))
import hidden
""" + RAN


@pytest.mark.parametrize("mode", ["warm", "fresh"])
def test_a_module_found_through_sys_path_is_recorded_by_a_warm_task_as_it_runs(tmp_path: Path, mode: str) -> None:
    """No import statement names vendor/hidden.py's folder: only a task that ran warm can
    tell that it imported it. A fresh task is plain ``python script.py``: not seen."""
    root = write_project(
        tmp_path / "syspath",
        f"""
        [jobs.warmup_1]
        tasks = ["warmup.py 2"]
        [jobs.warmup_2]
        tasks = ["warmup.py 2"]
        [jobs.uses]
        needs = ["warmup_1", "warmup_2"]
        fresh = {"true" if mode == "fresh" else "false"}
        tasks = ["uses.py"]
        """,
        {"warmup.py": WARMUP, "uses.py": SYS_PATH, "vendor/hidden.py": "VALUE = 1\n"},
    )
    cli("run", str(root), "--workers", "2")
    assert ran(root) == ["uses"]
    assert not list((root / ".pyoneer" / "runs").glob("*/uses/*.imports"))  # read, then removed
    (root / "vendor" / "hidden.py").write_text("VALUE = 2\n")
    action, reason = plan(root, "--resume")["uses"]
    if mode == "warm":
        assert (action, reason) == ("run", "vendor/hidden.py changed (imported by uses.py)")
    else:
        assert action == "reuse"


def test_inputs_added_removed_changed_or_only_touched(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "inputs",
        """
        [jobs.load]
        tasks = ["load.py"]
        inputs = ["data/**/*.csv"]
        [jobs.other]
        tasks = ["other.py"]
        """,
        {"load.py": RAN, "other.py": RAN, "data/a.csv": "1\n", "data/deeper/b.csv": "2\n", "data/notes.txt": "x\n"},
    )
    cli("run", str(root))
    ran(root)
    os.utime(root / "data" / "a.csv", ns=(1, 1))  # touched, unchanged: the hash says so
    (root / "data" / "notes.txt").write_text("not an input\n")
    assert plan(root, "--resume")["load"][0] == "reuse"
    (root / "data" / "deeper" / "b.csv").write_text("3\n")
    assert plan(root, "--resume")["load"] == ("run", "input data/deeper/b.csv changed")
    (root / "data" / "c.csv").write_text("4\n")
    (root / "data" / "a.csv").unlink()
    assert plan(root, "--resume")["load"] == (
        "run", "input data/a.csv removed; input data/c.csv added; input data/deeper/b.csv changed"
    )
    cli("run", str(root), "--resume")
    assert ran(root) == ["load"]
    assert plan(root, "--resume")["load"][0] == "reuse"


def test_params_args_and_env_changes_are_named(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "params",
        """
        [params]
        lr = 0.1
        epochs = 3
        [jobs.train]
        tasks = ["train.py --lr {lr}"]
        [jobs.evaluate]
        tasks = [{ script = "evaluate.py", args = ["--epochs", "{epochs}"], env = { MODE = "full" } }]
        """,
        {"train.py": RAN, "evaluate.py": RAN},
    )
    cli("run", str(root))
    ran(root)
    assert plan(root, "--resume", "-p", "lr=0.5") == {
        "train": ("run", "param lr changed"),
        "evaluate": ("reuse", plan(root, "--resume")["evaluate"][1]),  # it does not use lr
    }
    (root / "pyoneer.toml").write_text((root / "pyoneer.toml").read_text().replace('"full"', '"quick"'))
    assert plan(root, "--resume")["evaluate"] == ("run", "env changed")
    (root / "pyoneer.toml").write_text((root / "pyoneer.toml").read_text().replace("--lr {lr}", "--lr {lr} -v"))
    assert plan(root, "--resume")["train"] == ("run", "args changed")


# Which success counts ---------------------------------------------------------------


ABCD = """
    [jobs.a]
    tasks = ["a.py"]
    [jobs.b]
    needs = ["a"]
    tasks = ["b.py"]
    [jobs.c]
    needs = ["b"]
    tasks = ["c.py"]
    [jobs.d]
    tasks = ["d.py"]
"""

FAILS_ON_FLAG = RAN + """
import sys
if _os.path.exists("fail-" + _os.environ["PYONEER_JOB"]):
    sys.exit(3)
"""


def abcd(root: Path) -> Path:
    return write_project(root, ABCD, {f"{job}.py": FAILS_ON_FLAG for job in "abcd"})


def test_older_successes_are_reused_and_a_later_failure_is_not_forgotten(tmp_path: Path) -> None:
    root = abcd(tmp_path / "abcd")
    cli("run", str(root))
    first = json.loads(cli("runs", str(root), "--json").stdout)[-1]["id"]
    ran(root)
    cli("run", str(root), "--only", "d")  # a later run of d alone
    assert ran(root) == ["d"]
    reasons = plan(root, "--resume")
    assert reasons["a"] == ("reuse", f"up to date (run {first})") and reasons["c"][0] == "reuse"
    cli("run", str(root), "--resume")
    assert ran(root) == []
    rows = status_rows(root)
    assert rows["b"]["reused"] and rows["b"]["reused_from"] == first
    logs = cli("logs", str(root), "b")  # its logs are those of the run it really ran in
    assert first in logs.stderr

    (root / "fail-d").write_text("")
    cli("run", str(root), "--only", "d", code=1)
    (root / "fail-d").unlink()
    failed = json.loads(cli("runs", str(root), "--json").stdout)[-1]["id"]
    assert plan(root, "--resume")["d"] == ("run", f"failed in run {failed}, after its success")

    cli("run", str(root), "--only", "a")  # a ran again: what needs it is older now
    ran(root)
    reasons = plan(root, "--resume")
    assert reasons["b"] == ("run", "upstream a ran since") and reasons["c"] == ("run", "upstream b runs")


# Targets ----------------------------------------------------------------------------


def test_only_and_from_run_their_targets_and_reuse_what_is_up_to_date(tmp_path: Path) -> None:
    root = abcd(tmp_path / "abcd")
    cli("run", str(root, ), "--only", "b")  # nothing ran yet: b and what it needs
    assert ran(root) == ["a", "b"]
    cli("run", str(root), "--only", "c")
    assert ran(root) == ["c"]
    assert set(status_rows(root)) == {"a", "b", "c"}  # d is neither asked for nor needed
    cli("run", str(root), "--from", "b")
    assert ran(root) == ["b", "c"]
    assert plan(root, "--from", "a") == {
        "a": ("run", "target"), "b": ("run", "upstream a runs"), "c": ("run", "upstream b runs"),
    }
    assert plan(root, "--only", "c", "--only", "d") == {
        "a": ("reuse", plan(root, "--resume")["a"][1]), "b": ("reuse", plan(root, "--resume")["b"][1]),
        "c": ("run", "target"), "d": ("run", "target"),
    }
    done = cli("run", str(root), "--only", "x", code=2)
    assert "--only 'x' names no job" in done.stderr and "hint" in done.stderr and "Traceback" not in done.stderr
    assert ran(root) == []


def test_targets_name_globs_members_and_selectors(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "sweep",
        """
        [jobs.prepare]
        tasks = ["prepare.py"]
        [jobs.train]
        needs = ["prepare"]
        matrix = { seed = [1, 2], lr = [0.1, 0.01] }
        tasks = ["train.py {seed} {lr}"]
        [jobs.report]
        needs = ["train"]
        tasks = ["report.py"]
        """,
        {"prepare.py": RAN, "train.py": RAN, "report.py": RAN},
    )
    cli("run", str(root))
    ran(root)
    selected = plan(root, "--only", "train[seed=1]")
    assert {name for name, (action, _) in selected.items() if action == "run"} == {
        "train[seed=1,lr=0.1]", "train[seed=1,lr=0.01]",
    }
    assert selected["prepare"][0] == "reuse" and "report" not in selected
    assert [name for name, (action, _) in plan(root, "--only", "train[seed=2,lr=0.01]").items() if action == "run"] \
        == ["train[seed=2,lr=0.01]"]
    assert [name for name, (action, _) in plan(root, "--only", "tr*").items() if action == "run"] == [
        "train[seed=1,lr=0.1]", "train[seed=1,lr=0.01]", "train[seed=2,lr=0.1]", "train[seed=2,lr=0.01]",
    ]
    cli("run", str(root), "--from", "train[seed=2,lr=0.1]")
    assert ran(root) == ["report", "train[seed=2,lr=0.1]"]  # the member and what is downstream of it
    done = cli("run", str(root), "--only", "train[seed=7]", "--dry-run", code=2)
    assert "matches no member of 'train'" in done.stderr


# The dry run ------------------------------------------------------------------------


def test_a_dry_run_runs_nothing_and_writes_nothing(tmp_path: Path) -> None:
    root = abcd(tmp_path / "abcd")
    reasons = plan(root, "--resume")
    assert set(reasons.values()) == {("run", "never succeeded")}
    assert not (root / ".pyoneer").exists() and ran(root) == []
    cli("run", str(root))
    ran(root)
    (root / "b.py").write_text((root / "b.py").read_text() + "\n# edited\n")
    ledger = root / ".pyoneer" / "ledger.db"
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in ledger.parent.glob("ledger.db*")}
    text = cli("run", str(root), "--resume", "--dry-run").stdout
    assert "script b.py changed" in text and "upstream b runs" in text and "2 to run, 2 to reuse" in text
    data = json.loads(cli("run", str(root), "--resume", "--dry-run", "--json").stdout)
    assert data["counts"] == {"run": 2, "reuse": 2}
    b = next(job for job in data["jobs"] if job["name"] == "b")
    assert b["action"] == "run" and b["reasons"] == [{"kind": "script", "text": "script b.py changed", "path": "b.py"}]
    after = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in ledger.parent.glob("ledger.db*")}
    assert after == before and ran(root) == []
    assert len(json.loads(cli("runs", str(root), "--json").stdout)) == 1
    done = cli("run", str(root), "--json", code=2)
    assert "--json goes with --dry-run" in done.stderr


# Ledgers written before reruns were tracked -----------------------------------------


def test_a_schema_2_ledger_from_the_last_pyoneer_upgrades_and_reruns_once_saying_why(tmp_path: Path) -> None:
    """The fixture: a run and a --resume of examples/wordcount by Pyoneer 807031c (schema 2)."""
    root = wordcount(tmp_path / "wordcount")
    shutil.copytree(FIXTURES / "wordcount-schema-2", root / ".pyoneer")
    reasons = plan(root, "--resume")  # read as it is: a dry run upgrades nothing
    assert set(reasons.values()) == {("run", "recorded before imports were tracked")}
    db = sqlite3.connect(root / ".pyoneer" / "ledger.db")
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
    db.close()
    runs = json.loads(cli("runs", str(root), "--json").stdout)  # upgrades it, in place
    assert [run["jobs"] for run in runs] == [{"succeeded": 3}, {"reused": 3}]
    backup = root / ".pyoneer" / "ledger.db.schema-2.backup"
    db = sqlite3.connect(backup)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
    db.close()
    old = json.loads(cli("status", str(root), "--json", "--run", runs[0]["id"]).stdout)
    assert {row["status"] for row in old["blueprints"]} == {"succeeded"}
    assert "top words:" in cli("logs", str(root), "merge", "--run", runs[0]["id"]).stdout
    assert "was reused from run" in cli("logs", str(root), "merge").stderr  # the second run reused it

    done = cli("run", str(root), "--resume")
    assert ran(root) == ["count_hills", "count_sea", "merge"]
    assert "recorded before imports were tracked" in done.stdout
    cli("run", str(root), "--resume")
    assert ran(root) == []  # tracked from now on
