"""The console's own MFA, clicked through as people do: a new Security Admin is made to enroll
before any page, and a Super Admin turns the organization setting off and on (the change asks
for a fresh verification first and lands in the audit trail)."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from console.audit.models import AuditEvent
from mfa.models import OrganizationSettings, TotpAuthenticator

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_new_security_admin_enrolls_before_reaching_any_page(page, live_server, security_admin):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", security_admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("form[action$='/accounts/login/'] button[type=submit]")
    # No authenticator yet: every console page sends them to enroll one.
    page.goto(f"{live_server.url}/accounts/users/")
    expect(page).to_have_url(re.compile(r"/mfa/"))
    expect(page.get_by_text("Your role needs MFA to use the console")).to_be_visible()
    page.get_by_test_id("add-totp").click()
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    page.get_by_test_id("totp-code").fill(pyotp.TOTP(secret).now())
    page.get_by_test_id("totp-confirm").click()
    expect(page.get_by_test_id("totp-error")).to_have_count(0)
    assert TotpAuthenticator.objects.filter(user=security_admin, confirmed=True).exists()
    # Enrolling verified this session: the people list opens.
    page.goto(f"{live_server.url}/accounts/users/")
    expect(page).to_have_url(f"{live_server.url}/accounts/users/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_a_super_admin_switches_console_mfa_off_and_on_again(page, sign_in, live_server, super_admin, security_admin):
    sign_in(page, super_admin.email)
    page.goto(f"{live_server.url}/mfa/settings/")
    box = page.get_by_test_id("console-mfa-required")
    expect(box).to_be_checked()
    box.uncheck()
    page.get_by_test_id("console-mfa-save").click()
    expect(page.get_by_test_id("console-mfa-required")).not_to_be_checked()
    assert OrganizationSettings.load().console_mfa_required is False
    assert AuditEvent.objects.filter(action="mfa.console_mfa_updated", actor_email=super_admin.email).exists()

    # A Security Admin sees the state but cannot change it.
    other = page.context.browser.new_context()
    try:
        second = other.new_page()
        sign_in(second, security_admin.email, mfa=False)
        second.goto(f"{live_server.url}/mfa/settings/")
        expect(second.get_by_test_id("console-mfa-state")).to_contain_text("Not required")
        expect(second.get_by_test_id("console-mfa-required")).to_have_count(0)
    finally:
        other.close()

    page.get_by_test_id("console-mfa-required").check()
    page.get_by_test_id("console-mfa-save").click()
    expect(page.get_by_test_id("console-mfa-required")).to_be_checked()
    assert OrganizationSettings.load().console_mfa_required is True
