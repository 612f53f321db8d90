"""The web view on a big run: how soon the run page of 2,000 jobs is usable.

    python bench/web.py                 # a matrix of 2,000 members, and 2,000 plain jobs; 3 repeats
    python bench/web.py --jobs 5000 --repeat 5

For each project (written, then run once for real, warm, 2 at a time: a job row and a
task attempt with its log for every job; ``--noop`` runs it on the no-op engine instead): the
page's data built from the ledger (``pyoneer.web.pages.run_page``), the whole page over
HTTP from a real ``pyoneer ui`` (127.0.0.1), and, when Playwright and a Chromium are
here, the time from asking for the page to its first frame drawn, in a headless
browser. Medians over the repeats. Target: the run page usable in under 2 s.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from noop_engine import NoopEngine  # noqa: E402

import pyoneer  # noqa: E402
from pyoneer.ledger.store import Ledger  # noqa: E402
from pyoneer.web.pages import run_page  # noqa: E402


def write(root: Path, jobs: int, matrix: bool) -> Path:
    root.mkdir(parents=True)
    (root / "s.py").write_text("x = 1\n")
    if matrix:
        text = (f'[jobs.prepare]\ntasks = ["s.py"]\n[jobs.train]\nneeds = ["prepare"]\n'
                f'matrix = {{ n = {list(range(jobs))} }}\ntasks = ["s.py {{n}}"]\n'
                '[jobs.report]\nneeds = ["train"]\ntasks = ["s.py"]\n')
    else:
        text = "".join(f'[jobs.j{n}]\ntasks = ["s.py"]\n' + (f'needs = ["j{n - 1}"]\n' if n % 10 else "")
                       for n in range(jobs))
    (root / "pyoneer.toml").write_text(text)
    return root


def timed(action) -> float:  # noqa: ANN001
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--noop", action="store_true", help="run the projects on the no-op engine (no attempts)")
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pyoneer-bench-web-"))
    try:
        for kind, matrix in (("matrix", True), ("plain", False)):
            root = write(base / kind, options.jobs, matrix)
            started = time.perf_counter()
            engine = NoopEngine() if options.noop else None
            assert pyoneer.run(pyoneer.load(root), workers=2, engine=engine).ok
            print(f"{kind:6} {options.jobs} jobs run in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            ledger = Ledger.open(root, readonly=True)
            run_id = ledger.run().id
            data = [timed(lambda: run_page(ledger, run_id)) for _ in range(options.repeat)]
            ledger.close()
            http_s, browser_s = _served(root, run_id, options.repeat)
            print(f"{kind:6} {options.jobs} jobs: data {statistics.median(data):.3f} s, "
                  f"page over HTTP {statistics.median(http_s):.3f} s, "
                  + (f"drawn in a browser {statistics.median(browser_s):.3f} s" if browser_s else "no browser here")
                  + "  (target: usable in under 2 s)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _served(root: Path, run_id: str, repeat: int) -> tuple[list[float], list[float]]:
    process = subprocess.Popen([sys.executable, "-m", "pyoneer", "ui", str(root), "--no-browser", "--port", "0"],
                               stderr=subprocess.PIPE, text=True)
    try:
        said = ""
        while "token=" not in said:
            said += process.stderr.readline()
        base, token = re.search(r"(http://\S+)/\?token=(\S+)", said).groups()
        port = int(base.rsplit(":", 1)[1])

        def fetch() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", f"/runs/{run_id}",
                               headers={"Host": f"127.0.0.1:{port}", "Cookie": f"pyoneer_token={token}"})
            response = connection.getresponse()
            assert response.status == 200
            response.read()

        http_s = [timed(fetch) for _ in range(repeat)]
        return http_s, _drawn(base, token, run_id, repeat)
    finally:
        process.terminate()
        process.wait(10)


def _drawn(base: str, token: str, run_id: str, repeat: int) -> list[float]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return []
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(args=["--no-sandbox"], **({"executable_path": chromium} if chromium else {}))
        except Exception:  # noqa: BLE001 - no browser: the HTTP figure stands alone
            return []
        page = browser.new_page()
        page.goto(f"{base}/?token={token}")
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            page.goto(f"{base}/runs/{run_id}")
            page.wait_for_function("window.pyoneerDrawn === true")
            times.append(time.perf_counter() - start)
        browser.close()
        return times


if __name__ == "__main__":
    main()
