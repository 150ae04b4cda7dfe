"""Filters of the Shadow AI lists: the application library and the gateway policies."""

from __future__ import annotations

import django_filters
from django import forms as django_forms
from django.db.models import Q, QuerySet

from shadow_ai import selectors
from shadow_ai.casb import selectors as casb_selectors
from shadow_ai.models import Application, Category, GatewayPolicy, Status

YES_NO = [("yes", "Yes"), ("no", "No")]
USAGE_CHOICES = [("new", "Newly seen"), ("seen", "Seen in use"), ("never", "Never seen")]


class LibraryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    category = django_filters.ChoiceFilter(choices=Category.choices, empty_label="Any")
    status = django_filters.ChoiceFilter(choices=Status.choices, empty_label="Any")
    gen_ai = django_filters.ChoiceFilter(choices=YES_NO, empty_label="Any", method="yes_no", label="Generative AI")
    min_saas = django_filters.NumberFilter(field_name="saas_score", lookup_expr="gte", label="SaaS score ≥",
                                           widget=django_forms.NumberInput(attrs={"step": "0.1", "min": "0",
                                                                                  "max": "5"}))
    min_genai = django_filters.NumberFilter(field_name="genai_score", lookup_expr="gte", label="Gen-AI score ≥",
                                            widget=django_forms.NumberInput(attrs={"step": "0.1", "min": "0",
                                                                                   "max": "5"}))
    source = django_filters.ChoiceFilter(choices=Application.Source.choices, empty_label="Any")
    discovered = django_filters.ChoiceFilter(choices=YES_NO, empty_label="Any", method="by_discovered",
                                             label="Discovered by CASB")
    usage = django_filters.ChoiceFilter(choices=USAGE_CHOICES, empty_label="Any", method="by_usage", label="Usage")

    class Meta:
        model = Application
        fields: list[str] = []

    def yes_no(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(is_gen_ai=value == "yes")

    def by_discovered(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        found = casb_selectors.discovered_application_ids()
        return queryset.filter(pk__in=found) if value == "yes" else queryset.exclude(pk__in=found)

    def by_usage(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "new":
            return queryset.filter(usage_seen__first_at__gte=selectors.new_since())
        return queryset.filter(usage_seen__isnull=value != "seen")

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(pk__in=selectors.applications_matching(value))


class PolicyFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    action = django_filters.ChoiceFilter(choices=GatewayPolicy.Action.choices, empty_label="Any")
    enabled = django_filters.ChoiceFilter(choices=YES_NO, empty_label="Any", method="yes_no", label="Enabled")

    class Meta:
        model = GatewayPolicy
        fields: list[str] = []

    def yes_no(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(enabled=value == "yes")

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))
