"""A Ray cluster's address: whether it is on loopback, and whether Ray answers there."""

from __future__ import annotations

import os
import socket

from pyoneer.errors import UsageError


def _host_port(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return None  # "auto", "ray://...": left to Ray
    return host.strip("[]"), int(port)


def is_loopback(address: str) -> bool:
    parts = _host_port(address)
    return parts is not None and (parts[0] == "localhost" or parts[0].startswith("127.") or parts[0] == "::1")


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once an address where no Ray cluster answers (Ray itself retries for minutes).

    Something must listen there, and speak as Ray's GCS does: gRPC, whose HTTP/2 server
    begins every connection with a SETTINGS frame. (With TLS, RAY_USE_TLS, only the
    connection is checked.)
    """
    parts = _host_port(address)
    if parts is None:
        return
    hint = "  hint: is the head node up (ray status)? is the address its GCS port (default 6379)?"
    try:
        with socket.create_connection(parts, timeout=timeout) as connection:
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("0", "false", ""):
                answer = _http2_greeting(connection)
                if len(answer) < 9 or answer[3] != _SETTINGS_FRAME:
                    said = f"it answered {answer[:16]!r}" if answer else "it said nothing"
                    raise UsageError(f"cannot connect to the Ray cluster at {address}: {said}, not as Ray does\n{hint}")
    except OSError as exc:
        raise UsageError(f"cannot connect to the Ray cluster at {address}: {exc.strerror or exc}\n{hint}") from None


_SETTINGS_FRAME = 0x4
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _http2_greeting(connection) -> bytes:  # type: ignore[no-untyped-def]
    """The first 9 bytes (a frame header) an HTTP/2 server sends; fewer if it stops first."""
    connection.sendall(_HTTP2_PREFACE)
    answer = b""
    try:
        while len(answer) < 9:
            chunk = connection.recv(9 - len(answer))
            if not chunk:
                break
            answer += chunk
    except TimeoutError:
        pass
    return answer
