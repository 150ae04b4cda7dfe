"""Signing in with a passkey, clicked through in Chromium: a new hire onboarded by HR (identity
verified at a real OpenID Connect provider) enrolls a passkey as their only authenticator (no
password, no workforce identity provider), signs out, and signs in again with it, from the
sign-in page's button and from the browser's passkey autofill on the e-mail field.

The passkey is a DevTools virtual authenticator that keeps resident (discoverable) credentials
and verifies its user, so the server (python-fido2) checks real WebAuthn assertions."""

from __future__ import annotations

import pytest
from playwright.sync_api import CDPSession, Page, expect

from accounts.models import User
from accounts.onboarding.tests.conftest import ACCOUNTS, _clients, connect
from accounts.onboarding.tests.test_e2e_onboarding import hr_invites
from console.audit.models import AuditEvent
from console.testing.oidc import complete_dev_login, run_oidc_provider
from mfa.models import Verification, WebAuthnAuthenticator

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSKEY = {
    "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
    "isUserVerified": True, "automaticPresenceSimulation": True,
}


@pytest.fixture(scope="module")
def idv_provider(live_server):
    with run_oidc_provider(clients=_clients(f"{live_server.url}/onboarding/verify/callback/"),
                           accounts=ACCOUNTS) as running:
        yield running


@pytest.fixture(autouse=True)
def _setup(settings, live_server) -> None:
    settings.MAILERS = {"default": {"BACKEND": "accounts.onboarding.mail.OutboxBackend", "OPTIONS": {}}}
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]


def plug_in(page: Page, options: dict) -> tuple[CDPSession, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, added["authenticatorId"]


def onboard_with_a_passkey(page: Page, browser, live_server, sign_in, idv_provider, super_admin, hr_user,
                           make_user) -> tuple[Page, CDPSession, str]:
    """HR invites Ada; Ada verifies her identity and enrolls a passkey as her only authenticator."""
    make_user(email="boss@corp.example", full_name="Bo Boss")
    connect(super_admin, idv_provider)
    link = hr_invites(page, live_server, sign_in, hr_user, work_email="ada.new@corp.example", legal_name="Ada New")

    hire = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    hire.set_default_timeout(15_000)
    cdp, authenticator = plug_in(hire, PASSKEY)
    hire.goto(link)
    hire.get_by_test_id("invite-start").click()
    complete_dev_login(hire, "ada.new@corp.example")
    expect(hire).to_have_url(f"{live_server.url}/onboarding/welcome/")

    hire.get_by_test_id("portal-webauthn").click()
    hire.get_by_label("Name for the new device").fill("Ada's passkey")
    hire.get_by_test_id("add-security-key").click()
    expect(hire.get_by_text("Ada's passkey is enrolled.")).to_be_visible()
    hire.goto(f"{live_server.url}/onboarding/welcome/")
    expect(hire.get_by_test_id("portal-enrolled")).to_contain_text("Ada's passkey")
    hire.get_by_test_id("portal-finish").click()
    expect(hire).to_have_url(f"{live_server.url}/launcher/")
    expect(hire.locator(".topbar")).to_contain_text("Ada New")
    return hire, cdp, authenticator


def test_a_new_hire_signs_in_again_with_the_passkey_they_enrolled(
    page, browser, live_server, sign_in, idv_provider, super_admin, hr_user, make_user
):
    hire, cdp, authenticator = onboard_with_a_passkey(page, browser, live_server, sign_in, idv_provider,
                                                      super_admin, hr_user, make_user)
    ada = User.objects.get(email="ada.new@corp.example")
    assert not ada.has_usable_password()
    kept = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert [c["isResidentCredential"] for c in kept] == [True], "the key holds a discoverable passkey"
    key = WebAuthnAuthenticator.objects.get(user=ada)

    hire.get_by_test_id("sign-out").click()
    expect(hire.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(hire.get_by_label("E-mail")).to_have_attribute("autocomplete", "username webauthn")
    # A password sign-in is no way in for her: the page says what is missing.
    hire.get_by_label("E-mail").fill("ada.new@corp.example")
    hire.get_by_role("button", name="Sign in", exact=True).click()
    expect(hire.get_by_test_id("password-error")).to_contain_text("Enter your password")

    hire.wait_for_load_state("networkidle")
    hire.get_by_test_id("passkey-sign-in").click()
    expect(hire).to_have_url(f"{live_server.url}/launcher/")
    expect(hire.get_by_role("heading", level=1)).to_have_text("Welcome, Ada")
    expect(hire.locator(".topbar")).to_contain_text("Ada New")

    login = AuditEvent.objects.filter(action="auth.login", object_id=str(ada.pk)).order_by("-id").first()
    assert login.changes["method"] == "passkey"
    assert login.changes["authenticator"] == "Ada's passkey"
    # The sign-in is the new session's MFA verification, with the key's method.
    assert Verification.objects.filter(user=ada, method="security_key").count() == 2  # enrolment, sign-in
    key.refresh_from_db()
    assert key.sign_count > 0 and key.last_used_at is not None

    # The browser's passkey autofill on the e-mail field signs her in too. Headless Chromium
    # reports no autofill UI (isConditionalMediationAvailable() is false there, so the page
    # leaves it alone); said to be available, the page starts the conditional request and
    # Chromium's virtual authenticator answers it with the passkey, as choosing it would.
    hire.context.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = "
                                 "() => Promise.resolve(true);")
    hire.get_by_test_id("sign-out").click()
    expect(hire).to_have_url(f"{live_server.url}/launcher/")
    expect(hire.locator(".topbar")).to_contain_text("Ada New")
    logins = AuditEvent.objects.filter(action="auth.login", object_id=str(ada.pk), changes__method="passkey")
    assert logins.count() == 2
    hire.context.close()
