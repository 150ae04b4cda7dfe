"""A bounded in-memory queue stored by a background thread, for processes whose request path must
never wait on the database (the web gateway's event loop).

``record()`` only appends under a lock: it never blocks on I/O and never raises. Past
``max_pending`` items it drops the item, counts it and logs (at the 1st, 10th, 100th and every
10 000th drop). A daemon thread calls ``store(items)`` every ``flush_seconds`` (sooner once
``batch`` items wait); when ``store`` raises, the items go back to the head of the queue and the
thread retries with backoff, so ``store`` should write a batch in one transaction (all or
nothing). Items still queued when the process is killed are lost; ``stop()`` stores them first."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from django.db import close_old_connections

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30.0


class BatchWriter[T]:
    """``store`` writes one batch; ``flush_seconds`` and ``max_pending`` are read at each use
    (callables, so settings changed in tests take effect)."""

    def __init__(self, name: str, store: Callable[[list[T]], object], *, flush_seconds: Callable[[], float],
                 max_pending: Callable[[], int], batch: int = 2000) -> None:
        self.name, self.store, self.batch = name, store, batch
        self.flush_seconds, self.max_pending = flush_seconds, max_pending
        self._lock = threading.Lock()
        self._queue: deque[T] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats = {"recorded": 0, "stored": 0, "dropped": 0, "failures": 0}

    def record(self, item: T) -> bool:
        """Queue one item; False when the queue is full and the item was dropped."""
        with self._lock:
            if len(self._queue) >= self.max_pending():
                self._stats["dropped"] += 1
                dropped = self._stats["dropped"]
                if dropped in (1, 10, 100) or dropped % 10000 == 0:
                    log.error("%s queue full (%d waiting): %d dropped so far", self.name, len(self._queue), dropped)
                return False
            self._queue.append(item)
            self._stats["recorded"] += 1
            if len(self._queue) >= self.batch:
                self._wake.set()
            return True

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats, pending=len(self._queue))

    def count(self, name: str, by: int = 1) -> None:
        """Add to a counter of ``stats()`` (e.g. items ``store`` refused)."""
        with self._lock:
            self._stats[name] = self._stats.get(name, 0) + by

    def _take(self) -> list[T]:
        with self._lock:
            return [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]

    def _give_back(self, items: list[T]) -> None:
        with self._lock:
            self._queue.extendleft(reversed(items))

    def flush(self) -> int:
        """Store everything queued now (the thread, ``stop()`` and tests call it); how many items."""
        total = 0
        while True:
            items = self._take()
            if not items:
                return total
            try:
                self.store(items)
            except Exception:
                self._give_back(items)
                raise
            total += len(items)
            self.count("stored", len(items))

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            self._wake.wait(backoff or self.flush_seconds())
            self._wake.clear()
            try:
                close_old_connections()
                self.flush()
                backoff = 0.0
            except Exception:
                self.count("failures")
                backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF_SECONDS)
                log.exception("%s: storing %d item(s) failed; retrying in %.0f s", self.name, self.stats()["pending"],
                              backoff)
                close_old_connections()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name.replace(" ", "-"), daemon=True)
        self._thread.start()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and store what is left (once more, if the thread's last try failed)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        deadline = time.monotonic() + timeout
        while self.stats()["pending"] and time.monotonic() < deadline:
            try:
                self.flush()
            except Exception:
                log.exception("%s: %d item(s) could not be stored at exit", self.name, self.stats()["pending"])
                time.sleep(0.5)
