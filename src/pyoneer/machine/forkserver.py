"""The fork server: a warm interpreter that runs each task in a forked child.

Started once per worker as ``python forkserver.py REPLY_FD`` (so its start-up is
Python's own); single-threaded, so forking is safe. It reads requests from stdin — a
4-byte length, then a ``marshal``-ed dict ``{"argv", "cwd", "env", "log", "preload"}``
(and ``"imports"``: a file where the child lists the modules under ``cwd`` it imported;
``"outputs"``: the relay's pipes for its stdout and stderr, see ``streams``)
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
objects finalized, files flushed, as the running CPython version does it (``exiting``,
beside this file).

It forks tasks only on an interpreter it knows (``threadstate``, beside this file:
CPython 3.11-3.13 with the GIL, its thread state recognised): elsewhere its ready line
says ``fresh``, and every request is exec'd, as if ``"exec"`` were set.
"""

import sys

# What a fresh interpreter has imported by now; a child forgets everything else
# the server imports (except what the project asked to preload).
_FRESH_MODULES = frozenset(sys.modules)

# the modules beside this file (found there: ``python forkserver.py`` put its folder
# first on sys.path), then forgotten by name, so that a project's own module of the same
# name is the one its scripts (and preload) import
import exiting  # noqa: E402
import preloading  # noqa: E402
import stdio  # noqa: E402
import threadstate  # noqa: E402

del sys.modules["exiting"], sys.modules["preloading"], sys.modules["stdio"], sys.modules["threadstate"]
# a fresh ``python script.py`` has the script's folder first on sys.path (set in each child)
del sys.path[0]

import _signal  # noqa: E402 - after the lines above on purpose
import builtins  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import marshal  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

# (A child runs no code of this file once exiting.leave has begun to clear builtins.)

_SERVER_MODULES = frozenset(sys.modules)  # the fresh ones and the server's own
_STARTUP_HANDLERS = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)}
_preloaded: set[str] = set()
#: what a child keeps of the modules preloading brought in (see preloading.kept)
_kept: set[str] = set()
#: where a child lists the project's modules it imported (the server's replies, opened
#: anew through /proc: an fd kept open would be one a fresh interpreter lacks; else a
#: file), and the project's root
_imports_to: list[str] = []
_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
#: what a child had before its script ran: kept alive to its end (see exiting.leave)
_inherited: dict[str, dict] = {}


#: the count of calls left (see threadstate) and, read in this module's own frame, which
#: stands where a fresh script's frame does, how deep a script starts under ``python script.py``
_RECURSION = threadstate.find_recursion_counter()
_FRESH_DEPTH = _RECURSION[0][_RECURSION[1] + 1] - _RECURSION[0][_RECURSION[1]] if _RECURSION else 0
#: a script's stand-in, run as the script is, to measure what exec() adds to the depth
_PROBE = compile("seen['depth'] = ints[index + 1] - ints[index]", "<pyoneer depth probe>", "exec")
#: whether tasks run warm here: only on an interpreter whose exit this server mirrors and
#: whose recursion counter it found for sure; elsewhere every task is exec'd, fresh
_WARM = _RECURSION is not None


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
    # "fresh": this interpreter is not one to run tasks warm in (see threadstate)
    _say(replies, " ".join(["ready", *(["subreaper"] if _become_subreaper() else []), *([] if _WARM else ["fresh"])]))
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
            fresh = request.get("exec", False) or not _WARM
            if not fresh:
                imported = _preload(request, replies)
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
            # the task's stdout and stderr (the relay's pipes), opened before the fork:
            # the worker lets go of its own ends once it hears "started"
            request["fds"] = stdio.opened(request.get("outputs", ()))
            pid = os.fork()
            if pid == 0:
                server_fds = (replies, wake_read, wake_write)
                if fresh:
                    _exec_fresh(request, server_fds)
                _child(request, server_fds)
            for fd in request["fds"]:
                os.close(fd)
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


def _preload(request: dict, replies: int) -> bool:
    """Import what the project asked for, then what was learned, once each, with the job's
    environment; project modules are found from its root. True if it tried anything new
    (the server's modules may have changed). A learned module that is not safe to fork
    after is told (``preload NAME WHY``, in hex), and one that left this server unfit to
    fork ends it: the worker starts another without it."""
    tried = False
    asked = [(name, False) for name in request.get("preload", ())]
    for name, learned in asked + [(name, True) for name in request.get("learn", ())]:
        if name in _preloaded:
            continue
        _preloaded.add(name)
        tried = True
        why, fit = preloading.checked_import(name, request.get("preload_env", request["env"]), request["cwd"])
        if learned and why:  # (what the project asked for is imported whatever it does)
            _say(replies, f"preload {name} {why.encode().hex()}")
            if not fit:
                os._exit(3)
    if tried:
        _kept.update(preloading.kept(_SERVER_MODULES, _SERVER_MODULES - _FRESH_MODULES))
    return tried


# In the child -----------------------------------------------------------------------


def _exec_fresh(request: dict, server_fds: tuple[int, ...]) -> None:  # never returns (no typing: see exiting.leave)
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
        stdio.plumb(request["log"], request["fds"])
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
    handed_over = None
    try:
        code, interrupted = _run(script)
        if isinstance(code, SystemExit):
            _list_imports()  # the interpreter's exit never comes back to list them
            handed_over = code
        else:
            exiting.leave(code, interrupted, _inherited, _list_imports)
    finally:
        if handed_over is None:
            os._exit(1)  # a bug of ours in exiting.leave: never back into the server's loop
    # up through main() (which catches nothing) to the interpreter's own handler, with no
    # Python frame left: see exiting.left_to_the_interpreter
    raise handed_over


def _become(request: dict, server_fds: tuple[int, ...]) -> str:
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for sig, handler in _STARTUP_HANDLERS.items():
        signal.signal(sig, handler)
    for fd in server_fds:
        os.close(fd)
    stdio.plumb(request["log"], request["fds"])
    stdio.buffer_c_stdio(bool(request["env"].get("PYTHONUNBUFFERED")))
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
        if request.get("learning"):
            preloading.clock(_imports_to[2])  # what it imports, and what that cost: the next run's preload
    stdio.reopen_stdio()
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


def _forget_server_modules() -> None:
    keep = _FRESH_MODULES | _preloaded | _kept
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


def _run(script: str) -> tuple[int | SystemExit, bool]:
    """Run the script as ``__main__``; its exit code (or the ``SystemExit`` to leave to the
    interpreter, see ``exiting.left_to_the_interpreter``), and whether Ctrl-C ended it."""
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
    # held while the script runs, as _PyRun_SimpleFileObject holds it (its ``m``); let go
    # before the outcome is reported, and by the interpreter's exit sys.modules holds it
    # alone (see exiting)
    namespace, held = main.__dict__, [main]
    del main
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
            exec(code, namespace)  # noqa: S102 - running the user's script is the point
        except SystemExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - as the interpreter does with an uncaught one
            exiting.flush_io()
            held.clear()
            exiting.report_uncaught(exc, script)
            exiting.forget_script_file(namespace)
            return 1, isinstance(exc, KeyboardInterrupt)
    except SystemExit as exc:
        if exiting.left_to_the_interpreter(exc):
            return exc, False  # the interpreter flushes, then handles it (see _child)
        exiting.flush_io()
        held.clear()
        return exiting.system_exit_code(exc), False  # (the interpreter's exit: __file__ stays)
    exiting.flush_io()
    exiting.forget_script_file(namespace)
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
            if name != "__main__" and preloading.of_the_project(path, root):
                found.append(path[len(root):].encode("utf-8", "surrogateescape"))
        try:
            # one line on the server's replies, before the server tells our exit: no file
            # to make (a new inode per task is a good part of a short task's cost)
            output = os.open(replies, os.O_WRONLY)
            data = b"imports " + b" ".join(path.hex().encode() for path in found) + b"\n"
            data += b"learned " + preloading.learned(root, _FRESH_MODULES | _preloaded).encode() + b"\n"
        except OSError:
            output = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            data = b"\n".join(found)
        try:
            os.write(output, data)
        finally:
            os.close(output)
    except BaseException:  # noqa: BLE001, S110 - a list we cannot write only loses precision
        pass


if __name__ == "__main__":
    main()
