"""Detection: the enabled behaviours run over new telemetry (and our own sign-ins, Access decisions
and audit signals), with a pending row per stored chunk that a sweep queues again."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from console.access import decisions as access_decisions
from console.access.models import AccessLogEntry
from console.audit.models import AuditEvent
from risk import scoring
from risk.behaviours import Trigger, by_source
from risk.ingest import storage
from risk.models import (
    AuthEvent,
    DeviceSignal,
    GatewayDnsEvent,
    GatewayHttpEvent,
    Level,
    PendingDetection,
    RiskEvent,
    RiskLevelChange,
    RiskSettings,
    UserRisk,
)
from risk.services.configuration import ensure_configs, params_of, risk_settings
from risk.services.queueing import publish
from risk.services.scores import score_users

log = logging.getLogger(__name__)

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
    if publish("detect_pending", pending_id):
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
