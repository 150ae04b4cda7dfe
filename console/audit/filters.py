import django_filters
from django import forms
from django.db.models import Q, QuerySet

from console.audit.models import AuditEvent


def _object_type_choices() -> list[tuple[str, str]]:
    types = AuditEvent.objects.order_by().values_list("object_type", flat=True).distinct()
    return [(t, t) for t in sorted(t for t in types if t)]


class AuditEventFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    actor = django_filters.CharFilter(field_name="actor_email", lookup_expr="icontains", label="Actor")
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith", label="Action")
    object_type = django_filters.ChoiceFilter(
        choices=_object_type_choices, label="Object type", empty_label="Any"
    )
    object_id = django_filters.CharFilter(field_name="object_id", label="Object id")
    since = django_filters.DateFilter(
        field_name="at", lookup_expr="date__gte", label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="at", lookup_expr="date__lte", label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    ip = django_filters.CharFilter(field_name="ip", label="Source IP", method="by_ip")

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(actor_email__icontains=value)
            | Q(action__icontains=value)
            | Q(object_repr__icontains=value)
        )

    def by_ip(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(ip=value.strip()) if value.strip() else queryset
