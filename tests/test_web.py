"""The web view (``pyoneer ui``) and the report (``pyoneer report``), in a real browser.

``pyoneer ui`` runs as the real command in a child process, on 127.0.0.1 with a free port;
pages are opened in a real headless Chromium (Debian's ``chromium``, driven by
Playwright). A dropped connection is a real one: the browser reaches the server through
a small TCP relay on 127.0.0.2 (``localhost`` is mapped there), which the test cuts.
Screenshots of the pages go to ``$PYONEER_SCREENSHOTS`` when it is set (else the test's
temporary directory), to be looked at.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import pyoneer_command, run_cli, wait_until, write_project
from relay import Relay

pytestmark = pytest.mark.web

for _module in ("starlette", "uvicorn", "playwright"):
    if __import__("importlib").util.find_spec(_module) is None:
        pytest.skip(f"the web view's tests need {_module} (pip install -e '.[ui,test]')", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def shot(page: Page, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("PYONEER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        options: dict[str, Any] = {"args": ["--no-sandbox", "--host-resolver-rules=MAP localhost 127.0.0.2"]}
        if CHROMIUM:
            options["executable_path"] = CHROMIUM
        try:
            launched = playwright.chromium.launch(**options)
        except Exception as exc:  # noqa: BLE001 - no browser here: say which
            pytest.skip(f"no Chromium to drive ({exc.__class__.__name__}); apt-get install chromium")
        yield launched
        launched.close()


class UI:
    """A running ``pyoneer ui``: its address (with the token) and its process."""

    def __init__(self, root: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            pyoneer_command("ui", str(root), "--no-browser", "--port", "0", *extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.said = ""
        deadline = time.monotonic() + 30
        while "token=" not in self.said and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.said += line
        match = re.search(r"(http://\S+)/\?token=(\S+)", self.said)
        assert match, self.said + self.process.stderr.read()
        self.base, self.token = match.group(1), match.group(2)
        self.port = int(self.base.rsplit(":", 1)[1])
        self.url = f"{self.base}/?token={self.token}"

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def ui(root: Path, *extra: str) -> Iterator[UI]:
    server = UI(root, *extra)
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, server.said


def get(server: UI, path: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request(method, path, headers={"Host": f"127.0.0.1:{server.port}", **(headers or {})})
    return connection.getresponse()


def cookie_of(server: UI) -> str:
    response = get(server, f"/?token={server.token}")
    assert response.status == 303
    return response.getheader("set-cookie").split(";")[0]


def api(server: UI, path: str) -> Any:
    response = get(server, path, headers={"Cookie": cookie_of(server)})
    assert response.status == 200, response.read()
    return json.loads(response.read())


def opened(browser: Browser, server: UI, path: str = "/", **options: Any) -> Page:
    page = browser.new_page(**options)
    page.goto(server.url)  # the token, kept as a cookie
    if path != "/":
        page.goto(server.base + path)
    page.wait_for_function("() => window.pyoneerDrawn === true")
    return page


# A project with something of everything: a matrix, a retry, a failure, a skip --------

DEMO = """
    [jobs.prepare]
    tasks = ["step.py prepare"]
    [jobs.train]
    needs = ["prepare"]
    matrix = { seed = [1, 2, 3] }
    tasks = ["step.py train {seed}"]
    [jobs.flaky]
    needs = ["prepare"]
    tasks = [{ script = "step.py", args = ["flaky"], retries = 1 }]
    [jobs.broken]
    tasks = ["step.py broken"]
    [jobs.after_broken]
    needs = ["broken"]
    tasks = ["step.py after"]
    [jobs.report]
    needs = ["train", "flaky"]
    tasks = ["step.py report"]
"""

STEP = """
import os, sys
what = sys.argv[1]
print(f"{what} says hello", flush=True)
if what == "flaky" and os.environ["PYONEER_ATTEMPT"] == "1":
    sys.exit("flaky: first attempt fails")
if what == "broken" and not os.path.exists("fixed"):
    print("broken: about to fail", flush=True)
    sys.exit(3)
"""


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "demo", DEMO, {"step.py": STEP})
    assert run_cli("run", str(root)).returncode == 1
    return root


def runs_of(root: Path) -> list[dict[str, Any]]:
    return json.loads(run_cli("runs", str(root), "--json").stdout)


# The door ---------------------------------------------------------------------------


def _listeners(port: int) -> list[str]:
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as listing:
            for line in listing.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.append(address)
    return found


def test_the_door_lets_in_only_the_token_holder_and_only_to_read(demo: Path) -> None:
    with ui(demo) as server:
        assert server.base.startswith("http://127.0.0.1:")
        assert _listeners(server.port) == ["0100007F"]  # 127.0.0.1, nothing else
        assert get(server, "/").status == 403
        assert get(server, "/api/runs").status == 403
        assert get(server, "/?token=wrong").status == 403
        first = get(server, f"/runs?token={server.token}")
        assert first.status == 303 and first.getheader("location") == "/runs"  # the token leaves the address
        setting = first.getheader("set-cookie")
        assert "HttpOnly" in setting and "SameSite=strict" in setting.replace("Strict", "strict")
        cookie = cookie_of(server)
        assert get(server, "/", headers={"Cookie": cookie}).status == 200
        assert get(server, "/", headers={"Cookie": "pyoneer_token=guess"}).status == 403
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert get(server, "/api/runs", method=method, headers={"Cookie": cookie}).status == 405
        rebound = get(server, "/api/runs", headers={"Cookie": cookie, "Host": f"attacker.example:{server.port}"})
        assert rebound.status == 421
        ledger = demo / ".pyoneer" / "ledger.db"
        before = ledger.read_bytes()
        api(server, "/api/runs")
        assert ledger.read_bytes() == before  # read, never written


def test_ui_needs_its_extra_and_warns_beyond_loopback(demo: Path) -> None:
    hidden = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['starlette'] = None\n"
         "from pyoneer.cli.command import main; main(sys.argv[1:])", "ui", str(demo), "--no-browser"],
        capture_output=True, text=True, timeout=60,
    )
    assert hidden.returncode == 2 and "pip install 'pyoneer[ui]'" in hidden.stderr and "Traceback" not in hidden.stderr
    with ui(demo, "--host", "127.0.0.2") as server:  # still loopback here, but another address
        assert "warning: listening on 127.0.0.2" in server.said and "token" in server.said
    missing = run_cli("ui", str(demo.parent / "nothing-here"), "--no-browser")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


# The pages --------------------------------------------------------------------------


def test_the_runs_and_a_run_graph_timeline_state_and_why(demo: Path, browser: Browser, tmp_path: Path) -> None:
    (demo / "fixed").write_text("")
    assert run_cli("run", str(demo), "--resume").returncode == 0
    first, second = (run["id"] for run in runs_of(demo))
    with ui(demo) as server:
        page = opened(browser, server)
        rows = page.locator("#runs tr[data-run]")
        assert rows.count() == 2 and rows.nth(0).get_attribute("data-run") == second  # newest first
        assert "✗ failed" in rows.nth(1).inner_text() and "✓ succeeded" in rows.nth(0).inner_text()
        page.select_option("select", "failed")
        assert page.locator("#runs tr[data-run]").count() == 1
        shot(page, tmp_path, "runs")

        page.goto(f"{server.base}/runs/{first}")
        page.wait_for_function("() => window.pyoneerDrawn === true")
        nodes = page.locator("#graph [data-node]")
        assert sorted(nodes.nth(i).get_attribute("data-node") for i in range(nodes.count())) == [
            "after_broken", "broken", "flaky", "prepare", "report", "train",
        ]
        assert page.locator("#graph .edge").count() == 5
        train = page.locator('#graph [data-node="train"]')
        assert "train  3/3" in train.text_content()
        train.click()
        members = page.locator('[data-opened="train"] .chip')
        assert members.count() == 3 and "✓ succeeded train[seed=2]" in members.nth(1).inner_text()
        assert "✗" in page.locator('#graph [data-node="broken"]').text_content()
        bars = page.locator("#timeline [data-bar]")
        names = {bars.nth(i).get_attribute("data-bar") for i in range(bars.count())}
        assert {"flaky/step/1", "flaky/step/2", "broken/step/1"} <= names
        state = page.locator("#state").inner_text()
        assert "skipped" in state and "after_broken" in state
        shot(page, tmp_path, "run-failed")

        page.goto(f"{server.base}/runs/{second}")
        page.wait_for_function("() => window.pyoneerDrawn === true")
        state = page.locator("#state").inner_text()
        assert "reused" in state and "up to date (run " + first in state  # why each job was reused
        assert "failed in run " + first in state or "never succeeded" in state  # broken's reason
        assert page.locator("#timeline").inner_text().count("reused") >= 1
        shot(page, tmp_path, "run-resumed")

        data = api(server, f"/api/runs/{second}")
        status = json.loads(run_cli("status", str(demo), "--json").stdout)
        strip = lambda rows: [{k: v for k, v in row.items() if k != "link"} for row in rows]  # noqa: E731
        assert strip(data["blueprints"]) == status["blueprints"]  # exactly what pyoneer status shows
        assert data["graph"]["done"] == data["graph"]["total"] == 8


def test_a_matrix_link_opens_its_member_and_each_attempt_has_its_page(demo: Path, browser: Browser) -> None:
    run_id = runs_of(demo)[0]["id"]
    with ui(demo) as server:
        page = opened(browser, server, f"/runs/{run_id}#job=" + "train%5Bseed%3D2%5D")
        assert page.locator("#state tr.hl").inner_text().startswith("worker")
        page.locator('#state a:has-text("broken/step")').click()
        page.wait_for_function("() => window.pyoneerDrawn === true")
        assert "broken: about to fail" in page.locator("#log").inner_text()
        assert page.url.endswith("/logs/broken/step/1")
        assert page.locator("#log-state").inner_text().strip() == "✗ failed"


def test_a_run_moves_on_in_the_page_without_a_reload(tmp_path: Path, browser: Browser) -> None:
    root = write_project(
        tmp_path / "live",
        """
        [jobs.wait]
        tasks = ["wait.py"]
        [jobs.then]
        needs = ["wait"]
        tasks = ["wait.py"]
        """,
        {"wait.py": "import os, time\nwhile not os.path.exists('go'):\n    time.sleep(0.02)\n"},
    )
    run = subprocess.Popen(pyoneer_command("run", str(root)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: (root / ".pyoneer" / "runs").exists() and any((root / ".pyoneer" / "runs").iterdir()))
        run_id = next((root / ".pyoneer" / "runs").iterdir()).name
        with ui(root) as server:
            page = opened(browser, server, f"/runs/{run_id}")
            page.wait_for_selector("#job-wait >> text=running")
            page.evaluate("window.notReloaded = true")
            assert page.inner_text("#live").startswith("●")
            (root / "go").write_text("")
            started = time.monotonic()
            page.wait_for_selector("#job-then >> text=succeeded", timeout=10_000)
            seen_after = time.monotonic() - started
            assert page.evaluate("window.notReloaded") is True
            page.wait_for_function("() => document.querySelector('h1').innerText.includes('succeeded')")
            print(f"the change reached the page {seen_after:.2f} s after the job could end")
    finally:
        assert run.wait(30) == 0


TALK = """
import os, sys, time
for phase in (1, 2):
    for number in range(1, 201):
        print(f"phase {phase} line {number}", flush=True)
    while not os.path.exists(f"go{phase}"):
        time.sleep(0.02)
sys.stdout.write("the last line, without a newline")
"""


def test_a_log_is_followed_live_and_resumes_after_a_dropped_connection(tmp_path: Path, browser: Browser) -> None:
    root = write_project(tmp_path / "talk", "[jobs.talk]\ntasks = ['talk.py']\n", {"talk.py": TALK})
    run = subprocess.Popen(pyoneer_command("run", str(root)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        runs = root / ".pyoneer" / "runs"
        assert wait_until(lambda: runs.exists() and list(runs.glob("*/talk/talk.1.log")))
        run_id = next(runs.iterdir()).name
        with ui(root) as server:
            relay = Relay(server.port)
            try:
                page = browser.new_page()
                page.goto(f"http://localhost:{server.port}/?token={server.token}")  # through the relay
                page.goto(f"http://localhost:{server.port}/runs/{run_id}/logs/talk/talk/1")
                page.wait_for_function("() => document.querySelectorAll('#log .line').length === 200")
                relay.cut()  # the network drops while the task goes on
                (root / "go1").write_text("")
                page.wait_for_function("() => document.querySelectorAll('#log .line').length === 400", timeout=15_000)
                relay.cut()
                (root / "go2").write_text("")
                page.wait_for_function("() => document.getElementById('log').dataset.ended === 'true'", timeout=15_000)
                lines = [line.split("\u2026", 1)[-1] for line in page.locator("#log .line").all_inner_texts()]
                expected = [f"phase {p} line {n}" for p in (1, 2) for n in range(1, 201)]
                assert [re.sub(r"^\d+", "", line) for line in lines] == [*expected, "the last line, without a newline"]
                assert page.locator("#log-state").inner_text().strip() == "✓ succeeded"
                first = page.locator("#log .line").nth(0).get_attribute("id")
                assert first == "O0"  # each line's own link: its byte offset
            finally:
                relay.close()
    finally:
        assert run.wait(30) == 0


def test_a_big_log_shows_its_tail_first_and_downloads_whole(tmp_path: Path, browser: Browser) -> None:
    root = write_project(
        tmp_path / "big", "[jobs.big]\ntasks = ['big.py']\n",
        {"big.py": "for number in range(100_000):\n    print(f'line {number:06d} ' + 'x' * 40)\n"},
    )
    assert run_cli("run", str(root)).returncode == 0
    log = next((root / ".pyoneer" / "runs").glob("*/big/big.1.log"))
    run_id = log.parent.parent.name
    with ui(root) as server:
        data = api(server, f"/api/runs/{run_id}/logs/big/big/1")["log"]
        assert data["size"] == log.stat().st_size > 4_000_000
        assert 0 < data["end"] - data["start"] <= 64 * 1024 and data["end"] == data["size"]
        assert data["text"].startswith("line ") and data["text"].endswith("line 099999 " + "x" * 40 + "\n")
        raw = get(server, f"/raw/runs/{run_id}/logs/big/big/1", headers={"Cookie": cookie_of(server)})
        assert raw.status == 200 and raw.read() == log.read_bytes()
        page = opened(browser, server, f"/runs/{run_id}/logs/big/big/1")
        notice = page.locator(".notice").inner_text()
        assert "Its last 64 KiB of " + str(round(data["size"] / 1024)) + " KiB" in notice and "from the start" in notice
        assert page.locator("#log .line").count() < 2000
        assert page.locator("#log .line").last.inner_text().endswith("line 099999 " + "x" * 40)
        offset = data["start"] + len(data["text"].split("\n", 1)[0]) + 1
        page.goto(f"{server.base}/runs/{run_id}/logs/big/big/1#O{offset}")  # a line's own link
        page.wait_for_function("() => window.pyoneerDrawn === true")
        assert page.locator(f"#O{offset}").is_visible()


def test_dark_mode_follows_the_system_and_a_laptop_width_fits(demo: Path, browser: Browser, tmp_path: Path) -> None:
    run_id = runs_of(demo)[0]["id"]
    with ui(demo) as server:
        page = opened(browser, server, f"/runs/{run_id}", color_scheme="dark", viewport={"width": 1280, "height": 800})
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert sum(int(part) for part in re.findall(r"\d+", background)[:3]) < 150  # dark
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, tmp_path, "run-dark")
        light = opened(browser, server, f"/runs/{run_id}", color_scheme="light", viewport={"width": 900, "height": 800})
        assert sum(int(part) for part in re.findall(r"\d+", light.evaluate("getComputedStyle(document.body).backgroundColor"))[:3]) > 600
        assert light.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# The report -------------------------------------------------------------------------


def test_the_report_is_one_file_that_opens_offline_and_asks_for_nothing(demo: Path, browser: Browser, tmp_path: Path) -> None:
    run_id = runs_of(demo)[0]["id"]
    made = run_cli("report", str(demo), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    path = tmp_path / f"pyoneer-report-{run_id}.html"
    assert path.is_file() and f"wrote pyoneer-report-{run_id}.html" in made.stdout
    text = path.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    page = browser.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_function("() => window.pyoneerDrawn === true")
    page.locator('#graph [data-node="train"]').click()
    assert asked == [path.as_uri()]  # the file itself, and nothing else
    assert page.locator("#graph [data-node]").count() == 6
    assert "broken: about to fail" in page.locator('[id="log-broken/step/1"]').inner_text()
    assert "flaky: first attempt fails" in page.inner_text("main")
    shot(page, tmp_path, "report")
    other = run_cli("report", str(demo), "--run", run_id[:12], "-o", str(tmp_path / "chosen.html"))
    assert other.returncode == 0 and (tmp_path / "chosen.html").read_text() == text
    nowhere = run_cli("report", str(demo), "-o", str(tmp_path / "no" / "such" / "dir" / "r.html"))
    assert nowhere.returncode == 2 and "cannot write the report" in nowhere.stderr and "Traceback" not in nowhere.stderr


# Big projects -----------------------------------------------------------------------


def test_a_project_of_2000_jobs_opens_and_degrades_gracefully(tmp_path: Path, browser: Browser) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from noop_engine import NoopEngine

    import pyoneer

    sweep = write_project(
        tmp_path / "sweep",
        '[jobs.prepare]\ntasks = ["s.py"]\n[jobs.train]\nneeds = ["prepare"]\nmatrix = { a = '
        + str(list(range(40))) + ", b = " + str(list(range(50))) + ' }\ntasks = ["s.py {a} {b}"]\n'
        '[jobs.report]\nneeds = ["train"]\ntasks = ["s.py"]\n',
        {"s.py": "x = 1\n"},
    )
    plain = write_project(
        tmp_path / "plain", "".join(f'[jobs.j{n}]\ntasks = ["s.py"]\n' for n in range(2000)), {"s.py": "x = 1\n"},
    )
    for root in (sweep, plain):
        assert pyoneer.run(pyoneer.load(root), workers=2, engine=NoopEngine()).ok
    with ui(sweep) as server:
        started = time.monotonic()
        page = opened(browser, server, f"/runs/{runs_of(sweep)[0]['id']}")
        print(f"2,002 jobs: the run page drawn in {time.monotonic() - started:.2f} s")
        assert page.locator("#graph [data-node]").count() == 3
        assert "train  2000/2000" in page.locator('#graph [data-node="train"]').text_content()
        page.locator('#graph [data-node="train"]').click()
        assert page.locator('[data-opened="train"] .chip').count() == 500  # the first 500, then a count
        assert "1500 more" in page.locator('[data-opened="train"]').inner_text()
    with ui(plain) as server:
        page = opened(browser, server, f"/runs/{runs_of(plain)[0]['id']}")
        assert page.locator('#graph [data-mode="layers"] button').count() == 1
        assert "2000 nodes" in page.locator('#graph [data-mode="layers"] button').inner_text()
        assert page.locator("#state tr.project, #state tr.job").count() == 400  # the first rows; the rest on a click
        page.click("#more-rows")
        assert page.locator("#state tr.job").count() == 2000
        page.goto(f"{server.base}/runs/{runs_of(plain)[0]['id']}#job=j1999")
        page.wait_for_function("() => window.pyoneerDrawn === true")
        assert page.locator("#state tr.hl").inner_text().split("\t")[3].strip() == "j1999"
        shot(page, tmp_path, "run-2000")


def test_an_older_ledger_is_shown_as_it_is_and_left_as_it_was(tmp_path: Path, browser: Browser) -> None:
    """The schema-2 fixture (a run and a --resume of examples/wordcount, Pyoneer 807031c)."""
    root = tmp_path / "wordcount"
    shutil.copytree(Path(__file__).resolve().parent.parent / "examples" / "wordcount", root)
    shutil.copytree(Path(__file__).resolve().parent / "fixtures" / "wordcount-schema-2", root / ".pyoneer")
    ledger = root / ".pyoneer" / "ledger.db"
    before = ledger.read_bytes()
    with ui(root) as server:
        runs = api(server, "/api/runs")["runs"]
        assert [run["jobs"] for run in runs] == [{"reused": 3}, {"succeeded": 3}]
        page = opened(browser, server, f"/runs/{runs[1]['id']}")
        assert page.locator("#graph [data-node]").count() == 3  # no needs were recorded then: no edges
        assert "top words:" in api(server, f"/api/runs/{runs[1]['id']}/logs/merge/merge/1")["log"]["text"]
    assert ledger.read_bytes() == before and not list(ledger.parent.glob("*.backup"))
