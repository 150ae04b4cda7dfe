"""Removing an MFA device asks first, in Chromium: Cancel keeps it, confirming removes it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import TEST_TOTP_SECRET, current_totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_removing_an_authenticator_asks_for_confirmation(page, sign_in, live_server, employee, settings):
    from mfa.models import TotpAuthenticator

    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    TotpAuthenticator.objects.create(user=employee, name="Old phone", key=TEST_TOTP_SECRET, confirmed=True)
    sign_in(page, employee.email)
    page.goto(f"{live_server.url}/mfa/verify/?next=/mfa/")
    page.get_by_test_id("verify-totp-code").fill(current_totp_code(employee))
    page.get_by_test_id("verify-totp").click()
    expect(page).to_have_url(f"{live_server.url}/mfa/")

    page.get_by_test_id("remove-1").click()
    dialog = page.get_by_role("dialog", name="Remove Old phone?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("It stops working for sign-in and step-up at once.")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert TotpAuthenticator.objects.filter(user=employee).exists()  # the first click removed nothing

    page.get_by_test_id("remove-1").click()
    page.get_by_test_id("confirm-remove-1").click()
    expect(page.get_by_text("The authenticator was removed.")).to_be_visible()
    expect(page.get_by_test_id("mfa-devices")).to_have_count(0)
    assert not TotpAuthenticator.objects.filter(user=employee).exists()
