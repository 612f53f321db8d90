"""``pyoneer ui`` of a project that has not run yet: it opens, waits, and shows the first
run once it starts. Black-box: a real ``pyoneer ui`` and a real ``pyoneer run``."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli, wait_until, write_project
from test_web import api, browser, ui  # noqa: F401 - browser: a fixture

pytestmark = pytest.mark.web


def runs_now(server) -> list[dict]:  # noqa: ANN001 - test_web's UI
    return api(server, "/api/runs")["runs"]


def test_the_web_view_opens_before_the_first_run_and_shows_it(project_dir: Path) -> None:
    write_project(project_dir, '[jobs.hello]\ntasks = ["hello.py"]\n', {"hello.py": "print('hello')\n"})
    assert "no runs yet" in run_cli("status", cwd=project_dir).stderr
    with ui(project_dir) as server:
        assert "waiting for the first run" in server.said
        assert runs_now(server) == []
        assert run_cli("run", cwd=project_dir).returncode == 0
        assert wait_until(lambda: len(runs_now(server)) == 1)


def test_a_folder_that_is_no_project_is_still_refused(tmp_path: Path) -> None:
    refused = run_cli("ui", str(tmp_path), "--no-browser")
    assert refused.returncode != 0 and "no runs yet" in refused.stderr
    assert not (tmp_path / ".pyoneer").exists()


def test_the_runs_page_names_the_script_of_each_run(project_dir: Path, browser) -> None:  # noqa: ANN001
    from test_web import opened

    write_project(project_dir, scripts={"a.py": "print('a')\n", "b.py": "print('b')\n"})
    assert run_cli("run", "a.py", cwd=project_dir).returncode == 0
    assert run_cli("run", "b.py", cwd=project_dir).returncode == 0
    with ui(project_dir) as server:
        page = opened(browser, server)
        page.locator("#runs tr[data-run]").first.wait_for()
        assert "project" in page.locator("#runs tr").first.inner_text()
        rows = page.locator("#runs tr[data-run]")
        assert [rows.nth(index).locator("td").nth(1).inner_text() for index in range(2)] == ["b", "a"]  # newest first
