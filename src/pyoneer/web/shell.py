"""The HTML around a page's data: one file with its style, its script and its data inline.

The web view and the report send the same page: ``assets/page.html`` filled with
``assets/app.css``, ``assets/app.js`` and the page's JSON (``pyoneer.web.pages``), so a
page draws at once, with no second request, and a report opens offline.

Each page carries a strict Content-Security-Policy (``policy``): nothing from elsewhere,
its one script and its one style allowed by their hashes, requests only to its own
server (none at all from a report). The web view sends it as a header and the page holds
it as a ``<meta>``, so a report enforces it too.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from base64 import b64encode
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


def _script() -> str:
    return "\n" + _asset("app.js")


def _style() -> str:
    return "\n" + _asset("app.css")


def _hash(text: str) -> str:
    return "'sha256-" + b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@cache
def policy(report: bool, header: bool = True) -> str:
    """The Content-Security-Policy of a page: of a report (it asks for nothing) or of the
    web view (it asks its own server only). ``header``: as an HTTP header, with what a
    ``<meta>`` cannot carry (``frame-ancestors``)."""
    parts = [
        "default-src 'none'",
        f"script-src {_hash(_script())}",
        f"style-src {_hash(_style())}",
        "img-src data:",
        "connect-src " + ("'none'" if report else "'self'"),
        "base-uri 'none'",
        "form-action 'none'",
    ]
    if header:
        parts.append("frame-ancestors 'none'")
    return "; ".join(parts)


def page(data: dict[str, Any], config: dict[str, Any], title: str) -> str:
    """A whole page: ``data`` drawn by the script, which ``config`` tells where it lives."""
    filled = {
        "title": html.escape(title),
        "project": html.escape(data.get("project", "")),
        "home": html.escape(config.get("home", "#")),
        "api": html.escape(config.get("api", "")),
        "policy": html.escape(policy(config.get("mode") == "report", header=False), quote=False),
        "style": "<style>" + _style() + "</style>",
        "script": "<script>" + _script() + "</script>",
        "config": embedded(config),
        "data": embedded(data),
    }
    # one pass: what is put in is never looked at again for placeholders
    return re.sub(r"\{\{(\w+)\}\}", lambda match: filled[match.group(1)], _asset("page.html"))
