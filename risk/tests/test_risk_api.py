"""The score API for SIEM and SOAR tools, checked against its OpenAPI schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest

from console.access import services as access
from console.audit.models import AuditEvent
from risk.models import AuthEvent, Level, RiskLevelChange, UserRisk
from risk.services import batches, detection
from risk.tests.factories import access_row, ndjson

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def schema(client):
    document = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/telemetry/{kind}" in document["paths"] and "telemetrySource" in document["components"][
        "securitySchemes"]

    def validator(name):
        return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                                   "components": document["components"]})

    return validator


@pytest.fixture
def tokens(super_admin):
    _, reader = access.api_token_create(actor=super_admin, name="siem", scopes=["risk:read"])
    _, writer = access.api_token_create(actor=super_admin, name="soar", scopes=["risk:read", "risk:write"])
    return reader, writer


@pytest.fixture
def traveller(employee, enable, source):
    enable("impossible_travel")
    sender, _ = source("access_requests")
    batches.ingest(source=sender, body=ndjson([
        access_row(employee.email, T0, ip="85.214.132.117", ray="a"),
        access_row(employee.email, T0 + timedelta(minutes=40), ip="23.235.32.1", ray="b"),
    ]))
    detection.detect_and_score("auth", list(AuthEvent.objects.values_list("pk", flat=True)))
    return employee


def _get(client, url, token):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_scores_and_reasons_can_be_read(client, tokens, traveller, schema):
    reader, _ = tokens
    listing = _get(client, "/api/v1/risk/users", reader)
    assert listing.status_code == 200
    schema("RiskUsers").validate(listing.json())
    assert [(u["email"], u["risk_level"]) for u in listing.json()["users"]] == [(traveller.email, "high")]
    assert _get(client, "/api/v1/risk/users?level=medium", reader).json()["users"] == []
    assert _get(client, "/api/v1/risk/users?level=severe", reader).json()["field"] == "level"

    detail = _get(client, f"/api/v1/risk/users/{traveller.pk}", reader).json()
    schema("RiskUser").validate(detail)
    assert detail["events"][0]["behaviour"] == "impossible_travel"
    assert detail["events"][0]["source"]["kind"] == "auth"
    behaviours = _get(client, "/api/v1/risk/behaviours", reader).json()
    schema("RiskBehaviours").validate(behaviours)
    assert behaviours["behaviours"]["impossible_travel"]["enabled"] is True
    assert behaviours["behaviours"]["sentinelone_threat"]["risk_level"] == "high"


def test_a_soar_tool_resets_with_a_reason_and_the_token_is_on_record(client, tokens, traveller):
    reader, writer = tokens
    url = f"/api/v1/risk/users/{traveller.pk}/reset"
    assert client.post(url, json.dumps({"reason": "x"}), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {reader}").status_code == 401  # read-only token
    refused = client.post(url, json.dumps({"reason": " "}), content_type="application/json",
                          HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert refused.status_code == 400 and refused.json()["field"] == "reason"
    done = client.post(url, json.dumps({"reason": "Ticket SEC-42 closed"}), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert done.status_code == 200
    assert UserRisk.objects.get(user=traveller).level == Level.UNSCORED
    change = RiskLevelChange.objects.get(user=traveller, cause="reset")
    assert (change.actor_email, change.reason) == ("API token soar", "Ticket SEC-42 closed")
    assert AuditEvent.objects.get(action="risk.reset").changes["via"] == "API token soar"


def test_without_a_token_nothing_is_said(client, traveller):
    for url in ("/api/v1/risk/users", f"/api/v1/risk/users/{traveller.pk}", "/api/v1/risk/behaviours"):
        answer = client.get(url)
        assert answer.status_code == 401 and traveller.email not in answer.content.decode()
