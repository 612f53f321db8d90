"""How a matrix member is named, and how a user names one back.

A member's **name** keeps its values readable, in the order written:
``test[os=ubuntu 22.04,node-version=16]``. It is what every view shows, what the ledger
keys on, and what ``PYONEER_JOB`` holds.

Its **escaped name** is the one rule for where a value cannot stand as it is, in a
path or a shell word: every character of a value other than ASCII letters, digits and
``_ . + : @ -`` is written ``%XX``, one per byte of its UTF-8 (``ubuntu%2022.04``,
``16%2FDockerfile.c9s``, ``caf%C3%A9``; ``%`` itself is ``%25``, so the form reads back
one way only). The member's log folder is its escaped name; one longer than
``FOLDER_MOST`` characters is cut there and ends in ``~`` and a hash of the whole
(``~`` never appears in an escaped value), so a value 300 characters long still makes
a folder name a file system takes.

Selectors (``--only``, ``needs``, ``pyoneer logs``) take either form, whole names and
single values alike: ``test[os=ubuntu 22.04]`` or ``test[os=ubuntu%2022.04]``. A
table's field is picked with a dotted key: ``test[os.name=ubuntu]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyoneer.blueprints.placeholders import Value, render
from pyoneer.errors import ProjectError

#: the characters a value keeps in its escaped form
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.+:@-")
#: the longest log folder name (a file system takes 255 bytes; the task's log files are apart)
FOLDER_MOST = 200
_REFERENCE = re.compile(r"^(?P<job>[^\[\]]+)\[(?P<selector>.*)\]$", re.DOTALL)
#: a comma that starts the next ``KEY=``: any other comma is part of a value
_NEXT_KEY = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\s*=)")


def member_name(group: str, values: Mapping[str, Value]) -> str:
    """``train[data=sea,lr=0.1]``: the job's name, then its values in the order written."""
    return f"{group}[{','.join(f'{name}={render(value)}' for name, value in values.items())}]"


def escape(text: str) -> str:
    """``text`` with every character but ASCII letters, digits and ``_ . + : @ -`` as
    ``%XX`` per UTF-8 byte: ``"ubuntu 22.04"`` -> ``"ubuntu%2022.04"``."""
    if all(char in _PLAIN for char in text):
        return text
    return "".join(char if char in _PLAIN else "".join(f"%{byte:02X}" for byte in char.encode()) for char in text)


def escaped_name(group: str, values: Mapping[str, Value]) -> str:
    """The member's name with each value escaped: safe in a path and as a shell word."""
    return f"{group}[{','.join(f'{name}={escape(render(value))}' for name, value in values.items())}]"


def folder_name(group: str, values: Mapping[str, Value]) -> str:
    """The member's log folder: its escaped name, cut to ``FOLDER_MOST`` characters with
    a hash of the whole when it is longer."""
    escaped = escaped_name(group, values)
    if len(escaped) <= FOLDER_MOST:
        return escaped
    from hashlib import sha256  # here: only a name this long needs it

    return escaped[: FOLDER_MOST - 18] + "~" + sha256(escaped.encode()).hexdigest()[:16] + "]"


def forms(group: str, values: Mapping[str, Value]) -> set[str]:
    """Every whole name a user may give this member by: readable, escaped, its folder's."""
    return {member_name(group, values), escaped_name(group, values), folder_name(group, values)}


def from_json(values: Mapping[str, Any]) -> dict[str, Value]:
    """A member's values as the ledger keeps them (JSON), made values again (lists as tuples)."""
    def back(value: Any) -> Any:
        if isinstance(value, list):
            return tuple(back(item) for item in value)
        if isinstance(value, Mapping):
            return {name: back(item) for name, item in value.items()}
        return value

    return {name: back(value) for name, value in values.items()}


def parse_reference(reference: str) -> tuple[str, dict[str, str]]:
    """``"train[seed=1,lr=0.1]"`` -> ``("train", {"seed": "1", "lr": "0.1"})``; a plain name has no selector.

    A comma splits values only where a ``KEY=`` follows it, so ``os=ubuntu 22.04, LTS``
    is one value; a value that holds ``,KEY=`` is given in its escaped form.
    """
    match = _REFERENCE.match(reference)
    if match is None:
        return reference, {}
    selector: dict[str, str] = {}
    text = match["selector"]
    for part in _NEXT_KEY.split(text) if text.strip() else []:
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise ProjectError(f"{part!r} in {reference!r} is not KEY=VALUE", hint="e.g. train[seed=1]")
        if name.strip() in selector:
            raise ProjectError(f"{name.strip()!r} is given twice in {reference!r}",
                               hint="a selector picks one value of each key")
        selector[name.strip()] = value.strip()
    return match["job"], selector


def selects(values: Mapping[str, Value], selector: Mapping[str, str]) -> bool:
    """Whether a member with ``values`` has every value ``selector`` asks for, each given
    readable or escaped (``os.name`` reaches into a table)."""
    for key, wanted in selector.items():
        base, *fields = key.split(".")
        if base not in values:
            return False
        value = values[base]
        for field in fields:
            if not isinstance(value, Mapping) or field not in value:
                return False
            value = value[field]
        text = render(value)
        if wanted != text and wanted != escape(text):
            return False
    return True


def selector_keys(selector: Mapping[str, str]) -> list[str]:
    """The matrix keys a selector names (``os`` for ``os.name``)."""
    return [key.split(".")[0] for key in selector]
