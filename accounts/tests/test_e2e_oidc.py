"""Sign-in through a real OpenID Connect provider (npm ``oidc-provider``), clicked in Chromium.

The provider runs as a separate process on loopback; its development login page takes any
login, which becomes the e-mail the console sees."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.db import connection
from playwright.sync_api import expect

from accounts.models import IdentityProvider, User
from accounts.services import identity_providers
from conftest import PASSWORD
from console.audit.models import AuditEvent
from console.testing.oidc import RunningProvider, complete_dev_login, run_oidc_provider

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "zero-trust-console"
CLIENT_SECRET = "e2e-oidc-client-secret-Qm7xV2pL9tR4"


@pytest.fixture
def provider(live_server) -> Iterator[RunningProvider]:
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{live_server.url}/accounts/oidc/callback/"],
    }
    accounts = {
        "emp@corp.example": {"name": "Emil Employee"},
        # A subject that claims the Super Admin's e-mail: the security review's reproduction.
        "mallory": {"email": "root@corp.example", "name": "Mallory"},
    }
    with run_oidc_provider(clients=[client], accounts=accounts) as running:
        yield running


@pytest.fixture
def corp_sso(provider, super_admin) -> IdentityProvider:
    return identity_providers.idp_create(
        actor=super_admin, name="Corp SSO", kind=IdentityProvider.Kind.PRIMARY,
        issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        allowed_domains="corp.example",
    )


def test_admin_connects_a_provider_and_its_secret_is_never_shown_or_stored_in_clear(
    page, sign_in, live_server, provider, super_admin
):
    sign_in(page, super_admin.email)
    page.goto(f"{live_server.url}/accounts/identity-providers/new/")
    expect(page.get_by_role("heading", name="Connect an identity provider")).to_be_visible()
    page.get_by_label("Name").fill("Corp SSO")
    page.get_by_label("Kind").select_option(label="Primary (workforce sign-in)")
    page.get_by_label("Issuer").fill(provider.issuer)
    page.get_by_label("Client ID").fill(CLIENT_ID)
    page.get_by_label("Client secret").fill(CLIENT_SECRET)
    page.get_by_label("Trusted e-mail domains").fill("corp.example")
    expect(page.get_by_label("Super Admin")).to_be_checked()
    expect(page.get_by_label("Security Admin")).to_be_checked()
    page.get_by_test_id("idp-save").click()

    expect(page).to_have_url(re.compile(r"/accounts/identity-providers/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Corp SSO")
    expect(page.get_by_text("Corp SSO was added. Its discovery document was read.")).to_be_visible()
    expect(page.get_by_text("Stored encrypted (never shown)")).to_be_visible()
    expect(page.get_by_text(f"{provider.issuer}/token", exact=True)).to_be_visible()
    expect(page.get_by_test_id("idp-domains")).to_have_text("corp.example")
    expect(page.get_by_test_id("idp-barred-roles")).to_contain_text("Super Admin")
    expect(page.get_by_test_id("idp-no-links")).to_be_visible()
    pages_seen = [page.content()]

    with page.expect_response(re.compile(r"/test/$")) as answer:
        page.get_by_test_id("idp-test").click()
    results = page.get_by_test_id("idp-test-results")
    expect(page.get_by_role("heading", name="Connection works")).to_be_visible()
    expect(results.locator("li")).to_have_count(5)
    for check in ("Discovery", "Signing algorithm", "PKCE", "Scopes", "Signing keys"):
        expect(results.locator("li.ok").filter(has_text=check)).to_have_count(1)
    expect(results.locator("li.bad")).to_have_count(0)
    pages_seen += [answer.value.text(), page.content()]

    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name="Edit Corp SSO")).to_be_visible()
    expect(page.get_by_label("Client secret")).to_have_value("")
    pages_seen.append(page.content())
    page.goto(f"{live_server.url}/accounts/identity-providers/")
    pages_seen.append(page.content())

    for html in pages_seen:
        assert CLIENT_SECRET not in html
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM accounts_identityprovider WHERE name = %s", ["Corp SSO"])
        (stored,) = cursor.fetchone()
    assert stored
    assert CLIENT_SECRET not in stored
    assert IdentityProvider.objects.get(name="Corp SSO").client_secret == CLIENT_SECRET


def test_known_person_links_the_provider_once_then_signs_in_with_it(page, browser, live_server, corp_sso, employee):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_test_id(f"sso-{corp_sso.slug}").click()
    complete_dev_login(page, employee.email)

    # The provider's word is not enough for an account it is not linked to: the person proves it.
    expect(page).to_have_url(f"{live_server.url}/accounts/oidc/link/")
    expect(page.get_by_role("heading", name="Link Corp SSO to your account")).to_be_visible()
    page.get_by_test_id("oidc-link-password").click()
    page.fill("#id_username", employee.email)
    page.fill("#id_password", PASSWORD)
    page.click("form[action$='/accounts/login/'] button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/accounts/oidc/link/")
    page.get_by_test_id("oidc-link-confirm").click()
    expect(page).to_have_url(f"{live_server.url}/launcher/")
    expect(page.get_by_role("status")).to_contain_text("Corp SSO is linked to your account")
    link = AuditEvent.objects.get(action="idp.link_created")
    assert link.actor_email == employee.email and link.changes["proof"] == "session"

    # Next time, in another browser, the provider alone signs the person in.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    again = context.new_page()
    again.goto(f"{live_server.url}/accounts/login/")
    again.get_by_test_id(f"sso-{corp_sso.slug}").click()
    complete_dev_login(again, employee.email)
    expect(again).to_have_url(f"{live_server.url}/launcher/")
    expect(again.get_by_role("heading", level=1)).to_have_text("Welcome, Emil")
    expect(again.locator(".topbar")).to_contain_text("Emil Employee")
    context.close()
    login = AuditEvent.objects.filter(action="auth.login", actor_email=employee.email).latest("id")
    assert login.changes == {"method": "oidc", "provider": corp_sso.slug}


def test_a_provider_claiming_the_super_admins_e_mail_does_not_sign_in_as_them(page, live_server, corp_sso,
                                                                            super_admin):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_test_id(f"sso-{corp_sso.slug}").click()
    complete_dev_login(page, "mallory")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("status")).to_contain_text("Super Admin accounts cannot sign in through Corp SSO")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    assert not AuditEvent.objects.filter(action="auth.login").exists()
    assert AuditEvent.objects.get(action="auth.oidc_refused").changes["check"] == "role_barred"


def test_person_unknown_to_the_directory_is_sent_back_with_the_reason(page, live_server, corp_sso):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Corp SSO").click()
    complete_dev_login(page, "stranger@corp.example")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("status")).to_contain_text(
        "no account exists for stranger@corp.example; ask an administrator"
    )
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    assert not User.objects.filter(email="stranger@corp.example").exists()
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_a_privileged_person_signing_in_with_the_provider_still_passes_console_mfa(
    page, live_server, corp_sso, security_admin, settings
):
    """The identity provider vouches for the password step only: the console's own MFA follows."""
    from accounts.models import IdentityProviderLink
    from conftest import TEST_TOTP_SECRET, current_totp_code
    from mfa.models import TotpAuthenticator

    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    TotpAuthenticator.objects.create(user=security_admin, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    # A Super Admin let Security Admins use this provider, and the account is already linked
    # (the test provider's subject is the e-mail typed at its login).
    IdentityProvider.objects.filter(pk=corp_sso.pk).update(barred_roles=["super_admin"])
    IdentityProviderLink.objects.create(provider=corp_sso, subject=security_admin.email, user=security_admin,
                                        proof=IdentityProviderLink.Proof.SESSION)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_test_id(f"sso-{corp_sso.slug}").click()
    complete_dev_login(page, security_admin.email)

    expect(page).to_have_url(re.compile(r"/mfa/verify/\?next="))
    assert AuditEvent.objects.filter(action="auth.login", actor_email=security_admin.email).exists()
    page.goto(f"{live_server.url}/accounts/users/")
    expect(page).to_have_url(f"{live_server.url}/mfa/verify/?next=/accounts/users/")
    page.get_by_test_id("verify-totp-code").fill(current_totp_code(security_admin))
    page.get_by_test_id("verify-totp").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/users/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
