"""The one place audit rows are written. Call it inside the service's ``transaction.atomic``
block, so the change and its record commit or roll back together."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models

from console.audit.models import AuditEvent
from console.core import request_context

SECRET_MARK = "[secret]"  # noqa: S105 - a marker, not a secret


def _plain(value: Any) -> Any:
    """JSON-friendly form of a field value for the changes column."""
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of ``fields`` on ``obj`` (foreign keys by their string form)."""
    return {name: _plain(getattr(obj, name)) for name in fields}


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], *, secrets: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """``{field: {"old": ..., "new": ...}}`` for every field whose value changed.

    Secret fields record only that they changed, never their values."""
    hidden = set(secrets)
    changes: dict[str, dict[str, Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name in hidden:
            changes[name] = {"old": SECRET_MARK if old else None, "new": SECRET_MARK if new else None}
        else:
            changes[name] = {"old": _plain(old), "new": _plain(new)}
    return changes


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event.

    ``actor`` is a user or ``None`` for the system (Celery jobs, schedules). ``obj`` fills the
    object columns; pass them explicitly for something that is not a model row."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:255]
    context = request_context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor_id=actor.pk if is_user else None,
        actor_email=actor.email if is_user else "",
        actor_role=getattr(actor, "role", "") if is_user else "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:255],
        changes=_plain(dict(changes or {})),
        ip=context.ip if context else None,
        user_agent=context.user_agent if context else "",
        request_id=context.request_id if context else "",
    )
