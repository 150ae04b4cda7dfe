"""Filters of the Shared Signals lists: streams, their deliveries and subjects."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from risk.ssf import events, selectors
from risk.ssf.models import Delivery, Stream, StreamSubject


class StreamFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=Stream.Status.choices, empty_label="Any")
    delivery_method = django_filters.ChoiceFilter(choices=Stream.Method.choices, empty_label="Any", label="Delivery")

    class Meta:
        model = Stream
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(description__icontains=value) | Q(stream_id__icontains=value)
                               | Q(endpoint_url__icontains=value) | Q(receiver__name__icontains=value))


class DeliveryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=Delivery.Status.choices, empty_label="Any")
    event_type = django_filters.ChoiceFilter(
        choices=[(e, events.label(e)) for e in (*events.SUPPORTED, events.VERIFICATION, events.STREAM_UPDATED)],
        empty_label="Any", label="Event",
    )
    stream = django_filters.ModelChoiceFilter(queryset=selectors.streams_by_description(), empty_label="Any")

    class Meta:
        model = Delivery
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(subject_label__icontains=value) | Q(jti__icontains=value)
                               | Q(last_error__icontains=value))


class SubjectFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="key", lookup_expr="icontains", label="Search")
    included = django_filters.BooleanFilter(
        label="Entry", widget=django_filters.widgets.BooleanWidget(
            attrs={"aria-label": "Entry"}),
    )

    class Meta:
        model = StreamSubject
        fields: list[str] = []
