"""A TCP relay whose connections can be cut, and which can refuse for a while: a network
that drops, for the tests of what follows a run from afar (the web view, attach)."""

from __future__ import annotations

import contextlib
import socket
import threading


class Relay:
    """A TCP relay from 127.0.0.2:PORT to 127.0.0.1:PORT whose connections can be cut."""

    def __init__(self, port: int, listen_port: int | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.2", port if listen_port is None else listen_port))
        self.port = port
        #: while set, the network is down: every connection is refused as it comes
        self.down = threading.Event()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.port))
            with self.lock:
                self.pairs.append((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for side in (source, target):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """The network drops: every open connection ends at once."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for side in pair:
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)
                side.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()
