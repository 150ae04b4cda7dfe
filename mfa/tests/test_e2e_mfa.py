"""MFA, clicked through in Chromium against the live server: people enroll a security key,
biometrics and an authenticator app on "My MFA devices", verify with them, and step up to open an
application whose policy asks for a security key.

The authenticators are DevTools virtual authenticators (real WebAuthn ceremonies in the browser,
checked by python-fido2 on the server); the authenticator app's codes come from pyotp. The
application's own address is never contacted: the browser context answers it itself."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import CDPSession, Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GIT_HOME = "https://git.corp.example/"

SECURITY_KEY = {
    "protocol": "ctap2", "transport": "usb", "hasResidentKey": False, "hasUserVerification": False,
    "automaticPresenceSimulation": True,
}
BIOMETRICS = {
    "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
    "isUserVerified": True, "automaticPresenceSimulation": True,
}


@pytest.fixture(autouse=True)
def _webauthn_on_localhost(settings, live_server) -> None:
    """The relying party is the live server: http is allowed for WebAuthn on localhost only."""
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]


def sidebar(page: Page):
    return page.get_by_role("complementary", name="Main navigation").get_by_role("navigation")


def plug_in(page: Page, options: dict) -> tuple[CDPSession, str]:
    """Attach a virtual authenticator to this tab; returns the DevTools session and its id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, added["authenticatorId"]


def device_row(page: Page, name: str):
    """The row of "Enrolled" whose name box holds ``name`` (names are editable inputs)."""
    return page.get_by_test_id("mfa-devices").locator("tbody tr").filter(
        has=page.locator(f"input[name=name][value='{name}']")
    )


def test_employee_adds_a_security_key_and_verifies_with_it(page, sign_in, live_server, employee):
    from console.audit.models import AuditEvent
    from mfa.models import Verification, WebAuthnAuthenticator

    sign_in(page, employee.email)
    plug_in(page, SECURITY_KEY)

    sidebar(page).get_by_role("link", name="My MFA devices").click()
    expect(page.get_by_role("heading", name="My MFA devices", level=1)).to_be_visible()
    expect(page.get_by_text("No authenticator yet")).to_be_visible()
    page.get_by_label("Name for the new device").fill("YubiKey on my keyring")
    page.get_by_test_id("add-security-key").click()

    expect(page).to_have_url(f"{live_server.url}/mfa/")
    expect(page.get_by_text("YubiKey on my keyring is enrolled.")).to_be_visible()
    rows = page.get_by_test_id("mfa-devices").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("textbox", name="Name")).to_have_value("YubiKey on my keyring")
    expect(rows.first).to_contain_text("Security key")
    expect(page.get_by_test_id("webauthn-status")).to_be_hidden()

    page.goto(f"{live_server.url}/mfa/verify/?next=/launcher/")
    expect(page.get_by_role("heading", name="Verify it is you", level=1)).to_be_visible()
    expect(page.get_by_test_id("verify-totp-code")).to_have_count(0)
    page.get_by_test_id("verify-webauthn").click()

    expect(page).to_have_url(f"{live_server.url}/launcher/")
    expect(page.get_by_text("Verified with YubiKey on my keyring.")).to_be_visible()

    key = WebAuthnAuthenticator.objects.get(user=employee)
    assert (key.kind, key.name, key.suspected_clone_at) == ("security_key", "YubiKey on my keyring", None)
    assert key.sign_count > 0  # the virtual key counts its signatures; the stored count follows
    assert key.last_used_at is not None
    # One verification when it was enrolled, one when it was used.
    assert list(Verification.objects.filter(user=employee).values_list("method", flat=True)) == [
        "security_key", "security_key",
    ]
    enrolled = AuditEvent.objects.filter(action="mfa.enrolled", actor_email=employee.email)
    assert [(e.changes["method"], e.changes["name"]) for e in enrolled] == [("security_key", "YubiKey on my keyring")]
    assert not AuditEvent.objects.filter(action__in=["mfa.failed", "mfa.enrollment_failed"]).exists()


def test_biometrics_enroll_and_verify_and_a_failed_fingerprint_is_refused(page, sign_in, live_server, employee):
    from mfa.models import Verification, WebAuthnAuthenticator

    sign_in(page, employee.email)
    cdp, authenticator = plug_in(page, BIOMETRICS)

    sidebar(page).get_by_role("link", name="My MFA devices").click()
    page.get_by_label("Name for the new device").fill("Laptop fingerprint")
    page.get_by_test_id("add-biometrics").click()

    expect(page).to_have_url(f"{live_server.url}/mfa/")
    expect(page.get_by_text("Laptop fingerprint is enrolled.")).to_be_visible()
    row = device_row(page, "Laptop fingerprint")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Biometrics")

    page.goto(f"{live_server.url}/mfa/verify/?next=/launcher/")
    page.get_by_test_id("verify-webauthn").click()
    expect(page).to_have_url(f"{live_server.url}/launcher/")
    expect(page.get_by_text("Verified with Laptop fingerprint.")).to_be_visible()

    # The finger is not recognised: the browser refuses before anything reaches the console.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False})
    page.goto(f"{live_server.url}/mfa/verify/?next=/launcher/")
    page.get_by_test_id("verify-webauthn").click()
    status = page.get_by_test_id("webauthn-status")
    expect(status).to_be_visible()
    expect(status).to_have_text("The authenticator did not confirm (cancelled or timed out).")
    expect(page).to_have_url(re.compile(r"/mfa/verify/\?next=/launcher/$"))
    expect(page.get_by_test_id("verify-webauthn")).to_be_enabled()  # one can try again

    device = WebAuthnAuthenticator.objects.get(user=employee)
    assert (device.kind, device.name, device.user_verified) == ("biometrics", "Laptop fingerprint", True)
    assert list(Verification.objects.filter(user=employee).values_list("method", flat=True)) == [
        "biometrics", "biometrics",
    ]


def test_policy_asking_for_a_security_key_sends_an_authenticator_app_user_to_enroll_one(
    page, sign_in, live_server, super_admin, employee
):
    from console.access import services
    from console.access.models import AccessLogEntry
    from console.audit.models import AuditEvent
    from mfa.models import TotpAuthenticator, Verification

    app = services.application_create(
        actor=super_admin, name="Source code", type="self_hosted", domain="git.corp.example"
    )
    policy = services.policy_create(
        actor=super_admin, name="Engineers with a key", action="allow",
        rules={"include": [{"type": "email", "values": [employee.email]}],
               "require": [{"type": "mfa_method", "values": ["security_key"]}]},
    )
    services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    page.context.route(
        f"{GIT_HOME}**", lambda route: route.fulfill(status=200, body="git home", content_type="text/plain")
    )

    # Some time ago: the employee set up an authenticator app, and nothing else.
    sign_in(page, employee.email)
    sidebar(page).get_by_role("link", name="My MFA devices").click()
    page.get_by_test_id("add-totp").click()
    expect(page.get_by_role("heading", name="Add an authenticator app", level=1)).to_be_visible()
    app_codes = pyotp.TOTP(page.get_by_test_id("totp-secret").inner_text().replace(" ", ""))
    page.get_by_test_id("totp-code").fill(app_codes.now())
    page.get_by_test_id("totp-confirm").click()
    expect(page).to_have_url(f"{live_server.url}/mfa/")
    expect(page.get_by_text("Your authenticator app is set up.")).to_be_visible()
    expect(device_row(page, "Authenticator app")).to_contain_text("Authenticator app")
    page.get_by_test_id("sign-out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    # Today: a new sign-in, and the Source code tile asks for more.
    sign_in(page, employee.email)
    tile = page.get_by_test_id("launcher-tiles").get_by_role("link", name=re.compile("Source code"))
    expect(tile).to_contain_text("extra check")
    with page.expect_response(re.compile(rf"/access/applications/{app.pk}/launch/$")) as launched:
        tile.click()
    assert launched.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Source code needs one more check")
    # What to prove is said in words, as on the verify page, not as the policy's identifier.
    explanation = page.get_by_role("main").get_by_text(re.compile(r"^Verify with "))
    expect(explanation).to_contain_text(re.compile(r"security key", re.IGNORECASE))
    expect(explanation).not_to_contain_text("security_key")

    page.get_by_test_id("step-up").click()
    expect(page.get_by_role("heading", name="Verify it is you", level=1)).to_be_visible()
    step_up_url = page.url
    assert "methods=security_key" in step_up_url
    expect(page.get_by_test_id("verify-enroll")).to_contain_text("You have no authenticator that can do this")
    expect(page.get_by_test_id("verify-enroll")).to_contain_text("(needed: Security key)")
    expect(page.get_by_test_id("verify-webauthn")).to_have_count(0)
    expect(page.get_by_test_id("verify-totp-code")).to_have_count(0)  # the app is no use here

    # Enrolling a second device needs a fresh proof with the first.
    page.get_by_role("link", name="Enroll one in My MFA devices").click()
    expect(page).to_have_url(f"{live_server.url}/mfa/")
    page.get_by_test_id("verify-first").click()
    expect(page.get_by_role("heading", name="Verify it is you", level=1)).to_be_visible()
    # The code from the enrolment cannot be used twice: take the app's next one (within tolerance).
    page.get_by_test_id("verify-totp-code").fill(app_codes.at(time.time() + 30))
    page.get_by_test_id("verify-totp").click()
    expect(page).to_have_url(f"{live_server.url}/mfa/")
    expect(page.get_by_text("Verified.", exact=True)).to_be_visible()
    expect(page.get_by_test_id("verify-first")).to_have_count(0)

    plug_in(page, SECURITY_KEY)
    page.get_by_label("Name for the new device").fill("Work key")
    page.get_by_test_id("add-security-key").click()
    expect(page.get_by_text("Work key is enrolled.")).to_be_visible()
    expect(page.get_by_test_id("mfa-devices").locator("tbody tr")).to_have_count(2)
    expect(device_row(page, "Work key")).to_contain_text("Security key")

    # Back on the step-up page they left open: now the key can do it.
    page.goto(step_up_url)
    expect(page.get_by_test_id("verify-enroll")).to_have_count(0)
    page.get_by_test_id("verify-webauthn").click()
    expect(page).to_have_url(GIT_HOME)
    expect(page.get_by_text("git home")).to_be_visible()

    assert TotpAuthenticator.objects.filter(user=employee).count() == 1
    methods = list(Verification.objects.filter(user=employee).order_by("at").values_list("method", flat=True))
    assert methods == ["totp", "totp", "security_key", "security_key"]
    enrolled = AuditEvent.objects.filter(action="mfa.enrolled", actor_email=employee.email).order_by("at", "id")
    assert [e.changes["method"] for e in enrolled] == ["totp", "security_key"]
    outcomes = list(AccessLogEntry.objects.filter(application_id=app.pk).order_by("at", "id")
                    .values_list("outcome", flat=True))
    assert outcomes == ["challenge", "allow"]
