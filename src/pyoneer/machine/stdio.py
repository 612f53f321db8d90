"""A fork server's child's standard streams, made as a fresh ``python`` makes them.

Imported by the fork server beside it (``forkserver.py``) at its start, when this
interpreter's own streams are still as its start-up made them: their encodings are what
a fresh interpreter with the same environment picks.
"""

import codecs
import ctypes
import io
import os
import sys

# the streams as this interpreter made them: their encodings are what a fresh one picks
_STDIO_DEFAULTS = {
    "stdin": (sys.stdin.encoding, sys.stdin.errors),
    "stdout": (sys.stdout.encoding, sys.stdout.errors),
    "stderr": (sys.stderr.encoding, sys.stderr.errors),
}
#: whether C's stdio streams are unbuffered here (python -u / PYTHONUNBUFFERED does that)
_C_STDIO_UNBUFFERED = bool(os.environ.get("PYTHONUNBUFFERED"))



def opened(paths: list[str]) -> tuple[int, ...]:
    """The write ends at ``paths`` (``/proc/PID/fd/N``); none if any cannot be opened."""
    fds: list[int] = []
    try:
        for path in paths:
            fds.append(os.open(path, os.O_WRONLY))
    except OSError:  # the task writes its log itself, as it did before there was a relay
        for fd in fds:
            os.close(fd)
        return ()
    return tuple(fds)


def plumb(log: str, outputs: tuple[int, ...]) -> None:
    """stdin from /dev/null; stdout and stderr to ``outputs``, or else both to ``log``."""
    if not outputs:
        outputs = (os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),) * 2
    nothing = os.open(os.devnull, os.O_RDWR)  # as subprocess.DEVNULL opens it
    os.dup2(nothing, 0)
    os.dup2(outputs[0], 1)
    os.dup2(outputs[1], 2)
    for fd in {nothing, *outputs}:
        os.close(fd)


def buffer_c_stdio(unbuffered: bool) -> None:
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


def reopen_stdio() -> None:
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
