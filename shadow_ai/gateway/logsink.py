"""The gateway's request log: every request becomes a ``gateway_http`` row (Logpush field names,
plus the console's ``UploadBytes``/``DownloadBytes``), stored in batches through the telemetry
ingest's own parser and storage (``risk.ingest``), so the usage rollups (the ``stored_rows``
signal marks their days) and the risk behaviours (a ``PendingDetection`` per batch, queued to a
worker) see gateway traffic exactly as they see pushed logs.

``record()`` only appends to this process's queue; a writer thread stores the queue every
``GATEWAY_LOG_FLUSH_SECONDS`` (sooner once ``BATCH`` rows wait) in one transaction per chunk.
Each row carries a ``RequestID``, so a batch stored twice (a retry after a lost commit answer) is
stored once. While the database is away the thread retries with backoff and the queue grows up to
``GATEWAY_LOG_MAX_PENDING`` rows; past that, requests are still served and their rows dropped
(counted in ``stats()`` and logged). Rows still queued when the process is killed are lost: a
gateway stopped normally stores its queue first (``stop()``)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)
BATCH = 2000
MAX_BACKOFF_SECONDS = 30.0

_lock = threading.Lock()
_queue: deque[dict[str, Any]] = deque()
_wake = threading.Event()
_stop = threading.Event()
_thread: threading.Thread | None = None
_stats = {"recorded": 0, "stored": 0, "dropped": 0, "rejected": 0, "failures": 0}


def record(row: dict[str, Any]) -> None:
    """Queue one ``gateway_http`` row (never raises, never touches the database)."""
    with _lock:
        if len(_queue) >= settings.GATEWAY_LOG_MAX_PENDING:
            _stats["dropped"] += 1
            if _stats["dropped"] in (1, 10, 100) or _stats["dropped"] % 10000 == 0:
                log.error("gateway log queue full (%d rows): %d row(s) dropped so far", len(_queue), _stats["dropped"])
            return
        _queue.append(row)
        _stats["recorded"] += 1
        if len(_queue) >= BATCH:
            _wake.set()


def stats() -> dict[str, int]:
    with _lock:
        return dict(_stats, pending=len(_queue))


def _take(limit: int) -> list[dict[str, Any]]:
    with _lock:
        return [_queue.popleft() for _ in range(min(limit, len(_queue)))]


def _give_back(rows: list[dict[str, Any]]) -> None:
    with _lock:
        _queue.extendleft(reversed(rows))


def store(rows: list[dict[str, Any]]) -> int:
    """Parse and store rows now; queue detection for the people among them. Returns how many
    were new. Rows the parser refuses are logged and dropped (they are our own: a bug)."""
    # Imported here: the ingest modules import models, and this module is imported by the addon
    # before Django's app registry may be ready.
    from risk.ingest import parsing, storage
    from risk.services.detection import detection_queue

    resolve = storage.Resolver()
    good = []
    for row in rows:
        try:
            good.append(parsing.parse_gateway_http(row, resolve))
        except parsing.RowError as exc:
            _stats["rejected"] += 1
            log.error("gateway log row refused by the ingest parser (%s: %s): %r", exc.field, exc.reason, row)
    if not good:
        return 0
    stored = storage.store("gateway_http", good, source_id=None)
    for pending_id in stored.pending:
        detection_queue(pending_id)
    return len(stored.ids)


def flush() -> int:
    """Store everything queued now (the writer thread, ``stop()`` and tests call it)."""
    total = 0
    while True:
        rows = _take(BATCH)
        if not rows:
            return total
        try:
            total += store(rows)
        except Exception:
            _give_back(rows)
            raise
        with _lock:
            _stats["stored"] += len(rows)


def _run() -> None:
    backoff = 0.0
    while not _stop.is_set():
        _wake.wait(backoff or settings.GATEWAY_LOG_FLUSH_SECONDS)
        _wake.clear()
        try:
            close_old_connections()
            flush()
            backoff = 0.0
        except Exception:
            _stats["failures"] += 1
            backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF_SECONDS)
            log.exception("gateway log: storing %d row(s) failed; retrying in %.0f s", stats()["pending"], backoff)
            close_old_connections()


def start() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    _stop.clear()
    _thread = threading.Thread(target=_run, name="gateway-log-writer", daemon=True)
    _thread.start()


def stop(timeout: float = 10.0) -> None:
    """Stop the writer and store what is left (once more, if the thread's last try failed)."""
    global _thread
    _stop.set()
    _wake.set()
    if _thread is not None:
        _thread.join(timeout)
        _thread = None
    deadline = time.monotonic() + timeout
    while stats()["pending"] and time.monotonic() < deadline:
        try:
            flush()
        except Exception:
            log.exception("gateway log: %d row(s) could not be stored at exit", stats()["pending"])
            time.sleep(0.5)
