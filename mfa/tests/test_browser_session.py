"""The MFA services work from explicit session state (``BrowserSession``: person, session data,
address, origin), with no HTTP request: a job, a test or another app's view can call them."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_otp.oath import TOTP

from console.audit.models import AuditEvent
from console.core.errors import VerificationRequired
from mfa import binding, services
from mfa.models import Verification

pytestmark = pytest.mark.django_db


def _code(secret: str) -> str:
    totp = TOTP(bytes.fromhex(secret), step=30, t0=0, digits=6)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():06d}"


def test_enrolling_an_app_keeps_its_state_in_the_session_it_is_given(employee):
    session: dict = {}
    browser = services.BrowserSession(user=employee, session=session, ip="192.0.2.10")
    secret = services.totp_begin(browser)
    assert session["totp_pending"] == secret
    device = services.totp_confirm(browser, code=_code(secret), name="Phone")
    assert device.confirmed and device.user == employee
    assert "totp_pending" not in session
    assert services.session_verified(session) and services.recently_verified(session)
    verification = Verification.objects.get(user=employee)
    assert verification.session_hash == binding.existing_session_hash(session) != ""


def test_a_verification_counts_only_in_the_session_that_made_it(employee):
    enrolled: dict = {}
    browser = services.BrowserSession(user=employee, session=enrolled, ip="192.0.2.10")
    secret = services.totp_begin(browser)
    services.totp_confirm(browser, code=_code(secret), name="Phone")
    other: dict = {}
    assert not services.recently_verified(other)
    with pytest.raises(VerificationRequired):
        services.backup_codes_generate(services.BrowserSession(user=employee, session=other))
    assert len(services.backup_codes_generate(browser)) == services.BACKUP_CODE_COUNT


def test_rate_limits_count_the_address_given(employee, settings):
    settings.MFA_ATTEMPTS_PER_IP = 1
    attacker = services.BrowserSession(user=employee, session={}, ip="198.51.100.7")
    assert services.verify_backup_code(attacker, code="00000-00000") is False
    with pytest.raises(services.RateLimited):
        services.verify_backup_code(attacker, code="00000-00000")
    assert AuditEvent.objects.get(action="mfa.locked_out").changes == {"by": "address"}
    # Another address is not held back by this one's attempts.
    elsewhere = services.BrowserSession(user=employee, session={}, ip="203.0.113.5")
    assert services.verify_backup_code(elsewhere, code="00000-00000") is False
