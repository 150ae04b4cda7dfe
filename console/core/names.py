"""Names people give things (groups, policies, applications, tokens…) are unique regardless of
case: "Finance" and "finance" are the same group. Two halves keep that true: a service checks
with ``require_free_name`` so the person gets a clear error on the name field, and the model
carries ``case_insensitive_unique`` so nothing (a race, a script) can store a second one."""

from __future__ import annotations

from django.db import models
from django.db.models import F
from django.db.models.functions import Lower

from console.core.errors import Conflict, ValidationFailed


def clean_name(name: str | None, *, limit: int | None = 120, collapse_spaces: bool = False) -> str:
    """The name a person typed, stripped (and with runs of spaces made one when
    ``collapse_spaces``); empty or longer than ``limit`` is a ``ValidationFailed`` on ``name``."""
    name = " ".join((name or "").split()) if collapse_spaces else (name or "").strip()
    if not name:
        raise ValidationFailed("A name is required.", field="name")
    if limit is not None and len(name) > limit:
        raise ValidationFailed(f"Keep the name under {limit} characters.", field="name")
    return name


def case_insensitive_unique(constraint_name: str, *within: str, field: str = "name") -> models.UniqueConstraint:
    """A unique constraint on ``Lower(field)``, within each value of the ``within`` fields (a
    DLP entry's name is unique in its profile)."""
    return models.UniqueConstraint(*(F(name) for name in within), Lower(field), name=constraint_name)


def require_free_name(queryset: models.QuerySet | models.Manager, name: str, message: str, *,
                      instance: models.Model | None = None, field: str = "name") -> None:
    """Raise ``Conflict(message)`` on ``field`` when a row of ``queryset`` other than
    ``instance`` already has ``name`` in any case."""
    clash = queryset.filter(**{f"{field}__iexact": name})
    if instance is not None and instance.pk is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise Conflict(message, field=field)
