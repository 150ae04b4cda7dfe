"""The claim mapping of identity verification providers, on the Identity providers screens and
in "Test connection"."""

from __future__ import annotations

import pytest

from accounts.oidc import test_connection as check_connection
from accounts.onboarding.tests.conftest import CLIENT_ID, CLIENT_SECRET, connect
from accounts.services import identity_providers
from console.audit.models import AuditEvent
from console.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def test_the_mapping_is_saved_audited_and_shown(client_for, super_admin, auditor, idv):
    assert (idv.verified_claim, idv.assurance_claim, idv.min_assurance_level) == (
        "identity_verified", "verification_level", "medium")
    created = AuditEvent.objects.get(action="idp.created")
    assert created.changes["min_assurance_level"] == {"old": None, "new": "medium"}
    page = client_for(auditor).get(f"/accounts/identity-providers/{idv.pk}/").content.decode()
    assert 'data-testid="idp-verified-claim">identity_verified<' in page
    assert 'data-testid="idp-min-level">medium<' in page
    assert "/onboarding/verify/callback/" in page
    listing = client_for(auditor).get("/accounts/identity-providers/").content.decode()
    assert "verification_level</code> ≥ medium" in listing
    edit = client_for(super_admin).get(f"/accounts/identity-providers/{idv.pk}/edit/").content.decode()
    assert 'name="min_assurance_level"' in edit and 'value="medium"' in edit


def test_an_admin_changes_the_minimum_level_from_the_form(client_for, super_admin, idv):
    response = client_for(super_admin).post(f"/accounts/identity-providers/{idv.pk}/edit/", {
        "name": idv.name, "kind": "verification", "issuer": idv.issuer, "client_id": CLIENT_ID,
        "scopes": idv.scopes, "email_claim": "email", "verified_claim": "identity_verified",
        "assurance_claim": "verification_level", "assurance_levels": "low medium high",
        "min_assurance_level": "ultra", "enabled": "on",
    })
    assert "ultra is not one of the levels (low medium high)." in response.content.decode()
    response = client_for(super_admin).post(f"/accounts/identity-providers/{idv.pk}/edit/", {
        "name": idv.name, "kind": "verification", "issuer": idv.issuer, "client_id": CLIENT_ID,
        "scopes": idv.scopes, "email_claim": "email", "verified_claim": "identity_verified",
        "assurance_claim": "verification_level", "assurance_levels": "low medium high",
        "min_assurance_level": "high", "enabled": "on",
    })
    assert response.status_code == 302
    idv.refresh_from_db()
    assert idv.min_assurance_level == "high" and idv.client_secret == CLIENT_SECRET
    updated = AuditEvent.objects.get(action="idp.updated")
    assert updated.changes == {"min_assurance_level": {"old": "medium", "new": "high"}}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"verified_claim": ""}, "verified_claim"),
    ({"assurance_claim": "bad claim name"}, "assurance_claim"),
    ({"min_assurance_level": ""}, "min_assurance_level"),
])
def test_a_bad_mapping_names_the_field(super_admin, idv_provider, overrides, field):
    with pytest.raises(ValidationFailed) as caught:
        connect(super_admin, idv_provider, **overrides)
    assert caught.value.field == field


def test_test_connection_checks_the_mapped_claims_and_the_keys(super_admin, idv_provider):
    idp = connect(super_admin, idv_provider)
    results = {r.name: r for r in check_connection(idp)}
    assert results["Claims"].ok, results["Claims"].detail
    assert results["Signing keys"].ok and "RSA" in results["Signing keys"].detail
    idp.assurance_claim = "ial"
    results = {r.name: r for r in check_connection(idp)}
    assert not results["Claims"].ok
    assert "does not list ial in claims_supported" in results["Claims"].detail
    primary = identity_providers.idp_create(actor=super_admin, name="Corp SSO", kind="primary",
                                            issuer=idv_provider.issuer, client_id=CLIENT_ID, client_secret="s",
                                            allowed_domains="corp.example")
    assert "Claims" not in {r.name for r in check_connection(primary)}


def test_test_connection_says_when_the_keys_cannot_be_fetched(super_admin, idv_provider, monkeypatch):
    idp = connect(super_admin, idv_provider)
    from accounts import oidc

    real = oidc._get_json

    def discovery_with_dead_jwks(url: str, what: str) -> dict:
        document = real(url, what)
        if what == "discovery document":
            document["jwks_uri"] = idv_provider.issuer + "/no-such-jwks"
        return document

    monkeypatch.setattr(oidc, "_get_json", discovery_with_dead_jwks)
    results = {r.name: r for r in check_connection(idp)}
    assert not results["Signing keys"].ok
    assert "key set (JWKS)" in results["Signing keys"].detail and "HTTP 404" in results["Signing keys"].detail
