import django_filters
from django import forms
from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.onboarding.models import OnboardingCase, OutboxMessage, VerificationRecord

IN_PROGRESS = "in_progress"  # every open case: invited, verification pending, verified


class CaseFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=[(IN_PROGRESS, "In progress (invited or verifying)"),
                                                  *OnboardingCase.Status.choices],
                                         method="by_status", label="Status", empty_label="Any")
    start_after = django_filters.DateFilter(field_name="start_date", lookup_expr="gte", label="Starts from",
                                            widget=forms.DateInput(attrs={"type": "date"}))
    start_before = django_filters.DateFilter(field_name="start_date", lookup_expr="lte", label="Starts until",
                                             widget=forms.DateInput(attrs={"type": "date"}))
    activated_since = django_filters.DateFilter(field_name="activated_at", lookup_expr="date__gte",
                                                label="Activated from", widget=forms.DateInput(attrs={"type": "date"}))
    manager = django_filters.ModelChoiceFilter(
        queryset=User.objects.filter(reports__isnull=False).distinct().order_by("full_name"), label="Manager",
        empty_label="Any",
    )

    class Meta:
        model = OnboardingCase
        fields: list[str] = []

    def by_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == IN_PROGRESS:
            return queryset.filter(status__in=OnboardingCase.OPEN)
        return queryset.filter(status=value)

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(legal_name__icontains=value) | Q(work_email__icontains=value) | Q(personal_email__icontains=value)
        )


class VerificationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    purpose = django_filters.ChoiceFilter(choices=VerificationRecord.Purpose.choices, label="Purpose",
                                          empty_label="Any")
    outcome = django_filters.ChoiceFilter(choices=VerificationRecord.Outcome.choices, label="Outcome",
                                          empty_label="Any")

    class Meta:
        model = VerificationRecord
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(email__icontains=value) | Q(transaction_id__icontains=value) | Q(provider_name__icontains=value)
            | Q(failed_check__icontains=value)
        )


class OutboxFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = OutboxMessage
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(to__icontains=value) | Q(subject__icontains=value))
