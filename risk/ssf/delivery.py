"""The outbox: SETs are written as rows in the transaction that caused them and delivered
after commit, push by a Celery task (RFC 8935) or poll by the receiver (RFC 8936).

Push delivery of one stream runs in one worker at a time (a lock in the shared cache) and in
the order the events happened: the first pending event must go through before the next one
is tried. A failed attempt is retried with exponential backoff and jitter; a beat sweep
re-queues any stream whose due events nobody is working on, so an event outlives a lost task,
a dead worker and a receiver that is down for hours."""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from console.core import outbound
from risk.ssf import events, keys
from risk.ssf.models import Delivery, Stream

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/secevent+jwt"
# RFC 8935 §2.3: the SET itself is wrong, sending it again cannot help.
PERMANENT_ERRORS = {"invalid_request"}


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failures: doubling from
    ``SSF_RETRY_BASE_SECONDS`` up to ``SSF_RETRY_MAX_SECONDS``, with "equal jitter" (somewhere
    between half and all of it) so receivers coming back are not hit by every stream at once."""
    ceiling = min(settings.SSF_RETRY_MAX_SECONDS, settings.SSF_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


# --- Writing the outbox -------------------------------------------------------------------------


def enqueue(stream: Stream, *, event_type: str, event: dict[str, Any], sub_id: dict[str, Any], subject_label: str,
            control: bool = False, txn: str = "", at: datetime | None = None) -> Delivery:
    """Write one SET for ``stream``; it is delivered once the current transaction commits."""
    jti = secrets.token_hex(16)
    claims = events.set_claims(jti=jti, issuer=stream.issuer, audience=stream.audience,
                               issued_at=at or timezone.now(), event_type=event_type, event=event,
                               sub_id=sub_id, txn=txn)
    row = Delivery.objects.create(stream=stream, jti=jti, event_type=event_type, claims=claims,
                                  subject_label=subject_label[:300], control=control)
    if stream.is_push:
        schedule(stream.pk)
    return row


def enqueue_verification(stream: Stream, *, state: str = "") -> Delivery:
    """SSF 1.0 §8.1.4.1: ``sub_id`` is the stream as an opaque subject; ``txn`` names the request."""
    event = {"state": state} if state else {}
    return enqueue(stream, event_type=events.VERIFICATION, event=event, txn=secrets.token_hex(8),
                   sub_id={"format": "opaque", "id": stream.stream_id}, subject_label=f"stream {stream.stream_id}")


def enqueue_stream_updated(stream: Stream, *, status: str, reason: str = "") -> Delivery:
    """SSF 1.0 §8.1.5; ``txn`` names the status change."""
    event = {"status": status} | ({"reason": reason} if reason else {})
    return enqueue(stream, event_type=events.STREAM_UPDATED, event=event, control=True, txn=secrets.token_hex(8),
                   sub_id={"format": "opaque", "id": stream.stream_id}, subject_label=f"stream {stream.stream_id}")


_local = threading.local()  # per thread, like Django's database connections and their transactions


def schedule(stream_pk: int) -> None:
    """Queue push delivery of a stream once the current transaction commits. A transaction that
    publishes thousands of events queues each stream once."""
    connection = transaction.get_connection()
    # Keyed by the outermost transaction, so one that rolled back leaves nothing behind.
    key = id(connection.atomic_blocks[0]) if connection.in_atomic_block else None
    if key is None or getattr(_local, "key", None) != key:
        _local.key, _local.waiting = key, set()
    _local.waiting.add(stream_pk)
    transaction.on_commit(_send_waiting)


def _send_waiting() -> None:
    waiting = getattr(_local, "waiting", None) or set()
    _local.key, _local.waiting = None, set()
    for stream_pk in sorted(waiting):
        schedule_now(stream_pk)


# --- Push ---------------------------------------------------------------------------------------


@dataclass
class Attempt:
    delivered: bool
    error: str = ""
    permanent: bool = False


def _deliverable(stream: Stream):
    rows = Delivery.objects.filter(stream=stream, status=Delivery.Status.PENDING)
    if stream.status != Stream.Status.ENABLED:
        rows = rows.filter(control=True)
    return rows.order_by("id")


def signed(stream: Stream, row: Delivery) -> str:
    """The row's SET signed now. ``iss`` and ``aud`` are taken from the stream as it is at
    this moment, so fixing a stream's audience lets its waiting events through."""
    claims = dict(row.claims)
    claims["iss"] = stream.issuer
    claims["aud"] = stream.audience[0] if len(stream.audience) == 1 else list(stream.audience)
    return keys.sign(claims)


def push_one(stream: Stream, row: Delivery) -> Attempt:
    """POST one signed SET to the receiver (RFC 8935 §2): success is a 2xx (202 Accepted by the
    RFC); a 400 carries ``{"err", "description"}``."""
    headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}
    if stream.authorization_header:
        headers["Authorization"] = stream.authorization_header
    token = signed(stream, row)
    try:
        # Through the outbound policy: the receiver's name is resolved when we connect, the
        # address is checked then and the connection made to it (a name that answered with a
        # public address when the stream was saved cannot send this POST into our network).
        # Redirects are not followed: a SET is delivered where the stream says or not at all.
        response = outbound.fetch(
            "POST", stream.endpoint_url, data=token.encode(), headers=headers, follow_redirects=False,
            timeout=(settings.SSF_PUSH_CONNECT_TIMEOUT, settings.SSF_PUSH_READ_TIMEOUT),
        )
    except outbound.OutboundRefused as exc:
        return Attempt(False, f"refused by the outbound policy: {exc.reason}")
    except outbound.OutboundUnavailable as exc:
        if exc.stage == "connect":
            return Attempt(False, f"receiver unreachable: {exc.reason}")
        if exc.reason.startswith("no answer within"):
            return Attempt(False, f"receiver did not answer within {settings.SSF_PUSH_READ_TIMEOUT:g} s")
        return Attempt(False, f"push failed: {exc.reason}")
    except outbound.OutboundBadAnswer as exc:
        return Attempt(False, f"push failed: {exc.reason}")
    if 200 <= response.status < 300:
        return Attempt(True)
    detail = ""
    err = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            err = str(body.get("err", ""))[:60]
            detail = str(body.get("description", ""))[:300]
    except outbound.OutboundBadAnswer:
        detail = response.text[:200]
    message = f"HTTP {response.status}" + (f" {err}" if err else "") + (f": {detail}" if detail else "")
    return Attempt(False, message, permanent=response.status == 400 and err in PERMANENT_ERRORS)


def _lock_key(stream_pk: int) -> str:
    return f"ssf:deliver:{stream_pk}"


def deliver_stream(stream_pk: int) -> int:
    """Push what is due on one stream, in order; returns how many SETs were delivered. Safe to
    run twice at once (the second returns at once) and again later (delivered rows are done)."""
    delivered = 0
    while True:
        token = secrets.token_hex(8)
        if not cache.add(_lock_key(stream_pk), token, timeout=settings.SSF_DELIVERY_LOCK_SECONDS):
            return delivered
        try:
            count, retry_in = _deliver_locked(stream_pk)
            delivered += count
        finally:
            if cache.get(_lock_key(stream_pk)) == token:
                cache.delete(_lock_key(stream_pk))
        if retry_in is not None:
            schedule_now(stream_pk, countdown=retry_in)
            return delivered
        # An event committed while we held the lock found it taken: look once more.
        stream = Stream.objects.filter(pk=stream_pk).first()
        if stream is None or not stream.is_push or not _due(stream).exists():
            return delivered


def schedule_now(stream_pk: int, *, countdown: float = 0) -> None:
    # tasks.py imports this module: imported on use to break the cycle.
    from risk.ssf.tasks import deliver_stream as task

    try:
        task.apply_async((stream_pk,), countdown=countdown)
    except Exception:
        log.warning("could not queue SSF retry for stream %s", stream_pk, exc_info=True)


def _due(stream: Stream):
    return _deliverable(stream).filter(next_attempt_at__lte=timezone.now())


def _deliver_locked(stream_pk: int) -> tuple[int, float | None]:
    """(delivered, seconds until the head event may be retried, or None when nothing waits)."""
    stream = Stream.objects.filter(pk=stream_pk).first()
    if stream is None or not stream.is_push:
        return 0, None
    delivered = 0
    for row in _deliverable(stream)[: settings.SSF_PUSH_BATCH]:
        now = timezone.now()
        if row.next_attempt_at > now:
            # Order first: nothing overtakes an event that is waiting for its retry.
            return delivered, (row.next_attempt_at - now).total_seconds()
        attempt = push_one(stream, row)
        row.attempts += 1
        row.last_attempt_at = timezone.now()
        if attempt.delivered:
            row.status, row.delivered_at, row.last_error = Delivery.Status.DELIVERED, row.last_attempt_at, ""
            row.save(update_fields=["status", "delivered_at", "last_error", "attempts", "last_attempt_at"])
            Stream.objects.filter(pk=stream.pk).update(last_delivery_at=row.delivered_at, last_error="")
            delivered += 1
            continue
        row.last_error = attempt.error[:500]
        Stream.objects.filter(pk=stream.pk).update(last_error=row.last_error)
        if attempt.permanent or row.attempts >= settings.SSF_MAX_ATTEMPTS:
            row.status = Delivery.Status.FAILED
            row.save(update_fields=["status", "last_error", "attempts", "last_attempt_at"])
            log.warning("SSF event %s on stream %s failed for good: %s", row.jti, stream.stream_id, row.last_error)
            continue
        delay = backoff(row.attempts)
        row.next_attempt_at = row.last_attempt_at + timedelta(seconds=delay)
        row.save(update_fields=["last_error", "attempts", "last_attempt_at", "next_attempt_at"])
        return delivered, delay
    remaining = _due(stream).exists()
    return delivered, 0.0 if remaining else None


def sweep() -> int:
    """Re-queue every push stream with events that are due (a lost task, a dead worker, a
    stream resumed) and forget finished events older than ``SSF_OUTBOX_RETENTION_DAYS``;
    returns how many streams were queued."""
    now = timezone.now()
    Delivery.objects.filter(
        status__in=(Delivery.Status.DELIVERED, Delivery.Status.DROPPED),
        created_at__lt=now - timedelta(days=settings.SSF_OUTBOX_RETENTION_DAYS),
    ).delete()
    due = (Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now,
                                   stream__delivery_method=Stream.Method.PUSH)
           .filter(Q(stream__status=Stream.Status.ENABLED) | Q(control=True))
           .values_list("stream_id", flat=True).distinct())
    streams = list(due)
    for stream_pk in streams:
        schedule_now(stream_pk)
    return len(streams)


# --- Poll ---------------------------------------------------------------------------------------


@dataclass
class PollResult:
    sets: dict[str, str]
    more_available: bool


def _available(stream: Stream):
    redeliver = timezone.now() - timedelta(seconds=settings.SSF_POLL_REDELIVER_SECONDS)
    return _deliverable(stream).filter(Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lt=redeliver))


def poll(stream: Stream, *, max_events: int, return_immediately: bool, ack: list[str],
         set_errs: dict[str, dict[str, str]]) -> PollResult:
    """RFC 8936 §2.4: acknowledge, record errors, then hand out up to ``max_events`` SETs. A SET
    handed out and not acknowledged is offered again after ``SSF_POLL_REDELIVER_SECONDS``.
    Without ``return_immediately`` the call waits up to ``SSF_POLL_WAIT_SECONDS`` for one."""
    now = timezone.now()
    with transaction.atomic():
        if ack:
            Delivery.objects.filter(stream=stream, jti__in=ack, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.DELIVERED, delivered_at=now, last_error=""
            )
            Stream.objects.filter(pk=stream.pk).update(last_delivery_at=now)
        for jti, problem in set_errs.items():
            message = f"{problem.get('err', '')}: {problem.get('description', '')}".strip(": ")[:500]
            Delivery.objects.filter(stream=stream, jti=jti, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.FAILED, last_error=f"receiver: {message}"
            )
            Stream.objects.filter(pk=stream.pk).update(last_error=f"receiver: {message}"[:500])
    deadline = time.monotonic() + (0 if return_immediately else settings.SSF_POLL_WAIT_SECONDS)
    while True:
        stream.refresh_from_db(fields=["status"])
        rows = list(_available(stream)[: max_events + 1]) if max_events else []
        more = len(rows) > max_events if max_events else _available(stream).exists()
        if rows or not max_events or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    rows = rows[:max_events]
    sets = {row.jti: signed(stream, row) for row in rows}
    if rows:
        Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(last_attempt_at=timezone.now(),
                                                                    attempts=F("attempts") + 1)
    return PollResult(sets=sets, more_available=more)
