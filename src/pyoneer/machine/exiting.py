"""How a warm task ends: the interpreter's own end of ``python script.py``, per version.

A fresh interpreter ends a script in three steps, and a warm child (``forkserver.py``)
takes each of them as the running CPython does:

- the script's outcome (``PyErr_Print`` for an uncaught exception,
  ``handle_system_exit`` for ``SystemExit``): ``report_uncaught``, ``system_exit_code``;
- ``Py_FinalizeEx``: threads joined, atexit handlers, stdio flushed, Python signal
  handlers reset, garbage collected, modules torn down in the interpreter's order,
  stdio flushed again (``leave``);
- C's ``exit()``: C-level atexit handlers and stdio buffers.

What the child inherited from the server is left alone (see ``leave``). A ``SystemExit``
whose code is an int that does not fit a C long is the one outcome whose handling changed
between versions in ways Python code cannot reproduce: that rare child is ended by the
interpreter itself (see ``left_to_the_interpreter``).

Runs in the fork server (by path, standard library only).
"""

import _signal
import _thread
import atexit
import builtins
import ctypes
import gc
import os
import sys
import weakref
from builtins import (  # noqa: A004
    bool,
    callable,
    getattr,
    isinstance,
    len,
    list,
    reversed,
    RuntimeError,
    setattr,
    str,
    type,
)

# The builtins above are this module's own names because a child clears the builtins
# module while it finalizes (see _finalize_modules) and still runs this file's code then.

_VERSION = sys.version_info[:2]
#: C's exit(): C-level atexit handlers and stdio buffers, without Python's finalization
_c_exit = ctypes.PyDLL(None).exit
_c_exit.argtypes = [ctypes.c_int]
#: what a C long holds here (handle_system_exit converts the code with PyLong_AsLong)
_LONG_MAX = 2 ** (8 * ctypes.sizeof(ctypes.c_long) - 1) - 1
_LONG_MIN = -_LONG_MAX - 1


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


# The script's outcome -----------------------------------------------------------------


def flush_io() -> None:
    """What the interpreter does as soon as the script has ended, before it reports how
    (``flush_io`` in pythonrun.c): ``sys.stderr``, then ``sys.stdout``, flushed, errors
    ignored. Output the script left buffered comes before its traceback, its exit message
    and whatever its threads print while they are joined."""
    for name in ("stderr", "stdout"):
        try:
            getattr(sys, name).flush()
        except BaseException:  # noqa: BLE001, S110 - PyErr_Clear(), as there
            pass


def forget_script_file(namespace: dict) -> None:
    """What ``_PyRun_SimpleFileObject`` does once the script has ended (unless by
    ``SystemExit``, whose handling exits from within): ``__file__`` and ``__cached__``,
    which it put in ``__main__`` for the run, are taken out again, before threads are
    joined and atexit handlers run."""
    namespace.pop("__file__", None)
    namespace.pop("__cached__", None)


def left_to_the_interpreter(exc: SystemExit) -> bool:
    """True for a ``SystemExit`` whose code is an int that does not fit a C long.

    Such a ``SystemExit`` is left to the interpreter itself: the fork server's child
    raises it up out of the server's ``main()``, where ``python script.py`` meets it too
    (``PyErr_Print``, ``handle_system_exit``, ``Py_FinalizeEx``, ``exit()``), with no
    Python frame left. That is slower than ``leave`` (all that the child inherited from
    the server is finalized too), and only for codes past a C long, whose handling
    changed between versions (3.11 clears the ``OverflowError`` of the conversion; 3.12.1
    and 3.13.0 leave it pending into ``Py_FinalizeEx``, which reports it on threading
    shutdown, or fails inside ``threading._shutdown``; gh-125842 changed it again since).
    """
    return isinstance(exc.code, int) and not _LONG_MIN <= exc.code <= _LONG_MAX


def system_exit_code(exc: SystemExit) -> int:
    """The exit status ``SystemExit`` asks for, its message printed as the interpreter does
    (``handle_system_exit``; for a code that ``left_to_the_interpreter``, it does it)."""
    value = exc.code
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF  # C's exit() keeps 8 bits
    stderr = getattr(sys, "stderr", None)
    if stderr is not None:
        stderr.write(str(value))
        stderr.write("\n")
    else:  # PyObject_Print to C's stderr (unbuffered), and PySys_WriteStderr falls back there
        os.write(2, str(value).encode("utf-8", "backslashreplace") + b"\n")
    return 1


def report_uncaught(exc: BaseException, script: str) -> None:
    """Report an exception that ended the script, as ``PyErr_Print`` does."""
    tb = _from_script(exc.__traceback__, script)
    exc.__traceback__ = tb
    if _VERSION >= (3, 12):
        sys.last_exc = exc  # 3.12 added it, set before the hook runs
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


# Py_FinalizeEx, then exit() ------------------------------------------------------------


def leave(code: int, interrupted: bool, inherited: dict[str, dict], before_flush) -> None:  # type: ignore[no-untyped-def]
    """End the process as ``Py_FinalizeEx`` then ``exit()`` would, where a script can tell.
    Never returns (not typed so: ``typing`` would cost the server's start 7 ms and ``re``).

    Threads joined, atexit handlers, stdio flushed (exit status 120 if that fails),
    Python signal handlers reset, garbage collected, the modules the script imported
    (and ``__main__``, ``sys``, ``builtins``) cleared in the interpreter's order so their
    objects are finalized, C's ``exit()`` for C-level handlers and buffers. What the
    child inherited from the server (``inherited``: its modules, ``sys`` and builtins
    as they were) is left alone: tearing it down would copy every page of the server's
    memory (~15 ms a task) to no observable effect. ``before_flush`` runs once the
    atexit handlers have.
    """
    if _VERSION == (3, 12):
        _refuse_new_threads()
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()  # noqa: SLF001 - what the interpreter itself calls
        except BaseException as exc:  # noqa: BLE001
            # wait_for_thread_shutdown: 3.13 says what failed, earlier ones name the module
            if _VERSION >= (3, 13):
                _unraisable(exc, None, "Exception ignored on threading shutdown")
            else:
                _unraisable(exc, threading)
    del threading
    _run_atexit_handlers()
    before_flush()
    failed = not _flush_std_files()
    _reset_signal_handlers()
    if gc.isenabled():
        gc.collect()
    _finalize_modules(inherited)
    failed = not _flush_std_files() or failed
    if interrupted:
        # as the interpreter ends after an unhandled KeyboardInterrupt: by SIGINT itself
        # (C functions only: signal.signal's Python wrapper needs the cleared builtins)
        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGINT)
    _c_exit(120 if failed else code)
    os._exit(120 if failed else code)  # only if C's exit() came back, which it never does


def _refuse_new_threads() -> None:
    """3.12's ``Py_FinalizeEx`` marks the interpreter as finalizing before it joins the
    threads, and from then on ``_thread.start_new_thread`` refuses (3.11 and 3.13 do not).
    The flag is the interpreter's; the refusal is made here in Python instead, so an
    uncaught one's traceback shows one more frame (this module's) than 3.12's."""
    _thread.start_new_thread = _thread.start_new = _refuse
    threading = sys.modules.get("threading")
    if threading is not None and getattr(threading, "_start_new_thread", None) is not None:
        threading._start_new_thread = _refuse  # noqa: SLF001 - Thread.start calls it


def _refuse(function, args, kwargs=None) -> None:  # type: ignore[no-untyped-def]  # noqa: ARG001
    raise RuntimeError("can't create new thread at interpreter shutdown")


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
            if name != "stdout":
                continue  # stderr's failure is silent, as the interpreter's is
            if _VERSION >= (3, 13):  # PyErr_FormatUnraisable, no object
                _unraisable(exc, None, "Exception ignored on flushing sys.stdout")
            else:  # PyErr_WriteUnraisable(fout)
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


#: the attributes of sys that finalize_modules_delete_special sets to None first
_SYS_CLEARED = (
    "path", "argv", "ps1", "ps2", *(("last_exc",) if _VERSION >= (3, 12) else ()),
    "last_type", "last_value", "last_traceback",
    "path_hooks", "path_importer_cache", "meta_path", "__interactivehook__",
)  # fmt: skip


def _finalize_modules(inherited: dict[str, dict]) -> None:
    """The interpreter's module teardown (finalize_modules), for what the child made.

    Inherited modules and the inherited values of ``sys`` and ``builtins`` stay
    referenced (``keep``) until the process ends, so nothing of the server is freed.
    """
    keep = (inherited["modules"], inherited["sys"], inherited["builtins"])
    builtins.__dict__["_"] = None
    for name in _SYS_CLEARED:
        setattr(sys, name, None)
    for name in ("stdin", "stdout", "stderr"):
        setattr(sys, name, getattr(sys, f"__{name}__", None))
    modules = sys.modules
    # set every entry to None in import order: a module nothing else holds ends here
    weaklist = []
    # one entry at a time, as the interpreter walks the dict: a copy of its items would
    # keep every module alive to the end of the walk, then free them last first. Names
    # only are copied (a finalizer may import), and what was imported meanwhile follows
    walked = 0
    while walked < len(modules):
        names = list(modules)[walked:]
        walked += len(names)
        for name in names:
            module = modules.get(name)
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


def _unraisable(exc: BaseException, obj: object, message: str | None = None) -> None:
    """Report ``exc`` as "Exception ignored in: OBJ" (or as ``message``), through
    ``sys.unraisablehook``, as ``PyErr_WriteUnraisable`` (``PyErr_FormatUnraisable``) does.

    Its traceback leaves out the frame that caught it (the interpreter calls from C).
    """
    hook = getattr(sys, "unraisablehook", None) or sys.__unraisablehook__
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    hook(_UnraisableHookArgs((type(exc), exc, tb, message, obj)))
