"""Filters of the Access lists: applications, policies, sessions, devices and the access log."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from console.access import engine, selectors
from console.access.models import AccessLogEntry, AccessSession, Application, Device, Policy


class ApplicationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    type = django_filters.ChoiceFilter(choices=Application.Type.choices, empty_label="Any")

    class Meta:
        model = Application
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(domain__icontains=value) | Q(url__icontains=value))


class PolicyFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    action = django_filters.ChoiceFilter(choices=Policy.Action.choices, empty_label="Any")

    class Meta:
        model = Policy
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class SessionFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    application = django_filters.ModelChoiceFilter(
        queryset=selectors.applications_by_name(), empty_label="Any"
    )
    user = django_filters.NumberFilter(field_name="user_id", label="User id")

    class Meta:
        model = AccessSession
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(user__email__icontains=value) | Q(application__name__icontains=value) | Q(ip__icontains=value)
        )


class LogFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    outcome = django_filters.ChoiceFilter(
        choices=[(o.value, o.value.title()) for o in engine.Outcome], empty_label="Any"
    )
    source = django_filters.ChoiceFilter(choices=AccessLogEntry.Source.choices, empty_label="Any")
    country = django_filters.CharFilter(lookup_expr="iexact", label="Country")
    since = django_filters.DateFilter(field_name="at", lookup_expr="date__gte", label="From",
                                      widget=django_filters.widgets.forms.DateInput(attrs={"type": "date"}))
    until = django_filters.DateFilter(field_name="at", lookup_expr="date__lte", label="To",
                                      widget=django_filters.widgets.forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = AccessLogEntry
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(email__icontains=value) | Q(application_name__icontains=value) | Q(policy_name__icontains=value)
            | Q(ip__icontains=value)
        )


class DeviceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    managed = django_filters.BooleanFilter(label="Managed")

    class Meta:
        model = Device
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(name__icontains=value) | Q(device_id__icontains=value) | Q(user__email__icontains=value)
            | Q(os__icontains=value)
        )
