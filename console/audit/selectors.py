from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from console.audit.models import AuditEvent


def audit_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.all()


def audit_events_for_object(
    object_type: str, object_id: str, limit: int = 20, actions: Iterable[str] | None = None
) -> list[AuditEvent]:
    """The newest events about one object; ``actions`` keeps only those actions."""
    events = AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id))
    if actions is not None:
        events = events.filter(action__in=list(actions))
    return list(events[:limit])


def audit_events_by_actor(actor_id: int, limit: int = 20) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(actor_id=actor_id)[:limit])
