"""A Super Admin's account recovery clicked through in Chromium against the real OpenID Connect
test provider: the recovery waits, another Super Admin approves it in the console (confirmation
and reason), the person verifies again, enrolls an authenticator app and is in; the owner's
notices are in the outbox."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import expect

from accounts.onboarding.models import OutboxMessage, RecoveryRequest
from accounts.onboarding.tests.conftest import ACCOUNTS, _clients, connect
from console.audit.models import AuditEvent
from console.testing.oidc import complete_dev_login, run_oidc_provider
from mfa.models import TotpAuthenticator

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def idv_provider(live_server):
    with run_oidc_provider(clients=_clients(f"{live_server.url}/onboarding/verify/callback/"),
                           accounts=ACCOUNTS) as running:
        yield running


@pytest.fixture(autouse=True)
def _outbox(settings) -> None:
    settings.MAILERS = {"default": {"BACKEND": "accounts.onboarding.mail.OutboxBackend", "OPTIONS": {}}}
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def start_recovery(person, live_server, email: str) -> None:
    person.goto(f"{live_server.url}/onboarding/recover/")
    person.get_by_label("Your work e-mail").fill(email)
    person.get_by_test_id("recover-start").click()
    complete_dev_login(person, email)


def test_a_super_admin_recovery_is_approved_by_another_super_admin_in_the_console(
    page, browser, live_server, sign_in, idv_provider, super_admin, make_user
):
    approver = make_user("super_admin", email="root2@corp.example", full_name="Other Root")
    connect(approver, idv_provider)
    TotpAuthenticator.objects.create(user=super_admin, name="Lost phone", confirmed=True)

    person = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    person.set_default_timeout(15_000)
    start_recovery(person, live_server, super_admin.email)
    expect(person).to_have_url(f"{live_server.url}/onboarding/recover/waiting/")
    expect(person.get_by_test_id("recover-waiting-status")).to_have_text("Waiting for approval")
    person.goto(f"{live_server.url}/launcher/")
    expect(person).to_have_url(f"{live_server.url}/accounts/login/?next=/launcher/")  # not signed in

    sign_in(page, approver.email)
    page.get_by_role("complementary", name="Main navigation").get_by_role("link", name="Account recoveries").click()
    expect(page.get_by_test_id("recovery-pending-count")).to_have_text("1")
    recovery = RecoveryRequest.objects.get()
    page.get_by_test_id(f"recovery-approve-{recovery.pk}").click()
    page.get_by_test_id(f"recovery-reason-approve-{recovery.pk}").fill("Called Root on the number in HR's file")
    page.get_by_test_id(f"confirm-recovery-approve-{recovery.pk}").click()
    expect(page.get_by_text("The recovery was approved")).to_be_visible()
    expect(page.get_by_test_id(f"recovery-row-{recovery.pk}").get_by_test_id("recovery-status"))\
        .to_have_text("Approved")

    person.goto(f"{live_server.url}/onboarding/recover/waiting/")
    expect(person.get_by_test_id("recover-waiting-status")).to_have_text("Approved")
    person.get_by_test_id("recover-again").click()
    person.get_by_label("Your work e-mail").fill(super_admin.email)
    person.get_by_test_id("recover-start").click()
    complete_dev_login(person, super_admin.email)
    expect(person).to_have_url(f"{live_server.url}/onboarding/welcome/")
    expect(person.get_by_test_id("onboarding-portal")).to_contain_text("your old ones are suspended")
    person.get_by_test_id("portal-totp").click()
    secret = person.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    person.get_by_test_id("totp-code").fill(pyotp.TOTP(secret).now())
    person.get_by_test_id("totp-confirm").click()
    person.get_by_test_id("portal-finish").click()
    expect(person.get_by_text("Your old authenticators are suspended")).to_be_visible()
    person.context.close()

    recovery.refresh_from_db()
    assert recovery.status == "completed" and recovery.decided_by == approver
    assert recovery.parked_names == ["totp: Lost phone"] and recovery.old_pending_removal
    subjects = list(OutboxMessage.objects.filter(to=super_admin.email).order_by("id")
                    .values_list("subject", flat=True))
    assert subjects == ["Your account is being recovered", "Your account recovery was approved",
                        "Your account was recovered"]
    assert OutboxMessage.objects.get(to=approver.email).subject.startswith("Account recovery waiting for approval")
    assert AuditEvent.objects.get(action="identity.recovery_approved").actor_email == approver.email
