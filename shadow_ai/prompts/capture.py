"""The web gateway's inspected requests, stored off its event loop. ``sink`` (registered with
``shadow_ai.gateway.inspection`` by this app's ``ready``) only queues (``console.core.batching``:
bounded by ``PROMPT_LOG_MAX_PENDING``, past which items are dropped, counted and logged); a
writer thread in the gateway process stores each batch every ``GATEWAY_LOG_FLUSH_SECONDS`` in
one transaction through ``services.inspected_request_record``, the same service the evaluate
API uses. A database error retries the batch with backoff; an item that fails for another
reason is logged, counted as ``rejected`` and skipped, so it cannot hold up the others."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from accounts.models import User
from console.core.batching import BatchWriter
from shadow_ai.gateway.inspection import Inspected
from shadow_ai.prompts import services

log = logging.getLogger(__name__)
BATCH = 200  # prompts can be large: a batch holds at most this many


def store(items: list[Inspected]) -> int:
    """Store one batch in one transaction; how many prompt-log entries it made."""
    users = User.objects.in_bulk({item.user_id for item in items})
    stored = 0
    with transaction.atomic():
        for item in items:
            user = users.get(item.user_id)
            if user is None:
                continue  # deleted since: nobody to report or to file the prompt under
            try:
                with transaction.atomic():
                    stored += services.inspected_request_record(item=item, user=user) is not None
            except (OperationalError, InterfaceError):
                raise  # the database itself: retry the batch
            except Exception:  # noqa: BLE001 - one bad item is skipped, the batch goes on
                _refused(item)
    return stored


def _refused(item: Inspected) -> None:
    writer.count("rejected")
    log.exception("prompt log: the inspected request %s of %s to %s could not be stored; skipped", item.uid,
                  item.email, item.hostname)


writer: BatchWriter[Inspected] = BatchWriter(
    "prompt log writer", store, flush_seconds=lambda: settings.GATEWAY_LOG_FLUSH_SECONDS,
    max_pending=lambda: settings.PROMPT_LOG_MAX_PENDING, batch=BATCH)


def sink(item: Inspected) -> None:
    """Queue one inspected request (the gateway's event loop: never blocks, never raises)."""
    writer.record(item)
