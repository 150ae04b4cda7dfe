"""Filters of the risk lists: users at risk, telemetry sources and the telemetry itself."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Model, Q, QuerySet

from risk.behaviours import REGISTRY
from risk.models import Level, TelemetryKind, TelemetrySource, UserRisk

LEVEL_CHOICES = [(str(int(v)), label) for v, label in Level.choices]


class UserRiskFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    level = django_filters.ChoiceFilter(choices=LEVEL_CHOICES, empty_label="Any level")
    behaviour = django_filters.ChoiceFilter(
        method="by_behaviour", label="Behaviour", empty_label="Any behaviour",
        choices=sorted(((k, b.name) for k, b in REGISTRY.items()), key=lambda kv: kv[1]),
    )
    compromised = django_filters.BooleanFilter(field_name="compromised_at", lookup_expr="isnull", exclude=True,
                                               label="Confirmed compromised")

    class Meta:
        model = UserRisk
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(user__email__icontains=value) | Q(user__full_name__icontains=value))

    def by_behaviour(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(user__risk_events__behaviour=value).distinct()


class SourceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    kind = django_filters.ChoiceFilter(choices=TelemetryKind.choices, empty_label="Any kind")
    revoked = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True,
                                           label="Revoked")

    class Meta:
        model = TelemetrySource
        fields: list[str] = []


class TelemetryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    since = django_filters.DateFilter(field_name="at", lookup_expr="date__gte", label="From",
                                      widget=forms.DateInput(attrs={"type": "date"}))
    until = django_filters.DateFilter(field_name="at", lookup_expr="date__lte", label="To",
                                      widget=forms.DateInput(attrs={"type": "date"}))

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        model = queryset.model
        condition = Q(email__icontains=value)
        for field in ("host", "query_name", "device_id", "ip", "threat_name"):
            if any(f.name == field for f in model._meta.fields):
                condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)


def telemetry_filter_for(model: type[Model]) -> type[TelemetryFilter]:
    """The telemetry filter bound to one telemetry table (the page shows one kind at a time)."""
    meta = type("Meta", (), {"model": model, "fields": []})
    return type(f"{model.__name__}Filter", (TelemetryFilter,), {"Meta": meta})
