"""Filters of the AI prompt log: what stays in clear (who, application, topic, action,
conversation, when)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from shadow_ai.gateway.engine import Action
from shadow_ai.prompts import selectors
from shadow_ai.prompts.models import PromptLogEntry
from shadow_ai.prompts.topics import TOPICS


class EntryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    application = django_filters.ChoiceFilter(field_name="application_key", choices=[], empty_label="Any",
                                              label="Application")
    topic = django_filters.ChoiceFilter(method="with_topic", choices=[(t.key, t.name) for t in TOPICS],
                                        empty_label="Any", label="Topic")
    action = django_filters.ChoiceFilter(choices=[(a.value, a.value.replace("_", " ").capitalize()) for a in Action],
                                         empty_label="Any", label="Action")
    since = django_filters.DateFilter(field_name="at", lookup_expr="date__gte", label="From",
                                      widget=django_filters.widgets.forms.DateInput(attrs={"type": "date"}))
    until = django_filters.DateFilter(field_name="at", lookup_expr="date__lte", label="To",
                                      widget=django_filters.widgets.forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = PromptLogEntry
        fields: list[str] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.filters["application"].extra["choices"] = selectors.applications_logged()

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(Q(email__icontains=value) | Q(application_name__icontains=value)
                               | Q(hostname__icontains=value) | Q(policy_name__icontains=value)
                               | Q(conversation_id=value))

    def with_topic(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(topics__has_key=value) | Q(response_topics__has_key=value))
