"""``pyoneer ui``: a local web server over a project's ledger, read-only, for its owner only.

Every page is HTML with its data inline (``pyoneer.web.shell``), and the same data as
JSON under ``/api``. While a run goes on, ``/api/.../live`` tells the page each time the
ledger changes (SQLite's ``PRAGMA data_version``, polled cheaply) as Server-Sent Events;
a log is followed the same way, each piece numbered by its byte offset so that a
dropped connection resumes where it stopped (``Last-Event-ID``).

Nobody else gets in: the server binds 127.0.0.1 by default; every request must carry
the token printed at start (as ``?token=``, then as a cookie the first answer sets); the
``Host`` header must name this server (no DNS rebinding); only GET and HEAD are served.
The ledger is opened read-only (``mode=ro``): the view never writes it.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from pyoneer.errors import LedgerError
from pyoneer.ledger.store import Ledger
from pyoneer.web import logs
from pyoneer.web.pages import log_link, run_page, runs_page
from pyoneer.web.shell import embedded, page

#: seconds between looks at the ledger (or a log) for a change
POLL = 0.2
#: seconds between keep-alive comments on an idle stream
HEARTBEAT = 15.0
COOKIE = "pyoneer_token"


def make_app(root: Path, token: str, hosts: set[str]) -> Starlette:
    """The web view of the project at ``root``: ``token`` lets a browser in; ``hosts`` are
    the ``Host`` headers that name this server."""
    view = _View(root)
    routes = [
        Route("/", view.runs),
        Route("/api/runs", view.runs_json),
        Route("/api/live", view.live),
        Route("/runs/{run}", view.run),
        Route("/api/runs/{run}", view.run_json),
        Route("/api/runs/{run}/live", view.run_live),
        Route("/runs/{run}/logs/{job}/{task}/{attempt:int}", view.log),
        Route("/api/runs/{run}/logs/{job}/{task}/{attempt:int}", view.log_json),
        Route("/api/runs/{run}/logs/{job}/{task}/{attempt:int}/stream", view.log_stream),
        Route("/raw/runs/{run}/logs/{job}/{task}/{attempt:int}", view.log_raw),
    ]
    app = Starlette(routes=routes, exception_handlers={LedgerError: _not_found})
    return _Guard(app, token, hosts)


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(str(exc), status_code=404)


class _Guard:
    """The door: GET and HEAD only, a ``Host`` that names this server, and the token."""

    def __init__(self, app: Starlette, token: str, hosts: set[str]) -> None:
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("token", [""])[0]
        if given:  # the first visit: keep it as a cookie, and take it off the address
            if not secrets.compare_digest(given, self.token):
                await _refused(403, "wrong token: open the address pyoneer ui printed")(scope, receive, send)
                return
            rest = {key: values for key, values in query.items() if key != "token"}
            target = scope["path"] + ("?" + urlencode(rest, doseq=True) if rest else "")
            response = Response(status_code=303, headers={"location": target})
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return
        if not secrets.compare_digest(_cookie(headers.get("cookie", "")), self.token):
            await _refused(403, "no token: open the address pyoneer ui printed (it ends in ?token=...)")(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: dict[str, Any], headers: dict[str, str]) -> Response | None:
        if scope["method"] not in ("GET", "HEAD"):
            return _refused(405, "the web view only reads: GET and HEAD", {"allow": "GET, HEAD"})
        if headers.get("host", "").lower() not in self.hosts:
            return _refused(421, "this server does not answer for that host name")
        return None


def _cookie(header: str) -> str:
    """The token a ``Cookie`` header carries ("" if none, or if the header is malformed)."""
    try:
        cookies = SimpleCookie(header)
    except CookieError:
        return ""
    return cookies[COOKIE].value if COOKIE in cookies else ""


def _refused(code: int, words: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(words + "\n", status_code=code, headers=headers)


class _View:
    """The pages and their data; each request reads the ledger through its own read-only
    connection (in a worker thread: SQLite blocks)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _read(self, reading: Callable[[Ledger], Any]) -> Any:
        ledger = Ledger.open(self.root, readonly=True)
        try:
            return reading(ledger)
        finally:
            ledger.close()

    async def _data(self, reading: Callable[[Ledger], Any]) -> Any:
        return await anyio.to_thread.run_sync(self._read, reading)

    # pages and their JSON

    async def runs(self, request: Request) -> Response:
        data = await self._data(runs_page)
        return _html(data, {"api": "/api/runs", "live": "/api/live"}, f"Pyoneer: {data['project']} runs")

    async def runs_json(self, request: Request) -> Response:
        return _json(await self._data(runs_page))

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run"]
        data = await self._data(lambda ledger: run_page(ledger, run_id))
        real = data["run"]["id"]
        config = {"api": f"/api/runs/{real}", "live": f"/api/runs/{real}/live" if data["run"]["result"] == "running" else ""}
        return _html(data, config, f"Pyoneer: {data['project']} run {real}")

    async def run_json(self, request: Request) -> Response:
        run_id = request.path_params["run"]
        return _json(await self._data(lambda ledger: run_page(ledger, run_id)))

    async def log(self, request: Request) -> Response:
        data = await self._log_data(request)
        link = log_link(data["run_id"], data["log"]["job"], data["log"]["task"], data["log"]["attempt"])
        config = {"api": "/api" + link, "stream": "/api" + link + "/stream"}
        return _html(data, config, f"Pyoneer: {data['log']['job']}/{data['log']['task']} attempt {data['log']['attempt']}")

    async def log_json(self, request: Request) -> Response:
        return _json(await self._log_data(request))

    async def _log_data(self, request: Request) -> dict[str, Any]:
        run, job, task, attempt = _attempt_of(request)
        row, run_id = await self._data(lambda ledger: _attempt_and_run(ledger, run, job, task, attempt))
        path = self.root / (row["log"] or "")
        ended = row["ended"] is not None or row["status"] != "running"
        start_from = request.query_params.get("from")
        if start_from is not None and start_from.isdigit():
            text, end = logs.piece(path, int(start_from), ended)
            start = int(start_from)
        else:
            start, text = await anyio.to_thread.run_sync(logs.tail, path)
            if not ended:  # a line being written is sent whole, by the stream
                text = text[: text.rfind(b"\n") + 1]
            end = start + len(text)
        return {
            "page": "log", "project": row["project"], "run_id": run_id,
            "log": {
                "job": job, "task": task, "attempt": attempt, "state": row["status"], "ended": ended,
                "reason": row["reason"], "start": start, "end": end, "size": _size(path),
                "text": text.decode("utf-8", "replace"),
                "raw": "/raw" + log_link(run_id, job, task, attempt),
            },
        }

    async def log_raw(self, request: Request) -> Response:
        run, job, task, attempt = _attempt_of(request)
        row, run_id = await self._data(lambda ledger: _attempt_and_run(ledger, run, job, task, attempt))
        path = self.root / (row["log"] or "")
        if not row["log"] or not path.is_file():
            return _refused(404, f"the log of {job}/{task} attempt {attempt} is not here")
        name = f"{run_id}-{job}-{task}.{attempt}.log".replace("/", "_")
        return FileResponse(path, media_type="text/plain; charset=utf-8", filename=name)

    # live streams

    async def live(self, request: Request) -> Response:
        return _events(self._changes(request, None))

    async def run_live(self, request: Request) -> Response:
        return _events(self._changes(request, request.path_params["run"]))

    async def _changes(self, request: Request, run_id: str | None) -> AsyncIterator[str]:
        """``change`` each time the ledger changes; for a run, ``end`` once it has ended."""
        ledger = await anyio.to_thread.run_sync(lambda: Ledger.open(self.root, readonly=True))
        try:
            seen = await anyio.to_thread.run_sync(ledger.data_version)
            quiet = time.monotonic()
            while not await request.is_disconnected():
                version = await anyio.to_thread.run_sync(ledger.data_version)
                if version != seen:
                    seen, quiet = version, time.monotonic()
                    yield f"event: change\ndata: {version}\n\n"
                if run_id is not None:
                    result = await anyio.to_thread.run_sync(lambda: ledger.run(run_id).result.value)
                    if result != "running":
                        yield f"event: end\ndata: {embedded({'result': result})}\n\n"
                        return
                if time.monotonic() - quiet > HEARTBEAT:
                    quiet = time.monotonic()
                    yield ": still here\n\n"
                await anyio.sleep(POLL)
        finally:
            ledger.close()

    async def log_stream(self, request: Request) -> Response:
        run, job, task, attempt = _attempt_of(request)
        given = request.headers.get("last-event-id") or request.query_params.get("offset") or "0"
        offset = int(given) if given.isdigit() else 0
        return _events(self._pieces(request, run, job, task, attempt, offset))

    async def _pieces(self, request: Request, run: str, job: str, task: str, attempt: int, offset: int) -> AsyncIterator[str]:
        """The log from ``offset`` on, piece by piece, each with the offset after it as its
        id; ``end`` (with how the attempt ended) once it has ended and all is sent."""
        ledger = await anyio.to_thread.run_sync(lambda: Ledger.open(self.root, readonly=True))
        try:  # one connection for the whole stream, as for _changes
            quiet = time.monotonic()
            while not await request.is_disconnected():
                row, _ = await anyio.to_thread.run_sync(_attempt_and_run, ledger, run, job, task, attempt)
                ended = row["ended"] is not None or row["status"] != "running"
                path = self.root / (row["log"] or "")
                data, after = await anyio.to_thread.run_sync(logs.piece, path, offset, ended)
                if data:
                    piece = {"offset": offset, "text": data.decode("utf-8", "replace")}
                    yield f"id: {after}\nevent: piece\ndata: {embedded(piece)}\n\n"
                    offset, quiet = after, time.monotonic()
                    continue  # there may be more at once
                if ended:
                    yield f"event: end\ndata: {embedded({'state': row['status'], 'reason': row['reason']})}\n\n"
                    return
                if time.monotonic() - quiet > HEARTBEAT:
                    quiet = time.monotonic()
                    yield ": still here\n\n"
                await anyio.sleep(POLL)
        finally:
            ledger.close()


def _attempt_of(request: Request) -> tuple[str, str, str, int]:
    params = request.path_params
    return params["run"], params["job"], params["task"], params["attempt"]


def _attempt_and_run(ledger: Ledger, run: str, job: str, task: str, attempt: int) -> tuple[dict[str, Any], str]:
    found = ledger.run(run)
    row = logs.attempt_row(ledger, found.id, job, task, attempt)
    return {**row, "project": found.project}, found.id


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _html(data: dict[str, Any], config: dict[str, Any], title: str) -> HTMLResponse:
    config = {"mode": "server", "home": "/", "base": "", **config}
    return HTMLResponse(page(data, config, title), headers=_NO_STORE)


def _json(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse(data, headers=_NO_STORE)


def _events(stream: AsyncIterator[str]) -> StreamingResponse:
    headers = {**_NO_STORE, "x-accel-buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


#: pages hold the state of a moment and logs the user's data: never kept by a cache
_NO_STORE = {"cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def new_token() -> str:
    """A token nobody can guess."""
    return secrets.token_urlsafe(24)


#: the port ``pyoneer ui`` tries first (then the next few, if taken)
DEFAULT_PORT = 7865


def serve(root: Path, host: str, port: int | None, open_browser: bool, say: Callable[[str], None]) -> None:
    """Serve the web view of the project at ``root`` until Ctrl-C."""
    import socket
    import threading
    import webbrowser

    import uvicorn

    sock = _bind(socket, host, port)
    bound = sock.getsockname()[1]
    token = new_token()
    shown = f"[{host}]" if ":" in host else host
    names = {"127.0.0.1", "localhost", "[::1]", shown}
    hosts = {f"{name}:{bound}".lower() for name in names}
    url = f"http://{shown}:{bound}/?token={token}"
    app = make_app(root, token, hosts)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    # Ctrl-C and SIGTERM are how a server is stopped: uvicorn shuts down (streams ended,
    # connections closed), then hands each signal back to these handlers, which only ask
    # it to stop (so one that comes before uvicorn listens for it stops it too)
    stop = lambda *_: setattr(server, "should_exit", True)  # noqa: E731
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    say(f"Pyoneer's view of {root}: {url}\n(Ctrl-C stops it)")
    if open_browser:
        threading.Timer(0.3, webbrowser.open, [url]).start()
    try:
        server.run(sockets=[sock])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()
    say("stopped")


def _bind(socket: Any, host: str, port: int | None) -> Any:
    """A listening socket on ``host``: ``port``, or the first free one from the default."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    tries = [port] if port is not None else list(range(DEFAULT_PORT, DEFAULT_PORT + 10))
    for number, candidate in enumerate(tries):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            if number == len(tries) - 1:
                raise
            continue
        sock.listen(128)
        sock.set_inheritable(True)
        return sock
    raise AssertionError("unreachable")
