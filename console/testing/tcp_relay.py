"""A loopback TCP relay that tests and benchmarks cut to simulate a network or server outage.

Point a client (``DATABASE_URL``, a Redis URL) at ``127.0.0.1:<relay.port>`` instead of the real
server. ``cut()`` closes every connection the relay carries, both ends at once, and stops
listening, so new connections are refused (``ECONNREFUSED``) as if the server were gone;
``restore()`` listens again on the same port. What the clients see is what they would see if
PostgreSQL were stopped or its host became unreachable and came back, without touching the
machine's shared server.

    relay = TcpRelay(("127.0.0.1", 5432)).start()
    ...DATABASE_URL=f"postgres://postgres@127.0.0.1:{relay.port}/name"...
    relay.cut(); ...; relay.restore()
    relay.close()

It runs in threads of the process that creates it: two per carried connection (one each way)
plus one that accepts."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

CHUNK = 64 * 1024


class TcpRelay:
    """Forwards ``127.0.0.1:port`` to ``target``; ``cut()`` and ``restore()`` the path."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432), port: int = 0) -> None:
        self.target = target
        self.port = port  # 0: a free port, chosen at start() and kept across cuts
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._closed = False
        self.connections = 0  # accepted and connected to the target, over the relay's life
        self.cuts = 0

    # --- Life cycle ------------------------------------------------------------------------------

    def start(self) -> TcpRelay:
        self._listen()
        return self

    def cut(self) -> int:
        """Stop listening and close every open connection; returns how many were closed."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, set()
            self.cuts += 1
        if listener is not None:
            _close(listener)
        for client, server in pairs:
            _close(client)
            _close(server)
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        return len(pairs)

    def restore(self) -> None:
        """Listen again on the same port (a no-op while listening)."""
        if self._listener is None and not self._closed:
            self._listen()

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def close(self) -> None:
        self._closed = True
        self.cut()

    def __enter__(self) -> TcpRelay:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # --- Inside ----------------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # The cut left the old connections in TIME_WAIT on this port; listen anyway.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), name=f"tcp-relay-{self.port}",
                                           daemon=True)
        self._accepting.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by cut()
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)  # the target itself is down: so is the path
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    _close(client)
                    _close(server)
                    return
                pair = (client, server)
                self._pairs.add(pair)
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, pair), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, pair: tuple[socket.socket, socket.socket]) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        # One side ended (or the relay was cut): end the other, as a closed TCP path would.
        with self._lock:
            self._pairs.discard(pair)
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    """Close at once, waking a thread blocked in ``recv`` on it (``close()`` alone would not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
