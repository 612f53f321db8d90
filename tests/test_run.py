"""Running projects on the local engine: order, parallelism, failures, retries, logs, env."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import write_project

import pyoneer
from pyoneer import BlueprintStatus, Job, Project, Task

# A script that appends "<job> start/end <time>" to events.log, so tests can see order.
RECORD = """
    import os, sys, time
    def mark(word):
        with open("events.log", "a") as log:
            log.write(f"{os.environ['PYONEER_JOB']} {word} {time.time()}\\n")
    mark("start")
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
    mark("end")
"""


def events(root: Path) -> list[tuple[str, str, float]]:
    lines = (root / "events.log").read_text().split("\n")
    return [(job, word, float(at)) for job, word, at in (line.split() for line in lines if line)]


def interval(root: Path, job: str) -> tuple[float, float]:
    times = {word: at for name, word, at in events(root) if name == job}
    return times["start"], times["end"]


def test_jobs_run_after_what_they_need(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.c]
        needs = ["b"]
        tasks = ["record.py"]
        [jobs.a]
        tasks = ["record.py"]
        [jobs.b]
        needs = ["a"]
        tasks = ["record.py"]
        [jobs.d]
        needs = ["a", "c"]
        tasks = ["record.py"]
        """,
        {"record.py": RECORD},
    )
    result = pyoneer.run(pyoneer.load(project_dir), workers=4)
    assert result.ok and result.exit_code == 0
    starts, ends = {}, {}
    for job in "abcd":
        starts[job], ends[job] = interval(project_dir, job)
    assert ends["a"] <= starts["b"] and ends["b"] <= starts["c"]
    assert ends["c"] <= starts["d"] and ends["a"] <= starts["d"]


def test_independent_jobs_overlap_and_workers_caps_them(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.left]
        tasks = ["record.py 1.5"]
        [jobs.right]
        tasks = ["record.py 1.5"]
        """,
        {"record.py": RECORD},
    )
    project = pyoneer.load(project_dir)
    assert pyoneer.run(project, workers=2).ok
    left, right = interval(project_dir, "left"), interval(project_dir, "right")
    assert left[0] < right[1] and right[0] < left[1], "two workers: the jobs overlap"

    (project_dir / "events.log").unlink()
    assert pyoneer.run(project, workers=1).ok
    left, right = interval(project_dir, "left"), interval(project_dir, "right")
    assert left[1] <= right[0] or right[1] <= left[0], "one worker: one job after the other"


def test_a_job_wanting_all_cpus_runs_alone(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.big]
        tasks = ["record.py 1"]
        resources = { cpus = 2 }
        [jobs.small]
        tasks = ["record.py 1"]
        """,
        {"record.py": RECORD},
    )
    assert pyoneer.run(pyoneer.load(project_dir), workers=2).ok
    big, small = interval(project_dir, "big"), interval(project_dir, "small")
    assert big[1] <= small[0] or small[1] <= big[0]


def test_failure_skips_dependents_and_independent_jobs_finish(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.broken]
        tasks = ["fail.py"]
        [jobs.after_broken]
        needs = ["broken"]
        tasks = ["record.py"]
        [jobs.further]
        needs = ["after_broken"]
        tasks = ["record.py"]
        [jobs.independent]
        tasks = ["record.py 1"]
        [jobs.after_independent]
        needs = ["independent"]
        tasks = ["record.py"]
        """,
        {"record.py": RECORD, "fail.py": "import sys\nprint('oh no')\nsys.exit(3)\n"},
    )
    result = pyoneer.run(pyoneer.load(project_dir), workers=2)
    assert result.statuses == {
        "broken": BlueprintStatus.FAILED,
        "after_broken": BlueprintStatus.SKIPPED,
        "further": BlueprintStatus.SKIPPED,
        "independent": BlueprintStatus.SUCCEEDED,
        "after_independent": BlueprintStatus.SUCCEEDED,
    }
    assert result.exit_code == 1
    assert result.job("broken").failure.reason == "exit code 3"
    ran = {job for job, _, _ in events(project_dir)}
    assert ran == {"independent", "after_independent"}


def test_a_failed_task_stops_its_job(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[jobs.j]\ntasks = ["fail.py", "record.py"]\n',
        {"record.py": RECORD, "fail.py": "raise SystemExit(2)\n"},
    )
    result = pyoneer.run(pyoneer.load(project_dir))
    assert result.job("j").status is BlueprintStatus.FAILED
    assert not (project_dir / "events.log").exists()


def test_retries_see_the_attempt_number(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [jobs.flaky]
        tasks = [{ script = "flaky.py", retries = 2 }]
        [jobs.hopeless]
        tasks = [{ script = "flaky.py", args = ["never"], retries = 1 }]
        """,
        {
            "flaky.py": """
                import os, sys
                attempt = int(os.environ["PYONEER_ATTEMPT"])
                with open(f"attempts-{os.environ['PYONEER_JOB']}.txt", "a") as out:
                    out.write(f"{attempt}\\n")
                sys.exit(0 if attempt == 3 and sys.argv[1:] != ["never"] else 1)
            """
        },
    )
    result = pyoneer.run(pyoneer.load(project_dir))
    assert (project_dir / "attempts-flaky.txt").read_text().split() == ["1", "2", "3"]
    assert result.job("flaky").status is BlueprintStatus.SUCCEEDED
    assert result.job("flaky").tries == 3
    assert (project_dir / "attempts-hopeless.txt").read_text().split() == ["1", "2"]
    assert result.job("hopeless").status is BlueprintStatus.FAILED


def test_task_sees_its_environment_args_and_root(project_dir: Path) -> None:
    write_project(
        project_dir,
        """
        [project]
        name = "envy"
        [jobs.show]
        tasks = [{ script = "sub/show.py", args = ["--to", "two words"], env = { MODE = "full" }, name = "shower" }]
        """,
        {
            "sub/show.py": """
                import json, os, sys
                keys = ["PYONEER_RUN_ID", "PYONEER_PROJECT", "PYONEER_JOB", "PYONEER_TASK",
                        "PYONEER_ATTEMPT", "MODE", "FROM_PARENT"]
                out = {key: os.environ.get(key) for key in keys}
                out.update(argv=sys.argv[1:], cwd=os.getcwd(), stdin=sys.stdin.read(),
                           executable=sys.executable, pgid_is_pid=os.getpgid(0) == os.getpid())
                with open("seen.json", "w") as f:
                    json.dump(out, f)
            """
        },
    )
    os.environ["FROM_PARENT"] = "yes"
    try:
        result = pyoneer.run(pyoneer.load(project_dir))
    finally:
        del os.environ["FROM_PARENT"]
    seen = json.loads((project_dir / "seen.json").read_text())
    assert seen == {
        "PYONEER_RUN_ID": result.run_id,
        "PYONEER_PROJECT": "envy",
        "PYONEER_JOB": "show",
        "PYONEER_TASK": "shower",
        "PYONEER_ATTEMPT": "1",
        "MODE": "full",
        "FROM_PARENT": "yes",
        "argv": ["--to", "two words"],
        "cwd": str(project_dir.resolve()),
        "stdin": "",
        "executable": sys.executable,
        "pgid_is_pid": True,
    }


def test_each_attempt_has_its_own_log(project_dir: Path) -> None:
    write_project(
        project_dir,
        '[jobs.talk]\ntasks = [{ script = "talk.py", retries = 1 }]\n',
        {
            "talk.py": """
                import os, sys
                print("out", os.environ["PYONEER_ATTEMPT"])
                print("err", os.environ["PYONEER_ATTEMPT"], file=sys.stderr)
                sys.exit(int(os.environ["PYONEER_ATTEMPT"]) == 1)
            """
        },
    )
    result = pyoneer.run(pyoneer.load(project_dir))
    logs = [attempt.log for attempt in result.job("talk").attempts]
    assert [log.relative_to(project_dir.resolve()).as_posix() for log in logs] == [
        f".pyoneer/runs/{result.run_id}/talk/talk.1.log",
        f".pyoneer/runs/{result.run_id}/talk/talk.2.log",
    ]
    assert logs[0].read_text() == "out 1\nerr 1\n"
    assert logs[1].read_text() == "out 2\nerr 2\n"


def test_python_api_without_a_file(tmp_path: Path) -> None:
    write_project(tmp_path, scripts={"hello.py": "open('hello.txt', 'w').write('hi')\n", "record.py": RECORD})
    extract = Job("extract", tasks=["hello.py"])
    load = Job("load", tasks=[Task("record.py", args=["0"], retries=1)], resources={"cpus": 1})
    project = Project("etl", jobs=[extract, load], needs={"load": ["extract"]}, root=tmp_path)
    result = pyoneer.run(project, workers=2)
    assert result.statuses == {"extract": BlueprintStatus.SUCCEEDED, "load": BlueprintStatus.SUCCEEDED}
    assert (tmp_path / "hello.txt").read_text() == "hi"
    # the same job, reused in another project
    again = Project("again", jobs=[extract], root=tmp_path)
    assert pyoneer.run(again).ok
