"""The demo shows step-up: after ``seed_demo``, the demo employee opens the seeded applications
that ask for an extra check (a security key; an authenticator app code from the last 5 minutes)
from the App Launcher, meets the challenge, verifies on the verify page and goes on to the
application, and the authentication log says which method let them in. Everything is what a
newcomer does after ``./dev run`` with what the demo prints; the applications' own (made-up)
addresses are answered by the browser context, and the security key is a DevTools virtual one."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from accounts.demo import DEFAULT_PASSWORD
from console.access import logbuffer
from console.access.models import AccessLogEntry
from mfa.demo import current_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMPLOYEE = "employee@acme.example"
SECURITY_KEY = {
    "protocol": "ctap2", "transport": "usb", "hasResidentKey": False, "hasUserVerification": False,
    "automaticPresenceSimulation": True,
}


@pytest.fixture
def demo(settings, live_server) -> str:
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    out = io.StringIO()
    call_command("seed_demo", "--users", "20", stdout=out)
    return out.getvalue()


def application_site(page: Page, host: str) -> None:
    """The application's own address, answered by the browser (it does not exist)."""
    page.context.route(f"https://{host}/**", lambda route: route.fulfill(
        status=200, body=f"<title>{host}</title><h1>Welcome to {host}</h1>", content_type="text/html"))


def open_tile(page: Page, live_server, name: str) -> None:
    page.goto(f"{live_server.url}/launcher/")
    tile = page.get_by_test_id("launcher-tiles").get_by_role("link", name=re.compile(name))
    expect(tile).to_contain_text("extra check")
    tile.click()
    expect(page.get_by_role("heading", name=f"{name} needs one more check")).to_be_visible()


def sign_in_employee(page: Page, live_server, email: str = EMPLOYEE, heading: str = "Welcome, Emery") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)


def logged_mfa(application: str) -> list[tuple[str, str]]:
    logbuffer.flush()
    return list(AccessLogEntry.objects.filter(email=EMPLOYEE, application_name=application)
                .order_by("at", "id").values_list("outcome", "mfa_method"))


def test_the_demo_employee_steps_up_with_a_security_key_to_open_the_release_console(page, live_server, demo):
    assert "open Release console (a security key) and Expense reports" in demo
    application_site(page, "deploy.acme.example")
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": SECURITY_KEY})
    sign_in_employee(page, live_server)

    open_tile(page, live_server, "Release console")
    expect(page.get_by_text("Verify with Security key (recently) to open it.")).to_be_visible()
    page.get_by_test_id("step-up").click()
    expect(page.get_by_role("heading", name="Verify it is you")).to_be_visible()
    # The demo employee has only the demo authenticator app: the page says a key is needed.
    expect(page.get_by_test_id("verify-enroll")).to_contain_text("needed: Security key")

    # Adding a key needs a fresh verification with the authenticator they have (the demo's code).
    page.goto(f"{live_server.url}/mfa/verify/?next=/mfa/")
    page.get_by_test_id("verify-totp-code").fill(current_code(EMPLOYEE))
    page.get_by_test_id("verify-totp").click()
    expect(page).to_have_url(f"{live_server.url}/mfa/")
    page.get_by_label("Name for the new device").fill("Demo key")
    page.get_by_test_id("add-security-key").click()
    expect(page.get_by_text("Demo key is enrolled.")).to_be_visible()

    # Enrolling verified with the key, so the launch goes straight through now.
    page.goto(f"{live_server.url}/launcher/")
    tile = page.get_by_test_id("launcher-tiles").get_by_role("link", name=re.compile("Release console"))
    expect(tile).not_to_contain_text("extra check")
    tile.click()
    expect(page).to_have_url("https://deploy.acme.example/")

    # A new sign-in is a new session: the challenge again, passed with the key.
    page.goto(f"{live_server.url}/launcher/")
    page.get_by_test_id("sign-out").click()
    sign_in_employee(page, live_server)
    open_tile(page, live_server, "Release console")
    page.get_by_test_id("step-up").click()
    page.get_by_test_id("verify-webauthn").click()
    expect(page).to_have_url("https://deploy.acme.example/")
    expect(page.get_by_role("heading", name="Welcome to deploy.acme.example")).to_be_visible()
    outcomes = logged_mfa("Release console")
    assert outcomes[-1] == ("allow", "security_key")
    assert ("challenge", "") in outcomes


def test_the_demo_employee_steps_up_with_the_demo_authenticator_app_to_open_expense_reports(
    page, live_server, demo,
):
    application_site(page, "expenses.acme.example")
    sign_in_employee(page, live_server)
    open_tile(page, live_server, "Expense reports")
    expect(page.get_by_text("Verify with Authenticator app (recently) to open it.")).to_be_visible()
    page.get_by_test_id("step-up").click()
    page.get_by_test_id("verify-totp-code").fill(current_code(EMPLOYEE))
    page.get_by_test_id("verify-totp").click()
    expect(page).to_have_url("https://expenses.acme.example/")
    assert logged_mfa("Expense reports")[-2:] == [("challenge", ""), ("allow", "totp")]

    # The auditor reads it in the authentication log.
    page.goto(f"{live_server.url}/launcher/")
    page.get_by_test_id("sign-out").click()
    sign_in_employee(page, live_server, "auditor@acme.example", "Overview")
    page.goto(f"{live_server.url}/access/log/")
    row = page.get_by_test_id("access-log").locator("tbody tr").filter(has_text="Expense reports").first
    expect(row.get_by_test_id("log-mfa")).to_have_text("Authenticator app")
