"""What the web view and the report show, in the real headless Chromium: the defects a
trial of them found (links into the report, the graph at a laptop's width, the timeline's
labels, the live state table, a matrix job's anchor). Screenshots go where ``test_web``
puts them (``$PYONEER_SCREENSHOTS``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import pyoneer_command, run_cli, wait_until, write_project
from test_web import browser, demo, opened, runs_of, shot, ui  # noqa: F401 - fixtures

pytestmark = pytest.mark.web


def test_every_link_inside_the_report_leads_somewhere_and_ids_are_unique(demo: Path, browser: Any, tmp_path: Path) -> None:
    made = run_cli("report", str(demo), "-o", str(tmp_path / "report.html"))
    assert made.returncode == 0, made.stderr
    page = browser.new_page()
    page.goto((tmp_path / "report.html").as_uri())
    page.wait_for_function("() => window.pyoneerDrawn === true")
    dangling = page.evaluate(
        "[...document.querySelectorAll('a[href^=\"#\"]')].map((a) => a.getAttribute('href'))"
        ".filter((href) => href.length > 1 && !href.startsWith('#job=') && !document.getElementById(decodeURIComponent(href.slice(1))))"
    )
    assert dangling == []  # a succeeded task's log is not in the report: no link to it
    twice = page.evaluate(
        "(() => { const seen = {}; for (const node of document.querySelectorAll('[id]')) seen[node.id] = (seen[node.id] || 0) + 1;"
        " return Object.keys(seen).filter((id) => seen[id] > 1); })()"
    )
    assert twice == []
    links = page.locator('#state a[href^="#log-"]')
    assert links.count() == 2  # broken's attempt and flaky's first: the failed ones it holds
    page.locator('#state a:has-text("broken/step")').click()
    assert page.evaluate("location.hash") == "#log-broken/step/1"
    assert "broken: about to fail" in page.locator('[id="log-broken/step/1"]').inner_text()
    line = page.locator('[id="log-broken/step/1"] .line').first
    line.locator("a.no").click()  # a line's own link, unique within the report
    assert page.evaluate("document.getElementById(decodeURIComponent(location.hash.slice(1))) !== null")
    shot(page, tmp_path, "report-links")


def _chain(root: Path, length: int) -> Path:
    jobs = "".join(
        f'[jobs.step_{n:02d}_of_the_chain]\ntasks = ["s.py"]\n' + (f'needs = ["step_{n - 1:02d}_of_the_chain"]\n' if n else "")
        for n in range(length)
    )
    write_project(root, jobs, {"s.py": "x = 1\n"})
    assert run_cli("run", str(root)).returncode == 0
    return root


def test_a_graph_wider_than_a_laptop_fits_or_says_there_is_more(tmp_path: Path, browser: Any) -> None:
    five, twelve = _chain(tmp_path / "five", 5), _chain(tmp_path / "twelve", 12)
    with ui(five) as server:
        page = opened(browser, server, f"/runs/{runs_of(five)[0]['id']}", viewport={"width": 1280, "height": 800})
        panel = page.locator("#graph").bounding_box()
        last = page.locator('#graph [data-node="step_04_of_the_chain"]').bounding_box()
        assert last["x"] + last["width"] <= panel["x"] + panel["width"]  # the last column in sight
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, tmp_path, "graph-five-1280")
    with ui(twelve) as server:
        page = opened(browser, server, f"/runs/{runs_of(twelve)[0]['id']}", viewport={"width": 1280, "height": 800})
        more = page.locator("#graph-more")
        assert more.is_visible() and "12 steps" in more.inner_text()  # a sign, in words, of what is off to the right
        assert page.evaluate("(() => { const box = document.getElementById('graph'); return box.scrollWidth > box.clientWidth; })()")
        shot(page, tmp_path, "graph-twelve-1280")
        page.locator("#graph").evaluate("(box) => box.scrollLeft = box.scrollWidth")
        last = page.locator('#graph [data-node="step_11_of_the_chain"]').bounding_box()
        panel = page.locator("#graph").bounding_box()
        assert last["x"] + last["width"] <= panel["x"] + panel["width"] + 1  # scrolled to: there


SWEEP = """
    [jobs.train]
    matrix = { model = ["mean", "median"], seed = [1, 2, 3] }
    tasks = [{ script = "fit.py", retries = 1 }]
"""

FIT = """
import json, os, sys, time
time.sleep(0.4)
if os.environ["PYONEER_ATTEMPT"] == "1" and json.loads(os.environ["PYONEER_MATRIX"])["seed"] == 3:
    sys.exit("first attempt fails")
"""


def test_timeline_labels_keep_what_tells_members_apart_and_the_retry(tmp_path: Path, browser: Any) -> None:
    root = write_project(tmp_path / "sweep", SWEEP, {"fit.py": FIT})
    assert run_cli("run", str(root), "--workers", "1").returncode == 0
    with ui(root) as server:
        page = opened(browser, server, f"/runs/{runs_of(root)[0]['id']}", viewport={"width": 1280, "height": 800})
        bars = page.locator("#timeline [data-bar]")
        assert bars.count() == 8
        labelled = 0
        for index in range(bars.count()):
            bar = bars.nth(index)
            name = bar.get_attribute("data-bar")
            label = bar.locator("text")
            if not label.count():
                continue
            labelled += 1
            words = label.text_content()
            seed = re.search(r"seed=(\d)", name).group(1)
            assert f"seed={seed}" in words, (name, words)  # the value that tells members apart
            if name.endswith("/2"):
                assert "#2" in words, (name, words)  # and the retry's number
        assert labelled == 8
        shot(page, tmp_path, "timeline-labels")


def test_a_ready_job_in_a_live_run_shows_no_worker_working_on_it(tmp_path: Path, browser: Any) -> None:
    root = write_project(
        tmp_path / "live",
        """
        [jobs.quick]
        tasks = ["quick.py"]
        [jobs.slow]
        tasks = ["wait.py"]
        [jobs.after_quick]
        needs = ["quick"]
        tasks = ["quick.py"]
        """,
        {"wait.py": "import os, time\nwhile not os.path.exists('go'):\n    time.sleep(0.02)\n",
         "quick.py": "import os, time\nwhile not os.path.exists('start'):\n    time.sleep(0.02)\n"},
    )
    run = subprocess.Popen(pyoneer_command("run", str(root), "--workers", "1"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        runs = root / ".pyoneer" / "runs"
        assert wait_until(lambda: runs.exists() and any(runs.iterdir()))
        run_id = next(runs.iterdir()).name
        with ui(root) as server:
            page = opened(browser, server, f"/runs/{run_id}")
            page.wait_for_selector("#job-quick >> text=running")
            (root / "start").write_text("")  # quick ends; slow takes the only worker; after_quick waits, ready
            page.wait_for_selector("#job-slow >> text=running", timeout=15_000)
            page.wait_for_selector("#job-after_quick >> text=ready", timeout=15_000)
            cells = page.locator("#job-after_quick td").all_inner_texts()
            shot(page, tmp_path, "live-ready")
            assert "working" not in cells[1] and cells[0].strip() == "-", cells  # nobody works on it yet
            working = page.locator("#job-slow td").all_inner_texts()
            assert working[0].strip() == "worker-1" and "working" in working[1]
            (root / "go").write_text("")
            page.wait_for_selector("#job-after_quick >> text=succeeded", timeout=15_000)
    finally:
        for name in ("start", "go"):
            (root / name).write_text("")
        assert run.wait(30) == 0


def test_a_matrix_jobs_own_anchor_shows_it_with_its_members(demo: Path, browser: Any, tmp_path: Path) -> None:
    run_id = runs_of(demo)[0]["id"]
    with ui(demo) as server:
        page = opened(browser, server, f"/runs/{run_id}#job=train")
        highlighted = page.locator("#state tr.hl")
        assert highlighted.count() == 1 and "train" in highlighted.inner_text() and "3/3 succeeded" in highlighted.inner_text()
        assert page.locator('[data-opened="train"] .chip').count() == 3  # its members, listed
        assert page.locator("#state tr.member").count() == 3
        shot(page, tmp_path, "matrix-anchor")
