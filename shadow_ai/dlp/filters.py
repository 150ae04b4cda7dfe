"""Filters of the DLP profile list."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from shadow_ai.dlp.models import DlpEntry, DlpProfile


class ProfileFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    kind = django_filters.ChoiceFilter(choices=DlpProfile.Kind.choices, empty_label="Any", label="Type")

    class Meta:
        model = DlpProfile
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        entries = DlpEntry.objects.filter(name__icontains=value).values("profile_id")
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value) | Q(pk__in=entries))
