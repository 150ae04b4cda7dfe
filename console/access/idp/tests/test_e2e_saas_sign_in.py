"""A SaaS application signs people in through the console, in Chromium: a real relying party
(``openid-client`` on Node, started by the test) sends the browser to the console, the person
signs in with a password and an authenticator app (the application's MFA rule), and the
application receives an ID token whose signature it checks against the console's JWKS. An Access
policy that blocks the person refuses them, and the application hears ``access_denied``."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from conftest import PASSWORD, TEST_TOTP_SECRET, current_totp_code
from console.testing.oidc_client import reserve, run_relying_party

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def expenses(super_admin, make_user):
    """The Expenses SaaS application: Finance may sign in with an authenticator app; Contractors
    are blocked. Returns (app, client, secret, relying party address, people)."""
    from accounts.tests.factories import GroupFactory
    from console.access import services as access_services
    from console.access.idp import services
    from mfa.models import TotpAuthenticator

    finance, contractors = GroupFactory(name="Finance"), GroupFactory(name="Contractors")
    fiona = make_user(email="fiona@corp.example", full_name="Fiona Finance")
    carl = make_user(email="carl@corp.example", full_name="Carl Contractor")
    finance.members.add(fiona, carl)
    contractors.members.add(carl)
    for person in (fiona, carl):
        TotpAuthenticator.objects.create(user=person, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    rp = reserve()
    app = access_services.application_create(actor=super_admin, name="Expenses", type="saas", url=f"{rp.url}/login",
                                             mfa_mode="custom", mfa_methods=["totp"], mfa_reverify_minutes=60)
    block = access_services.policy_create(actor=super_admin, name="No contractors", action="block",
                                          rules={"include": [{"type": "group", "values": [contractors.pk]}]})
    allow = access_services.policy_create(actor=super_admin, name="Finance", action="allow",
                                          rules={"include": [{"type": "group", "values": [finance.pk]}]})
    access_services.application_set_policies(actor=super_admin, application=app, policy_ids=[block.pk, allow.pk])
    client, secret = services.saas_client_create(actor=super_admin, application=app,
                                                 redirect_uris=rp.redirect_uri)
    return app, client, secret, rp, {"fiona": fiona, "carl": carl}


def _sign_in_at_console(page: Page, email: str) -> None:
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/oauth/authorize/"))
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("form[action$='/accounts/login/'] button[type=submit]")


def test_saas_application_signs_a_person_in_with_totp_and_gets_a_verified_id_token(
    page, live_server, expenses
) -> None:
    from console.access.models import AccessLogEntry, AccessSession

    app, client, secret, rp, people = expenses
    with run_relying_party(rp, issuer=live_server.url, client_id=client.oauth.client_id, client_secret=secret):
        page.goto(f"{rp.url}/login")
        _sign_in_at_console(page, "fiona@corp.example")
        # The application's MFA rule: the step-up page, then back to the authorization request.
        expect(page).to_have_url(re.compile(r"/mfa/verify/\?methods=totp"))
        page.fill("[data-testid=verify-totp-code]", current_totp_code(people["fiona"]))
        page.click("[data-testid=verify-totp]")
        expect(page).to_have_url(re.compile(rf"^{re.escape(rp.url)}/callback\?"))
        claims = json.loads(page.locator("#claims").inner_text())
        header = json.loads(page.locator("#header").inner_text())
        userinfo = json.loads(page.locator("#userinfo").inner_text())

    assert header["alg"] == "RS256"
    assert claims["iss"] == live_server.url and claims["aud"] == client.oauth.client_id
    assert claims["sub"] == str(people["fiona"].pk)
    assert claims["email"] == "fiona@corp.example" and claims["name"] == "Fiona Finance"
    assert claims["groups"] == ["Finance"]
    assert claims["amr"] == ["mfa", "otp", "pwd"]
    assert userinfo["email"] == "fiona@corp.example"
    session = AccessSession.objects.get(application=app, user=people["fiona"])
    assert claims["sid"] == str(session.pk) and session.revoked_at is None
    outcomes = list(AccessLogEntry.objects.filter(application_id=app.pk).order_by("at", "id")
                    .values_list("outcome", "source"))
    assert outcomes == [("challenge", "oidc"), ("allow", "oidc")]


def test_a_blocked_person_is_refused_and_the_application_hears_access_denied(page, live_server, expenses) -> None:
    from console.access.models import AccessLogEntry, AccessSession

    app, client, secret, rp, _ = expenses
    with run_relying_party(rp, issuer=live_server.url, client_id=client.oauth.client_id, client_secret=secret):
        page.goto(f"{rp.url}/login")
        _sign_in_at_console(page, "carl@corp.example")
        refused = page.get_by_test_id("oidc-refused")
        expect(refused).to_contain_text("You cannot sign in to Expenses")
        expect(refused).to_contain_text("Policy No contractors blocks this request.")
        page.get_by_test_id("oidc-refused-back").click()
        expect(page.locator("#error")).to_have_text("access_denied")
        expect(page.locator("#state-known")).to_have_text("true")

    assert not AccessSession.objects.filter(application=app).exists()
    log = AccessLogEntry.objects.get(application_id=app.pk)
    assert (log.outcome, log.policy_name, log.email) == ("deny", "No contractors", "carl@corp.example")
