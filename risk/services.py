"""Every write of risk scoring: behaviour settings, telemetry sources, ingest, detection,
scoring, resets and compromise marks."""

from __future__ import annotations

import gc
import gzip
import hmac
import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DataError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from accounts.services.rights import check_rank
from accounts.services.sign_in import console_sessions_end
from console.access import decisions as access_decisions
from console.access.models import AccessLogEntry
from console.access.services import sessions_revoke_for_user
from console.audit.models import AuditEvent
from console.audit.services import audit_record
from console.core import jobs
from console.core.api import bearer_credential
from console.core.errors import Conflict, ExternalServiceError, PermissionRefused, ValidationFailed
from console.core.names import clean_name, require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk import effects, scoring
from risk.behaviours import REGISTRY, ParamError, Trigger, by_source
from risk.ingest import parsing, storage
from risk.models import (
    AuthEvent,
    BehaviourConfig,
    DeviceSignal,
    GatewayDnsEvent,
    GatewayHttpEvent,
    IngestBatch,
    Level,
    PendingDetection,
    RescoreRun,
    RiskEvent,
    RiskLevelChange,
    RiskSettings,
    TelemetryKind,
    TelemetrySource,
    UserRisk,
)

log = logging.getLogger(__name__)


# --- Configuration ----------------------------------------------------------------------------


def ensure_configs() -> dict[str, BehaviourConfig]:
    """Configuration rows for every registered behaviour (created disabled, at the default level)."""
    existing = {c.key: c for c in BehaviourConfig.objects.all()}
    missing = [
        BehaviourConfig(key=key, enabled=False, level=b.default_level, params=b.default_params())
        for key, b in REGISTRY.items() if key not in existing
    ]
    if missing:
        BehaviourConfig.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {c.key: c for c in BehaviourConfig.objects.all()}
    return existing


def risk_settings() -> RiskSettings:
    found = RiskSettings.objects.order_by("pk").first()
    return found or RiskSettings.objects.create()


def params_of(config: BehaviourConfig) -> dict[str, Any]:
    """The behaviour's parameters as stored, falling back to defaults for anything unusable
    (a parameter a newer version added, say)."""
    behaviour = REGISTRY[config.key]
    params = behaviour.default_params()
    for name, value in (config.params or {}).items():
        try:
            params[name] = behaviour.clean_params({name: value})[name]
        except ParamError:
            log.warning("risk behaviour %s: ignoring unusable parameter %s", config.key, name)
    return params


@transaction.atomic
def behaviour_update(
    *, actor: User, key: str, enabled: bool, level: int | str, params: Mapping[str, Any],
) -> BehaviourConfig:
    require_role(actor, ADMINS, "change risk behaviours")
    if key not in REGISTRY:
        raise ValidationFailed(f"There is no risk behaviour {key!r}.", field="key")
    ensure_configs()
    config = BehaviourConfig.objects.select_for_update().get(key=key)
    try:
        new_level = Level(int(level)) if str(level).isdigit() else Level.from_name(str(level))
    except (KeyError, ValueError):
        raise ValidationFailed("Pick Low, Medium or High.", field="level") from None
    if new_level == Level.UNSCORED:
        raise ValidationFailed("Pick Low, Medium or High.", field="level")
    try:
        cleaned = REGISTRY[key].clean_params(params)
    except ParamError as exc:
        raise ValidationFailed(str(exc), field="params") from None
    before = {"enabled": config.enabled, "level": Level(config.level).label, "params": params_of(config)}
    after = {"enabled": bool(enabled), "level": new_level.label, "params": cleaned}
    if before == after:
        return config
    config.enabled, config.level, config.params = bool(enabled), int(new_level), cleaned
    config.updated_at, config.updated_by_email = timezone.now(), actor.email
    config.save(update_fields=["enabled", "level", "params", "updated_at", "updated_by_email"])
    audit_record(actor=actor, action="risk.behaviour.updated", obj=config, object_repr=REGISTRY[key].name,
                 changes={k: {"old": before[k], "new": after[k]} for k in before if before[k] != after[k]})
    if before["enabled"] != after["enabled"] or before["level"] != after["level"]:
        # What counts changed for everyone: rescore everyone (the history says why).
        _start_rescore(requested_by=actor.email, cause=RiskLevelChange.Cause.CONFIGURATION)
    return config


@transaction.atomic
def settings_update(*, actor: User, lookback_days: int) -> RiskSettings:
    require_role(actor, ADMINS, "change risk settings")
    try:
        days = int(lookback_days)
    except (TypeError, ValueError):
        raise ValidationFailed("Give a number of days (0 for no limit).", field="lookback_days") from None
    if not 0 <= days <= 3650:
        raise ValidationFailed("Give between 0 and 3650 days (0 for no limit).", field="lookback_days")
    current = risk_settings()
    if current.lookback_days == days:
        return current
    audit_record(actor=actor, action="risk.settings.updated", obj=current,
                 changes={"lookback_days": {"old": current.lookback_days, "new": days}})
    current.lookback_days, current.updated_at, current.updated_by_email = days, timezone.now(), actor.email
    current.save(update_fields=["lookback_days", "updated_at", "updated_by_email"])
    _start_rescore(requested_by=actor.email, cause=RiskLevelChange.Cause.CONFIGURATION)
    return current


# --- Telemetry sources ------------------------------------------------------------------------


def _token_hash(secret: str) -> str:
    return access_decisions.service_token_hash(secret)


@transaction.atomic
def telemetry_source_create(*, actor: User, name: str, kind: str) -> tuple[TelemetrySource, str]:
    """A new sender and its bearer token (returned once, never stored)."""
    require_role(actor, ADMINS, "create telemetry sources")
    name = clean_name(name)
    if kind not in TelemetryKind.values:
        raise ValidationFailed("Pick what this source sends.", field="kind")
    require_free_name(TelemetrySource.objects, name, f"A telemetry source named {name} already exists.")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    source = TelemetrySource.objects.create(name=name, kind=kind, prefix=prefix, secret_hash=_token_hash(secret),
                                            created_by_email=actor.email)
    audit_record(actor=actor, action="risk.source.created", obj=source,
                 changes={"name": {"old": None, "new": name}, "kind": {"old": None, "new": kind}})
    return source, f"zts_{prefix}_{secret}"


@transaction.atomic
def telemetry_source_revoke(*, actor: User, source: TelemetrySource) -> None:
    require_role(actor, ADMINS, "revoke telemetry sources")
    source = TelemetrySource.objects.select_for_update().get(pk=source.pk)
    if source.revoked_at is not None:
        return
    source.revoked_at = timezone.now()
    source.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="risk.source.revoked", obj=source,
                 changes={"revoked_at": {"old": None, "new": source.revoked_at}})


def authenticate_source(header: str) -> TelemetrySource | None:
    """The active source a ``Bearer zts_…`` header belongs to, or ``None``."""

    credential = bearer_credential(header, "zts")
    if credential is None:
        return None
    prefix, secret = credential
    source = TelemetrySource.objects.filter(prefix=prefix).first()
    if source is None or not hmac.compare_digest(source.secret_hash, _token_hash(secret)):
        return None
    if source.revoked_at is not None:
        return None
    return source


# --- Ingest -----------------------------------------------------------------------------------


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
        transaction.on_commit(lambda: _publish("process_batch", str(batch.pk)))
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


def _publish(task_name: str, *args: Any) -> bool:
    """Queue a task; a broker that cannot take it is logged, not raised: what the task would do
    is recorded in the database and a sweep queues it again."""
    # tasks.py imports this module: imported on use to break the cycle.
    from risk import tasks

    try:
        getattr(tasks, task_name).delay(*args)
    except Exception as exc:  # noqa: BLE001 - kombu, redis and socket errors alike; the sweep retries
        log.warning("could not queue %s%r (the sweep will): %s: %s", task_name, args, exc.__class__.__name__, exc)
        return False
    return True


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


# --- Detection --------------------------------------------------------------------------------

EVENT_FIELDS = {
    "auth": (AuthEvent, ("id", "user_id", "at", "allowed", "action", "latitude", "longitude", "city", "country",
                         "ip")),
    "gateway_http": (GatewayHttpEvent, ("id", "user_id", "at", "host", "dlp_match_count", "upload_dlp_profiles",
                                        "download_dlp_profiles", "blocked_file_name", "blocked_file_reason",
                                        "blocked_file_hash")),
    "gateway_dns": (GatewayDnsEvent, ("id", "user_id", "at", "query_name", "category_names", "resolver_decision")),
    "device": (DeviceSignal, ("id", "user_id", "at", "provider", "device_id", "device_name", "os_name",
                              "os_version", "overall_score", "os_score", "sensor_config_score", "threat_id",
                              "threat_name", "classification", "confidence_level", "mitigation_status")),
}


def _audit_events(ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    for e in AuditEvent.objects.filter(pk__in=ids).values("id", "at", "action", "object_type", "object_id",
                                                          "object_repr", "changes"):
        user_id = _audit_subject(e)
        if user_id is not None:
            rows.append({"id": e["id"], "at": e["at"], "action": e["action"], "user_id": user_id,
                         "changes": e["changes"], "new": True})
    return rows


def _audit_subject(event: Mapping[str, Any]) -> int | None:
    if event["object_type"] == "accounts.user" and str(event["object_id"]).isdigit():
        return int(event["object_id"])
    if event["object_repr"] and "@" in event["object_repr"]:
        return User.objects.filter(email__iexact=event["object_repr"]).values_list("pk", flat=True).first()
    return None


def detect(source_kind: str, ids: Sequence[int]) -> set[int]:
    """Run the enabled behaviours that read ``source_kind`` over the new events ``ids`` (with
    whatever earlier and later telemetry each needs); store what they find. Returns the people
    something was found for."""
    configs = {k: c for k, c in ensure_configs().items() if c.enabled}
    behaviours = [b for b in by_source(source_kind) if b.key in configs]
    if not behaviours or not ids:
        return set()
    if source_kind == "audit":
        new = _audit_events(ids)
        model, fields = None, ()
    else:
        model, fields = EVENT_FIELDS[source_kind]
        new = list(model.objects.filter(pk__in=ids, user_id__isnull=False).values(*fields))
        for row in new:
            row["new"] = True
    if not new:
        return set()
    users = {row["user_id"] for row in new}
    found: list[tuple[str, Trigger]] = []
    for behaviour in behaviours:
        params = params_of(configs[behaviour.key])
        before, after = behaviour.context_seconds(params)
        events = new
        if model is not None and (before or after):
            low = min(r["at"] for r in new) - timedelta(seconds=before)
            high = max(r["at"] for r in new) + timedelta(seconds=after)
            context = (model.objects.filter(user_id__in=users, at__gte=low, at__lte=high)
                       .exclude(pk__in=list(ids)).values(*fields))
            events = new + [dict(row, new=False) for row in context]
        found += [(behaviour.key, t) for t in behaviour.evaluate(events, params)]
    if not found:
        return set()
    kind_of_source = source_kind
    RiskEvent.objects.bulk_create([
        RiskEvent(user_id=t.user_id, behaviour=key, level=configs[key].level, at=t.at, source_kind=kind_of_source,
                  source_id=t.source_id, summary=t.summary[:300], details=dict(t.details),
                  dedupe_key=f"{key}:{t.dedupe}"[:160])
        for key, t in found
    ], ignore_conflicts=True)
    touched = {t.user_id for _, t in found}
    UserRisk.objects.bulk_create([UserRisk(user_id=u, level=Level.UNSCORED) for u in touched], ignore_conflicts=True)
    UserRisk.objects.filter(pk__in=touched).update(last_event_at=timezone.now())
    return touched


def detect_and_score(source_kind: str, ids: Sequence[int]) -> list[scoring.Change]:
    """A worker's job after an ingest: detection, then the new scores of the people concerned."""
    touched = detect(source_kind, ids)
    if not touched:
        return []
    return score_users(touched, cause=RiskLevelChange.Cause.DETECTION)


def detection_run(pending_id: int) -> list[scoring.Change] | None:
    """Run detection and scoring over one ``PendingDetection`` row and delete it, all in one
    transaction: a worker killed meanwhile leaves the row for the sweep, and running it twice
    finds nothing (the row is gone, or locked by the worker on it). ``None`` when there was
    nothing to do."""
    try:
        with transaction.atomic():
            pending = PendingDetection.objects.select_for_update(skip_locked=True).filter(pk=pending_id).first()
            if pending is None:
                return None
            changes = detect_and_score(pending.source_kind, pending.event_ids)
            pending.delete()
    except Exception as exc:
        try:  # for whoever looks at the table; the sweep retries regardless
            PendingDetection.objects.filter(pk=pending_id).update(
                attempts=F("attempts") + 1, last_error=f"{exc.__class__.__name__}: {exc}"[:300])
        except Exception:  # noqa: BLE001 - the database may be what failed
            log.warning("pending detection %s: could not record the failure", pending_id)
        raise
    return changes


# Waits of the detection sweep: RISK_DETECTION_RETRY_SECONDS, then twice as long each time, up to
# 2 ** DETECTION_BACKOFF_STEPS times the first.
DETECTION_BACKOFF_STEPS = 5


def detection_queue(pending_id: int) -> bool:
    """Queue the detection job of a ``PendingDetection`` row; when the broker cannot take it the
    row is left for the next detection sweep (within 15 seconds)."""
    if _publish("detect_pending", pending_id):
        return True
    PendingDetection.objects.filter(pk=pending_id).update(queued_at=None)
    return False


def detection_sweep(*, limit: int = 1000) -> int:
    """Queue detection again for stored telemetry still waiting after
    ``RISK_DETECTION_RETRY_SECONDS`` (its job was lost to a broker outage or a killed worker,
    or still waits behind a backlog: a second job for it does nothing). Each further wait is
    twice the last (up to 32 times the first), so a backlog is not flooded with second jobs."""
    now = timezone.now()
    retry = timedelta(seconds=settings.RISK_DETECTION_RETRY_SECONDS)
    stale = Q(queued_at__isnull=True) | Q(requeues__gte=DETECTION_BACKOFF_STEPS,
                                          queued_at__lt=now - retry * 2 ** DETECTION_BACKOFF_STEPS)
    for step in range(DETECTION_BACKOFF_STEPS):
        stale |= Q(requeues=step, queued_at__lt=now - retry * 2 ** step)
    with transaction.atomic():
        # Rows a worker is detecting right now are locked by it: skipped, not waited for.
        due = list(PendingDetection.objects.select_for_update(skip_locked=True).filter(stale).order_by("pk")
                   .values_list("pk", flat=True)[:limit])
        PendingDetection.objects.filter(pk__in=due).update(queued_at=now, requeues=F("requeues") + 1)
    count = 0
    for n, pending_id in enumerate(due):
        if not detection_queue(pending_id):
            # The broker is down: the next sweep tries these again.
            PendingDetection.objects.filter(pk__in=due[n:]).update(queued_at=None)
            break
        count += 1
    if count:
        log.info("detection sweep: queued %d pending detection job(s) again", count)
    return count


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


# --- Scoring ----------------------------------------------------------------------------------


def score_users(
    user_ids: Iterable[int], *, cause: str, actor_email: str = "", reason: str = "",
) -> list[scoring.Change]:
    """Score these people again now; record and act on every change."""
    ids = sorted(set(user_ids))
    if not ids:
        return []
    lookback = risk_settings().lookback_days
    with transaction.atomic():
        # One scorer per person at a time, so each change is recorded once.
        scope = scoring.Scope(user_ids=tuple(ids))
        scoring.lock(scope)
        changes = scoring.record_changes(scope, lookback_days=lookback, cause=cause, actor_email=actor_email,
                                         reason=reason)
        _after_changes(changes, cause=cause, actor_email=actor_email, reason=reason)
    return changes


def _after_changes(changes: Sequence[scoring.Change], *, cause: str, actor_email: str = "", reason: str = "") -> None:
    """Within the caller's transaction, once the changes are stored: tell Shared Signals
    receivers, and once committed let Access decide each person's sessions again."""
    if not changes:
        return

    effects.level_changed(changes, cause=cause, actor_email=actor_email, reason=reason)


def _start_rescore(*, requested_by: str, cause: str) -> RescoreRun:
    # tasks.py imports this module: imported on use to break the cycle.
    from risk.tasks import rescore

    run = RescoreRun.objects.create(requested_by_email=requested_by, message=cause)

    transaction.on_commit(lambda: rescore.delay(run.pk))
    return run


def rescore_start(*, actor: User) -> RescoreRun:
    require_role(actor, ADMINS, "rescore everyone")
    running = RescoreRun.objects.filter(status__in=[RescoreRun.Status.QUEUED, RescoreRun.Status.RUNNING]).first()
    if running is not None:
        return running
    with transaction.atomic():
        audit_record(actor=actor, action="risk.rescore.requested", object_type="risk.rescorerun",
                     object_repr="Full rescore")
        return _start_rescore(requested_by=actor.email, cause=RiskLevelChange.Cause.RESCORE)


def _rescore_plan(run: RescoreRun, chunk_size: int, bounds: list[tuple[int, int]]) -> list[str]:
    """Set the claimed run up: a new run starts at the first person; a run taken over resumes
    after its checkpoint, keeping what the committed chunks counted (they are not gone over
    again, so ``users_changed`` counts each change once)."""
    if run.scored_through is None:
        # A fresh run, or one from before checkpoints: from the first person. users_changed is
        # kept: committed chunks changed those people, and going over them again finds nothing
        # left to change (it would undercount otherwise).
        run.chunks_done, run.users_scored, run.scored_through = 0, 0, 0
    bounds[:] = scoring.chunk_bounds(chunk_size, after=run.scored_through)
    run.chunks_total = run.chunks_done + len(bounds)
    return ["chunks_total", "chunks_done", "users_scored", "scored_through"]


def rescore_run(run_id: int, *, chunk_size: int | None = None) -> RescoreRun | None:
    """A full rescore, chunk by chunk (each chunk one statement and one short transaction).
    Running it again finds nothing left to change.

    The worker holds the run's lease (``JOB_LEASE_SECONDS``), renewed by a heartbeat however
    long a chunk takes. Another delivery of the task finds the live lease and does nothing; the
    stall sweep sends a run whose lease ran out to a new worker, which resumes after the last
    committed chunk. A worker that finds its lease gone (taken over after it looked dead) rolls
    back its chunk and stops, leaving the run's status and progress to the worker that has it
    now."""
    size = chunk_size or settings.RISK_RESCORE_CHUNK
    bounds: list[tuple[int, int]] = []
    claimed = RescoreRun.claim(run_id, prepare=lambda run, claim, now: _rescore_plan(run, size, bounds))
    if not isinstance(claimed, jobs.Claim):
        return RescoreRun.objects.filter(pk=run_id).first()
    run, lease = claimed.obj, claimed.owner
    if claimed.taken_over_from:
        log.warning("rescore %s: taken over from %s after its lease ran out; resuming after user %s",
                    run.pk, jobs.owner_worker(claimed.taken_over_from), run.scored_through)
    cause = run.message if run.message in RiskLevelChange.Cause.values else RiskLevelChange.Cause.RESCORE
    lookback = risk_settings().lookback_days
    try:
        with jobs.LeaseHeartbeat(RescoreRun, run.pk, lease) as beat:
            for low, high in bounds:
                beat.check()
                with transaction.atomic():
                    scope = scoring.Scope(low=low, high=high)
                    scored = scoring.lock(scope)
                    changes = scoring.record_changes(scope, lookback_days=lookback, cause=cause,
                                                     actor_email=run.requested_by_email)
                    _after_changes(changes, cause=cause, actor_email=run.requested_by_email)
                    # Progress and checkpoint commit with the chunk's changes, only while the
                    # lease is ours.
                    if not RescoreRun.owned(run.pk, lease).update(
                            chunks_done=F("chunks_done") + 1, users_scored=F("users_scored") + scored,
                            users_changed=F("users_changed") + len(changes), scored_through=high):
                        raise jobs.LeaseLost
    except jobs.LeaseLost:
        log.warning("rescore %s: lease taken over by another worker; this one stops", run.pk)
        run.refresh_from_db()
        return run
    except Exception as exc:
        RescoreRun.release(run.pk, lease, status=RescoreRun.Status.FAILED, finished_at=timezone.now(),
                           message=f"Failed: {exc}"[:300])
        raise
    RescoreRun.release(run.pk, lease, status=RescoreRun.Status.DONE, finished_at=timezone.now())
    run.refresh_from_db()
    return run


# --- Investigators ----------------------------------------------------------------------------


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why (it is kept in the person's risk history).", field="reason")
    if len(reason) > 500:
        raise ValidationFailed("Keep the reason under 500 characters.", field="reason")
    if "\x00" in reason:
        raise ValidationFailed("The reason contains a NUL character.", field="reason")
    if not reason.isascii():
        try:
            reason.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed("The reason is not valid Unicode (it holds a lone surrogate).", field="reason")
    return reason


@transaction.atomic
def risk_reset(*, actor: User | None, user: User, reason: str, via: str = "") -> scoring.Change | None:
    """Forgive everything up to now: the person is Unscored until they trigger a behaviour
    again. History is kept; Access gives back what policy allows. ``actor`` is the admin, or
    ``None`` with ``via`` naming the API token of a SOAR tool (a system call: refused without it)."""
    require_role(actor, ADMINS, "reset risk scores", system=bool(via))
    if actor is not None:
        # A reset gives access back: like every action on a person, a Super Admin's is a Super Admin's.
        check_rank(actor, target_role=user.role, what="reset the risk score of")
    reason = _reason(reason)
    by = actor.email if actor is not None else via
    risk, _ = UserRisk.objects.select_for_update().get_or_create(user=user)
    now = timezone.now()
    previous = risk.level
    risk.last_reset_at, risk.level, risk.changed_at = now, Level.UNSCORED, now
    cleared = risk.compromised_at is not None
    risk.compromised_at, risk.compromised_by_email, risk.compromised_reason = None, "", ""
    risk.save(update_fields=["last_reset_at", "level", "changed_at", "compromised_at", "compromised_by_email",
                             "compromised_reason"])
    RiskLevelChange.objects.create(user=user, at=now, previous=previous, current=Level.UNSCORED,
                                   cause=RiskLevelChange.Cause.RESET, actor_email=by[:254], reason=reason)
    audit_record(actor=actor, action="risk.reset", obj=user,
                 changes={"level": {"old": Level(previous).label, "new": Level.UNSCORED.label}, "reason": reason,
                          **({"via": via} if actor is None else {}),
                          **({"confirmed_compromised": {"old": True, "new": False}} if cleared else {})})
    change = scoring.Change(user.pk, previous, int(Level.UNSCORED))

    effects.level_changed([change] if previous != Level.UNSCORED else [], cause=RiskLevelChange.Cause.RESET,
                          actor_email=by, reason=reason, at=now)
    return change


@transaction.atomic
def risk_mark_compromised(*, actor: User, user: User, reason: str) -> None:
    """Confirmed compromised: High until reset, every open Access session revoked and the
    person signed out of the console everywhere, now."""
    require_role(actor, ADMINS, "mark people compromised")
    reason = _reason(reason)
    if user.pk == actor.pk:
        raise PermissionRefused("Ask another admin to mark your own account compromised.")
    risk, _ = UserRisk.objects.select_for_update().get_or_create(user=user)
    if risk.compromised_at is not None:
        raise Conflict(f"{user.email} is already marked confirmed compromised.")
    now = timezone.now()
    previous = risk.level
    risk.compromised_at, risk.compromised_by_email, risk.compromised_reason = now, actor.email, reason
    risk.level, risk.changed_at = Level.HIGH, now
    risk.save(update_fields=["compromised_at", "compromised_by_email", "compromised_reason", "level", "changed_at"])
    RiskLevelChange.objects.create(user=user, at=now, previous=previous, current=Level.HIGH,
                                   cause=RiskLevelChange.Cause.COMPROMISED, actor_email=actor.email, reason=reason)
    audit_record(actor=actor, action="risk.compromised", obj=user,
                 changes={"level": {"old": Level(previous).label, "new": Level.HIGH.label}, "reason": reason})

    effects.level_changed(
        [scoring.Change(user.pk, previous, int(Level.HIGH))] if previous != Level.HIGH else [],
        cause=RiskLevelChange.Cause.COMPROMISED, actor_email=actor.email, reason=reason, at=now,
    )

    sessions_revoke_for_user(actor=actor, user=user)
    signed_out = console_sessions_end(user=user)
    if signed_out:
        audit_record(actor=actor, action="auth.sessions_ended", obj=user,
                     changes={"console_sessions": signed_out, "reason": "confirmed compromised"})


# --- Our own signals --------------------------------------------------------------------------

SIGN_IN_ACTIONS = {"auth.login": True, "auth.login_failed": False}
SIGNAL_ACTIONS = frozenset({"mfa.clone_suspected", "mfa.locked_out", "identity.verification_failed"})


def record_audit_signal(audit_id: int) -> list[scoring.Change]:
    """A worker's job for an audit event that says something about risk: console sign-ins
    become Access authentication events, the rest feed the built-in behaviours."""

    event = AuditEvent.objects.filter(pk=audit_id).first()
    if event is None:
        return []
    if event.action in SIGN_IN_ACTIONS:
        return _console_sign_in(event)
    if event.action in SIGNAL_ACTIONS:
        return detect_and_score("audit", [event.pk])
    return []


def _console_sign_in(event: Any) -> list[scoring.Change]:
    subject = _audit_subject({"object_type": event.object_type, "object_id": event.object_id,
                              "object_repr": event.object_repr})
    if subject is None:
        return []
    email = User.objects.filter(pk=subject).values_list("email", flat=True).first() or ""
    row = {"event_key": f"audit:{event.pk}", "at": event.at, "email": email.lower(), "user_id": subject,
           "origin": AuthEvent.Origin.CONSOLE, "action": "login", "allowed": SIGN_IN_ACTIONS[event.action],
           "app_domain": "", "app_uid": "", "connection": str((event.changes or {}).get("method", ""))[:64],
           "ip": event.ip, "country": access_decisions.country_of(access_decisions.parse_ip(event.ip)) if event.ip
           else "", "ray_id": ""}
    stored = storage.store("access_requests", [row], source_id=None)
    return [change for pending_id in stored.pending for change in (detection_run(pending_id) or [])]


def import_access_decisions(limit: int = 20000) -> int:
    """Our own Access decisions that started a session count as sign-ins (impossible travel
    reads them): read the authentication log from where the last run stopped."""

    with transaction.atomic():
        current = RiskSettings.objects.select_for_update(skip_locked=True).filter(pk=risk_settings().pk).first()
        if current is None:
            return 0  # another worker is on it
        entries = list(
            AccessLogEntry.objects.filter(pk__gt=current.access_log_cursor).order_by("pk")
            .values("pk", "at", "user_id", "email", "application_name", "outcome", "ip", "country", "method",
                    "session_id")[:limit]
        )
        if not entries:
            return 0
        rows = [{
            "event_key": f"acc:{e['session_id']}", "at": e["at"], "email": e["email"].lower(),
            "user_id": e["user_id"], "origin": AuthEvent.Origin.ACCESS, "action": "login", "allowed": True,
            "app_domain": e["application_name"][:255], "app_uid": "", "connection": e["method"][:64],
            "ip": e["ip"], "country": e["country"], "ray_id": "",
        } for e in entries if e["outcome"] == "allow" and e["user_id"] and e["session_id"]]
        stored = storage.store("access_requests", rows, source_id=None) if rows else storage.Stored()
        current.access_log_cursor = entries[-1]["pk"]
        current.save(update_fields=["access_log_cursor"])
    for pending_id in stored.pending:
        detection_run(pending_id)
    return len(stored.ids)


def rescore_scheduled() -> RescoreRun | None:
    """The periodic rescore (look-back windows move on even when nothing new arrives)."""
    if RescoreRun.objects.filter(status__in=[RescoreRun.Status.QUEUED, RescoreRun.Status.RUNNING]).exists():
        return None
    run = RescoreRun.objects.create(requested_by_email="", message=RiskLevelChange.Cause.RESCORE)
    return rescore_run(run.pk)


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


def requeue_stalled(unclaimed_after: timedelta = jobs.UNCLAIMED_AFTER) -> int:
    """The stall sweep (every 10 s): send to a new worker the batches and rescores whose
    worker's lease ran out (it died; the new worker resumes from the checkpoint), and the queued
    ones nobody picked up for ``unclaimed_after`` (their job was lost with a broker or a worker).
    A live lease is never touched, however long its job runs."""
    now = timezone.now()
    count = 0
    batches = IngestBatch.stalled(now=now, unclaimed_after=unclaimed_after) & Q(payload__isnull=False)
    for batch_id in IngestBatch.objects.filter(batches).values_list("pk", flat=True):
        if IngestBatch.requeue(batch_id, now=now, unclaimed_after=unclaimed_after) and _publish(
                "process_batch", str(batch_id)):
            count += 1
    for run_id in RescoreRun.objects.filter(RescoreRun.stalled(now=now, unclaimed_after=unclaimed_after)).values_list(
            "pk", flat=True):
        if RescoreRun.requeue(run_id, now=now, unclaimed_after=unclaimed_after) and _publish("rescore", run_id):
            count += 1
    if count:
        log.warning("stall sweep: sent %d abandoned batch(es) and rescore(s) to a worker again", count)
    return count
