"""The console pages of the provider: a SaaS application's credentials made, shown once, edited,
rotated and deleted from its page; machine clients; the role checks and the audit trail."""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.auth.hashers import check_password
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def expenses(super_admin):
    from console.access import services

    return services.application_create(actor=super_admin, name="Expenses", type="saas", url="https://saas.example/")


def _secret(response) -> str:
    return re.search(r'data-testid="client-secret">([^<]+)<', response.content.decode()).group(1)


def _client_credentials(client, client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post("/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")


def test_credentials_are_made_on_the_application_page_and_the_secret_is_shown_once(
    client_for, super_admin, expenses
) -> None:
    from console.access.idp.models import Client
    from console.audit.models import AuditEvent

    client = client_for(super_admin)
    detail = reverse("access:app-detail", args=[expenses.pk])
    assert b'data-testid="oidc-create"' in client.get(detail).content
    created = client.post(reverse("idp:saas-create", args=[expenses.pk]), {
        "client_type": "confidential", "redirect_uris": "https://saas.example/cb\nhttps://saas.example/cb2",
        "post_logout_redirect_uris": "", "require_pkce": "on",
    })
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    secret = _secret(created)
    oidc = Client.objects.select_related("oauth").get(application=expenses)
    assert oidc.oauth.client_secret != secret and check_password(secret, oidc.oauth.client_secret)
    assert oidc.oauth.redirect_uris.split() == ["https://saas.example/cb", "https://saas.example/cb2"]
    page = client.get(detail).content.decode()
    assert oidc.oauth.client_id in page and secret not in page
    audit = AuditEvent.objects.get(action="idp.client.created")
    assert audit.actor_email == super_admin.email and secret not in str(audit.changes)
    # A second set is refused: rotate instead.
    again = client.post(reverse("idp:saas-create", args=[expenses.pk]), {
        "client_type": "confidential", "redirect_uris": "https://saas.example/cb"})
    assert b"already has OpenID Connect credentials" in again.content


def test_bad_redirect_uris_are_named(client_for, super_admin, expenses) -> None:
    client = client_for(super_admin)
    url = reverse("idp:saas-create", args=[expenses.pk])
    cases = {
        "https://saas.example/cb\nnot-a-url": "Address 2 (not-a-url) must be an absolute",
        "https://*.saas.example/cb": "wildcards are not allowed",
        "https://saas.example/cb#frag": "must not have a fragment",
    }
    for uris, message in cases.items():
        response = client.post(url, {"client_type": "confidential", "redirect_uris": uris})
        assert response.status_code == 200 and message in response.content.decode(), uris
    from console.access.idp.models import Client

    assert not Client.objects.filter(application=expenses).exists()


def test_only_saas_applications_get_sign_in_credentials(client_for, super_admin) -> None:
    from console.access import services

    wiki = services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain="wiki.example")
    response = client_for(super_admin).post(reverse("idp:saas-create", args=[wiki.pk]), {
        "client_type": "confidential", "redirect_uris": "https://wiki.example/cb"})
    assert b"Only SaaS applications sign people in with OpenID Connect." in response.content


def test_machine_client_secret_rotation_stops_the_old_secret(client_for, super_admin) -> None:
    from console.access.idp.models import Client
    from console.audit.models import AuditEvent

    client = client_for(super_admin)
    created = client.post(reverse("idp:machine-create"), {"name": "okta-rx", "scopes": ["ssf.manage"]})
    old = _secret(created)
    machine = Client.objects.select_related("oauth").get(name="okta-rx")
    assert _client_credentials(client, machine.oauth.client_id, old).status_code == 200
    rotated = client.post(reverse("idp:client-rotate", args=[machine.pk]))
    new = _secret(rotated)
    assert new != old and b"The previous secret no longer works" in rotated.content
    assert _client_credentials(client, machine.oauth.client_id, old).json()["error"] == "invalid_client"
    assert _client_credentials(client, machine.oauth.client_id, new).status_code == 200
    assert AuditEvent.objects.filter(action="idp.client.secret_rotated", object_id=str(machine.pk)).exists()
    listed = client.get(reverse("idp:client-list"), {"q": "okta"}).content.decode()
    assert "okta-rx" in listed and old not in listed and new not in listed
    client.post(reverse("idp:client-delete", args=[machine.pk]))
    assert _client_credentials(client, machine.oauth.client_id, new).json()["error"] == "invalid_client"
    assert AuditEvent.objects.filter(action="idp.client.deleted").exists()


def test_roles(client_for, auditor, employee, expenses) -> None:
    reader = client_for(auditor)
    assert reader.get(reverse("idp:client-list")).status_code == 200
    assert reader.post(reverse("idp:machine-create"), {"name": "x", "scopes": ["ssf.read"]}).status_code == 403
    assert reader.get(reverse("idp:saas-create", args=[expenses.pk])).status_code == 403
    assert client_for(employee).get(reverse("idp:client-list")).status_code == 403


def test_deleting_the_application_removes_its_oauth_client(super_admin, expenses) -> None:
    from oauth2_provider.models import Application as OAuthApplication

    from console.access import services as access_services
    from console.access.idp.services import saas_client_create

    client, _ = saas_client_create(actor=super_admin, application=expenses, redirect_uris="https://saas.example/cb")
    access_services.application_delete(actor=super_admin, application=expenses)
    assert not OAuthApplication.objects.filter(pk=client.oauth_id).exists()


def test_key_rotation_keeps_the_old_key_published(client_for, super_admin) -> None:
    from console.access.idp import keys

    first = keys.current_key()
    client = client_for(super_admin)
    client.post(reverse("idp:key-rotate"))
    published = [k["kid"] for k in client.get("/oauth/jwks/").json()["keys"]]
    assert keys.current_key().kid != first.kid and published == [keys.current_key().kid, first.kid]


def test_the_hourly_cleanup_removes_expired_tokens_and_old_sign_ins(super_admin, employee, expenses) -> None:
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    from console.access.idp.models import SignIn
    from console.access.idp.services import saas_client_create
    from console.access.idp.tasks import clear_expired

    client, _ = saas_client_create(actor=super_admin, application=expenses, redirect_uris="https://saas.example/cb")
    now = timezone.now()
    AccessToken.objects.create(user=employee, application=client.oauth, token="expired-one", scope="openid",
                               expires=now - timedelta(minutes=1))
    AccessToken.objects.create(user=employee, application=client.oauth, token="live-one", scope="openid",
                               expires=now + timedelta(minutes=30))
    old = SignIn.objects.create(client=client, user=employee, auth_time=now, created_at=now - timedelta(days=2))
    recent = SignIn.objects.create(client=client, user=employee, auth_time=now)
    clear_expired()
    clear_expired()  # a second run changes nothing more
    assert list(AccessToken.objects.values_list("expires", flat=True)) == [now + timedelta(minutes=30)]
    assert list(SignIn.objects.values_list("pk", flat=True)) == [recent.pk] and old.pk != recent.pk
