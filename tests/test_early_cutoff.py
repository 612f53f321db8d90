"""Early cutoff: a job whose upstream jobs reran and left their declared outputs the same
bytes is up to date, as in Bazel and Shake; an upstream job with no declared outputs
keeps make's rule (it ran since, so the job reruns).

Real ``pyoneer`` processes on a project written in a temp dir; each script appends its
name to ``ran.txt``, so the tests see exactly what ran.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli, write_project

RAN = "\nwith open('ran.txt', 'a') as log:\n    log.write(__file__.rsplit('/', 1)[-1][:-3] + '\\n')\n"

PROJECT = """
[jobs.count]
tasks = ["count.py"]
outputs = ["results/count.txt"]

[jobs.report]
tasks = ["report.py"]
needs = ["count"]
outputs = ["results/report.txt"]

[jobs.touch]
tasks = ["touch.py"]

[jobs.after]
tasks = ["after.py"]
needs = ["touch"]
"""

SCRIPTS = {
    # what count writes depends on words.txt, which it does not declare: --only count reruns it
    "count.py": "import os\nos.makedirs('results', exist_ok=True)\n"
                "open('results/count.txt', 'w').write(str(len(open('words.txt').read().split())))" + RAN,
    "report.py": "open('results/report.txt', 'w').write('count: ' + open('results/count.txt').read())" + RAN,
    "touch.py": "open('touched.txt', 'w').write('same')" + RAN,
    "after.py": "pass" + RAN,
    "words.txt": "a b c\n",
}


def ran(root: Path) -> list[str]:
    path = root / "ran.txt"
    names = sorted(path.read_text().split()) if path.exists() else []
    path.unlink(missing_ok=True)
    return names


def cli(*args: str) -> str:
    result = run_cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def plan(root: Path) -> dict[str, tuple[str, str]]:
    data = json.loads(cli("run", str(root), "--resume", "--dry-run", "--json"))
    return {job["name"]: (job["action"], job["reason"]) for job in data["jobs"]}


def test_an_upstream_rerun_with_the_same_bytes_leaves_its_dependents_up_to_date(project_dir):
    root = write_project(project_dir, PROJECT, SCRIPTS)
    cli("run", str(root))
    assert ran(root) == ["after", "count", "report", "touch"]
    cli("run", str(root), "--only", "count")
    assert ran(root) == ["count"]
    decisions = plan(root)
    assert decisions["report"][0] == "reuse"
    assert "upstream count reran; its outputs are unchanged" in decisions["report"][1]
    text = cli("run", str(root), "--resume", "--dry-run")
    assert "upstream count reran; its outputs are unchanged" in text
    cli("run", str(root), "--resume")
    assert ran(root) == []
    assert "its outputs are unchanged" in cli("status", str(root))


def test_an_upstream_rerun_with_other_bytes_reruns_its_dependents(project_dir):
    root = write_project(project_dir, PROJECT, SCRIPTS)
    cli("run", str(root))
    ran(root)
    (root / "words.txt").write_text("a b c d\n")
    cli("run", str(root), "--only", "count")
    assert ran(root) == ["count"]
    assert plan(root)["report"] == ("run", "upstream count ran since")
    cli("run", str(root), "--resume")
    assert ran(root) == ["report"]
    assert (root / "results" / "report.txt").read_text() == "count: 4"


def test_an_upstream_job_without_declared_outputs_keeps_makes_rule(project_dir):
    root = write_project(project_dir, PROJECT, SCRIPTS)
    cli("run", str(root))
    ran(root)
    cli("run", str(root), "--only", "touch")
    assert ran(root) == ["touch"]
    assert plan(root)["after"] == ("run", "upstream touch ran since")
    cli("run", str(root), "--resume")
    assert ran(root) == ["after"]


def test_a_schema_5_ledger_is_migrated_in_place_and_its_successes_keep_makes_rule_once(project_dir):
    import sqlite3

    from pyoneer.ledger.store import SCHEMA_VERSION

    root = write_project(project_dir, PROJECT, SCRIPTS)
    cli("run", str(root))
    ran(root)
    ledger = root / ".pyoneer" / "ledger.db"
    with sqlite3.connect(ledger) as db:  # the ledger as the last Pyoneer left it
        db.execute("ALTER TABLE assignments DROP COLUMN upstream")
        db.execute("DROP TABLE IF EXISTS learned")  # what schema 7 added
        db.execute("ALTER TABLE assignments DROP COLUMN retry_at")  # and schema 8
        db.execute("UPDATE meta SET value = '5' WHERE key = 'schema'")
    cli("run", str(root), "--only", "count")
    # what report saw of count was not recorded then: make's rule, this once
    assert plan(root)["report"] == ("run", "upstream count ran since")
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
    cli("run", str(root), "--resume")
    assert ran(root) == ["count", "report"]
    cli("run", str(root), "--only", "count")
    assert plan(root)["report"][0] == "reuse"


CHAIN = """
[jobs.count]
tasks = ["count.py"]
outputs = ["results/count.txt"]

[jobs.report]
tasks = ["report.py"]
needs = ["count"]
outputs = ["results/report.txt"]

[jobs.final]
tasks = ["final.py"]
needs = ["report"]
outputs = ["results/final.txt"]
"""


def test_with_resume_a_rerun_whose_outputs_came_out_the_same_stops_the_wave(project_dir):
    scripts = {**SCRIPTS, "final.py": "open('results/final.txt', 'w').write('final')" + RAN}
    root = write_project(project_dir, CHAIN, scripts)
    cli("run", str(root))
    assert ran(root) == ["count", "final", "report"]
    count = root / "count.py"
    count.write_text("# counted the same way, written otherwise\n" + count.read_text())
    assert plan(root)["report"] == ("run", "upstream count runs")  # decided before count reruns
    done = cli("run", str(root), "--resume")
    assert ran(root) == ["count"]
    assert "1 succeeded" in done and "2 reused" in done, done
    state = json.loads(cli("status", str(root), "--json"))
    rows = {row["name"]: row for row in state["blueprints"] if row["kind"] == "job"}
    assert rows["report"]["reused"] and "upstream count reran; its outputs are unchanged" in rows["report"]["why"]
    assert rows["final"]["reused"] and "upstream report reran; its outputs are unchanged" in rows["final"]["why"]
    assert plan(root) == {name: ("reuse", plan(root)[name][1]) for name in ("count", "report", "final")}

    count.write_text(count.read_text().replace("len(", "2 * len("))
    cli("run", str(root), "--resume")
    assert ran(root) == ["count", "final", "report"]
    assert (root / "results" / "report.txt").read_text() == "count: 6"
