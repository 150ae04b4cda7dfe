from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from console.audit.models import AuditEvent
from risk.models import BehaviourConfig, Level, RiskLevelChange, TelemetrySource, UserRisk
from risk.services import batches, detection, scores, sources
from risk.tests.factories import access_row, ndjson

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def traveller(employee, enable, source):
    enable("impossible_travel")
    sender, _ = source("access_requests")
    batches.ingest(source=sender, body=ndjson([
        access_row(employee.email, T0, ip="85.214.132.117", ray="a"),
        access_row(employee.email, T0 + timedelta(minutes=40), ip="23.235.32.1", ray="b"),
    ]))
    from risk.models import AuthEvent

    detection.detect_and_score("auth", list(AuthEvent.objects.values_list("pk", flat=True)))
    return employee


def test_users_at_risk_lists_filters_and_explains(client_for, auditor, traveller, make_user):
    calm = make_user(email="calm@corp.example")
    UserRisk.objects.create(user=calm, level=Level.UNSCORED)
    page = client_for(auditor).get("/risk/users/")
    assert page.status_code == 200
    text = page.content.decode()
    assert traveller.email in text and "calm@corp.example" not in text  # Unscored people are not "at risk"
    assert client_for(auditor).get("/risk/users/?level=2").content.decode().count(traveller.email) == 0
    assert traveller.email in client_for(auditor).get("/risk/users/?behaviour=impossible_travel&q=emp").content.decode()

    detail = client_for(auditor).get(f"/risk/users/{traveller.pk}/").content.decode()
    assert "Impossible travel" in detail and "Berlin, DE → Washington, US" in detail
    assert "/risk/telemetry/auth/" in detail  # each event links to its log row
    figure = json.loads(detail.split('id="risk-timeline" type="application/json">')[1].split("</script>")[0])
    assert {t["name"] for t in figure["data"]} == {"Score", "Impossible travel"}
    assert "reset-form" not in detail  # auditors read, they do not reset
    log_url = detail.split('href="/risk/telemetry/auth/')[1].split('"')[0]
    row = client_for(auditor).get(f"/risk/telemetry/auth/{log_url}").content.decode()
    assert "23.235.32.1" in row and "Impossible travel" in row


def test_reset_from_the_page_needs_a_reason_and_is_audited(client_for, security_admin, traveller):
    url = f"/risk/users/{traveller.pk}/reset"
    client_for(security_admin).post(url, {"reset-reason": ""})
    assert UserRisk.objects.get(user=traveller).level == Level.HIGH
    client_for(security_admin).post(url, {"reset-reason": "Known VPN exit"})
    assert UserRisk.objects.get(user=traveller).level == Level.UNSCORED
    reset = RiskLevelChange.objects.get(user=traveller, cause="reset")
    assert (reset.actor_email, reset.reason) == (security_admin.email, "Known VPN exit")
    assert AuditEvent.objects.filter(action="risk.reset").count() == 1


def test_marking_compromised_forces_high_and_revokes_sessions(client_for, security_admin, employee):
    from django.test import Client
    from django.utils import timezone

    from console.access.models import AccessSession, Application

    app = Application.objects.create(name="Wiki", domain="wiki.corp.example")
    session = AccessSession.objects.create(user=employee, application=app,
                                           expires_at=timezone.now() + timedelta(hours=1))
    victim = Client()
    victim.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    assert victim.get("/launcher/").status_code == 200
    client_for(security_admin).post(f"/risk/users/{employee.pk}/compromised", {"compromise-reason": "Phished"})
    assert victim.get("/launcher/").status_code == 302  # signed out of the console too
    assert AuditEvent.objects.get(action="auth.sessions_ended").changes["console_sessions"] == 1
    assert UserRisk.objects.get(user=employee).level == Level.HIGH
    session.refresh_from_db()
    assert session.revoked_at is not None
    scores.score_users([employee.pk], cause="rescore")  # nothing triggered, still High while compromised
    assert UserRisk.objects.get(user=employee).level == Level.HIGH


def test_behaviours_are_edited_with_clear_errors_and_audited(client_for, security_admin, auditor):
    url = "/risk/behaviours/impossible_travel/"
    bad = client_for(security_admin).post(url, {"enabled": "on", "level": "3", "param_max_speed_kmh": "50",
                                                "param_min_distance_km": "500"})
    assert "Ensure this value is greater than or equal to 100" in bad.content.decode()
    ok = client_for(security_admin).post(url, {"enabled": "on", "level": "2", "param_max_speed_kmh": "800",
                                               "param_min_distance_km": "300"})
    assert ok.status_code == 302
    config = BehaviourConfig.objects.get(key="impossible_travel")
    assert (config.enabled, config.level, config.params["max_speed_kmh"]) == (True, 2, 800)
    event = AuditEvent.objects.get(action="risk.behaviour.updated")
    assert event.changes["level"] == {"old": "High", "new": "Medium"}
    assert client_for(auditor).post(url, {"enabled": "on", "level": "1"}).status_code == 403
    listing = client_for(auditor).get("/risk/behaviours/?state=on").content.decode()
    assert "Impossible travel" in listing and "SentinelOne" not in listing


def test_a_source_token_is_shown_once(client_for, security_admin):
    page = client_for(security_admin).post("/risk/sources/new", {"name": "Logpush HTTP", "kind": "gateway_http"})
    assert page["Cache-Control"] == "no-store"
    token = page.content.decode().split('data-testid="source-token">')[1].split("<")[0]
    assert token.startswith("zts_")
    source = TelemetrySource.objects.get()
    detail = client_for(security_admin).get(f"/risk/sources/{source.pk}/").content.decode()
    assert token not in detail and "/api/v1/telemetry/gateway_http" in detail
    assert sources.authenticate_source(f"Bearer {token}") == source


def test_list_pages_do_not_query_per_row(client_for, auditor, make_user, django_assert_max_num_queries):
    from risk.models import IngestBatch, RiskEvent

    for i in range(30):
        person = make_user(email=f"p{i}@corp.example")
        UserRisk.objects.create(user=person, level=1 + i % 3)
        RiskEvent.objects.create(user=person, behaviour="high_risk_domain", level=2, at=T0, source_kind="gateway_dns",
                                 source_id=i, summary="x", dedupe_key=f"k{i}")
    sender = TelemetrySource.objects.create(name="s", kind="gateway_dns", prefix="pp", secret_hash="h")
    for _ in range(30):
        IngestBatch.objects.create(source=sender, kind=sender.kind, rejected=[{"line": 1, "field": "", "reason": "x"}])
    client = client_for(auditor)
    for url in ("/risk/users/", "/risk/sources/", f"/risk/sources/{sender.pk}/", "/risk/telemetry/?kind=gateway_dns",
                "/risk/behaviours/"):
        with django_assert_max_num_queries(20):
            assert client.get(url).status_code == 200


def test_the_risk_area_has_a_front_page(client_for, auditor, hr_user):
    """``/risk/`` leads a reader to the people at risk, and tells a role that may not read risk so."""
    response = client_for(auditor).get("/risk/", follow=True)
    assert response.redirect_chain == [("/risk/users/", 302)]
    assert "Users at risk" in response.content.decode()
    refused = client_for(hr_user).get("/risk/")
    assert refused.status_code == 403
    assert "You do not have access to this page" in refused.content.decode()
