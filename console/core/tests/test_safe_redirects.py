"""A ``next`` (or "back") address from a request is followed only inside the console."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from console.access import services as access_services
from console.access.models import AccessSession
from console.core.redirects import is_safe_next, safe_next

OFF_SITE = [
    "https://evil.example/phish",
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\\\evil.example/phish",
    "/\\/evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    "/ok\r\nSet-Cookie: x=1",
    "http://testserver.evil.example/",
]


@pytest.mark.parametrize("candidate", OFF_SITE)
def test_off_site_addresses_are_refused(candidate):
    request = RequestFactory().get("/")
    assert not is_safe_next(request, candidate)
    assert safe_next(request, candidate, "console:home") == reverse("console:home")


@pytest.mark.parametrize("candidate", ["/access/sessions/?page=2", "http://testserver/access/sessions/"])
def test_addresses_in_the_console_are_followed(candidate):
    request = RequestFactory().get("/")
    assert safe_next(request, candidate, "console:home") == candidate


def test_only_https_in_production_and_over_https(settings):
    settings.PRODUCTION = True
    request = RequestFactory().get("/")
    assert not is_safe_next(request, "http://testserver/access/")
    assert is_safe_next(request, "https://testserver/access/") and is_safe_next(request, "/access/")
    settings.PRODUCTION = False
    assert not is_safe_next(RequestFactory().get("/", secure=True), "http://testserver/access/")


def test_within_keeps_a_redirect_under_its_prefix():
    request = RequestFactory().get("/")
    assert safe_next(request, "/shadow-ai/library/?q=x", "console:home", within="/shadow-ai/library/") == \
        "/shadow-ai/library/?q=x"
    assert safe_next(request, "/access/", "console:home", within="/shadow-ai/") == reverse("console:home")
    assert safe_next(request, None, "/fallback/") == "/fallback/"


@pytest.fixture
def admin_client(client_for, super_admin):
    return client_for(super_admin)


@pytest.fixture
def access_session(super_admin, employee, db):
    app = access_services.application_create(actor=super_admin, name="Wiki", type="self_hosted",
                                              domain="wiki.corp.example")
    return AccessSession.objects.create(user=employee, application=app,
                                        expires_at=timezone.now() + timedelta(hours=1))


def _posts(access_session, employee):
    """Every POST view that follows a return address, with its field and where it falls back to."""
    return [
        (reverse("access:session-revoke", args=[access_session.pk]), "next", reverse("access:session-list")),
        (reverse("ssf:delivery-retry", args=[999999]), "next", reverse("ssf:outbox")),
        (reverse("shadow_ai:bulk-status"), "next", reverse("shadow_ai:library")),
        (reverse("shadow_ai:usage-rollup"), "next", reverse("shadow_ai:dashboard")),
        (reverse("mfa:admin-revoke", args=[employee.pk]), "back", reverse("mfa:admin-list")),
    ]


@pytest.mark.parametrize("candidate", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_admin_post_views_never_redirect_off_site(admin_client, access_session, employee, candidate):
    for url, field, fallback in _posts(access_session, employee):
        response = admin_client.post(url, {field: candidate})
        assert response.status_code == 302, url
        assert response["Location"] == fallback, url


def test_admin_post_views_return_to_a_page_in_the_console(admin_client, access_session, employee):
    back = reverse("access:session-list") + "?page=1"
    response = admin_client.post(reverse("access:session-revoke", args=[access_session.pk]), {"next": back})
    assert response["Location"] == back
    outbox = reverse("ssf:outbox") + "?status=failed"
    response = admin_client.post(reverse("ssf:delivery-retry", args=[999999]), {"next": outbox})
    assert response["Location"] == outbox
