"""The fork server: a warm interpreter that runs each task in a forked child.

Started once per worker as ``python forkserver.py REPLY_FD`` (so its start-up is
Python's own); single-threaded, so forking is safe. It reads requests from stdin — a
4-byte length, then a ``marshal``-ed dict ``{"argv", "cwd", "env", "log", "preload"}``
— forks, and answers on REPLY_FD with ``started PID``, later ``exited PID CODE`` (CODE
negative for a signal); its very first line is ``ready``. It exits when stdin closes.
Its own stdout goes nowhere, so a preloaded module that prints cannot garble replies.

The child becomes ``python script.py args``: a session of its own, the working
directory, the environment (and time zone), stdin from /dev/null, stdout and stderr to
the log, standard streams made as the interpreter makes them, ``sys.argv``,
``sys.orig_argv``, ``sys.path[0]`` the script's directory, a fresh ``__main__`` module,
the modules of a fresh interpreter only (plus the preloaded ones), default signal
handlers — and it leaves by the interpreter's own exit: ``SystemExit`` codes, a traceback
and exit 1 for an uncaught exception, non-daemon threads joined, atexit handlers run,
objects finalized, files flushed.
"""

import sys

# What a fresh interpreter has imported by now; a child forgets everything else
# the server imports (except what the project asked to preload).
_FRESH_MODULES = frozenset(sys.modules)

# ``python forkserver.py`` put this file's folder first on sys.path; a fresh
# ``python script.py`` has the script's folder there instead (set in each child).
del sys.path[0]

import builtins  # noqa: E402 - after the two lines above on purpose
import codecs  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import marshal  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

_STARTUP_HANDLERS = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)}
# the streams as this interpreter made them: their encodings are what a fresh one picks
_STDIO_DEFAULTS = {
    "stdin": (sys.stdin.encoding, sys.stdin.errors),
    "stdout": (sys.stdout.encoding, sys.stdout.errors),
    "stderr": (sys.stderr.encoding, sys.stderr.errors),
}
_preloaded: set[str] = set()


def main() -> None:
    """Serve requests until stdin closes."""
    replies = int(sys.argv[1])
    nowhere = os.open(os.devnull, os.O_WRONLY)
    os.dup2(nowhere, 1)  # replies have their own pipe; a printing import goes nowhere
    os.close(nowhere)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)  # a child's exit wakes select() below
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the manager decides when we go
    requests = sys.stdin.buffer.fileno()
    pending = b""
    children: set[int] = set()
    _say(replies, "ready")
    while True:
        readable, _, _ = select.select([requests, wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
        _reap(children, replies)
        if requests not in readable:
            continue
        chunk = os.read(requests, 65536)
        if not chunk:
            return
        pending += chunk
        while len(pending) >= 4 and len(pending) >= 4 + int.from_bytes(pending[:4], "big"):
            size = int.from_bytes(pending[:4], "big")
            request, pending = marshal.loads(pending[4 : 4 + size]), pending[4 + size :]
            _preload(request.get("preload", ()), request["cwd"])
            pid = os.fork()
            if pid == 0:
                _child(request, (replies, wake_read, wake_write))
            children.add(pid)
            _say(replies, f"started {pid}")


def _say(fd: int, line: str) -> None:
    os.write(fd, (line + "\n").encode())


def _reap(children: set[int], replies: int) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            children.discard(pid)
            continue
        if done:
            children.discard(pid)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _say(replies, f"exited {pid} {code}")


def _preload(modules: list[str], root: str) -> None:
    """Import what the project asked for, once; project modules are found from its root."""
    for name in modules:
        if name in _preloaded:
            continue
        _preloaded.add(name)
        sys.path.insert(0, root)
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the script will meet the same error itself
            pass
        finally:
            sys.path.remove(root)


# In the child -----------------------------------------------------------------------


def _child(request: dict, server_fds: tuple[int, ...]) -> None:
    """Become ``python script args``; leaves only by the interpreter's exit."""
    try:
        script = _become(request, server_fds)
    except BaseException:  # noqa: BLE001 - nothing must escape into the server's loop
        import traceback

        traceback.print_exc()
        os._exit(1)
    _run(script)


def _become(request: dict, server_fds: tuple[int, ...]) -> str:
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
    time.tzset()  # TZ from the task's environment, as at a fresh start
    _forget_server_modules()
    _reseed()
    script, *args = request["argv"][1:]
    sys.argv = [script, *args]
    sys.orig_argv = list(request["argv"])
    sys.path.insert(0, os.path.dirname(os.path.realpath(script)))
    _reopen_stdio()
    return script


def _plumb(log: str) -> None:
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    nothing = os.open(os.devnull, os.O_RDWR)  # as subprocess.DEVNULL opens it
    os.dup2(nothing, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(nothing)
    os.close(output)


def _forget_server_modules() -> None:
    keep = _FRESH_MODULES | _preloaded
    for name in list(sys.modules):
        if name not in keep and not any(name.startswith(root + ".") for root in _preloaded):
            del sys.modules[name]


def _reseed() -> None:
    # ``random`` reseeds itself after a fork; numpy's global generator does not
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        try:
            numpy_random.seed()
        except Exception:  # noqa: BLE001
            pass


def _reopen_stdio() -> None:
    """Standard streams as the interpreter's own start-up makes them (create_stdio)."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    forced, _, forced_errors = os.environ.get("PYTHONIOENCODING", "").partition(":")
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        encoding, errors = _STDIO_DEFAULTS[name]
        if forced:
            encoding = codecs.lookup(forced).name
            if name != "stderr":
                errors = "strict"  # surrogateescape comes only with the locale's own encoding
        if forced_errors and name != "stderr":
            errors = forced_errors
        raw = io.FileIO(fd, mode, closefd=False)
        raw.name = f"<{name}>"
        if unbuffered and mode == "w":
            buffer = raw
        else:
            buffer = io.BufferedWriter(raw) if mode == "w" else io.BufferedReader(raw)
        stream = io.TextIOWrapper(
            buffer,
            encoding=encoding,
            errors=errors,
            newline="\n",
            line_buffering=name == "stderr" and not unbuffered,
            write_through=unbuffered,
        )
        stream.mode = mode
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _run(script: str) -> None:
    """Run the script as ``__main__``, then leave as the interpreter leaves."""
    main = type(sys)("__main__")
    main.__file__ = script
    main.__builtins__ = builtins
    main.__annotations__ = {}
    main.__package__ = None
    main.__spec__ = None
    main.__cached__ = None
    # the class a fresh interpreter uses, without importing importlib.machinery for it
    main.__loader__ = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", script)
    sys.modules["__main__"] = main
    try:
        with open(script, "rb") as source:
            code = compile(source.read(), script, "exec")
        exec(code, main.__dict__)  # noqa: S102 - running the user's script is the point
    except SystemExit:
        raise  # the interpreter's own exit: codes, messages, threads, atexit, finalizing
    except BaseException as exc:  # noqa: BLE001 - as the interpreter does with an uncaught one
        _report_uncaught(exc, script)
        if isinstance(exc, KeyboardInterrupt):
            # reported already; the interpreter finalizes, then ends itself by SIGINT
            sys.excepthook = lambda *_: None
            raise
        raise SystemExit(1) from None
    raise SystemExit(0)


def _report_uncaught(exc: BaseException, script: str) -> None:
    tb = _from_script(exc.__traceback__, script)
    exc.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    try:
        sys.excepthook(type(exc), exc, tb)
    except SystemExit:
        raise  # a hook may end the process as it likes
    except BaseException as hook_error:  # noqa: BLE001 - as PyErr_Print reports it
        import traceback

        hook_error.__context__ = None  # raised while reporting, not while handling
        hook_error.__traceback__ = hook_error.__traceback__.tb_next  # from the hook on
        print("Error in sys.excepthook:", file=sys.stderr)
        traceback.print_exception(hook_error, file=sys.stderr)
        print("\nOriginal exception was:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)


def _from_script(tb, script: str):  # type: ignore[no-untyped-def]
    """The traceback from the script's first frame on, as ``python script.py`` shows it."""
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    return tb


if __name__ == "__main__":
    main()
