"""The web view's door, hardened: what a security review of ``pyoneer ui`` and ``pyoneer
report`` found, each over HTTP against the real command and, where a browser matters, in
the real headless Chromium (as ``test_web``).

The token never on a command line; no log outside the project's ``.pyoneer/`` served or
copied into a report; a cookie per server; malformed tokens, offsets and unknown runs
refused with a 4xx and no traceback; the safety headers on every answer and a strict
Content-Security-Policy (a ``<meta>`` in the report); the machine's own names let in when
the view listens beyond loopback.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from base64 import b64encode
from pathlib import Path
from typing import Any

import pytest
from conftest import pyoneer_command, run_cli, wait_until
from test_web import UI, browser, cookie_of, demo, get, runs_of, shot, ui  # noqa: F401 - fixtures

pytestmark = pytest.mark.web

SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- not for the report"


def said_after(server: UI) -> str:
    """Everything the server wrote on its terminal, once it has stopped."""
    code = server.stop()
    assert code == 0, server.said
    return server.said + server.process.stderr.read()


def cookie_header(server: UI) -> dict[str, str]:
    return {"Cookie": cookie_of(server)}


# The token is never on a command line --------------------------------------------------


def test_the_browser_is_opened_on_a_private_file_not_on_the_token(demo: Path, browser: Any, tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    fake = tmp_path / "browser.py"  # a "browser" that notes how it was started, and what it was given
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, pathlib\n"
        "target = sys.argv[1]\n"
        "path = pathlib.Path(target.removeprefix('file://'))\n"
        "seen = {'argv': open(f'/proc/{os.getpid()}/cmdline', 'rb').read().decode(), 'target': target}\n"
        "if path.is_file():\n"
        "    seen['mode'] = path.stat().st_mode & 0o777\n"
        "    seen['text'] = path.read_text()\n"
        f"pathlib.Path({str(seen)!r}).write_text(json.dumps(seen))\n"
    )
    fake.chmod(0o755)
    process = subprocess.Popen(
        pyoneer_command("ui", str(demo), "--port", "0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "BROWSER": str(fake)},
    )
    try:
        said = ""
        while "token=" not in said:
            said += process.stderr.readline()
        token = re.search(r"token=(\S+)", said).group(1)
        assert wait_until(seen.exists, timeout=20)
        found = json.loads(seen.read_text())
        assert token not in found["argv"] and token not in found["target"]  # not in ps, not in /proc
        assert found["mode"] == 0o600  # only the user can read the file that holds it
        assert f"?token={token}" in found["text"]
        page = browser.new_page()
        page.goto(found["target"])  # the file sends the browser on to the view, token and all
        page.wait_for_function("() => window.pyoneerDrawn === true", timeout=15_000)
        assert page.url.startswith("http://127.0.0.1:") and "token" not in page.url
        assert page.locator("#runs tr[data-run]").count() == 1
    finally:
        process.send_signal(2)
        assert process.wait(10) == 0
    assert not Path(found["target"].removeprefix("file://")).exists()  # gone with the server


# Logs outside the project's .pyoneer/ ---------------------------------------------------


def _point_outside(demo: Path, outside: Path) -> str:
    """Three ways a log may lead out of .pyoneer/: a symlinked log, a symlinked folder, a
    ledger path. Returns the run's id."""
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    (outside / "step.1.log").write_text(SECRET + " (folder)\n")
    run_id = runs_of(demo)[0]["id"]
    logs = demo / ".pyoneer" / "runs" / run_id
    (logs / "broken" / "step.1.log").unlink()
    (logs / "broken" / "step.1.log").symlink_to(outside / "secret.txt")
    for old in (logs / "flaky").iterdir():
        old.unlink()
    (logs / "flaky").rmdir()
    (logs / "flaky").symlink_to(outside, target_is_directory=True)
    with sqlite3.connect(demo / ".pyoneer" / "ledger.db") as db:
        db.execute("UPDATE assignments SET log = ? WHERE name = 'prepare/step'", (f"../{outside.name}/secret.txt",))
        db.execute("UPDATE assignments SET log = ? WHERE name = 'report/step'", (str(outside / "secret.txt"),))
    return run_id


def test_logs_outside_the_projects_pyoneer_folder_are_never_served_nor_reported(demo: Path, tmp_path: Path) -> None:
    run_id = _point_outside(demo, tmp_path / "elsewhere")
    with ui(demo) as server:
        cookie = cookie_header(server)
        for attempt in ("broken/step/1", "flaky/step/1", "prepare/step/1", "report/step/1"):
            for route in (f"/runs/{run_id}/logs/{attempt}", f"/api/runs/{run_id}/logs/{attempt}",
                          f"/raw/runs/{run_id}/logs/{attempt}", f"/api/runs/{run_id}/logs/{attempt}/stream"):
                answer = get(server, route, headers=cookie)
                body = answer.read().decode()
                assert answer.status == 404, (route, answer.status, body[:200])
                assert SECRET not in body and "outside" in body
        still = get(server, f"/api/runs/{run_id}/logs/flaky/step/2", headers=cookie)
        assert still.status == 404  # its folder is the symlink: nothing of it is served
        inside = get(server, f"/api/runs/{run_id}/logs/after_broken/step/1", headers=cookie)
        assert inside.status == 404  # (skipped: no attempt) and the others are as they were:
        assert "says hello" in json.loads(get(server, f"/api/runs/{run_id}/logs/train%5Bseed%3D1%5D/step/1", headers=cookie).read())["log"]["text"]
    made = run_cli("report", str(demo), "-o", str(tmp_path / "report.html"))
    assert made.returncode == 0, made.stderr
    text = (tmp_path / "report.html").read_text()
    assert SECRET not in text
    data = json.loads(re.search(r'<script type="application/json" id="pyoneer-data">(.*?)</script>', text).group(1))
    assert "outside the project" in data["tails"]["broken/step/1"]["left_out"]
    assert "outside the project" in data["tails"]["flaky/step/1"]["left_out"]


# One cookie per server -----------------------------------------------------------------


def test_two_views_in_one_browser_keep_each_its_own_cookie(demo: Path, browser: Any) -> None:
    with ui(demo) as first, ui(demo) as second:
        names = {cookie_of(server).split("=")[0] for server in (first, second)}
        assert len(names) == 2  # cookies ignore ports: each server names its own
        assert get(first, "/", headers={"Cookie": cookie_of(second)}).status == 403  # and takes only its own
        context = browser.new_context()
        page = context.new_page()
        page.goto(first.url)
        page.wait_for_function("() => window.pyoneerDrawn === true")
        page.goto(second.url)
        page.wait_for_function("() => window.pyoneerDrawn === true")
        again = page.goto(first.base + "/")  # the first view still lets this browser in
        assert again.status == 200
        page.wait_for_function("() => window.pyoneerDrawn === true")
        context.close()


# Malformed input: a 4xx, never a traceback ---------------------------------------------


def test_malformed_tokens_offsets_and_unknown_runs_are_refused_without_a_traceback(demo: Path) -> None:
    run_id = runs_of(demo)[0]["id"]
    log = f"/runs/{run_id}/logs/broken/step/1"
    server = UI(demo)
    try:
        name = cookie_of(server).split("=")[0]
        assert get(server, "/?token=%C3%A9").status == 403
        assert get(server, "/?token=%FF%FE").status == 403
        assert get(server, "/", headers={"Cookie": f"{name}=\u00e9t\u00e9"}).status == 403
        cookie = cookie_header(server)
        size = len(json.loads(get(server, "/api" + log, headers=cookie).read())["log"]["text"].encode())
        for bad in ("99999999999999999999999", "%C2%B2", "-1", "1e3", "+5", "%200", "0x10", ""):
            assert get(server, f"/api{log}?from={bad}", headers=cookie).status == 400, bad
            assert get(server, f"/api{log}/stream?offset={bad}", headers=cookie).status == 400, bad
        for bad in ("99999999999999999999999", "\u00b2".encode().decode("latin-1"), "-1"):
            answer = get(server, f"/api{log}/stream", headers={**cookie, "Last-Event-ID": bad})
            assert answer.status == 400, bad
        assert get(server, f"/api{log}?from={size + 10}", headers=cookie).status == 416
        assert get(server, f"/api{log}/stream?offset={size + 10}", headers=cookie).status == 416
        assert get(server, f"/api{log}?from={size}", headers=cookie).status == 200
        for route in ("/api/runs/nope/live", "/runs/nope", f"/api/runs/{run_id}/logs/broken/step/7/stream",
                      f"/api/runs/{run_id}/logs/nothing/step/1/stream", "/api/runs/nope/logs/broken/step/1/stream"):
            assert get(server, route, headers=cookie).status == 404, route
    finally:
        said = said_after(server)
    assert "Traceback" not in said and "Error" not in said, said


# Headers -------------------------------------------------------------------------------


def _policy(answer: http.client.HTTPResponse) -> dict[str, list[str]]:
    policy = answer.getheader("content-security-policy") or ""
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _script_hash(html: str) -> str:
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    return "'sha256-" + b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def test_every_answer_carries_the_safety_headers_and_a_strict_policy(demo: Path, browser: Any, tmp_path: Path) -> None:
    run_id = runs_of(demo)[0]["id"]
    with ui(demo) as server:
        cookie = cookie_header(server)
        refusals = [
            get(server, "/"), get(server, "/runs/nope", headers=cookie),
            get(server, "/", method="POST", headers=cookie),
            get(server, "/", headers={**cookie, "Host": f"elsewhere.example:{server.port}"}),
            get(server, f"/api/runs/{run_id}/logs/broken/step/1?from=x", headers=cookie),
        ]
        assert [answer.status for answer in refusals] == [403, 404, 405, 421, 400]
        for answer in refusals:
            assert answer.getheader("x-content-type-options") == "nosniff", answer.status
            assert answer.getheader("cache-control") == "no-store", answer.status
        raw = get(server, f"/raw/runs/{run_id}/logs/broken/step/1", headers=cookie)
        assert raw.status == 200 and raw.getheader("x-content-type-options") == "nosniff"
        assert raw.getheader("cache-control") == "no-store"
        for path in ("/", f"/runs/{run_id}", f"/runs/{run_id}/logs/broken/step/1"):
            answer = get(server, path, headers=cookie)
            html = answer.read().decode()
            policy = _policy(answer)
            assert policy["default-src"] == ["'none'"] and policy["connect-src"] == ["'self'"]
            assert policy["script-src"] == [_script_hash(html)]  # that one script, and nothing else
            assert "'unsafe-inline'" not in str(policy) and "'unsafe-eval'" not in str(policy)
            assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
        data = get(server, "/api/runs", headers=cookie)
        assert _policy(data)["default-src"] == ["'none'"]

        violations: list[str] = []
        page = browser.new_page()
        page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
        page.goto(server.url)
        page.wait_for_function("() => window.pyoneerDrawn === true")
        for path in (f"/runs/{run_id}", f"/runs/{run_id}/logs/broken/step/1"):
            page.goto(server.base + path)
            page.wait_for_function("() => window.pyoneerDrawn === true")
        page.goto(server.base + f"/runs/{run_id}")
        page.wait_for_function("() => window.pyoneerDrawn === true")
        assert violations == []  # the page itself breaks no rule of its policy
        shot(page, tmp_path, "run-under-policy")
        assert page.evaluate("fetch('/api/runs').then((answer) => answer.status)") == 200  # its own server: yes
        blocked = page.evaluate(
            "new Promise((done) => { document.addEventListener('securitypolicyviolation', (event) => done(event.violatedDirective));"
            " fetch('http://127.0.0.2:9/').catch(() => {}); })"
        )
        assert blocked == "connect-src"  # anywhere else: no

    made = run_cli("report", str(demo), "-o", str(tmp_path / "report.html"))
    assert made.returncode == 0
    text = (tmp_path / "report.html").read_text()
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text)
    assert meta, "the report carries its policy"
    assert "default-src 'none'" in meta.group(1) and "connect-src 'none'" in meta.group(1) and _script_hash(text) in meta.group(1)
    page = browser.new_page()
    violations.clear()
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto((tmp_path / "report.html").as_uri())
    page.wait_for_function("() => window.pyoneerDrawn === true")
    page.locator('#graph [data-node="train"]').click()
    assert violations == []
    blocked = page.evaluate(
        "new Promise((done) => { document.addEventListener('securitypolicyviolation', (event) => done(event.violatedDirective));"
        " fetch('http://127.0.0.2:9/').catch(() => {}); })"
    )
    assert blocked == "connect-src"  # the report makes no request: enforced, not only true


# Beyond loopback -----------------------------------------------------------------------


def _own_addresses() -> list[str]:
    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return [address for address in found if not address.startswith("127.")]


def test_listening_on_every_address_lets_in_the_machines_own_names(demo: Path) -> None:
    import socket

    with ui(demo, "--host", "0.0.0.0") as server:
        port = server.port
        cookie = cookie_header(server)
        names = [socket.gethostname(), *_own_addresses(), "127.0.0.1", "localhost"]
        for name in names:
            shown = f"[{name}]" if ":" in name else name
            answer = get(server, "/api/runs", headers={**cookie, "Host": f"{shown}:{port}"})
            assert answer.status == 200, (name, answer.read())
        for foreign in ("attacker.example", "192.0.2.254", "8.8.8.8", socket.gethostname() + ".attacker.example"):
            assert get(server, "/api/runs", headers={**cookie, "Host": f"{foreign}:{port}"}).status == 421, foreign
        assert get(server, "/api/runs", headers={**cookie, "Host": f"{socket.gethostname()}:{port + 1}"}).status == 421


# The floor -----------------------------------------------------------------------------


def test_starlette_floor_admits_no_release_with_a_known_advisory() -> None:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    (floor,) = [need for need in project["project"]["optional-dependencies"]["ui"] if need.startswith("starlette")]
    numbers = tuple(int(part) for part in floor.split(">=")[1].split(".") if part.isdigit())
    # CVE-2025-62727 (Range DoS, fixed 0.49.1), the Host and path advisories (1.3.x), the
    # cap of 100 ranges (1.5.1)
    assert numbers >= (1, 5, 1), floor
