from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, QuerySet

from console.audit.models import AuditEvent
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS

SIGN_IN_ACTIONS = ("auth.login", "auth.login_failed", "auth.lockout")


def audit_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.all()


def get_event_for(viewer, pk: int) -> AuditEvent:
    return get_for_role(AuditEvent.objects.all(), viewer, pk, "audit event", CONSOLE_READERS)


def recent_events(limit: int = 10) -> list[AuditEvent]:
    return list(AuditEvent.objects.all()[:limit])


def sign_in_counts(since: datetime) -> dict[str, int]:
    """Sign-ins, failed sign-ins and lockouts since ``since``, by action (absent when none)."""
    return dict(
        AuditEvent.objects.filter(at__gte=since, action__in=SIGN_IN_ACTIONS)
        .values_list("action").annotate(n=Count("id")).order_by()
    )


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
