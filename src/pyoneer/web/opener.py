"""Opening the user's browser on the web view without putting its token on a command line.

A browser is started with its address as an argument, which any user of the machine can
read (``ps``, ``/proc/PID/cmdline``). So, as Jupyter does, the browser is opened on a
small file only the user can read (mode 0600, in a folder of its own, mode 0700) that
sends it on to the tokened address (by script, and by a refresh where scripts do not
run: Chromium follows no refresh from a file to a web address); the file goes when the
server stops.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import shutil
import tempfile
import threading
import webbrowser
from collections.abc import Iterator
from pathlib import Path

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="1;url={url}">
<title>Opening Pyoneer's view</title>
<script>location.replace({target});</script></head>
<body><p>Opening Pyoneer's view… If nothing happens, <a href="{url}">open it here</a>.</p></body></html>
"""


def redirect_file(url: str) -> Path:
    """A new file, readable by its owner only, that sends a browser to ``url``."""
    folder = Path(tempfile.mkdtemp(prefix="pyoneer-ui-"))  # mode 0700
    path = folder / "open.html"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        target = json.dumps(url).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        file.write(_PAGE.format(url=html.escape(url, quote=True), target=target))
    return path


@contextlib.contextmanager
def browser_opened(url: str, delay: float = 0.3) -> Iterator[None]:
    """Open the user's browser on ``url`` shortly (through a private redirect file), and
    remove that file on leaving."""
    path = redirect_file(url)
    timer = threading.Timer(delay, webbrowser.open, [path.as_uri()])
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        shutil.rmtree(path.parent, ignore_errors=True)
