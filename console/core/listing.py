"""Search, filter, sort and paginate a queryset the same way on every list page.

Filtering and search come from a django-filter ``FilterSet``; this module adds a whitelisted
sort (``?sort=-name``) and pagination (``?page=2&per_page=50``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import django_filters
from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PAGE_SIZES = (25, 50, 100)
# Far beyond any list, and small enough that (page - 1) * 100 stays a valid SQL OFFSET.
MAX_PAGE = 1_000_000


def page_number(value: object, num_pages: int | None = None) -> int:
    """The page a ``?page=`` asks for, clamped, never an error: anything that is not a positive
    whole number (missing, ``abc``, ``0``, ``-5``, ``1e3``) is the first page; a number beyond
    the last page (or beyond ``MAX_PAGE`` when the number of pages is not known yet) is the last
    one. Every list page reads its page through this or ``paginate``."""
    text = str(value).strip() if value is not None else ""
    if not text.isascii() or not text.isdigit():
        return 1
    number = int(text) if len(text) <= 7 else MAX_PAGE + 1  # no int() of a thousand digits
    last = max(num_pages, 1) if num_pages is not None else MAX_PAGE
    return min(max(number, 1), last)


def sort_of(request: HttpRequest, sorts: dict[str, str], default_sort: str) -> str:
    """The ``?sort=`` asked for when it is one of ``sorts`` (``-`` first: descending), else the default."""
    sort = request.GET.get("sort", default_sort)
    return sort if sort.lstrip("-") in sorts else default_sort


def page_size(request: HttpRequest, per_page: int) -> int:
    """The ``?per_page=`` asked for when it is one of ``PAGE_SIZES``, else ``per_page``."""
    try:
        size = int(request.GET.get("per_page", per_page))
    except ValueError:
        return per_page
    return size if size in PAGE_SIZES else per_page


def paginate(paginator: Paginator, value: object) -> Page:
    """The page of ``paginator`` that ``?page=value`` asks for (``page_number``)."""
    return paginator.page(page_number(value, paginator.num_pages))


def filter_errors(filterset: django_filters.FilterSet | None) -> list[str]:
    """What is wrong with the filters a person asked for, one sentence per field naming it
    ("From: “2026-13-45” is not a date; use YYYY-MM-DD."). Empty when they are valid."""
    if filterset is None or filterset.is_valid():
        return []
    form = filterset.form
    problems = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        label = str(field.label) if field is not None and field.label else name
        if isinstance(field, forms.DateField):
            problems.append(f"{label}: “{form.data.get(name, '')}” is not a date; use YYYY-MM-DD.")
        else:
            problems.append(f"{label}: {' '.join(str(e) for e in errors)}")
    return problems


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
        if self.filter_errors:
            return True
        return any(v not in (None, "", []) for v in self.filterset.form.cleaned_data.values())

    @property
    def filter_errors(self) -> list[str]:
        """Invalid filters, each naming its field; the list is then empty (nothing is guessed)."""
        return filter_errors(self.filterset)

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

    sort = sort_of(request, sorts, default_sort)
    orm_field = sorts[sort.lstrip("-")]
    ordering = f"-{orm_field}" if sort.startswith("-") else orm_field
    pk_order = "-pk" if sort.startswith("-") else "pk"
    queryset = queryset.order_by(ordering, pk_order)

    paginator = Paginator(queryset, page_size(request, per_page))
    page = paginate(paginator, request.GET.get("page"))
    return Listing(page=page, sort=sort, sorts=sorts, filterset=filterset, total=paginator.count)
