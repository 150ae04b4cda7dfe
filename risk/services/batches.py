"""Telemetry batches: ingest (stored in the request, or kept and stored by a worker chunk by chunk
under a lease), their expiry, and the retention of raw telemetry."""

from __future__ import annotations

import gc
import gzip
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError, transaction
from django.db.models import F
from django.utils import timezone

from console.audit.services import audit_record
from console.core import jobs
from console.core.errors import ExternalServiceError, ValidationFailed
from risk.ingest import parsing, storage
from risk.models import AuthEvent, DeviceSignal, GatewayDnsEvent, GatewayHttpEvent, IngestBatch, TelemetrySource
from risk.services.detection import detection_queue
from risk.services.queueing import publish

log = logging.getLogger(__name__)


class BatchTooLarge(ValidationFailed):
    """The batch is larger, or inflates to more, than the ingest limits (answered 413)."""


class IngestUnavailable(ExternalServiceError):
    """Something ingest needs is down: send the batch again later (answered 503 with Retry-After)."""


def ingest(*, source: TelemetrySource, body: bytes, content_encoding: str = "") -> IngestBatch:
    """Take a POSTed batch. Small ones are stored now and scored by a worker; large ones are
    kept and handed to a worker whole, so no web worker is held for long. The body must be UTF-8;
    NDJSON and JSON arrays are both accepted whatever the Content-Type says (log shippers label
    NDJSON as application/json).

    Nothing here needs the task broker to be up: each stored chunk carries its own
    ``PendingDetection`` row and a queued batch its payload, so a broker outage delays storing
    and scoring (the sweeps queue them again) but never loses them. A sync batch whose storing
    fails ends ``failed`` with the reason, never ``queued``."""
    limit = settings.RISK_INGEST_MAX_INFLATED_BYTES
    try:
        data = parsing.decompress(body, encoding=content_encoding, limit=limit)
    except parsing.BodyTooLarge as exc:
        raise BatchTooLarge(str(exc), field="body") from None
    except parsing.BodyError as exc:
        raise ValidationFailed(str(exc), field="body") from None
    try:
        if not data.isascii():
            data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"The body is not UTF-8 text (byte {exc.start}); send NDJSON or a JSON array.",
                               field="body") from None
    if len(data) > settings.RISK_INGEST_SYNC_MAX_BYTES:
        # Kept compressed: the body as sent when it came gzipped, else gzipped here (fast level).
        # The database driver escapes a parameter into the statement text, several copies of it at
        # once; a tenth of the size keeps the web worker's memory flat (a 21 MB batch kept
        # uncompressed took 127 MB to insert).
        kept = body if data is not body else gzip.compress(data, compresslevel=1)
        batch = IngestBatch.objects.create(source=source, kind=source.kind, size_bytes=len(data),
                                           status=IngestBatch.Status.QUEUED, payload=kept)
        transaction.on_commit(lambda: publish("process_batch", str(batch.pk)))
        return batch
    batch = IngestBatch.objects.create(source=source, kind=source.kind, size_bytes=len(data),
                                       status=IngestBatch.Status.PROCESSING)
    try:
        return _process(batch, data)
    except ValidationFailed:
        raise  # already ended failed, with the reason
    except BaseException as exc:
        # The request fails (an outage mid-batch, a bug): the sender hears so and sends again;
        # the record says what happened instead of staying "processing" forever.
        log.warning("telemetry batch %s: storing stopped", batch.pk, exc_info=True)
        _fail_quietly(batch, f"Storing stopped: {exc.__class__.__name__}. Rows stored before it are kept "
                             "and will be scored; sending the batch again stores the rest.")
        raise


def _fail_quietly(batch: IngestBatch, message: str) -> None:
    try:
        _fail(batch, message)
    except Exception:  # the database may be what failed: the batch sweep expires it then
        log.exception("telemetry batch %s: could not record its failure", batch.pk)


def _batch_takeover(batch: IngestBatch, claim: jobs.Claim, now: datetime) -> list[str]:
    if not claim.taken_over_from:
        return []
    batch.message = (f"Taken over from worker {jobs.owner_worker(claim.taken_over_from)} after its lease ran out; "
                     f"resumed after chunk {batch.chunks_done}.")[:300]
    log.warning("telemetry batch %s: %s", batch.pk, batch.message)
    return ["message"]


def process_queued_batch(batch_id: str) -> IngestBatch | None:
    """Store a queued batch (a worker's job). The worker holds the batch's lease
    (``JOB_LEASE_SECONDS``, renewed by a heartbeat); another delivery of the job finds the live
    lease and does nothing. A batch whose worker died is sent to a new worker by the stall
    sweep once its lease ran out, and resumed after its committed chunks (rows stored by the
    interrupted run are recognised by their keys). A batch already done is left alone; one that
    cannot be stored (a bad body, data the database refuses) ends failed, with the reason, and
    is never queued again."""
    claimed = IngestBatch.claim(batch_id, prepare=_batch_takeover)
    if not isinstance(claimed, jobs.Claim):
        return IngestBatch.objects.filter(pk=batch_id).first()
    batch, owner = claimed.obj, claimed.owner
    data = bytes(batch.payload or b"")
    if not data:
        _fail(batch, "The batch's body was not kept; send it again.")
        return IngestBatch.objects.filter(pk=batch.pk).first()
    try:  # kept gzipped (a plain body, from before batches were kept compressed, is read as is)
        data = parsing.decompress(data, limit=settings.RISK_INGEST_MAX_INFLATED_BYTES)
    except parsing.BodyError as exc:
        _fail(batch, f"The batch's kept body cannot be read: {exc}")
        return IngestBatch.objects.filter(pk=batch.pk).first()
    try:
        with jobs.LeaseHeartbeat(IngestBatch, batch.pk, owner) as beat:
            return _process(batch, data, owner=owner, beat=beat)
    except jobs.LeaseLost:
        log.warning("telemetry batch %s: lease taken over by another worker; this one stops", batch.pk)
        return IngestBatch.objects.filter(pk=batch.pk).first()
    except ValidationFailed as exc:
        log.warning("telemetry batch %s failed: %s", batch.pk, exc.message)
        return IngestBatch.objects.filter(pk=batch.pk).first()


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """A batch allocates hundreds of thousands of small dicts and lists, none in a cycle;
    letting the cyclic collector run meanwhile makes it walk every object in the process again
    and again. Reference counting still frees everything at once."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _process(batch: IngestBatch, data: bytes, *, owner: str = "",
             beat: jobs.LeaseHeartbeat | None = None) -> IngestBatch:
    with _no_cycle_collection():
        return _process_rows(batch, data, owner=owner, beat=beat)


def _fail(batch: IngestBatch, message: str) -> None:
    IngestBatch.objects.filter(pk=batch.pk).update(
        status=IngestBatch.Status.FAILED, message=message[:300], finished_at=timezone.now(), payload=None)
    TelemetrySource.objects.filter(pk=batch.source_id).update(last_used_at=timezone.now())


_PROGRESS = ["status", "chunks_done", "rows_total", "rows_stored", "rows_duplicate", "rows_rejected", "rejected"]


def _process_rows(batch: IngestBatch, data: bytes, *, owner: str = "",
                  beat: jobs.LeaseHeartbeat | None = None) -> IngestBatch:
    """Decode, validate and store the rows ``PARSE_CHUNK`` at a time (memory stays bounded by
    the chunk, not the batch).

    Each chunk's rows, their ``PendingDetection`` row, the batch's counters and its
    ``chunks_done`` commit together, and only while ``owner`` (the worker's lease; empty for a
    batch stored in the request) still holds the batch with the checkpoint this worker read:
    otherwise the chunk rolls back and the worker stops (``LeaseLost``). A worker that takes
    the batch over after a crash skips the chunks already done and carries on from their
    counters, so rows a previous attempt of this batch stored count as stored, never as
    duplicates."""
    resolver = storage.Resolver()
    cap = settings.RISK_INGEST_MAX_REPORTED_REJECTS
    batch.refresh_from_db(fields=_PROGRESS)
    skip = batch.chunks_done
    try:
        for number, (good, bad, count) in enumerate(parsing.parse_chunks(batch.kind, data, resolver)):
            if number < skip:
                continue
            if beat is not None:
                beat.check()
            with transaction.atomic():
                stored = storage.store(batch.kind, good, source_id=batch.source_id) if good else storage.Stored()
                rejected = batch.rejected + [r.as_dict() for r in bad[:max(cap - len(batch.rejected), 0)]]
                # No row lock is held while the chunk is stored (the heartbeat renews meanwhile):
                # the checkpoint moves only if the lease and the checkpoint are still as we read them.
                if not IngestBatch.objects.filter(
                        pk=batch.pk, lease_owner=owner, chunks_done=number,
                        status=IngestBatch.Status.PROCESSING).update(
                        chunks_done=number + 1, rows_total=F("rows_total") + count,
                        rows_stored=F("rows_stored") + len(stored.ids),
                        rows_duplicate=F("rows_duplicate") + stored.duplicates,
                        rows_rejected=F("rows_rejected") + len(bad), rejected=rejected):
                    raise jobs.LeaseLost
                batch.chunks_done = number + 1
                batch.rows_total += count
                batch.rows_stored += len(stored.ids)
                batch.rows_duplicate += stored.duplicates
                batch.rows_rejected += len(bad)
                batch.rejected = rejected
                TelemetrySource.objects.filter(pk=batch.source_id).update(
                    last_used_at=timezone.now(), events_accepted=F("events_accepted") + len(stored.ids),
                    events_rejected=F("events_rejected") + len(bad))
                for pending_id in stored.pending:
                    transaction.on_commit(lambda pending_id=pending_id: detection_queue(pending_id))
            good = bad = stored = None  # free this chunk's rows before the next is decoded
    except parsing.BodyError as exc:
        _fail(batch, str(exc))
        raise ValidationFailed(str(exc), field="body") from None
    except DataError as exc:
        # What validation let through and the database still refused: a bug to fix, but the
        # batch must end (not be re-queued forever) and the sender must hear why.
        log.error("telemetry batch %s: the database refused a row: %s", batch.pk, exc)
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        _fail(batch, f"A row could not be stored ({reason}); rows stored before it are kept.")
        raise ValidationFailed(f"A row could not be stored ({reason}).", field="body") from None
    now = timezone.now()
    if not IngestBatch.release(batch.pk, owner, status=IngestBatch.Status.DONE, finished_at=now, payload=None):
        raise jobs.LeaseLost
    batch.status, batch.finished_at, batch.payload, batch.lease_expires_at = IngestBatch.Status.DONE, now, None, None
    TelemetrySource.objects.filter(pk=batch.source_id).update(last_used_at=now)
    return batch


def batches_expire_stale() -> int:
    """End batches nobody will finish: a sync batch left ``processing`` by a web process that
    died, or a queued one whose body is gone, after ``RISK_BATCH_STALE_MINUTES``. Rows they
    stored are kept (and scored through their pending detection); the reason is recorded."""
    cutoff = timezone.now() - timedelta(minutes=settings.RISK_BATCH_STALE_MINUTES)
    expired = 0
    for status in (IngestBatch.Status.QUEUED, IngestBatch.Status.PROCESSING):
        expired += IngestBatch.objects.filter(status=status, received_at__lt=cutoff, payload__isnull=True).update(
            status=IngestBatch.Status.FAILED, finished_at=timezone.now(),
            message=f"Expired: still {status} after {settings.RISK_BATCH_STALE_MINUTES} minutes with nothing left "
                    "to store it from (the request or its worker failed). Rows stored before are kept; send the "
                    "batch again to store the rest.")
    if expired:
        log.warning("expired %d stale telemetry batch(es)", expired)
    return expired


def prune_telemetry(*, batch_size: int = 10000) -> dict[str, int]:
    """Delete raw telemetry older than ``RISK_TELEMETRY_RETENTION_DAYS`` and batch records older
    than ``RISK_BATCH_RETENTION_DAYS``, in short batches (no long lock). Risk events keep their
    summaries and details; their link to the log row then says the row is no longer kept."""
    now = timezone.now()
    cutoff = now - timedelta(days=settings.RISK_TELEMETRY_RETENTION_DAYS)
    deleted: dict[str, int] = {}
    for model in (AuthEvent, GatewayHttpEvent, GatewayDnsEvent, DeviceSignal):
        total = 0
        while True:
            ids = list(model.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            total += model.objects.filter(pk__in=ids).delete()[0]
        deleted[model._meta.model_name] = total
    batches = IngestBatch.objects.filter(
        received_at__lt=now - timedelta(days=settings.RISK_BATCH_RETENTION_DAYS),
        status__in=[IngestBatch.Status.DONE, IngestBatch.Status.FAILED],
    ).delete()[0]
    deleted["ingestbatch"] = batches
    if any(deleted.values()):
        audit_record(actor=None, action="risk.telemetry.pruned", object_type="risk.telemetry",
                     object_repr="Telemetry retention", changes=deleted)
    return deleted
