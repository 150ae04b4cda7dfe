"""Filters of the CASB lists: integrations, findings, their instances and discovered applications."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from shadow_ai.casb import connectors
from shadow_ai.casb.findings import Severity
from shadow_ai.casb.models import DiscoveredApp, Finding, FindingInstance, Integration

YES_NO = [("yes", "Yes"), ("no", "No")]
STATE_CHOICES = [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]
# The tabs above the list of a finding's instances.
INSTANCE_TABS = [("active", "Active"), ("hidden", "Hidden"), ("resolved", "Resolved")]


class IntegrationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    vendor = django_filters.ChoiceFilter(choices=connectors.choices, empty_label="Any")
    status = django_filters.ChoiceFilter(choices=Integration.Status.choices, empty_label="Any")

    class Meta:
        model = Integration
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(name__icontains=value.strip())


class FindingFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    severity = django_filters.ChoiceFilter(choices=Severity.choices, empty_label="Any")
    status = django_filters.ChoiceFilter(choices=Finding.Status.choices, empty_label="Any")
    state = django_filters.ChoiceFilter(choices=STATE_CHOICES, method="by_state", empty_label="Open",
                                        label="Open or resolved")
    integration = django_filters.ModelChoiceFilter(queryset=Integration.objects.order_by("name"), empty_label="Any")
    vendor = django_filters.ChoiceFilter(choices=connectors.choices, field_name="integration__vendor",
                                         empty_label="Any", label="Vendor")

    class Meta:
        model = Finding
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        assets = FindingInstance.objects.filter(Q(asset__icontains=value) | Q(owner__icontains=value)).values(
            "finding_id")
        return queryset.filter(Q(title__icontains=value) | Q(integration__name__icontains=value) | Q(pk__in=assets))

    def by_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        if value == "all":
            return queryset
        return queryset.filter(resolved_at__isnull=True)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("state"):
            queryset = queryset.filter(resolved_at__isnull=True)  # the default: what is still open
        return queryset


class InstanceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    # Chosen with the tabs above the list; a hidden input keeps it while searching.
    show = django_filters.ChoiceFilter(choices=INSTANCE_TABS, method="by_tab", empty_label="Active", label="Show",
                                       widget=forms.HiddenInput)

    class Meta:
        model = FindingInstance
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(Q(asset__icontains=value) | Q(owner__icontains=value) | Q(key__icontains=value))

    def by_tab(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # applied in filter_queryset, which also handles the default tab

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        tab = self.form.cleaned_data.get("show") or "active"
        if tab == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset.filter(resolved_at__isnull=True, status=tab)


class DiscoveredFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    integration = django_filters.ModelChoiceFilter(queryset=Integration.objects.order_by("name"), empty_label="Any")
    ai = django_filters.ChoiceFilter(choices=YES_NO, method="by_ai", empty_label="Any", label="AI application")
    in_library = django_filters.ChoiceFilter(choices=YES_NO, method="by_library", empty_label="Any",
                                             label="In the library")
    state = django_filters.ChoiceFilter(choices=STATE_CHOICES, method="by_state", empty_label="Open",
                                        label="Still granted")

    class Meta:
        model = DiscoveredApp
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(Q(name__icontains=value) | Q(publisher__icontains=value)
                               | Q(external_id__icontains=value))

    def by_ai(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(is_ai=value == "yes")

    def by_library(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(application__isnull=value != "yes")

    def by_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # applied in filter_queryset with the default

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        state = self.form.cleaned_data.get("state") or "open"
        if state == "open":
            return queryset.filter(resolved_at__isnull=True)
        if state == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset
