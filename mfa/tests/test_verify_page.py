"""The verify page says exactly what will happen: which application it is for, which methods count
for it (only those are offered), and a way back that does not loop."""

from __future__ import annotations

import html
import re
import time

import pytest

from conftest import TEST_TOTP_SECRET, current_totp_code
from console.access import policies, services
from mfa.models import BackupCode, TotpAuthenticator, Verification
from mfa.services import RECENT_KEY, BrowserSession, backup_codes_generate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_policies(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    policies.clear_local_cache()


@pytest.fixture
def payroll(security_admin):
    policy = services.policy_create(actor=security_admin, name="Payroll: app code", action="allow",
                                    rules={"include": [{"type": "everyone"}],
                                           "require": [{"type": "mfa_method", "values": ["totp"]}]})
    return services.application_create(actor=security_admin, name="Payroll", type="saas",
                                       url="https://payroll.example", policy_ids=[policy.pk])


@pytest.fixture
def phone(employee):
    return TotpAuthenticator.objects.create(user=employee, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)


def test_a_step_up_names_the_application_and_offers_only_what_counts(client_for, employee, phone, payroll):
    client = client_for(employee)
    # Backup codes made in another, recently verified session (this one has verified nothing yet).
    codes = backup_codes_generate(BrowserSession(user=employee, session={RECENT_KEY: time.time()}))
    verifications = Verification.objects.filter(user=employee).count()
    launch = client.get(f"/access/applications/{payroll.pk}/launch/")
    assert launch.status_code == 200
    step_up = html.unescape(re.search(r'href="([^"]+)" data-testid="step-up"', launch.content.decode()).group(1))
    page = client.get(step_up).content.decode()
    assert "Verify it is you to open Payroll</h1>" in page
    assert "Payroll accepts <b>authenticator app</b>; other methods do not count." in page
    assert 'data-testid="verify-totp-code"' in page
    assert "verify-backup-code" not in page and "verify-webauthn" not in page  # enrolled, but they do not count
    assert re.search(r'<a class="btn btn-ghost" href="/launcher/">Back to the App Launcher</a>', page)
    # A backup code posted anyway is refused without spending it or verifying anyone.
    refused = client.post(step_up, {"method": "backup_code", "code": codes[0]}).content.decode()
    assert "That method does not count here." in refused
    assert Verification.objects.filter(user=employee).count() == verifications
    assert not BackupCode.objects.filter(user=employee, used_at__isnull=False).exists()
    done = client.post(step_up, {"method": "totp", "code": current_totp_code(employee)})
    # The launch goes on to another site, so the answer is the "Verified" page that continues there
    # by itself (form-action 'self' would stop a redirect chain leaving the console).
    launch = f"/access/applications/{payroll.pk}/launch/"
    assert done.status_code == 200 and f'content="0;url={launch}"' in done.content.decode()
    assert client.get(launch)["Location"] == "https://payroll.example"


def test_a_method_not_enrolled_is_named_with_the_way_to_enroll_it(client_for, employee, phone, payroll):
    page = client_for(employee).get(
        f"/mfa/verify/?methods=security_key&next=/access/applications/{payroll.pk}/launch/").content.decode()
    assert "Payroll accepts <b>security key</b>" in page
    assert "verify-totp-code" not in page
    assert "You have no authenticator that can do this (needed: Security key)" in page


def test_without_an_application_cancel_goes_back_where_the_person_was(client_for, employee, phone):
    client = client_for(employee)
    page = client.get("/mfa/verify/?next=/mfa/", headers={"Referer": "http://testserver/mfa/"})
    text = page.content.decode()
    assert "Verify it is you</h1>" in text and "accepts" not in text
    assert '<a class="btn btn-ghost" href="http://testserver/mfa/">Cancel</a>' in text
    elsewhere = client.get("/mfa/verify/?next=/mfa/", headers={"Referer": "https://evil.example/"})
    assert '<a class="btn btn-ghost" href="/">Cancel</a>' in elsewhere.content.decode()


def test_when_the_console_insists_on_mfa_the_way_back_is_signing_out(client_for, hr_user):
    TotpAuthenticator.objects.create(user=hr_user, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    text = client_for(hr_user, mfa=False).get("/mfa/verify/?next=/").content.decode()
    way_back = text.split('data-testid="verify-way-back">', 1)[1].split("</div>", 1)[0]
    assert re.search(r'<form method="post" action="/accounts/logout/"[^>]*>.*?Sign out</button>', way_back, re.S)
