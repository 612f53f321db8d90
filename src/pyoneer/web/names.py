"""The names a browser may give this server in its ``Host`` header.

On loopback, the loopback names only. Listening beyond it (``--host 0.0.0.0``, or an
address of the machine), the machine's own names and addresses too: its host name, its
fully qualified name, what those resolve to, and the address of each of its network
interfaces. A foreign name is never among them (DNS rebinding).
"""

from __future__ import annotations

import contextlib
import socket
import struct

#: names that always mean this machine
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

_SIOCGIFADDR = 0x8915  # Linux: the IPv4 address of an interface


def host_names(host: str, port: int) -> set[str]:
    """The ``Host`` headers that name a server listening on ``host``: ``port``."""
    names = LOOPBACK | {host}
    if host not in LOOPBACK:
        names |= own_names()
    return {f"[{name}]:{port}" if ":" in name else f"{name}:{port}" for name in (each.lower() for each in names)}


def own_names() -> set[str]:
    """This machine's host names and addresses (IPv6 ones without brackets)."""
    names = {socket.gethostname()}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn())
    for name in list(names):
        with contextlib.suppress(OSError):
            names |= {info[4][0].partition("%")[0] for info in socket.getaddrinfo(name, None)}
    return {name for name in names | _interface_addresses() if name}


def _interface_addresses() -> set[str]:
    """The address of each network interface (IPv4 by ``ioctl``, IPv6 from ``/proc``)."""
    found: set[str] = set()
    with contextlib.suppress(ImportError, OSError):
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for _, name in socket.if_nameindex():
                with contextlib.suppress(OSError):
                    packed = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
                    found.add(socket.inet_ntoa(packed[20:24]))
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:
        for line in table:
            digits = line.split()[0]
            found.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(digits)))
    return found
