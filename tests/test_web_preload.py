"""A job's page in the web view: its tasks, and what its fork server preloads and why
(given in ``preload``, or learned: from which run, at what import cost; and refused, with
the reason the ledger keeps), after two real runs. In the real headless Chromium, as
``test_web``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import pyoneer_command, write_project
from test_web import api, browser, cookie_of, get, opened, runs_of, shot, ui  # noqa: F401 - fixtures

pytestmark = pytest.mark.web

#: an import that costs ~60 ms, above the threshold of what is worth preloading (the
#: task sees an import's cost up to the last import it makes in turn)
SLOW = """
    import time
    _t = time.perf_counter()
    while time.perf_counter() - _t < 0.06:
        pass
    import csv
    VALUE = 42
"""

#: as costly, but it starts a thread at import: never safe to fork after
THREADED = """
    import threading, time
    threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
    _t = time.perf_counter()
    while time.perf_counter() - _t < 0.06:
        pass
    import difflib
"""


def test_a_jobs_page_shows_what_it_preloads_and_why(tmp_path: Path, browser) -> None:  # noqa: F811 - the fixture
    site = tmp_path / "site"  # outside the project: a library, not the project's own code
    write_project(site, None, {"slowmod.py": SLOW, "threadmod.py": THREADED})
    root = write_project(tmp_path / "p", '[jobs.train]\npreload = ["json"]\ntasks = ["train.py"]\n'
                                         '[jobs.plain]\ntasks = ["plain.py"]\n',
                         {"train.py": "import slowmod\nimport threadmod\nprint(slowmod.VALUE)\n", "plain.py": "x = 1\n"})
    env = {**os.environ, "PYTHONPATH": str(site)}
    for _ in range(2):  # the first run learns; the second preloads slowmod and refuses threadmod
        done = subprocess.run(pyoneer_command("run", str(root)), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    first, second = (run["id"] for run in sorted(runs_of(root), key=lambda run: run["started"]))
    with ui(root) as server:
        data = api(server, f"/api/runs/{second}/jobs/train")
        told = {row["module"]: row for row in data["preload"]}
        assert list(told) == ["json", "slowmod", "threadmod"]
        assert told["json"]["source"] == "given" and told["json"]["preloaded"]
        assert told["slowmod"]["run"] == first and told["slowmod"]["preloaded"] and told["slowmod"]["cost_us"] >= 50_000
        assert told["threadmod"]["verdict"] == "started a thread at import" and not told["threadmod"]["preloaded"]
        assert [task["name"] for task in data["tasks"]] == ["train/train"]

        page = opened(browser, server, f"/runs/{second}")  # the run's state table links to each job's page
        page.locator("#state a", has_text="train").first.click()
        page.wait_for_function("document.getElementById('preload') !== null")
        assert page.url.endswith(f"/runs/{second}/jobs/train")
        preload = page.locator("#preload").inner_text()
        for said in ("json", "given in preload", "slowmod", "preloaded", f"learned in {first}", "ms",
                     "threadmod", "refused", "never preloaded: started a thread at import"):
            assert said in preload, preload
        assert page.locator("#tasks a").all_inner_texts() == ["train"]
        shot(page, tmp_path, "job-preload")
        page.locator(f"#preload a[href$='/runs/{first}']").first.click()  # the run that learned it
        page.wait_for_function("document.getElementById('state') !== null")
        assert page.url.endswith(f"/runs/{first}")

        nothing = opened(browser, server, f"/runs/{first}/jobs/plain").locator("#preload").inner_text()
        assert "Nothing yet" in nothing, nothing
        missing = get(server, f"/api/runs/{second}/jobs/nosuch", headers={"Cookie": cookie_of(server)})
        assert missing.status == 404 and b"no job 'nosuch'" in missing.read()

    with sqlite3.connect(root / ".pyoneer" / "ledger.db") as db:  # as Pyoneer left it before schema 9
        db.execute("ALTER TABLE learned DROP COLUMN run_id")
        db.execute("UPDATE meta SET value = '8' WHERE key = 'schema'")
    with ui(root) as server:  # shown as it is (read-only): what was learned, from an earlier run
        page = opened(browser, server, f"/runs/{second}/jobs/train")
        preload = page.locator("#preload").inner_text()
        assert "learned in an earlier run" in preload and "slowmod" in preload and "threadmod" in preload, preload
    with sqlite3.connect(root / ".pyoneer" / "ledger.db") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("8",)
    done = subprocess.run(pyoneer_command("run", str(root)), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr  # migrated in place: what it knew, kept, with no run
    with sqlite3.connect(root / ".pyoneer" / "ledger.db") as db:
        assert db.execute("SELECT module, run_id FROM learned WHERE job = 'train' ORDER BY position").fetchall() == [
            ("slowmod", None), ("threadmod", None)]
