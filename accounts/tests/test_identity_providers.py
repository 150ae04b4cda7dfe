import pytest
from django.db import connection

from accounts.models import IdentityProvider
from accounts.oidc import test_connection as check_connection
from accounts.services import identity_providers
from console.audit.models import AuditEvent
from console.core.errors import ConsoleError, ExternalServiceError, PermissionRefused
from console.testing.oidc import free_port, run_oidc_provider

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-value-that-must-never-leak"


@pytest.fixture(scope="module")
def provider():
    with run_oidc_provider(clients=[{
        "client_id": "console", "client_secret": SECRET,
        "redirect_uris": ["http://localhost:8000/accounts/oidc/callback/"],
    }]) as running:
        yield running


def create(actor, provider, **overrides):
    fields = {
        "name": "Corp IdP", "kind": "primary", "issuer": provider.issuer, "client_id": "console",
        "client_secret": SECRET, "allowed_domains": "corp.example",
    } | overrides
    return identity_providers.idp_create(actor=actor, **fields)


def test_saving_a_provider_reads_its_discovery_document(super_admin, provider):
    idp = create(super_admin, provider)
    assert idp.slug == "corp-idp"
    assert idp.authorization_endpoint.startswith(provider.issuer)
    assert idp.jwks_uri and idp.token_endpoint and idp.discovered_at
    assert all(r.ok for r in check_connection(idp)), check_connection(idp)


def test_the_client_secret_is_encrypted_at_rest_and_audited_without_its_value(super_admin, provider):
    idp = create(super_admin, provider)
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM accounts_identityprovider WHERE id = %s", [idp.pk])
        stored = cursor.fetchone()[0]
    assert SECRET not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert IdentityProvider.objects.get(pk=idp.pk).client_secret == SECRET
    row = AuditEvent.objects.get(action="idp.created")
    assert SECRET not in str(row.changes)
    assert row.changes["client_secret"] == {"old": None, "new": "[secret]"}


def test_the_secret_is_never_shown_again(client_for, super_admin, security_admin, provider):
    idp = create(super_admin, provider)
    client = client_for(security_admin)
    for url in [f"/accounts/identity-providers/{idp.pk}/", f"/accounts/identity-providers/{idp.pk}/edit/",
                "/accounts/identity-providers/"]:
        assert SECRET not in client.get(url).content.decode()


def test_an_empty_secret_on_edit_keeps_the_stored_one_and_a_new_one_replaces_it(super_admin, security_admin,
                                                                                 provider):
    idp = create(super_admin, provider)
    identity_providers.idp_update(actor=security_admin, idp=idp, name="Corp IdP", kind="primary",
                                  issuer=provider.issuer, client_id="console", client_secret="", enabled=False)
    idp.refresh_from_db()
    assert idp.client_secret == SECRET and not idp.enabled
    identity_providers.idp_update(actor=security_admin, idp=idp, name="Corp IdP", kind="primary",
                                  issuer=provider.issuer, client_id="console", client_secret="rotated", enabled=False)
    idp.refresh_from_db()
    assert idp.client_secret == "rotated"
    last = AuditEvent.objects.filter(action="idp.updated").order_by("-id").first()
    assert last.changes["client_secret"]["new"].startswith("[secret")
    assert "rotated" not in str(last.changes)


def test_an_issuer_that_does_not_answer_is_refused_with_the_reason(super_admin):
    port = free_port()
    with pytest.raises(ExternalServiceError, match="Could not connect"):
        identity_providers.idp_create(
            actor=super_admin, name="Down", kind="primary", issuer=f"http://127.0.0.1:{port}",
            client_id="c", client_secret="s", allowed_domains="corp.example",
        )
    assert not IdentityProvider.objects.exists()
    assert not AuditEvent.objects.filter(action="idp.created").exists()


def test_a_wrong_issuer_url_is_explained(super_admin, provider):
    with pytest.raises(ExternalServiceError, match="names the issuer"):
        create(super_admin, provider, issuer=provider.issuer.replace("localhost", "127.0.0.1"))


def test_plain_http_is_refused_except_on_this_machine(super_admin):
    with pytest.raises(ConsoleError, match="https"):
        identity_providers.idp_create(actor=super_admin, name="Plain", kind="primary",
                                      issuer="http://idp.example.com", client_id="c", client_secret="s")


def test_test_connection_says_what_is_wrong(super_admin, provider):
    idp = create(super_admin, provider, scopes="openid email payroll")
    results = {r.name: r for r in check_connection(idp)}
    assert not results["Scopes"].ok and "payroll" in results["Scopes"].detail
    assert results["Discovery"].ok and results["Signing keys"].ok
    idp.issuer = f"http://127.0.0.1:{free_port()}"
    results = check_connection(idp)
    assert len(results) == 1 and not results[0].ok and "Could not connect" in results[0].detail


def test_the_test_button_renders_the_results(client_for, super_admin, security_admin, provider):
    idp = create(super_admin, provider)
    page = client_for(security_admin).post(f"/accounts/identity-providers/{idp.pk}/test/", HTTP_HX_REQUEST="true")
    html = page.content.decode()
    assert "Connection works" in html and "RS256 is supported" in html and "<html" not in html


def test_only_admins_configure_providers(hr_user, auditor, provider):
    for actor in (hr_user, auditor):
        with pytest.raises(PermissionRefused):
            create(actor, provider)
