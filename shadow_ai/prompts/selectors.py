"""Reads of the AI prompt log. ``get_*_for`` apply the role check before returning one object."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS
from shadow_ai.prompts.models import PromptLogEntry, PromptLogKey


def get_entry_for(viewer: User, pk: int) -> PromptLogEntry:
    return get_for_role(PromptLogEntry.objects.select_related("key"), viewer, pk, "prompt-log entry",
                        CONSOLE_READERS)


def entries_for_list() -> QuerySet[PromptLogEntry]:
    return PromptLogEntry.objects.select_related("key")


def any_entry() -> bool:
    return PromptLogEntry.objects.exists()


def active_key() -> PromptLogKey | None:
    return PromptLogKey.objects.filter(active=True).first()


def keys() -> list[PromptLogKey]:
    return list(PromptLogKey.objects.all())


def applications_logged() -> list[tuple[str, str]]:
    rows = (PromptLogEntry.objects.exclude(application_key="").values_list("application_key", "application_name")
            .distinct().order_by("application_name"))
    return list(dict(rows).items())
