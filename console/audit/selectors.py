from __future__ import annotations

from django.db.models import QuerySet

from console.audit.models import AuditEvent


def audit_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.all()


def audit_events_for_object(object_type: str, object_id: str, limit: int = 20) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id))[:limit]
    )


def audit_events_by_actor(actor_id: int, limit: int = 20) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(actor_id=actor_id)[:limit])
