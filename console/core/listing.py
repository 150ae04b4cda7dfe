"""Search, filter, sort and paginate a queryset the same way on every list page.

Filtering and search come from a django-filter ``FilterSet``; this module adds a whitelisted
sort (``?sort=-name``) and pagination (``?page=2&per_page=50``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import django_filters
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PAGE_SIZES = (25, 50, 100)


@dataclass
class Listing:
    page: Page
    sort: str
    sorts: dict[str, str]
    filterset: django_filters.FilterSet | None
    total: int
    page_sizes: tuple[int, ...] = field(default=PAGE_SIZES)

    @property
    def is_filtered(self) -> bool:
        if self.filterset is None:
            return False
        return any(v not in (None, "", []) for v in self.filterset.form.cleaned_data.values())

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


def build_listing(
    request: HttpRequest,
    queryset: QuerySet,
    *,
    sorts: dict[str, str],
    default_sort: str,
    filterset_class: type[django_filters.FilterSet] | None = None,
    per_page: int = 25,
) -> Listing:
    """``sorts`` maps a public sort key to an ORM field; unknown keys fall back to the default."""
    filterset = None
    if filterset_class is not None:
        filterset = filterset_class(request.GET, queryset=queryset, request=request)
        queryset = filterset.qs if filterset.is_valid() else queryset.none()

    sort = request.GET.get("sort", default_sort)
    if sort.lstrip("-") not in sorts:
        sort = default_sort
    orm_field = sorts[sort.lstrip("-")]
    ordering = f"-{orm_field}" if sort.startswith("-") else orm_field
    pk_order = "-pk" if sort.startswith("-") else "pk"
    queryset = queryset.order_by(ordering, pk_order)

    try:
        size = int(request.GET.get("per_page", per_page))
    except ValueError:
        size = per_page
    if size not in PAGE_SIZES:
        size = per_page
    paginator = Paginator(queryset, size)
    page = paginator.get_page(request.GET.get("page"))
    return Listing(page=page, sort=sort, sorts=sorts, filterset=filterset, total=paginator.count)
