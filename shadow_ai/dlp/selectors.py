"""Reads of DLP profiles. ``get_*_for`` apply the role check before returning one object."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from accounts.models import User
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS
from shadow_ai.dlp.models import DlpEntry, DlpProfile


def _get(queryset: QuerySet, viewer: User, pk: int, noun: str):
    return get_for_role(queryset, viewer, pk, noun, CONSOLE_READERS)


def get_profile_for(viewer: User, pk: int) -> DlpProfile:
    return _get(DlpProfile.objects.all(), viewer, pk, "DLP profile")


def get_entry_for(viewer: User, pk: int) -> DlpEntry:
    return _get(DlpEntry.objects.select_related("profile"), viewer, pk, "DLP entry")


def any_profile() -> bool:
    return DlpProfile.objects.exists()


def profiles_for_list() -> QuerySet[DlpProfile]:
    return DlpProfile.objects.annotate(
        entry_total=Count("entries"), entry_enabled=Count("entries", filter=Q(entries__enabled=True)))


def entries_of(profile: DlpProfile) -> list[DlpEntry]:
    return list(profile.entries.order_by("pk"))
