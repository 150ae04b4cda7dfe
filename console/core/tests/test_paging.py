"""Any ``?page=`` on any list answers a page: the first for nonsense or negative numbers, the
last for numbers past the end (``99999999999999999999999`` was a 500 on the usage lists)."""

from __future__ import annotations

import re

import pytest
from django.core.paginator import Page, Paginator
from django.test import RequestFactory
from django.urls import NoReverseMatch, get_resolver, reverse

from console.audit.models import AuditEvent
from console.audit.services import audit_record
from console.core.listing import MAX_PAGE, build_listing, page_number, paginate
from console.core.permissions import API
from console.core.tests.test_url_access import walk
from shadow_ai.models import Application as LibraryApplication

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"
BAD_PAGES = [HUGE, "9" * 5000, "-5", "0", "abc", "1e3", " 2 ", "٣", ""]


@pytest.mark.parametrize("value,pages,expected", [
    (None, 4, 1), ("", 4, 1), ("abc", 4, 1), ("0", 4, 1), ("-5", 4, 1), ("1e3", 4, 1), ("2.0", 4, 1),
    ("٣", 4, 1), ("3", 4, 3), (" 3 ", 4, 3), ("5", 4, 4), (HUGE, 4, 4), ("9" * 5000, 4, 4), ("7", 0, 1),
    (HUGE, None, MAX_PAGE), ("12", None, 12),
])
def test_page_number_clamps(value, pages, expected):
    assert page_number(value, pages) == expected


def test_paginate_and_build_listing_clamp(super_admin):
    assert paginate(Paginator(range(100), 25), HUGE).number == 4
    assert paginate(Paginator(range(100), 25), "-1").number == 1
    for n in range(30):
        audit_record(actor=super_admin, action="test.event", object_repr=str(n))
    queryset = AuditEvent.objects.all()
    pages = (queryset.count() + 24) // 25
    for value, expected in [(HUGE, pages), ("-3", 1), ("x", 1), ("2", 2)]:
        listing = build_listing(RequestFactory().get("/", {"page": value}), queryset, sorts={"at": "at"},
                                default_sort="-at")
        assert listing.page.number == expected, value


def _is_paged(response) -> bool:
    context = response.context
    if context is None:
        return False
    return isinstance(context.get("page"), Page) or isinstance(getattr(context.get("listing"), "page", None), Page)


def _list_urls(client) -> list[str]:
    """Every page without URL arguments that renders a paged list, plus the per-application usage
    list of the library."""
    found = []
    for name, pattern in walk(get_resolver().url_patterns):
        if pattern.pattern.regex.groups or not name or getattr(pattern.callback, "console_access", None) == API:
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        response = client.get(url)
        if response.status_code == 200 and not response.streaming and _is_paged(response):
            found.append(url)
    app = LibraryApplication.objects.create(key="paging-sample", name="Paging Sample", category="business")
    found.append(reverse("shadow_ai:app-detail", args=[app.pk]))
    return found


def test_every_list_page_answers_any_page_number(client_for, super_admin):
    client = client_for(super_admin)
    urls = _list_urls(client)
    # The two that failed, and the shared list helper's pages, are among them.
    assert {reverse("shadow_ai:usage-people"), reverse("audit:list"), reverse("access:session-list")} <= set(urls)
    assert len(urls) >= 15
    for url in urls:
        for value in BAD_PAGES:
            response = client.get(url, {"page": value})
            assert response.status_code == 200, (url, value)
            shown = re.search(rb"Page (\d+) of (\d+)", response.content)
            if shown is not None:
                number, last = int(shown[1]), int(shown[2])
                assert number == (last if value.strip() in (HUGE, "9" * 5000) else 1), (url, value)


def test_the_risk_api_refuses_a_page_past_its_range(client, super_admin):
    from console.access import services as access_services

    _, secret = access_services.api_token_create(actor=super_admin, name="reader", scopes=["risk:read"])
    for value in (HUGE, str(MAX_PAGE + 1), "abc"):
        response = client.get("/api/v1/risk/users", {"page": value}, HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 400
        assert response.json()["field"] == "page"
