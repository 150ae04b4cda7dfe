"""TOTP checked against an independent generator (pyotp), backup codes, rate limits, and the
path from a verification to an Access decision."""

from __future__ import annotations

import base64
import re
import time

import pyotp
import pytest

from console.access import decisions, engine
from console.access import services as access_services
from console.audit.models import AuditEvent
from mfa.binding import session_hash
from mfa.models import BackupCode, TotpAuthenticator, Verification, WebAuthnAuthenticator

pytestmark = pytest.mark.django_db


def b32(hex_key: str) -> str:
    return base64.b32encode(bytes.fromhex(hex_key)).decode()


def enroll_totp(client) -> pyotp.TOTP:
    page = client.get("/mfa/totp/")
    secret = page.context["secret"].replace(" ", "")
    generator = pyotp.TOTP(secret)
    response = client.post("/mfa/totp/", {"code": generator.now(), "name": "Phone"})
    assert response.status_code == 302, page.content
    return generator


def test_enrolling_an_authenticator_app_with_an_independent_generator(client_for, employee):
    client = client_for(employee)
    page = client.get("/mfa/totp/")
    assert "<svg" in page.content.decode() and page.context["uri"].startswith("otpauth://totp/")
    secret = page.context["secret"].replace(" ", "")
    wrong = client.post("/mfa/totp/", {"code": "000000", "name": "Phone"})
    assert "does not match" in wrong.content.decode() and not TotpAuthenticator.objects.exists()
    client.post("/mfa/totp/", {"code": pyotp.TOTP(secret).now(), "name": "Phone"})
    device = TotpAuthenticator.objects.get(user=employee)
    assert device.name == "Phone" and b32(device.key).rstrip("=") == secret
    assert AuditEvent.objects.filter(action="mfa.enrolled", object_id=str(employee.pk)).exists()
    # The key is encrypted at rest.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM mfa_totpauthenticator WHERE id = %s", [device.pk])
        assert device.key not in cursor.fetchone()[0]


def test_a_code_works_once_and_wrong_codes_back_off(client_for, employee, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the back-off is tested on its own below
    client = client_for(employee)
    generator = enroll_totp(client)
    # The enrolment used the current code: it cannot be used again.
    replay = client.post("/mfa/verify/", {"method": "totp", "code": generator.now(), "next": "/launcher/"})
    assert replay.status_code == 200 and "already used" in replay.content.decode()
    future = generator.at(time.time() + 30)
    ok = client.post("/mfa/verify/", {"method": "totp", "code": future, "next": "/launcher/"})
    assert ok.status_code == 302 and ok["Location"] == "/launcher/"
    assert Verification.objects.filter(user=employee, method="totp").count() == 2  # enrolment + this
    again = client.post("/mfa/verify/", {"method": "totp", "code": future, "next": "/launcher/"})
    assert again.status_code == 200
    assert AuditEvent.objects.filter(action="mfa.failed").count() == 2


def test_a_mistyped_code_is_forgiven_and_only_several_wrong_codes_pause_with_the_wait_shown(
        client_for, employee, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 10
    assert settings.MFA_WRONG_CODES_BEFORE_PAUSE == 3
    client = client_for(employee)
    generator = enroll_totp(client)
    typo = client.post("/mfa/verify/", {"method": "totp", "code": "123456"})
    assert "That code is not right" in typo.content.decode()
    ok = client.post("/mfa/verify/", {"method": "totp", "code": generator.at(time.time() + 30), "next": "/launcher/"})
    assert ok.status_code == 302  # one wrong code does not lock anyone out
    for _ in range(3):
        wrong = client.post("/mfa/verify/", {"method": "totp", "code": "123456"}).content.decode()
        assert "That code is not right" in wrong and "Too many" not in wrong
    assert not AuditEvent.objects.filter(action="mfa.throttled").exists()
    locked = client.post("/mfa/verify/", {"method": "totp", "code": generator.at(time.time() + 60)}).content.decode()
    # Three wrong codes in a row: 10 s x 2^(3-1) before the next try.
    assert re.search(r"Too many wrong codes in a row: try again in (39|40) seconds\.", locked), locked
    assert AuditEvent.objects.filter(action="mfa.throttled").exists()


def test_too_many_attempts_are_refused_and_audited(client_for, employee, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.MFA_ATTEMPTS_PER_USER = 3
    client = client_for(employee)
    enroll_totp(client)
    for _ in range(2):
        client.post("/mfa/verify/", {"method": "totp", "code": "000000"})
    refused = client.post("/mfa/verify/", {"method": "totp", "code": "000000"})
    # Four attempts (the enrolment's code counts) against three in five minutes: the window has
    # to slide between 150 and 450 seconds before the next.
    waited = re.search(r"Too many verification attempts: try again in (\d+) minutes\.", refused.content.decode())
    assert waited and 3 <= int(waited.group(1)) <= 8
    assert AuditEvent.objects.filter(action="mfa.locked_out", object_id=str(employee.pk)).exists()


def test_backup_codes_are_shown_once_and_work_once(client_for, employee, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client = client_for(employee)
    enroll_totp(client)
    page = client.post("/mfa/backup-codes/")
    codes = page.context["codes"]
    assert len(codes) == 10 and page["Cache-Control"] == "no-store"
    stored = list(BackupCode.objects.filter(user=employee).values_list("code_hash", flat=True))
    assert all(c.replace("-", "") not in "".join(stored) for c in codes)  # only hashes are kept
    assert client.post("/mfa/verify/", {"method": "backup_code", "code": codes[0]}).status_code == 302
    assert client.post("/mfa/verify/", {"method": "backup_code", "code": codes[0]}).status_code == 200
    assert BackupCode.objects.filter(user=employee, used_at__isnull=True).count() == 9


def test_changing_devices_needs_a_recent_verification(client_for, employee, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client = client_for(employee)
    generator = enroll_totp(client)
    session = client.session
    session["mfa_verified_at"] = 0  # long ago
    session.save()
    device = TotpAuthenticator.objects.get()
    refused = client.post("/mfa/remove/", {"device": device.persistent_id})
    assert refused["Location"].startswith("/mfa/verify/")
    assert TotpAuthenticator.objects.exists()
    client.post("/mfa/verify/", {"method": "totp", "code": generator.at(time.time() + 30)})
    client.post("/mfa/remove/", {"device": device.persistent_id})
    assert not TotpAuthenticator.objects.exists()
    assert AuditEvent.objects.filter(action="mfa.removed").exists()


def test_a_verification_satisfies_an_access_step_up(client_for, employee, super_admin, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    app = access_services.application_create(actor=super_admin, name="Payroll", type="self_hosted",
                                             domain="payroll.corp.example")
    policy = access_services.policy_create(actor=super_admin, name="Finance", action="allow", rules={
        "include": [{"type": "email", "values": [employee.email]}],
        "require": [{"type": "mfa_method", "values": ["totp"], "max_age_minutes": 10}],
    })
    access_services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    before = decisions.decide(application=app, source="api", issuer="http://t", user=employee)
    assert before.decision.outcome == engine.Outcome.CHALLENGE
    client = client_for(employee)
    refused = client.get(f"/access/applications/{app.pk}/launch/")
    assert 'data-testid="step-up"' in refused.content.decode()
    enroll_totp(client)  # enrolling verifies too (in this browser: see test_session_binding.py)
    assert decisions.decide(application=app, source="launcher", issuer="http://t", user=employee,
                            console_session_hash=session_hash(client.session)).outcome == "allow"
    assert client.get(f"/access/applications/{app.pk}/launch/")["Location"] == "https://payroll.corp.example/"


def test_admins_see_and_remove_authenticators(client_for, employee, super_admin, auditor, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    enroll_totp(client_for(employee))
    listing = client_for(auditor).get("/mfa/admin/")
    assert employee.email in listing.content.decode() and "Remove all" not in listing.content.decode()
    admin = client_for(super_admin)
    admin.post(f"/mfa/admin/users/{employee.pk}/revoke/")
    assert not TotpAuthenticator.objects.exists()
    event = AuditEvent.objects.get(action="mfa.revoked_by_admin")
    assert event.actor_email == super_admin.email and event.changes["removed"] == ["totp: Phone"]


def test_the_admin_list_reads_authenticators_in_a_fixed_number_of_queries(client_for, make_user, auditor,
                                                                           django_assert_max_num_queries):
    """Each listed person's authenticators come from one query per kind for the whole page, not
    two queries per person."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def enroll(numbers: range) -> None:
        for i in numbers:
            person = make_user(email=f"person{i}@corp.example")
            TotpAuthenticator.objects.create(user=person, name=f"phone-app-{i}", confirmed=True)
            WebAuthnAuthenticator.objects.create(
                user=person, name=f"desk-key-{i}", kind="security_key", confirmed=True,
                credential_id=f"credential-{i}".encode(), credential_data=b"-")

    client = client_for(auditor)
    enroll(range(1))
    with CaptureQueriesContext(connection) as one_row:
        assert client.get("/mfa/admin/").status_code == 200
    enroll(range(1, 10))
    with django_assert_max_num_queries(len(one_row)):
        listing = client.get("/mfa/admin/").content.decode()
    assert listing.count("phone-app-") == 10 and listing.count("desk-key-") == 10


def test_a_persons_page_lists_their_authenticators_for_admins(client_for, employee, super_admin, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    enroll_totp(client_for(employee))
    admin = client_for(super_admin)
    page = admin.get(f"/accounts/users/{employee.pk}/").content.decode()
    assert "Phone" in page and 'data-testid="user-mfa-revoke"' in page
    response = admin.post(f"/mfa/admin/users/{employee.pk}/revoke/",
                          HTTP_REFERER=f"http://testserver/accounts/users/{employee.pk}/")
    assert response["Location"] == f"http://testserver/accounts/users/{employee.pk}/"
    assert not TotpAuthenticator.objects.exists()
