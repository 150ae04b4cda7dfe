"""End to end with a real worker on Redis: telemetry in, score up, session revoked, reset,
access back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from console.access import decisions
from console.access import services as access
from console.access.models import AccessSession
from risk.models import Level, RiskLevelChange, UserRisk
from risk.services import batches, investigations
from risk.tests.factories import access_row, ndjson

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BERLIN, NEW_YORK = "85.214.132.117", "23.235.32.1"


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _finance(admin):
    policy = access.policy_create(
        actor=admin, name="Staff unless high risk", action="allow",
        rules={"include": [{"type": "everyone"}], "exclude": [{"type": "risk_score", "values": ["high"]}]},
    )
    app = access.application_create(actor=admin, name="Finance", type="self_hosted", domain="finance.acme.example")
    access.application_set_policies(actor=admin, application=app, policy_ids=[policy.pk])
    return app


def _decide(app, user):
    return decisions.decide(application=app, source="api", issuer="https://console.test", user=user)


@pytest.fixture
def receiver(live_server):
    """A Shared Signals receiver with a push stream to it: it verifies every SET against our JWKS."""
    from risk.ssf.testing import push_stream, run_set_receiver

    with run_set_receiver(jwks_url=f"{live_server.url}/ssf/jwks.json", issuer=live_server.url,
                          audience="https://okta.example") as running:
        push_stream(running, issuer=live_server.url)
        yield running


def test_impossible_travel_revokes_the_session_and_a_reset_brings_access_back(
    client, super_admin, employee, enable, source, celery_worker_process, receiver,
):
    from risk.ssf import events

    enable("impossible_travel")
    app = _finance(super_admin)
    first = _decide(app, employee)
    assert first.outcome == "allow"
    session_id = first.session.pk

    _sender, token = source("access_requests")
    now = datetime.now(UTC).replace(microsecond=0)
    body = ndjson([
        access_row(employee.email, now - timedelta(minutes=55), ip=BERLIN, ray="r-berlin"),
        access_row(employee.email, now - timedelta(minutes=5), ip=NEW_YORK, ray="r-newyork"),
    ])
    answer = client.post("/api/v1/telemetry/access_requests", body, content_type="application/x-ndjson",
                         HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 200, answer.content
    assert answer.json()["stored"] == 2

    # The worker detects, scores and re-decides: the open session is revoked.
    revoked = wait_for(lambda: AccessSession.objects.filter(pk=session_id, revoked_at__isnull=False).first())
    assert "risk score Unscored → High" in revoked.revoked_reason
    assert UserRisk.objects.get(user=employee).level == Level.HIGH
    assert _decide(app, employee).outcome == "deny"

    investigations.risk_reset(actor=super_admin, user=employee, reason="Travelled with a VPN; confirmed by phone")
    assert RiskLevelChange.objects.filter(user=employee, cause="reset").exists()
    again = _decide(app, employee)
    assert again.outcome == "allow"
    assert again.session.pk != session_id

    # The receiver got signed, verified events: the rise, the revocation and the reset.
    receiver.wait_for(3)
    risk_sets = receiver.events_of(events.USER_RISK_CHANGE)
    changes = [c["events"][events.USER_RISK_CHANGE] for c in risk_sets]
    assert [(c["previous_level"], c["current_level"]) for c in changes] == [("low", "high"), ("high", "low")]
    assert [c["initiating_entity"] for c in changes] == ["policy", "admin"]
    assert "VPN" in changes[1]["reason_admin"]["en"]
    assert all(c["sub_id"] == {"format": "email", "email": employee.email} for c in risk_sets)
    assert receiver.events_of(events.SESSION_REVOKED)


def test_a_score_that_needs_step_up_marks_the_session_instead_of_revoking_it(
    super_admin, employee, enable, source, celery_worker_process,
):
    from risk.tests.factories import dns_row

    enable("high_risk_domain")  # Medium by default
    low = access.policy_create(
        actor=super_admin, name="Low risk", action="allow",
        rules={"include": [{"type": "everyone"}], "exclude": [{"type": "risk_score", "values": ["medium", "high"]}]},
    )
    medium = access.policy_create(
        actor=super_admin, name="Medium risk with a security key", action="allow",
        rules={"include": [{"type": "risk_score", "values": ["medium"]}],
               "require": [{"type": "mfa_method", "values": ["security_key"]}]},
    )
    app = access.application_create(actor=super_admin, name="Code", type="self_hosted", domain="code.acme.example")
    access.application_set_policies(actor=super_admin, application=app, policy_ids=[low.pk, medium.pk])
    session_id = _decide(app, employee).session.pk

    sender, _ = source("gateway_dns")
    batches.ingest(source=sender, body=ndjson([dns_row(employee.email, datetime.now(UTC), name="gore.example",
                                                       categories=["Violence"])]))
    marked = wait_for(lambda: AccessSession.objects.filter(pk=session_id, step_up_required_at__isnull=False).first())
    assert marked.revoked_at is None
    assert "mfa" in marked.step_up_reason and "Medium" in marked.step_up_reason
    assert _decide(app, employee).outcome == "challenge"
