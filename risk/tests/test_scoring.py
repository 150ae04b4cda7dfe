from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.audit.models import AuditEvent
from risk.models import AuthEvent, Level, RiskEvent, RiskLevelChange, UserRisk
from risk.services import batches, detection, investigations, scores
from risk.tests.factories import access_row, crowdstrike_row, dns_row, ndjson

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
BERLIN, NEW_YORK = "85.214.132.117", "23.235.32.1"  # DE and US registry allocations


def _ingest(source, body: bytes):
    batch = batches.ingest(source=source, body=body)
    return batch


def _score_all(kind: str) -> None:
    from risk.models import AuthEvent, DeviceSignal, GatewayDnsEvent

    model = {"auth": AuthEvent, "gateway_dns": GatewayDnsEvent, "device": DeviceSignal}[kind]
    detection.detect_and_score(kind, list(model.objects.values_list("pk", flat=True)))


@pytest.mark.django_db
def test_impossible_travel_pair_raises_the_score_to_the_configured_level(employee, enable, source):
    enable("impossible_travel")
    src, _ = source("access_requests")
    body = ndjson([
        access_row(employee.email, T0, ip=BERLIN, ray="ray-1"),
        access_row(employee.email, T0 + timedelta(minutes=50), ip=NEW_YORK, ray="ray-2"),
    ])
    batch = _ingest(src, body)
    assert (batch.rows_stored, batch.rows_rejected) == (2, 0)
    _score_all("auth")

    risk = UserRisk.objects.get(user=employee)
    assert risk.level == Level.HIGH
    event = RiskEvent.objects.get(user=employee)
    assert event.behaviour == "impossible_travel"
    assert "Berlin" in event.summary and "Washington" in event.summary
    assert event.details["speed_kmh"] > 1000
    assert event.source_id == AuthEvent.objects.get(ray_id="ray-2").pk
    change = RiskLevelChange.objects.get(user=employee)
    assert (change.previous, change.current, change.cause) == (Level.UNSCORED, Level.HIGH, "detection")


@pytest.mark.django_db
def test_a_plausible_journey_and_a_disabled_behaviour_score_nothing(employee, enable, source):
    src, _ = source("access_requests")
    batches.ingest(source=src, body=ndjson([
        access_row(employee.email, T0, ip=BERLIN, ray="a"),
        access_row(employee.email, T0 + timedelta(minutes=30), ip=NEW_YORK, ray="b"),
    ]))
    _score_all("auth")  # impossible travel is still off
    assert not RiskEvent.objects.exists()
    enable("impossible_travel")
    batches.ingest(source=src, body=ndjson([
        access_row(employee.email, T0 + timedelta(hours=20), ip=BERLIN, ray="c"),  # 20 h later: possible
    ]))
    detection.detect_and_score("auth", [AuthEvent.objects.get(ray_id="c").pk])
    assert not RiskEvent.objects.exists()
    assert not UserRisk.objects.filter(user=employee, level__gt=0).exists()


@pytest.mark.django_db
def test_the_score_is_the_highest_level_and_a_reset_forgives_it(employee, security_admin, enable, source):
    enable("high_risk_domain", "crowdstrike_low_zta")
    dns, _ = source("gateway_dns")
    batches.ingest(source=dns, body=ndjson([dns_row(employee.email, T0, name="bad.example", categories=["Violence"])]))
    _score_all("gateway_dns")
    assert UserRisk.objects.get(user=employee).level == Level.MEDIUM

    from console.access.models import Device

    Device.objects.create(user=employee, device_id="aid-1", name="Laptop", os="Windows")
    edr, _ = source("crowdstrike_zta")
    batches.ingest(source=edr, body=ndjson([crowdstrike_row("aid-1", T0 + timedelta(minutes=5), overall=31)]))
    _score_all("device")
    assert UserRisk.objects.get(user=employee).level == Level.HIGH

    investigations.risk_reset(actor=security_admin, user=employee, reason="Reimaged the laptop")
    assert UserRisk.objects.get(user=employee).level == Level.UNSCORED
    assert AuditEvent.objects.filter(action="risk.reset", object_id=str(employee.pk)).exists()
    # Scoring again does not bring back what the reset forgave...
    scores.score_users([employee.pk], cause="rescore")
    assert UserRisk.objects.get(user=employee).level == Level.UNSCORED
    # ...but something new does.
    later = datetime.now(UTC) + timedelta(minutes=1)
    batches.ingest(source=dns, body=ndjson([dns_row(employee.email, later, name="x.example",
                                                    categories=["Violence"])]))
    _score_all("gateway_dns")
    assert UserRisk.objects.get(user=employee).level == Level.MEDIUM
    causes = list(RiskLevelChange.objects.filter(user=employee).order_by("at", "id").values_list("cause", "current"))
    assert causes == [("detection", 2), ("detection", 3), ("reset", 0), ("detection", 2)]


@pytest.mark.django_db
def test_reset_requires_a_reason_and_an_admin(employee, auditor):
    from console.core.errors import PermissionRefused, ValidationFailed

    with pytest.raises(PermissionRefused):
        investigations.risk_reset(actor=auditor, user=employee, reason="x")
    from accounts.models import User

    admin = User.objects.create_user(email="sa@acme.example", password="x", role="security_admin")
    with pytest.raises(ValidationFailed) as info:
        investigations.risk_reset(actor=admin, user=employee, reason="  ")
    assert info.value.field == "reason"
