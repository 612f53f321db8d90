"""Preload, learned: the fork server's half (standard library only: run by path, beside
``forkserver.py``, which imports it as it imports ``exiting``).

In a warm child, ``clock`` notes, with an audit hook, each module the script imported
from its own code or from the code of the project's own modules (not one imported by a
library's import: that one comes along) and how long that import took, measured in the
child; ``learned`` says them as the child
ends. In the server, ``checked_import`` imports a learned module with the job's own
environment, and says why not where it is not safe to fork after: a thread started, a
socket or another file left open, something printed, a GPU touched.
"""

import os
import sys
import time

#: [name, started, last seen busy] of each import the script made itself, in order
_imports: list[list] = []
_perf = time.perf_counter
_getframe = sys._getframe


def clock(root: str = "") -> None:
    """In a warm child, before its script runs: time the imports it makes from now on,
    and those that the project's own modules (under ``root``, ending in a separator) make.

    An audit hook is invisible to the script (it cannot be listed), unlike an entry on
    ``sys.meta_path`` or a wrapped ``__import__``, which a script could see.
    """
    _root[:] = [root] if root else []
    sys.addaudithook(_heard)


def _heard(event: str, args: tuple) -> None:
    # called for every audited event of the task: the first test must be cheap. Any
    # event seen inside an import says it is still busy (a thread started, a file read);
    # once one comes from the script's own code, the script's last import has ended
    if event != "import" and event != "exec" and not _open or _looking:
        return  # (_nested's own look at the frames may be an event too)
    now = _perf()
    _looking.append(True)
    try:
        nested, asked = _nested()
    except ValueError:  # no Python frame that deep: not from inside an import
        nested, asked = False, None
    finally:
        _looking.clear()
    if asked is not None:  # the first event of a script's importlib.import_module(name)
        _imports.append([asked, now, now])
        _open[:] = [True]
    elif nested:
        if _imports:
            _imports[-1][2] = now  # the import in progress is still busy
    elif event == "import":
        _imports.append([args[0], now, now])
        _open[:] = [True]
    else:
        _open.clear()


#: non-empty while the script's last import may still run; while the hook looks at frames
_open: list[bool] = []
_looking: list[bool] = []
#: (id of the frame, name) of the importlib.import_module call heard last
_asking: list[tuple[int, str]] = []
#: the import machinery's globals: a frame running its code has them. Compared by
#: identity: reading a frame's ``f_code`` is itself an audited event (one more call of
#: the hook for each frame looked at), reading its ``f_globals`` is not
_MACHINERY = (sys.modules["_frozen_importlib"].__dict__, sys.modules["_frozen_importlib_external"].__dict__)
#: the project's root, ending in a separator (see ``clock``)
_root: list[str] = []


def _nested() -> tuple[bool, str | None]:
    """Whether the event comes from inside another import (the machinery's frames), and
    the name a script's own ``importlib.import_module(name)`` imports, when the event is
    the first heard of that call.

    ``import_module`` raises no ``import`` event of its own (only the ``import``
    statement does): what it imports is heard from inside, as events raised by the
    import machinery's frames right below its own (looking for the module, reading it,
    running it), with no import further out.

    The project's own code imports as the script does: ``train.py`` importing its
    ``model.py``, which imports torch, learns torch."""
    boot, external = _MACHINERY
    frame = _getframe(2)
    below = None  # the last of the innermost frames while they are the machinery's
    while frame is not None and (frame.f_globals is boot or frame.f_globals is external):
        below, frame = frame, frame.f_back
    if below is None:  # raised by code that is not the machinery's: inside an import if one runs further out
        if frame is not None and _root and _own(frame.f_globals):
            return False, None
        while frame is not None:
            if frame.f_globals is boot or frame.f_globals is external:
                return True, None
            frame = frame.f_back
        return False, None
    if frame is None or frame.f_globals.get("__name__") != "importlib" or frame.f_code.co_name != "import_module":
        return True, None
    outer = frame.f_back
    if outer is not None and _root and _own(outer.f_globals):
        outer = None  # called by the project's own code: the script's import
    while outer is not None:
        if outer.f_globals is boot or outer.f_globals is external:
            return True, None  # import_module called by a module while it is imported
        outer = outer.f_back
    name = below.f_locals.get("name")  # _gcd_import's, relative names resolved
    key = (id(frame), name)
    if not isinstance(name, str) or _asking and _asking[-1] == key:
        return True, None  # the same call, still importing
    _asking[:] = [key]
    return True, name


def _own(namespace: dict) -> bool:
    """Whether code of the module with these globals is the project's (the script run by
    a relative path too); its ``__file__``, not its frame's ``f_code``, which is audited."""
    filename = namespace.get("__file__")
    if not isinstance(filename, str):
        return False
    if not filename.startswith(os.sep):
        return not filename.startswith("<")  # not <frozen ...>, <string>
    return of_the_project(filename, _root[0])


def of_the_project(path: object, root: str) -> bool:
    """Whether a module's file is the project's own (under ``root``, which ends with a
    separator), not a package its environment installed under ``.pyoneer/`` (Slurm's)."""
    return isinstance(path, str) and path.startswith(root) and not path.startswith(root + ".pyoneer" + os.sep)


def learned(root: str, skip: frozenset) -> str:
    """The imports the script made, as ``NAME:MICROSECONDS`` words in the order they were
    first made: those that succeeded and lie outside ``root`` (the project's modules are
    its own to change), but ``skip`` (what the child had before its script ran).

    The time runs from the import's start to the last import it made in turn: a lower
    bound (a module's own code after its last import is not seen), which is what the
    threshold of what is worth preloading needs."""
    said: dict[str, int] = {}
    for name, started, busy in _imports:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if module is None or name in said or name in skip or name == "__main__":
            continue
        if of_the_project(path, root):
            continue
        said[name] = int((busy - started) * 1e6)
    return " ".join(f"{name}:{cost}" for name, cost in said.items())


# In the server ----------------------------------------------------------------------


def checked_import(name: str, env: dict, root: str) -> tuple[str, bool]:
    """Import ``name`` in the server with ``env`` as the environment; ``("", True)`` if it
    is safe to fork after, else why not, and whether the server is still fit to fork
    (False: it must go, the module stays in it).

    The checks look at what the process holds before and after: its threads
    (``/proc/self/task`` and ``threading``), its descriptors (sockets, other files), what
    reached its stdout and stderr (a file of its own while importing), and whether a GPU
    driver was loaded (CUDA's ``libcuda`` or ``/dev/nvidia*``).
    """
    threads, fds, gpu, libraries = _threads(), _fds(), _gpu(), _libraries()
    saved = dict(os.environ)
    said = _catch_output()
    sys.path.insert(0, root)
    try:
        _environ(env)
        __import__(name)
    except BaseException as exc:  # noqa: BLE001 - the task meets the error itself, fresh
        return f"import failed: {type(exc).__name__}: {exc}".replace("\n", " ")[:300], True
    finally:
        sys.path.remove(root)
        _environ(saved)
        printed = _release_output(said)
    if _python_threads() > threads[0]:
        return "started a thread at import", False
    loaded = _libraries() - libraries
    if _threads()[1] > threads[1] and not any(pool in path for path in loaded for pool in FORK_SAFE_POOLS):
        return "started a native thread at import", False
    new = {fd: what for fd, what in _fds().items() if fds.get(fd) != what}
    if any(what.startswith("socket:") for what in new.values()):
        return "opened a socket at import", False
    if not gpu and _gpu():
        return "touched a GPU at import", False
    if new:
        return f"left a file open at import ({sorted(new.values())[0]})", False
    if printed:
        return "printed at import", False
    return "", True


def _environ(env: dict) -> None:
    environ = os.environ
    for name in [name for name in environ if name not in env]:
        del environ[name]
    for name, value in env.items():
        if environ.get(name) != value:
            environ[name] = value


#: native thread pools started when their library loads that quiesce around a fork
#: (pthread_atfork), so a server may fork after loading them: OpenBLAS (numpy, scipy)
FORK_SAFE_POOLS = ("openblas",)


def _python_threads() -> int:
    threading = sys.modules.get("threading")
    return len(threading.enumerate()) if threading is not None else 1


def _threads() -> tuple[int, int]:
    """The threads Python knows of, and those the kernel knows of (native ones too)."""
    return _python_threads(), len(os.listdir("/proc/self/task"))


def _libraries() -> set:
    """The shared objects mapped into this process."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return {line.rsplit(b" ", 1)[-1].decode("utf-8", "replace") for line in maps.read().splitlines()
                    if b".so" in line}
    except OSError:
        return set()


def _fds() -> dict:
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found[int(fd)] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return found


def _gpu() -> bool:
    if any("libcuda.so" in path for path in _libraries()):
        return True
    return any(what.startswith("/dev/nvidia") for what in _fds().values())


def _catch_output() -> tuple:
    """stdout and stderr to a file of their own while a module is imported."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    catcher = os.open("/tmp" if os.path.isdir("/tmp") else ".", os.O_RDWR | os.O_TMPFILE, 0o600)
    saved = (os.dup(1), os.dup(2))
    os.dup2(catcher, 1)
    os.dup2(catcher, 2)
    return catcher, saved


def _release_output(said: tuple) -> bool:
    catcher, saved = said
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 - a stream the module broke says nothing
                pass
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    printed = os.fstat(catcher).st_size > 0
    for fd in (catcher, *saved):
        os.close(fd)
    return printed


def kept(before: frozenset, own: frozenset) -> frozenset:
    """The modules a child keeps once modules were preloaded: those the preloading
    brought in (``sys.modules`` less ``before``), and of the server's own (``own``, which
    a child otherwise forgets) those a preloaded module holds, so that the script and
    the preloaded module share one copy (one ``enum.Enum``, one ``ctypes``)."""
    added = {name: module for name, module in sys.modules.items() if name not in before}
    held = set()
    module_type = type(sys)
    for module in list(added.values()):
        for value in list(getattr(module, "__dict__", {}).values()):
            if isinstance(value, module_type) and value.__name__ in own:
                held.add(value.__name__)
    return frozenset(added) | frozenset(held)
