"""``pyoneer ui``: a local web server over a project's ledger, read-only, for its owner only.

Every page is HTML with its data inline (``pyoneer.web.shell``), and the same data as
JSON under ``/api``. While a run goes on, ``/api/.../live`` tells the page each time the
ledger changes (SQLite's ``PRAGMA data_version``, polled cheaply) as Server-Sent Events;
a log is followed the same way, each piece numbered by its byte offset so that a
dropped connection resumes where it stopped (``Last-Event-ID``).

Nobody else gets in: the server binds 127.0.0.1 by default, and every request passes
the door (``pyoneer.web.door``: the token, the ``Host`` header, GET and HEAD only, the
safety headers); each page carries a strict Content-Security-Policy (``pyoneer.web.shell``).
The browser is opened without the token on its command line (``pyoneer.web.opener``).
The ledger is opened read-only (``mode=ro``): the view never writes it, and no log is
read from outside the project's ``.pyoneer/``.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pyoneer.errors import LedgerError
from pyoneer.ledger.store import Ledger
from pyoneer.web import logs
from pyoneer.web.door import Door, cookie_name, refused
from pyoneer.web.names import host_names
from pyoneer.web.opener import browser_opened
from pyoneer.web.pages import given_preload, job_link, job_page, log_link, run_page, runs_page
from pyoneer.web.shell import embedded, page, policy

#: seconds between looks at the ledger (or a log) for a change
POLL = 0.2
#: seconds between keep-alive comments on an idle stream
HEARTBEAT = 15.0


def make_app(root: Path, token: str, hosts: set[str], cookie: str = "pyoneer_token") -> Door:
    """The web view of the project at ``root``: ``token`` lets a browser in (kept in the
    cookie ``cookie``); ``hosts`` are the ``Host`` headers that name this server."""
    view = _View(root)
    routes = [
        Route("/", view.runs),
        Route("/api/runs", view.runs_json),
        Route("/api/live", view.live),
        Route("/runs/{run}", view.run),
        Route("/api/runs/{run}", view.run_json),
        Route("/api/runs/{run}/live", view.run_live),
        Route("/runs/{run}/jobs/{job:path}", view.job),
        Route("/api/runs/{run}/jobs/{job:path}", view.job_json),
        Route("/runs/{run}/logs/{job:path}/{task}/{attempt:int}", view.log),
        Route("/api/runs/{run}/logs/{job:path}/{task}/{attempt:int}", view.log_json),
        Route("/api/runs/{run}/logs/{job:path}/{task}/{attempt:int}/stream", view.log_stream),
        Route("/raw/runs/{run}/logs/{job:path}/{task}/{attempt:int}", view.log_raw),
    ]
    app = Starlette(routes=routes, exception_handlers={LedgerError: _not_found})
    return Door(app, token, hosts, cookie)


async def _not_found(request: Request, exc: Exception) -> Response:
    return refused(404, str(exc))


class _View:
    """The pages and their data; each request reads the ledger through its own read-only
    connection (in a worker thread: SQLite blocks). Runs and attempts are looked up before
    any answer starts (404), and a log is read only inside ``.pyoneer/``
    (``pyoneer.web.logs.inside``)."""

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
        return JSONResponse(await self._data(runs_page))

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run"]
        data = await self._data(lambda ledger: run_page(ledger, run_id))
        real = data["run"]["id"]
        config = {"api": f"/api/runs/{real}", "live": f"/api/runs/{real}/live" if data["run"]["result"] == "running" else ""}
        return _html(data, config, f"Pyoneer: {data['project']} run {real}")

    async def run_json(self, request: Request) -> Response:
        run_id = request.path_params["run"]
        return JSONResponse(await self._data(lambda ledger: run_page(ledger, run_id)))

    async def job(self, request: Request) -> Response:
        data = await self._job_data(request)
        link = job_link(data["run"]["id"], data["job"]["name"])
        return _html(data, {"api": "/api" + link}, f"Pyoneer: {data['job']['name']} in run {data['run']['id']}")

    async def job_json(self, request: Request) -> Response:
        return JSONResponse(await self._job_data(request))

    async def _job_data(self, request: Request) -> dict[str, Any]:
        run, job = request.path_params["run"], request.path_params["job"]
        given = await anyio.to_thread.run_sync(given_preload, self.root, job)
        return await self._data(lambda ledger: job_page(ledger, run, job, given))

    async def log(self, request: Request) -> Response:
        data = await self._log_data(request)
        if isinstance(data, Response):
            return data
        link = log_link(data["run_id"], data["log"]["job"], data["log"]["task"], data["log"]["attempt"])
        config = {"api": "/api" + link, "stream": "/api" + link + "/stream"}
        return _html(data, config, f"Pyoneer: {data['log']['job']}/{data['log']['task']} attempt {data['log']['attempt']}")

    async def log_json(self, request: Request) -> Response:
        data = await self._log_data(request)
        return data if isinstance(data, Response) else JSONResponse(data)

    async def _attempt(self, request: Request) -> tuple[dict[str, Any], str, Path | None]:
        """The attempt a request names: its ledger row, its run's id, its log's file."""
        run, job, task, attempt = _attempt_of(request)
        row, run_id = await self._data(lambda ledger: _attempt_and_run(ledger, run, job, task, attempt))
        return row, run_id, logs.inside(self.root, row["log"], f"{job}/{task} attempt {attempt}")

    async def _log_data(self, request: Request) -> dict[str, Any] | Response:
        _, job, task, attempt = _attempt_of(request)
        row, run_id, path = await self._attempt(request)
        ended = row["ended"] is not None or row["status"] != "running"
        size = logs.size_of(path)
        start_from = request.query_params.get("from")
        if start_from is not None:
            start = logs.offset_of(start_from)
            if start is None:
                return refused(400, "from= takes a byte offset: decimal digits")
            if start > size:
                return refused(416, f"the log has {size} bytes: from={start} is past its end")
            text, end = await anyio.to_thread.run_sync(logs.piece, path, start, ended)
        else:
            start, text = await anyio.to_thread.run_sync(logs.tail, path)
            if not ended:  # a line being written is sent whole, by the stream
                text = text[: text.rfind(b"\n") + 1]
            end = start + len(text)
        return {
            "page": "log", "project": row["project"], "run_id": run_id,
            "log": {
                "job": job, "task": task, "attempt": attempt, "state": row["status"], "ended": ended,
                "reason": row["reason"], "start": start, "end": end, "size": size,
                "text": text.decode("utf-8", "replace"),
                "raw": "/raw" + log_link(run_id, job, task, attempt),
            },
        }

    async def log_raw(self, request: Request) -> Response:
        _, job, task, attempt = _attempt_of(request)
        _, run_id, path = await self._attempt(request)
        if path is None or not path.is_file():
            return refused(404, f"the log of {job}/{task} attempt {attempt} is not here")
        name = f"{run_id}-{job}-{task}.{attempt}.log".replace("/", "_")
        return FileResponse(path, media_type="text/plain; charset=utf-8", filename=name)

    # live streams

    async def live(self, request: Request) -> Response:
        return _events(self._changes(request, None))

    async def run_live(self, request: Request) -> Response:
        run_id = request.path_params["run"]
        real = await self._data(lambda ledger: ledger.run(run_id).id)  # no such run: 404, not a broken stream
        return _events(self._changes(request, real))

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
        _, run_id, path = await self._attempt(request)  # no such attempt, or a log outside: 404
        given = request.headers.get("last-event-id")
        if given is None:
            given = request.query_params.get("offset", "0")
        offset = logs.offset_of(given)
        if offset is None:
            return refused(400, "offset= (or Last-Event-ID) takes a byte offset: decimal digits")
        size = logs.size_of(path)
        if offset > size:
            return refused(416, f"the log has {size} bytes: offset {offset} is past its end")
        return _events(self._pieces(request, run_id, job, task, attempt, offset))

    async def _pieces(self, request: Request, run: str, job: str, task: str, attempt: int, offset: int) -> AsyncIterator[str]:
        """The log from ``offset`` on, piece by piece, each with the offset after it as its
        id; ``end`` (with how the attempt ended) once it has ended and all is sent."""
        ledger = await anyio.to_thread.run_sync(lambda: Ledger.open(self.root, readonly=True))
        try:  # one connection for the whole stream, as for _changes
            quiet = time.monotonic()
            while not await request.is_disconnected():
                row, _ = await anyio.to_thread.run_sync(_attempt_and_run, ledger, run, job, task, attempt)
                ended = row["ended"] is not None or row["status"] != "running"
                path = logs.inside(self.root, row["log"], f"{job}/{task} attempt {attempt}")
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
        except LedgerError:  # the log was moved outside while it was followed: say no more
            return
        finally:
            ledger.close()


def _attempt_of(request: Request) -> tuple[str, str, str, int]:
    params = request.path_params
    return params["run"], params["job"], params["task"], params["attempt"]


def _attempt_and_run(ledger: Ledger, run: str, job: str, task: str, attempt: int) -> tuple[dict[str, Any], str]:
    found = ledger.run(run)
    row = logs.attempt_row(ledger, found.id, job, task, attempt)
    return {**row, "project": found.project}, found.id


def _html(data: dict[str, Any], config: dict[str, Any], title: str) -> HTMLResponse:
    config = {"mode": "server", "home": "/", "base": "", **config}
    return HTMLResponse(page(data, config, title), headers={"content-security-policy": policy(report=False)})


def _events(stream: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(stream, media_type="text/event-stream", headers={"x-accel-buffering": "no"})


def new_token() -> str:
    """A token nobody can guess."""
    return secrets.token_urlsafe(24)


#: the port ``pyoneer ui`` tries first (then the next few, if taken)
DEFAULT_PORT = 7865


def serve(root: Path, host: str, port: int | None, open_browser: bool, say: Callable[[str], None]) -> None:
    """Serve the web view of the project at ``root`` until Ctrl-C."""
    import socket

    import uvicorn

    sock = _bind(socket, host, port)
    bound = sock.getsockname()[1]
    token = new_token()
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/?token={token}"
    app = make_app(root, token, host_names(host, bound), cookie_name(bound))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    # Ctrl-C and SIGTERM are how a server is stopped: uvicorn shuts down (streams ended,
    # connections closed), then hands each signal back to these handlers, which only ask
    # it to stop (so one that comes before uvicorn listens for it stops it too)
    stop = lambda *_: setattr(server, "should_exit", True)  # noqa: E731
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    say(f"Pyoneer's view of {root}: {url}\n(Ctrl-C stops it)")  # the user's own terminal
    try:
        with browser_opened(url) if open_browser else contextlib.nullcontext():
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
