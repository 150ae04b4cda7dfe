"""Onboarding clicked through in Chromium: HR invites, the invitation arrives in the console's
outbox, the new hire verifies at a real OpenID Connect provider (npm ``oidc-provider``), enrolls
an authenticator app (codes from pyotp) and lands in the App Launcher; HR sees "Activated" and
the case's timeline shows every step."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from accounts.onboarding.models import OnboardingCase, VerificationRecord
from accounts.onboarding.tests.conftest import ACCOUNTS, _clients, connect
from console.audit.models import AuditEvent
from console.testing.oidc import complete_dev_login, run_oidc_provider

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def idv_provider(live_server):
    with run_oidc_provider(clients=_clients(f"{live_server.url}/onboarding/verify/callback/"),
                           accounts=ACCOUNTS) as running:
        yield running


@pytest.fixture(autouse=True)
def _outbox(settings) -> None:
    """E-mail goes to the console's outbox, as in the embedded default."""
    settings.MAILERS = {"default": {"BACKEND": "accounts.onboarding.mail.OutboxBackend", "OPTIONS": {}}}
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def sidebar(page: Page):
    return page.get_by_role("complementary", name="Main navigation").get_by_role("navigation")


def hr_invites(page: Page, live_server, sign_in, hr_user, *, work_email: str, legal_name: str) -> str:
    """HR fills in the invitation form and reads the link from the outbox."""
    sign_in(page, hr_user.email)
    sidebar(page).get_by_role("link", name="New hires").click()
    expect(page.get_by_role("heading", name="New hires", level=1)).to_be_visible()
    page.get_by_test_id("case-create").click()
    page.get_by_label("Legal name").fill(legal_name)
    page.get_by_label("Personal e-mail").fill("home.address@personal.example")
    page.get_by_label("Work e-mail").fill(work_email)
    page.get_by_label("Start date").fill((timezone.localdate() + timedelta(days=14)).isoformat())
    page.get_by_label("Manager's e-mail").fill("boss@corp.example")
    # HR picks no groups: only an admin puts people into groups.
    expect(page.get_by_label("Engineering")).to_have_count(0)
    page.get_by_test_id("case-save").click()
    expect(page.get_by_text(f"{legal_name} was invited: the link went to home.address@personal.example."))\
        .to_be_visible()
    expect(page.get_by_test_id("case-status")).to_have_text("Invited")

    sidebar(page).get_by_role("link", name="Outbox").click()
    page.get_by_role("link", name="Set up your work account").first.click()
    body = page.get_by_test_id("mail-body")
    expect(body).to_contain_text(f"Hello {legal_name}")
    return body.locator("a[href*='/onboarding/invite/']").get_attribute("href")


def test_hr_invites_the_new_hire_verifies_enrolls_and_lands_in_the_launcher(
    page, browser, live_server, sign_in, idv_provider, super_admin, hr_user, make_user
):
    from accounts.tests.factories import GroupFactory

    make_user(email="boss@corp.example", full_name="Bo Boss")
    GroupFactory(name="Engineering")
    connect(super_admin, idv_provider)
    link = hr_invites(page, live_server, sign_in, hr_user, work_email="ada.new@corp.example", legal_name="Ada New")
    assert link.startswith(f"{live_server.url}/onboarding/invite/")

    hire = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    hire.set_default_timeout(15_000)
    hire.goto(link)
    expect(hire.get_by_role("heading", name="Welcome, Ada New")).to_be_visible()
    hire.get_by_test_id("invite-start").click()
    complete_dev_login(hire, "ada.new@corp.example")

    expect(hire).to_have_url(f"{live_server.url}/onboarding/welcome/")
    expect(hire.get_by_text("Your identity is verified. One more step: enroll an authenticator.")).to_be_visible()
    hire.goto(f"{live_server.url}/launcher/")  # nothing else opens yet
    expect(hire).to_have_url(f"{live_server.url}/onboarding/welcome/")

    hire.get_by_test_id("portal-totp").click()
    secret = hire.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    hire.get_by_test_id("totp-code").fill(pyotp.TOTP(secret).now())
    hire.get_by_test_id("totp-confirm").click()
    expect(hire).to_have_url(f"{live_server.url}/onboarding/welcome/")
    expect(hire.get_by_test_id("portal-enrolled")).to_contain_text("Authenticator enrolled")
    hire.get_by_test_id("portal-finish").click()

    expect(hire).to_have_url(f"{live_server.url}/launcher/")
    expect(hire.get_by_role("heading", level=1)).to_have_text("Welcome, Ada")
    expect(hire.get_by_text("Welcome aboard, Ada! Your account is active.")).to_be_visible()
    expect(hire.locator(".topbar")).to_contain_text("Ada New")
    hire.context.close()

    page.goto(f"{live_server.url}/onboarding/")
    expect(page.get_by_test_id("case-table").locator("tbody tr").filter(has_text="Ada New")
           .get_by_test_id("case-status")).to_have_text("Activated")
    page.get_by_role("link", name="Ada New").click()
    expect(page.get_by_test_id("case-account")).to_contain_text("ada.new@corp.example")
    timeline = page.get_by_test_id("case-timeline")
    for action in ("onboarding.case.created", "onboarding.invitation_sent", "onboarding.invitation_used",
                   "identity.verification_started", "onboarding.case.verified", "onboarding.case.activated"):
        expect(timeline).to_contain_text(action)

    user = User.objects.get(email="ada.new@corp.example")
    case = OnboardingCase.objects.get(work_email="ada.new@corp.example")
    assert case.status == "activated" and case.user == user
    assert list(user.directory_groups.all()) == []
    assert VerificationRecord.objects.get(user=user).assurance_level == "high"
    steps = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    expected = ["onboarding.case.created", "onboarding.invitation_sent", "onboarding.invitation_used",
                "identity.verification_started", "user.created", "identity.verified",
                "onboarding.case.verified", "auth.login", "mfa.enrolled", "onboarding.case.activated"]
    seen = [a for a in steps if a in expected]
    assert [a for a in expected if a in seen] == expected
    assert seen.index("identity.verified") < seen.index("mfa.enrolled") < seen.index("onboarding.case.activated")


def test_a_failed_verification_tells_the_new_hire_what_next_and_hr_why(
    page, browser, live_server, sign_in, idv_provider, super_admin, hr_user, make_user
):
    from accounts.tests.factories import GroupFactory

    make_user(email="boss@corp.example", full_name="Bo Boss")
    GroupFactory(name="Engineering")
    connect(super_admin, idv_provider)
    link = hr_invites(page, live_server, sign_in, hr_user, work_email="unverified.new@corp.example",
                      legal_name="Una Verified")

    hire = browser.new_context().new_page()
    hire.set_default_timeout(15_000)
    hire.goto(link)
    hire.get_by_test_id("invite-start").click()
    complete_dev_login(hire, "unverified.new@corp.example")
    expect(hire.get_by_role("heading", name="Your identity was not verified")).to_be_visible()
    expect(hire.get_by_test_id("verification-error")).to_contain_text("could not verify your identity")
    expect(hire.get_by_test_id("verification-error")).to_contain_text("they can send you a new invitation")
    hire.goto(link)
    expect(hire.get_by_test_id("invite-error")).to_contain_text("already used")
    hire.context.close()

    page.goto(f"{live_server.url}/onboarding/?status=failed")
    page.get_by_role("link", name="Una Verified").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Failed")
    expect(page.get_by_test_id("case-failure")).to_contain_text("verified_claim")
    expect(page.get_by_test_id("case-failure")).to_contain_text("The identity_verified claim is False")
    page.get_by_test_id("case-resend").click()
    page.get_by_test_id("confirm-case-resend").click()
    expect(page.get_by_text("A new invitation went to home.address@personal.example")).to_be_visible()
    expect(page.get_by_test_id("case-status")).to_have_text("Invited")
    assert not User.objects.filter(email="unverified.new@corp.example").exists()
    failure = AuditEvent.objects.get(action="identity.verification_failed")
    assert failure.changes["check"] == "verified_claim"
    assert re.fullmatch(r"\d+", failure.object_id)
