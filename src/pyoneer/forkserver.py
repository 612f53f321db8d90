"""The fork server: a warm interpreter that runs each task in a forked child.

Started once per worker as ``python forkserver.py`` (so its start-up is Python's own);
single-threaded, so forking is safe. It reads one JSON request a line from stdin —
``{"argv", "cwd", "env", "log", "preload"}`` — forks, and answers on stdout with
``started PID``, later ``exited PID CODE`` (CODE negative for a signal); its very first
line is ``ready``. It exits when stdin closes.

The child does what ``python script.py args`` does: a session of its own, the working
directory, the environment, stdin from /dev/null, stdout and stderr to the log,
``sys.argv``, ``sys.path[0]`` the script's directory, ``__name__ == "__main__"``, the
exit code of ``SystemExit``, a traceback and exit 1 for an uncaught exception, then
non-daemon threads joined, atexit handlers run, output flushed. It imports nothing of
Pyoneer, so the script finds the interpreter as a fresh one would leave it.
"""

import os
import sys

# ``python forkserver.py`` put this file's folder first on sys.path; a fresh
# ``python script.py`` has the script's folder there instead (set in each child).
del sys.path[0]

import atexit  # noqa: E402 - after the sys.path fix on purpose
import importlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import runpy  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402

_STARTUP_HANDLERS = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)}


def main() -> None:
    """Serve requests until stdin closes."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)  # a child's exit wakes select() below
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the manager decides when we go
    requests = sys.stdin.buffer
    pending = b""
    children: set[int] = set()
    loaded: set[str] = set()
    _say("ready")
    while True:
        readable, _, _ = select.select([requests.fileno(), wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
        _reap(children)
        if requests.fileno() in readable:
            chunk = os.read(requests.fileno(), 65536)
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                _preload(request.get("preload", ()), loaded)
                pid = os.fork()
                if pid == 0:
                    _child(request, (wake_read, wake_write))
                children.add(pid)
                _say(f"started {pid}")


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def _reap(children: set[int]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            children.discard(pid)
            continue
        if done:
            children.discard(pid)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _say(f"exited {pid} {code}")


def _preload(modules: list[str], loaded: set[str]) -> None:
    for name in modules:
        if name not in loaded:
            loaded.add(name)
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the script will meet the same error itself
                pass


# In the child -----------------------------------------------------------------------


def _child(request: dict, server_fds: tuple[int, ...]) -> None:
    """Become ``python script args`` and never return (fds 0-2 are replaced by _plumb)."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for sig, handler in _STARTUP_HANDLERS.items():
            signal.signal(sig, handler)
        for fd in server_fds:
            os.close(fd)
        _plumb(request["log"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        script, *args = request["argv"][1:]
        sys.argv = [script, *args]
        sys.path.insert(0, os.path.dirname(os.path.realpath(script)))
        _reopen_stdio()
    except BaseException:  # noqa: BLE001 - nothing must escape into the server's loop
        traceback.print_exc()
        os._exit(1)
    _finish(_run(script))


def _plumb(log: str) -> None:
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(nothing)
    os.close(output)


def _reopen_stdio() -> None:
    """Standard streams as a fresh interpreter would make them with this environment."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    encoding, _, errors = os.environ.get("PYTHONIOENCODING", "").partition(":")

    def stream(fd: int, mode: str, errors_default: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = raw if unbuffered and mode == "w" else (io.BufferedWriter(raw) if mode == "w" else io.BufferedReader(raw))
        return io.TextIOWrapper(
            buffered,
            encoding=encoding or None,
            errors=errors or errors_default,
            write_through=unbuffered and mode == "w",
            line_buffering=False,
        )

    sys.stdin = sys.__stdin__ = stream(0, "r", "strict")
    sys.stdout = sys.__stdout__ = stream(1, "w", "strict")
    sys.stderr = sys.__stderr__ = stream(2, "w", "backslashreplace")


def _run(script: str) -> int:
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return _exit_code(exc)
    except BaseException as exc:  # noqa: BLE001 - as the interpreter does with an uncaught one
        sys.excepthook(type(exc), exc, _from_script(exc.__traceback__, script))
        if isinstance(exc, KeyboardInterrupt):
            _flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        return 1
    return 0


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        print(code, file=sys.stderr)
    except Exception:  # noqa: BLE001
        pass
    return 1


def _from_script(tb, script: str):  # type: ignore[no-untyped-def]
    """The traceback from the script's first frame on, as ``python script.py`` shows it."""
    start = tb
    while start is not None and start.tb_frame.f_code.co_filename != script:
        start = start.tb_next
    return start or tb


def _finish(code: int) -> None:
    """What the interpreter does on its way out, then go."""
    try:
        threading._shutdown()  # join non-daemon threads
    except Exception:  # noqa: BLE001
        pass
    try:
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    _flush()
    os._exit(code & 0xFF)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass


if __name__ == "__main__":
    main()
