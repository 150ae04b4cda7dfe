from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from console.access.idp.models import Client


class ClientFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    kind = django_filters.ChoiceFilter(choices=Client.Kind.choices, empty_label="Any")

    class Meta:
        model = Client
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(oauth__client_id__icontains=value)
                               | Q(oauth__redirect_uris__icontains=value))
