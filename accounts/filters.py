import django_filters
from django.db.models import Q, QuerySet

from accounts.models import Group, User
from console.core.roles import Role


def _countries() -> list[tuple[str, str]]:
    codes = User.objects.exclude(country="").order_by().values_list("country", flat=True).distinct()
    return [(c, c) for c in sorted(codes)]


class UserFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    role = django_filters.ChoiceFilter(choices=Role.choices, label="Role", empty_label="Any")
    status = django_filters.ChoiceFilter(
        choices=[("active", "Active"), ("deactivated", "Deactivated")], method="by_status",
        label="Status", empty_label="Any",
    )
    group = django_filters.ModelChoiceFilter(
        queryset=Group.objects.order_by("name"), field_name="memberships__group", label="Group",
        empty_label="Any",
    )
    country = django_filters.ChoiceFilter(choices=_countries, label="Country", empty_label="Any")

    class Meta:
        model = User
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(full_name__icontains=value) | Q(email__icontains=value) | Q(title__icontains=value)
        )

    def by_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(is_active=(value == "active"))


class GroupFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Group
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class MemberFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search members")

    class Meta:
        model = User
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(full_name__icontains=value) | Q(email__icontains=value))
