"""The fork server: a warm interpreter that runs each task in a forked child.

Started once per worker as ``python forkserver.py REPLY_FD`` (so its start-up is
Python's own); single-threaded, so forking is safe. It reads requests from stdin — a
4-byte length, then a ``marshal``-ed dict ``{"argv", "cwd", "env", "log", "preload"}``
(and ``"imports"``: a file where the child lists the modules under ``cwd`` it imported)
— forks, and answers on REPLY_FD with ``started PID``, later ``exited PID CODE`` (CODE
negative for a signal); its very first line is ``ready`` (``ready subreaper`` where it
could become a subreaper). With ``"exec": True`` the child execs ``argv`` instead: a fresh
interpreter, started from here rather than by the manager. It exits when stdin closes.
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

import _signal  # noqa: E402 - after the two lines above on purpose
import atexit  # noqa: E402
import builtins  # noqa: E402
import codecs  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import marshal  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import weakref  # noqa: E402
from builtins import (  # noqa: E402, A004
    bool,
    callable,
    getattr,
    isinstance,
    list,
    reversed,
    setattr,
    str,
    type,
)

# The builtins above are this module's own names because a child clears the builtins
# module while it finalizes (see _finalize_modules) and still runs this file's code then.

_STARTUP_HANDLERS = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)}
# the streams as this interpreter made them: their encodings are what a fresh one picks
_STDIO_DEFAULTS = {
    "stdin": (sys.stdin.encoding, sys.stdin.errors),
    "stdout": (sys.stdout.encoding, sys.stdout.errors),
    "stderr": (sys.stderr.encoding, sys.stderr.errors),
}
_preloaded: set[str] = set()
#: where a child lists the project's modules it imported (the server's replies, opened
#: anew through /proc: an fd kept open would be one a fresh interpreter lacks; else a
#: file), and the project's root
_imports_to: list[str] = []
_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
#: what a child had before its script ran: kept alive to its end (see _finalize_modules)
_inherited: dict[str, dict] = {}
#: C's exit(): C-level atexit handlers and stdio buffers, without Python's finalization
_c_exit = ctypes.PyDLL(None).exit
_c_exit.argtypes = [ctypes.c_int]
#: whether C's stdio streams are unbuffered here (python -u / PYTHONUNBUFFERED does that)
_C_STDIO_UNBUFFERED = bool(os.environ.get("PYTHONUNBUFFERED"))


def _find_recursion_counter() -> tuple[ctypes.Array, int] | None:
    """Where this thread's state counts the Python calls left before ``RecursionError``.

    CPython keeps, side by side in its ``PyThreadState``, the calls a thread may still
    make and its recursion limit (``recursion_remaining`` and ``recursion_limit`` in 3.11,
    ``py_recursion_*`` later). They are found by looking, not by version: the pair whose
    limit is ``sys.getrecursionlimit()`` and whose count is one lower in a nested call.
    Returns the struct's first ints and the count's index among them, or None where that
    cannot be told for sure (then warm scripts start a few frames deeper than fresh ones).
    """
    try:
        state = ctypes.pythonapi.PyThreadState_Get
        state.restype = ctypes.c_void_p
        ints = (ctypes.c_int * 64).from_address(state())
        limit = sys.getrecursionlimit()
        nested = _read_ints(ints)  # read in a frame one deeper than this one
        found = []
        for index in range(63):
            # each read right here, in this frame: list(ints) or a comprehension counts a call
            if nested[index + 1] == limit and 0 < nested[index] < limit and ints[index] == nested[index] + 1:
                found.append(index)
        return (ints, found[0]) if len(found) == 1 else None
    except Exception:  # noqa: BLE001 - not CPython as we know it: leave the depth alone
        return None


def _read_ints(ints: ctypes.Array) -> list[int]:
    values = []
    for index in range(len(ints)):
        values.append(ints[index])
    return values


#: the count of calls left (see above) and, read in this module's own frame, which stands
#: where a fresh script's frame does, how deep a script starts under ``python script.py``
_RECURSION = _find_recursion_counter()
_FRESH_DEPTH = _RECURSION[0][_RECURSION[1] + 1] - _RECURSION[0][_RECURSION[1]] if _RECURSION else 0
#: a script's stand-in, run as the script is, to measure what exec() adds to the depth
_PROBE = compile("seen['depth'] = ints[index + 1] - ints[index]", "<pyoneer depth probe>", "exec")


def _unraisable_hook_args_type() -> type:
    """The type ``sys.unraisablehook`` insists on; Python exposes it only to the hook."""
    seen = []
    hook, sys.unraisablehook = sys.unraisablehook, seen.append

    class _Raises:
        def __del__(self) -> None:
            raise RuntimeError

    try:
        _Raises()
    finally:
        sys.unraisablehook = hook
    return type(seen[0])


_UnraisableHookArgs = _unraisable_hook_args_type()


def main() -> None:
    """Serve requests until stdin closes."""
    replies = int(sys.argv[1])
    os.set_inheritable(replies, False)  # a task started by exec must not hold our replies
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
    _say(replies, "ready subreaper" if _become_subreaper() else "ready")
    while True:
        readable, _, _ = select.select([requests, wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
        _reap(children, replies)
        if requests not in readable:
            continue
        chunk = os.read(requests, 65536)
        if not chunk:  # the manager is gone, maybe killed: its tasks go with it
            _end_descendants()
            return
        pending += chunk
        while len(pending) >= 4 and len(pending) >= 4 + int.from_bytes(pending[:4], "big"):
            size = int.from_bytes(pending[:4], "big")
            request, pending = marshal.loads(pending[4 : 4 + size]), pending[4 + size :]
            fresh = request.get("exec", False)
            if not fresh:
                imported = _preload(request.get("preload", ()), request["cwd"])
                # a child's collections then skip the server's objects: touching them
                # would copy their pages into the child
                gc.freeze()
                if imported or not _inherited:
                    # what a child keeps alive to its end, taken here: taking it in the
                    # child would copy the pages of every object it names into the child.
                    # Only when it changed: a new copy (and the old one's end) writes the
                    # reference count of each module, sys attribute and builtin, in pages
                    # that the server shares with its last child, still running
                    _inherited.update(modules=dict(sys.modules), sys=dict(sys.__dict__),
                                      builtins=dict(builtins.__dict__))
            # (not posix_spawn: glibc's leaves signals 32 and 33 ignored in the child,
            # which a python started by subprocess does not have)
            pid = os.fork()
            if pid == 0:
                server_fds = (replies, wake_read, wake_write)
                if fresh:
                    _exec_fresh(request, server_fds)
                _child(request, server_fds)
            children.add(pid)
            _say(replies, f"started {pid}")


def _say(fd: int, line: str) -> None:
    os.write(fd, (line + "\n").encode())


def _become_subreaper() -> bool:
    """Take in the orphans of our children's trees (Linux), so none slips away unseen."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (AttributeError, OSError):
        return False


def _end_descendants() -> None:
    """SIGKILL every process below this one: as a subreaper, that is all our tasks left.

    (The watchdog finds a task's orphans by the PYONEER_* variables they carry; one that
    cleared its environment is found only here.)
    """
    for _ in range(2):  # a process that forked while we looked has its child seen next time
        doomed, below = [], [os.getpid()]
        while below:
            pid = below.pop()
            try:
                with open(f"/proc/{pid}/task/{pid}/children", "rb") as listing:
                    children = [int(child) for child in listing.read().split()]
            except (OSError, ValueError):
                children = []
            doomed += children
            below += children
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _reap(children: set[int], replies: int) -> None:
    """Reap every ended child; report those that were tasks (the rest were orphans)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            children.discard(pid)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _say(replies, f"exited {pid} {code}")


def _preload(modules: list[str], root: str) -> bool:
    """Import what the project asked for, once; project modules are found from its root.
    True if it tried anything new (the server's modules may have changed)."""
    tried = False
    for name in modules:
        if name in _preloaded:
            continue
        _preloaded.add(name)
        tried = True
        sys.path.insert(0, root)
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the script will meet the same error itself
            pass
        finally:
            sys.path.remove(root)
    return tried


# In the child -----------------------------------------------------------------------


def _exec_fresh(request: dict, server_fds: tuple[int, ...]) -> None:  # never returns (no typing: see _leave)
    """Become ``python script args`` for real, by exec: a task that runs fresh.

    As ``subprocess.Popen(start_new_session=True)`` would start it from the manager:
    a session of its own, default signal dispositions, no descriptor of ours open.
    """
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for signum in (_signal.SIGINT, _signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGCHLD):
            _signal.signal(signum, _signal.SIG_DFL)  # ignored ones would stay ignored
        for fd in server_fds:
            os.close(fd)
        _plumb(request["log"])
        os.chdir(request["cwd"])
        os.execve(request["argv"][0], request["argv"], request["env"])
    except BaseException as exc:  # noqa: BLE001 - never back into the server's loop
        with contextlib.suppress(OSError):
            os.write(2, f"pyoneer: cannot start {request['argv'][0]}: {exc}\n".encode())
    os._exit(127)


def _child(request: dict, server_fds: tuple[int, ...]) -> None:
    """Become ``python script args``; leaves only by the interpreter's exit."""
    try:
        script = _become(request, server_fds)
    except BaseException:  # noqa: BLE001 - nothing must escape into the server's loop
        import traceback

        traceback.print_exc()
        os._exit(1)
    try:
        _leave(*_run(script))
    finally:
        os._exit(1)  # a bug of ours in _leave: never back into the server's loop


def _become(request: dict, server_fds: tuple[int, ...]) -> str:
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for sig, handler in _STARTUP_HANDLERS.items():
        signal.signal(sig, handler)
    for fd in server_fds:
        os.close(fd)
    _plumb(request["log"])
    _buffer_c_stdio(bool(request["env"].get("PYTHONUNBUFFERED")))
    os.chdir(request["cwd"])
    _set_environment(request["env"])
    time.tzset()  # TZ from the task's environment, as at a fresh start
    _forget_server_modules()
    _reseed()
    script, *args = request["argv"][1:]
    sys.argv = [script, *args]
    sys.orig_argv = list(request["argv"])
    sys.path.insert(0, os.path.dirname(os.path.realpath(script)))
    if request.get("imports"):
        replies = f"/proc/{os.getppid()}/fd/{server_fds[0]}"
        _imports_to[:] = [replies, request["imports"], os.path.realpath(request["cwd"]) + os.sep]
    _reopen_stdio()
    return script


def _set_environment(env: dict[str, str]) -> None:
    """``os.environ`` (and C's environ) become ``env``, in ``env``'s order.

    Only what differs is changed: the task's environment is the server's plus a few
    entries, which a changed or added entry keeps in place, as a fresh start has them.
    """
    environ = os.environ
    for name in [name for name in environ if name not in env]:
        del environ[name]
    for name, value in env.items():
        if environ.get(name) != value:
            environ[name] = value


def _plumb(log: str) -> None:
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    nothing = os.open(os.devnull, os.O_RDWR)  # as subprocess.DEVNULL opens it
    os.dup2(nothing, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(nothing)
    os.close(output)


def _buffer_c_stdio(unbuffered: bool) -> None:
    """C's stdin/stdout/stderr buffered as a fresh ``python`` with this environment has them.

    With PYTHONUNBUFFERED the interpreter makes all three unbuffered at start-up; else
    they keep C's defaults (full buffering for files, none for stderr). Output written
    through C (``printf`` in an extension) then interleaves with Python's the same way.
    """
    if unbuffered == _C_STDIO_UNBUFFERED:
        return
    libc = ctypes.CDLL(None)
    libc.setvbuf.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    for name in ("stdin", "stdout", "stderr"):
        stream = ctypes.c_void_p.in_dll(libc, name)
        mode = _IONBF if unbuffered or name == "stderr" else _IOFBF
        libc.setvbuf(stream, None, mode, 0)


_IOFBF, _IONBF = 0, 2  # from <stdio.h> (glibc)


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


def _run(script: str) -> tuple[int, bool]:
    """Run the script as ``__main__``; its exit code, and whether Ctrl-C ended it."""
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
    del main  # sys.modules holds it alone, as in a fresh interpreter (see _finalize_modules)
    try:
        try:
            with open(script, "rb") as file:
                source = file.read()
            if b"\0" in source:
                raise _null_byte_error(source, script)
            code = compile(source, script, "exec")
            if _RECURSION is not None:  # start the script as deep as a fresh one starts (inline: a call would count)
                ints, index = _RECURSION
                seen: dict[str, int] = {}
                here = ints[index + 1] - ints[index]
                exec(_PROBE, {"seen": seen, "ints": ints, "index": index})  # noqa: S102
                # the server's frames below this one are not counted from now on; nothing
                # returns to them but this process's exit (sys.getrecursionlimit() unchanged)
                ints[index] = ints[index + 1] - (_FRESH_DEPTH - (seen["depth"] - here))
                del ints, index, seen, here
            exec(code, sys.modules["__main__"].__dict__)  # noqa: S102 - running the user's script is the point
        except SystemExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - as the interpreter does with an uncaught one
            _report_uncaught(exc, script)
            return 1, isinstance(exc, KeyboardInterrupt)
    except SystemExit as exc:
        return _system_exit_code(exc), False
    return 0, False


def _null_byte_error(source: bytes, script: str) -> SyntaxError:
    """The error ``python script.py`` gives for a null byte: its line, up to the byte.

    (``compile`` of the bytes would say "source code string ..." with no location: the
    interpreter's reader of files meets the byte while reading that line.)
    """
    at = source.index(b"\0")
    start = source.rfind(b"\n", 0, at) + 1
    line = source[start:at].decode("utf-8", "replace")
    return SyntaxError("source code cannot contain null bytes", (script, source.count(b"\n", 0, at) + 1, None, line))


def _system_exit_code(exc: SystemExit) -> int:
    """The exit status ``SystemExit`` asks for; its message printed as the interpreter does."""
    value = exc.code
    if value is None:
        return 0
    if isinstance(value, int):
        # C's (int)PyLong_AsLong(): -1 when it does not fit a long; exit() keeps 8 bits
        return (value if -(2**63) <= value < 2**63 else -1) & 0xFF
    stderr = sys.stderr
    if stderr is not None:
        stderr.write(str(value))
        stderr.write("\n")
    return 1


def _leave(code: int, interrupted: bool) -> None:  # never returns (typing, for NoReturn, costs 7 ms and re)
    """End the process as ``Py_FinalizeEx`` then ``exit()`` would, where a script can tell.

    Threads joined, atexit handlers, stdio flushed (exit status 120 if that fails),
    Python signal handlers reset, garbage collected, the modules the script imported
    (and ``__main__``, ``sys``, ``builtins``) cleared in the interpreter's order so their
    objects are finalized, C's ``exit()`` for C-level handlers and buffers. What the
    child inherited from the server is left alone: tearing it down would copy every
    page of the server's memory (~15 ms a task) to no observable effect.
    """
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()  # noqa: SLF001 - what the interpreter itself calls
        except BaseException as exc:  # noqa: BLE001
            _unraisable(exc, threading)
    del threading
    _run_atexit_handlers()
    _list_imports()
    failed = not _flush_std_files()
    _reset_signal_handlers()
    if gc.isenabled():
        gc.collect()
    _finalize_modules()
    failed = not _flush_std_files() or failed
    if interrupted:
        # as the interpreter ends after an unhandled KeyboardInterrupt: by SIGINT itself
        # (C functions only: signal.signal's Python wrapper needs the cleared builtins)
        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGINT)
    _c_exit(120 if failed else code)
    os._exit(120 if failed else code)  # only if C's exit() came back, which it never does


def _list_imports() -> None:
    """Write down the project's modules the script imported (``--resume`` reruns the job
    when one changes): every module whose file lies under the project root, one path a
    line, relative to it. Best effort and silent: nothing the script can see changes."""
    if not _imports_to:
        return
    replies, target, root = _imports_to
    try:
        found = []
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if name != "__main__" and isinstance(path, str) and path.startswith(root):
                found.append(path[len(root):].encode("utf-8", "surrogateescape"))
        try:
            # one line on the server's replies, before the server tells our exit: no file
            # to make (a new inode per task is a good part of a short task's cost)
            output = os.open(replies, os.O_WRONLY)
            data = b"imports " + b" ".join(path.hex().encode() for path in found) + b"\n"
        except OSError:
            output = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            data = b"\n".join(found)
        try:
            os.write(output, data)
        finally:
            os.close(output)
    except BaseException:  # noqa: BLE001, S110 - a list we cannot write only loses precision
        pass


def _run_atexit_handlers() -> None:
    """The interpreter's own atexit pass, reporting a failing handler as it does.

    Called from Python, a handler that raises without a traceback of its own (a builtin
    such as ``sys.exit``) would be reported with this frame as its traceback: the
    interpreter, at exit, has no frame to show.
    """
    here = sys._getframe()  # noqa: SLF001
    hook = sys.unraisablehook

    def without_this_frame(args) -> None:  # type: ignore[no-untyped-def]
        tb = args.exc_traceback
        if tb is not None and tb.tb_frame is here and tb.tb_next is None:
            args = _UnraisableHookArgs((args.exc_type, args.exc_value, None, args.err_msg, args.object))
        hook(args)

    sys.unraisablehook = without_this_frame
    try:
        atexit._run_exitfuncs()  # noqa: SLF001
    finally:
        if sys.unraisablehook is without_this_frame:  # unless a handler set its own
            sys.unraisablehook = hook


def _flush_std_files() -> bool:
    """Flush ``sys.stdout`` and ``sys.stderr``; False if one failed (flush_std_files)."""
    ok = True
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        if stream is None or _is_closed(stream):
            continue
        try:
            stream.flush()
        except Exception as exc:  # noqa: BLE001
            ok = False
            if name == "stdout":  # stderr's failure is silent, as the interpreter's is
                _unraisable(exc, stream)
    return ok


def _is_closed(stream: object) -> bool:
    try:
        return bool(stream.closed)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        return False


def _reset_signal_handlers() -> None:
    """Python-level handlers back to SIG_DFL, as the interpreter does once atexit is done."""
    for signum in _signal.valid_signals():  # the C functions: no enum wrapping
        try:
            if callable(_signal.getsignal(signum)):
                _signal.signal(signum, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass


_SYS_CLEARED = (
    "path", "argv", "ps1", "ps2", "last_type", "last_value", "last_traceback",
    "path_hooks", "path_importer_cache", "meta_path", "__interactivehook__",
)  # fmt: skip


def _finalize_modules() -> None:
    """The interpreter's module teardown (finalize_modules), for what the child made.

    Inherited modules and the inherited values of ``sys`` and ``builtins`` stay
    referenced (``keep``) until the process ends, so nothing of the server is freed.
    """
    keep = (_inherited["modules"], _inherited["sys"], _inherited["builtins"])
    builtins.__dict__["_"] = None
    for name in _SYS_CLEARED:
        setattr(sys, name, None)
    for name in ("stdin", "stdout", "stderr"):
        setattr(sys, name, getattr(sys, f"__{name}__", None))
    modules = sys.modules
    # set every entry to None in import order: a module nothing else holds ends here
    weaklist = []
    for name, module in list(modules.items()):
        if isinstance(module, type(sys)):
            if keep[0].get(name) is not module:
                weaklist.append(weakref.ref(module))
            modules[name] = None
        del module
    modules.clear()
    namespace = builtins.__dict__
    namespace.clear()
    namespace.update(keep[2])  # the interpreter restores its copy of builtins
    gc.collect()
    for ref in reversed(weaklist):  # modules imported later first
        module = ref()
        if module is not None and module is not sys and module is not builtins:
            _clear_namespace(module.__dict__)
        del module
    _clear_namespace(sys.__dict__)
    _clear_namespace(builtins.__dict__)
    gc.collect()


def _clear_namespace(namespace: dict) -> None:
    """Set a module's globals to None: ``_private`` ones first, all but __builtins__ next."""
    for key in list(namespace):
        if isinstance(key, str) and key[:1] == "_" and key[1:2] != "_" and namespace.get(key) is not None:
            namespace[key] = None
    for key in list(namespace):
        if isinstance(key, str) and key != "__builtins__" and namespace.get(key) is not None:
            namespace[key] = None


def _unraisable(exc: BaseException, obj: object) -> None:
    """Report ``exc`` as "Exception ignored in: OBJ", through ``sys.unraisablehook``.

    Its traceback leaves out the frame that caught it (the interpreter calls from C).
    """
    hook = getattr(sys, "unraisablehook", None) or sys.__unraisablehook__
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    hook(_UnraisableHookArgs((type(exc), exc, tb, None, obj)))


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
