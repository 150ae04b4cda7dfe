"""The gateway's request log: every request becomes a ``gateway_http`` row (Logpush field names,
plus the console's ``UploadBytes``/``DownloadBytes``), stored in batches through the telemetry
ingest's own parser and storage (``risk.ingest``), so the usage rollups (the ``stored_rows``
signal marks their days) and the risk behaviours (a ``PendingDetection`` per batch, queued to a
worker) see gateway traffic exactly as they see pushed logs.

``record()`` only appends to this process's queue (``console.core.batching``); a writer thread
stores the queue every ``GATEWAY_LOG_FLUSH_SECONDS`` (sooner once ``BATCH`` rows wait) in one
transaction per chunk.
Each row carries a ``RequestID``, so a batch stored twice (a retry after a lost commit answer) is
stored once. While the database is away the thread retries with backoff and the queue grows up to
``GATEWAY_LOG_MAX_PENDING`` rows; past that, requests are still served and their rows dropped
(counted in ``stats()`` and logged). Rows still queued when the process is killed are lost: a
gateway stopped normally stores its queue first (``stop()``)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from console.core.batching import BatchWriter

log = logging.getLogger(__name__)
BATCH = 2000


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
            _writer.count("rejected")
            log.error("gateway log row refused by the ingest parser (%s: %s): %r", exc.field, exc.reason, row)
    if not good:
        return 0
    stored = storage.store("gateway_http", good, source_id=None)
    for pending_id in stored.pending:
        detection_queue(pending_id)
    return len(stored.ids)


_writer: BatchWriter[dict[str, Any]] = BatchWriter(
    "gateway log writer", lambda rows: store(rows), flush_seconds=lambda: settings.GATEWAY_LOG_FLUSH_SECONDS,
    max_pending=lambda: settings.GATEWAY_LOG_MAX_PENDING, batch=BATCH)


def record(row: dict[str, Any]) -> None:
    """Queue one ``gateway_http`` row (never raises, never touches the database)."""
    _writer.record(row)


def stats() -> dict[str, int]:
    return {"rejected": 0, **_writer.stats()}


def flush() -> int:
    """Store everything queued now (the writer thread, ``stop()`` and tests call it); rows taken."""
    return _writer.flush()


def start() -> None:
    _writer.start()


def stop(timeout: float = 10.0) -> None:
    """Stop the writer and store what is left."""
    _writer.stop(timeout)
