"""The HTML around a page's data: one file with its style, its script and its data inline.

The web view and the report send the same page: ``assets/page.html`` filled with
``assets/app.css``, ``assets/app.js`` and the page's JSON (``pyoneer.web.pages``), so a
page draws at once, with no second request, and a report opens offline.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

_ASSETS = Path(__file__).with_name("assets")


@cache
def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


def embedded(value: Any) -> str:
    """``value`` as JSON that is safe inside a ``<script>`` element (no ``</script>``)."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(data: dict[str, Any], config: dict[str, Any], title: str) -> str:
    """A whole page: ``data`` drawn by the script, which ``config`` tells where it lives."""
    filled = {
        "title": html.escape(title),
        "project": html.escape(data.get("project", "")),
        "home": html.escape(config.get("home", "#")),
        "api": html.escape(config.get("api", "")),
        "style": "<style>\n" + _asset("app.css") + "</style>",
        "script": "<script>\n" + _asset("app.js") + "</script>",
        "config": embedded(config),
        "data": embedded(data),
    }
    # one pass: what is put in is never looked at again for placeholders
    return re.sub(r"\{\{(\w+)\}\}", lambda match: filled[match.group(1)], _asset("page.html"))
