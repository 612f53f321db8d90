"""The interpreters a fork server knows, and where CPython counts a thread's calls.

A warm task must start as deep as a fresh script does (the fork server's own frames
below it are not to count against ``sys.getrecursionlimit()``). The fork server does that
by writing into CPython's ``PyThreadState`` through ``ctypes``, at an offset found by
looking. A write to the wrong place would corrupt the interpreter, so it is done only
where all of this holds:

- the interpreter is one whose exit the fork server mirrors and whose thread state it has
  been checked against: CPython 3.11, 3.12 or 3.13, built with the GIL (a free-threaded
  build lays its thread state out differently);
- the probe finds exactly one place that behaves as the counter must, and
  ``sys.setrecursionlimit`` then moves it as CPython's own code moves it.

Anywhere else the fork server runs no task warm: each runs fresh (``unknown`` says why).

Runs in the fork server (by path, standard library only).
"""

import ctypes
import sys

#: the CPython versions whose exit and thread state the fork server mirrors
KNOWN = ((3, 11), (3, 12), (3, 13))


def unknown() -> str | None:
    """Why this interpreter is not one the fork server knows; None if it is one."""
    if sys.implementation.name != "cpython":
        return f"this is {sys.implementation.name}"
    version = "{}.{}".format(*sys.version_info[:2])
    if sys.version_info[:2] not in KNOWN:
        return f"this is CPython {version}"
    if "t" in getattr(sys, "abiflags", "") or not getattr(sys, "_is_gil_enabled", lambda: True)():
        return f"this is a free-threaded CPython {version}"
    return None


def find_recursion_counter() -> tuple[ctypes.Array, int] | None:
    """Where this thread's state counts the Python calls left before ``RecursionError``.

    CPython keeps, side by side in its ``PyThreadState``, the calls a thread may still
    make and its recursion limit (``recursion_remaining`` and ``recursion_limit`` in 3.11,
    ``py_recursion_*`` in 3.12 and 3.13). They are found by looking, not by offset: the
    pair whose limit is ``sys.getrecursionlimit()`` and whose count is one lower in a
    nested call; then checked: ``sys.setrecursionlimit`` must move both by the same
    amount. Returns the struct's first ints and the count's index among them, or None
    where that cannot be told for sure, or on an interpreter not ``KNOWN`` (nothing is
    read there at all).
    """
    if unknown() is not None:
        return None
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
        if len(found) != 1:
            return None
        index = found[0]
        left = ints[index]
        sys.setrecursionlimit(limit + 100)  # CPython keeps each thread's depth: both move
        moved = ints[index + 1] == limit + 100 and ints[index] == left + 100
        sys.setrecursionlimit(limit)
        if moved and ints[index + 1] == limit and ints[index] == left:
            return ints, index
        return None
    except Exception:  # noqa: BLE001 - not CPython as we know it: leave the depth alone
        return None


def _read_ints(ints: ctypes.Array) -> list[int]:
    values = []
    for index in range(len(ints)):
        values.append(ints[index])
    return values
