"""Views send a person to verify when a service raises ``VerificationRequired``, and only then:
other refusals stay on the page with their message (the views match on the error's type)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone
from django_otp.oath import TOTP

from conftest import mark_mfa_verified
from mfa import services
from mfa.models import BackupCode, TotpAuthenticator

pytestmark = pytest.mark.django_db

VERIFY_THEN_DEVICES = "/mfa/verify/?next=/mfa/"


@pytest.fixture
def enrolled(employee):
    """The employee with an authenticator app, enrolled in another browser."""
    browser = services.BrowserSession(user=employee, session={})
    secret = services.totp_begin(browser)
    totp = TOTP(bytes.fromhex(secret), step=30, t0=0, digits=6)
    totp.time = timezone.now().timestamp()
    return services.totp_confirm(browser, code=f"{totp.token():06d}", name="Phone")


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_new_backup_codes_need_a_fresh_verification_first(client_for, employee, enrolled):
    client = client_for(employee)
    response = client.post("/mfa/backup-codes/")
    assert response.status_code == 302 and response["Location"] == VERIFY_THEN_DEVICES
    assert _messages(response) == ["Verify with one of your authenticators first."]
    assert not BackupCode.objects.filter(user=employee).exists()


def test_removing_an_authenticator_needs_a_fresh_verification_first(client_for, employee, enrolled):
    client = client_for(employee)
    response = client.post("/mfa/remove/", {"device": enrolled.persistent_id})
    assert response.status_code == 302 and response["Location"] == VERIFY_THEN_DEVICES
    assert TotpAuthenticator.objects.filter(pk=enrolled.pk).exists()
    mark_mfa_verified(client, employee)
    assert client.post("/mfa/remove/", {"device": enrolled.persistent_id})["Location"] == "/mfa/"
    assert not TotpAuthenticator.objects.filter(pk=enrolled.pk).exists()


def test_other_refusals_stay_on_the_devices_page(client_for, employee, enrolled):
    client = client_for(employee)
    again = client.get("/mfa/totp/")  # a second app is refused whatever the verification
    assert again.status_code == 302 and again["Location"] == "/mfa/"
    assert _messages(again) == ["You already have an authenticator app. Remove it first to set up another."]
    mark_mfa_verified(client, employee)
    missing = client.post("/mfa/remove/", {"device": "totp/0"})
    assert missing["Location"] == "/mfa/" and _messages(missing)[-1] == "No such authenticator."
