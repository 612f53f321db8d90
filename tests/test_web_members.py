"""Matrix members whose values cannot stand in a path as they are (a slash, a space,
non-ASCII), in the web view: their names read as written, and their logs open.
In the real headless Chromium, as ``test_web``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import run_cli, write_project
from test_web import browser, opened, runs_of, shot, ui  # noqa: F401 - fixtures

pytestmark = pytest.mark.web


def test_a_member_with_a_slash_and_non_ascii_in_its_value_shows_and_opens_its_log(
    tmp_path: Path, browser,  # noqa: F811 - the fixture
) -> None:
    root = tmp_path / "odd"
    write_project(root, '[jobs.build]\nmatrix = { image = ["16/Dockerfile.c9s", "café ☕"] }\n'
                        'tasks = ["say.py {image}"]\n',
                  {"say.py": "import sys\nprint('building', sys.argv[1])\n"})
    assert run_cli("run", str(root)).returncode == 0
    run_id = runs_of(root)[0]["id"]
    with ui(root) as server:
        for value in ("16/Dockerfile.c9s", "café ☕"):
            page = opened(browser, server, f"/runs/{run_id}#job=" + quote(f"build[image={value}]", safe=""))
            state = page.locator("#state").inner_text()
            assert f"build[image={value}]" in state, state
            shot(page, tmp_path, f"member-{value[:2]}")
            page.locator(f'#state a:has-text("build[image={value}]/say")').click()
            page.wait_for_function("() => window.pyoneerDrawn === true")
            assert f"building {value}" in page.locator("#log").inner_text()
            assert page.locator("#log-state").inner_text().strip() == "✓ succeeded"
