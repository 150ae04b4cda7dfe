"""Our own features feed risk through the audit trail."""

from __future__ import annotations

import pytest

from console.audit.services import audit_record
from risk.models import AuthEvent, Level, RiskEvent, UserRisk
from risk.services import detection

pytestmark = pytest.mark.django_db


def test_a_cloned_security_key_makes_its_owner_high_risk(employee, enable):
    enable("cloned_authenticator")
    event = audit_record(actor=employee, action="mfa.clone_suspected", obj=employee,
                         changes={"authenticator": "YubiKey 5C", "stored_counter": 9, "presented_counter": 3})
    detection.record_audit_signal(event.pk)
    detection.record_audit_signal(event.pk)  # the same signal twice counts once
    found = RiskEvent.objects.get(user=employee)
    assert (found.behaviour, found.summary) == ("cloned_authenticator", "Signature counter regression on YubiKey 5C")
    assert UserRisk.objects.get(user=employee).level == Level.HIGH


def test_a_failed_identity_verification_counts_at_its_level(employee, enable):
    enable("identity_verification_failed")
    event = audit_record(actor=None, action="identity.verification_failed", obj=employee,
                         changes={"check": "email_matches"})
    detection.record_audit_signal(event.pk)
    assert RiskEvent.objects.get(user=employee).summary == "Identity verification failed (email_matches)"
    assert UserRisk.objects.get(user=employee).level == Level.MEDIUM


def test_console_sign_in_failures_count_as_failed_sign_ins(client, employee, enable):
    enable("failed_sign_ins", failed_sign_ins={"threshold": 3, "window_minutes": 15})
    from console.audit.models import AuditEvent

    for _ in range(3):
        client.post("/accounts/login/", {"username": employee.email, "password": "wrong"})
    failures = AuditEvent.objects.filter(action="auth.login_failed").order_by("pk")
    assert failures.count() == 3
    for event in failures:
        detection.record_audit_signal(event.pk)
    assert AuthEvent.objects.filter(user=employee, allowed=False, origin="console").count() == 3
    assert RiskEvent.objects.get(user=employee).behaviour == "failed_sign_ins"
    assert UserRisk.objects.get(user=employee).level == Level.MEDIUM


def test_access_decisions_that_start_sessions_count_as_sign_ins(employee, enable):
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from console.access.models import AccessLogEntry

    enable("impossible_travel")
    now = timezone.now()
    first, second = uuid.uuid4(), uuid.uuid4()
    AccessLogEntry.objects.bulk_create([
        AccessLogEntry(at=now - timedelta(minutes=30), user_id=employee.pk, email=employee.email, outcome="allow",
                       ip="85.214.132.117", country="DE", session_id=first, application_name="Wiki"),
        AccessLogEntry(at=now - timedelta(minutes=29), user_id=employee.pk, email=employee.email, outcome="allow",
                       ip="85.214.132.117", country="DE", session_id=first, application_name="Wiki"),
        AccessLogEntry(at=now - timedelta(minutes=20), user_id=employee.pk, email=employee.email, outcome="deny",
                       ip="1.0.16.1", country="JP", application_name="Wiki"),
        AccessLogEntry(at=now - timedelta(minutes=10), user_id=employee.pk, email=employee.email, outcome="allow",
                       ip="1.0.16.1", country="JP", session_id=second, application_name="Grafana"),
    ])
    assert detection.import_access_decisions() == 2  # one sign-in per session; the denial is not a presence
    assert detection.import_access_decisions() == 0  # the cursor moved on
    assert set(AuthEvent.objects.values_list("origin", "country")) == {("access", "DE"), ("access", "JP")}
    found = RiskEvent.objects.get(user=employee, behaviour="impossible_travel")
    assert "Berlin, DE → Tokyo, JP" in found.summary
