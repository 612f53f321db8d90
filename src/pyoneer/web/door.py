"""The door of ``pyoneer ui``: who gets in, and what every answer carries out.

In front of the web view's routes (an ASGI middleware). A request gets in when it is a
GET or HEAD (405 otherwise), names this server in its ``Host`` header (421 otherwise:
no DNS rebinding) and carries the token: once as ``?token=``, which the answer keeps in
a cookie and takes off the address, then as that cookie (403 otherwise). Tokens are
compared as bytes, so a malformed one (not ASCII, badly escaped) is a 403 like any
wrong one. The cookie is named after the server's port: cookies ignore ports, and two
views open in one browser must not log each other out.

Every answer, refusals included, carries ``X-Content-Type-Options: nosniff``,
``Cache-Control: no-store`` (pages hold the state of a moment and logs the user's data),
``Referrer-Policy: no-referrer`` and, unless the page set its own, a Content-Security-Policy
that allows nothing.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.responses import HTMLResponse, PlainTextResponse, Response

#: what every answer carries unless it says otherwise
SAFETY = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}


def cookie_name(port: int) -> str:
    """The name of the cookie that holds the token of the server on ``port``."""
    return f"pyoneer_token_{port}"


class Door:
    """GET and HEAD only, a ``Host`` that names this server, and the token; the safety
    headers on every answer."""

    def __init__(self, app: Callable, token: str, hosts: set[str], cookie: str) -> None:
        self.app, self.hosts, self.cookie = app, hosts, cookie
        self.token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "websocket":  # the view has none: never past the door
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _carrying(send)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("token", [""])[0]
        if given:  # the first visit: keep it as a cookie, and take it off the address
            if not self._holds(given):
                await refused(403, "wrong token: open the address pyoneer ui printed")(scope, receive, send)
                return
            rest = {key: values for key, values in query.items() if key != "token"}
            target = scope["path"] + ("?" + urlencode(rest, doseq=True) if rest else "")
            response = _onwards(target, headers.get("sec-fetch-site", "none"))
            response.set_cookie(self.cookie, self.token.decode(), httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return
        if not self._holds(self._cookie(headers.get("cookie", ""))):
            await refused(403, "no token: open the address pyoneer ui printed (it ends in ?token=...)")(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _holds(self, given: str) -> bool:
        """Whether ``given`` is the token: compared as bytes, in constant time."""
        return bool(given) and secrets.compare_digest(given.encode("utf-8", "replace"), self.token)

    def _refusal(self, scope: dict[str, Any], headers: dict[str, str]) -> Response | None:
        if scope["method"] not in ("GET", "HEAD"):
            return refused(405, "the web view only reads: GET and HEAD", {"allow": "GET, HEAD"})
        if headers.get("host", "").lower() not in self.hosts:
            return refused(421, "this server does not answer for that host name")
        return None

    def _cookie(self, header: str) -> str:
        """The token a ``Cookie`` header carries ("" if none, or if the header is malformed)."""
        try:
            cookies = SimpleCookie(header)
        except CookieError:
            return ""
        return cookies[self.cookie].value if self.cookie in cookies else ""


def _onwards(target: str, site: str) -> Response:
    """Where the first visit goes on to, without the token: a redirect, or, when the visit
    came from another site (the private file ``pyoneer ui`` opens the browser on), a page
    of this server's own that refreshes to it: a browser sends no SameSite=Strict cookie
    on a redirect that another site began."""
    if site in ("none", "same-origin"):
        return Response(status_code=303, headers={"location": target})
    where = html.escape(target, quote=True)
    page = f'<!doctype html><meta http-equiv="refresh" content="0;url={where}"><a href="{where}">Pyoneer</a>\n'
    return HTMLResponse(page)


def refused(code: int, words: str, headers: dict[str, str] | None = None) -> Response:
    """A refusal in plain words."""
    return PlainTextResponse(words + "\n", status_code=code, headers=headers)


def _carrying(send: Callable) -> Callable:
    """``send``, adding to the start of an answer whichever safety header it lacks."""

    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.decode("latin-1").lower() for name, _ in headers}
            headers += [(name.encode(), value.encode()) for name, value in SAFETY.items() if name not in present]
            message = {**message, "headers": headers}
        await send(message)

    return sending
