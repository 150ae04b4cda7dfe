"""A throwaway ``redis-server`` for tests that restart, flush, freeze or stop Redis.

Never the machine's shared Redis on 6379: each instance listens on a free loopback port of its
own, keeps nothing on disk, and is stopped when the test ends."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """``start()``, ``stop()`` (kill: the data is gone), ``restart()`` (an empty Redis on the
    same port), ``freeze()``/``thaw()`` (SIGSTOP/SIGCONT: connections stay open, nothing answers)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.directory = tempfile.mkdtemp(prefix="console-test-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def own_redis(settings) -> Iterator[RedisServer]:
    """A Redis of this test's own, which Django's cache and the Access hot cache use for the test."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    caches = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    settings.CACHE_URL = server.url
    settings.CACHES = caches
    try:
        yield server
    finally:
        server.close()
