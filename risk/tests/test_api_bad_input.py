"""Bodies and parameters that used to be server errors (or a 200 "internal error") on the score
API, the decision API and the gateway's evaluate API: each is now a 400 naming the problem."""

from __future__ import annotations

import json
import logging

import pytest

from console.access import services as access

pytestmark = pytest.mark.django_db

DEEP = ("[" * 30_000) + ("]" * 30_000)  # under the 64 KB the decision API reads
DEEP_IN_FIELD = '{"user": {"email": "a@corp.example", "claims": {"x": ' + "[" * 200 + "]" * 200 + "}}}"


@pytest.fixture
def tokens(super_admin):
    _, reader = access.api_token_create(actor=super_admin, name="siem", scopes=["risk:read", "risk:write"])
    _, decide = access.api_token_create(actor=super_admin, name="proxy", scopes=["access:decide"])
    _, evaluate = access.api_token_create(actor=super_admin, name="gateway", scopes=["gateway:evaluate"])
    return {"risk": reader, "decide": decide, "evaluate": evaluate}


@pytest.mark.parametrize("page", ["99999999999999999999", str(2**63), "100001", "0", "-3", "1" * 5000, "x"])
def test_a_page_out_of_range_is_a_400(client, tokens, page):
    answer = client.get(f"/api/v1/risk/users?page={page}", HTTP_AUTHORIZATION=f"Bearer {tokens['risk']}")
    assert answer.status_code == 400
    assert answer.json() == {"error": "page must be a whole number from 1 to 100000.", "field": "page"}


def test_the_last_allowed_page_is_answered(client, tokens):
    answer = client.get("/api/v1/risk/users?page=100000", HTTP_AUTHORIZATION=f"Bearer {tokens['risk']}")
    assert answer.status_code == 200 and answer.json()["users"] == []


@pytest.mark.parametrize(("body", "problem", "field"), [
    ('{"reason": "bad \\ud800 surrogate"}', "not valid Unicode", "reason"),
    ('{"reason": "nul \\u0000 inside"}', "NUL character", "reason"),
    (DEEP, "deeper than 32 levels", "body"),
    ('{"reason": ' + "[" * 50 + "]" * 50 + "}", "deeper than 32 levels", "reason"),
])
def test_a_reset_with_a_bad_reason_or_body_is_a_400(client, tokens, employee, body, problem, field):
    answer = client.post(f"/api/v1/risk/users/{employee.pk}/reset", body, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {tokens['risk']}")
    assert answer.status_code == 400, answer.content
    assert problem in answer.json()["error"] and answer.json()["field"] == field


@pytest.mark.parametrize(("body", "problem"), [
    (DEEP, "deeper than 32 levels"),
    (DEEP_IN_FIELD, "deeper than 32 levels"),
    ('{"application": "wiki", "user": {"email": "a\\udc00@corp.example"}}', "user.email is not valid Unicode"),
    ('{"application": "wiki", "user": {"email": "a@corp.example", "claims": {"\\ud800": 1}}}',
     "not valid Unicode"),
])
def test_the_decision_api_refuses_deep_or_invalid_unicode_bodies_with_a_400(client, tokens, body, problem, caplog):
    with caplog.at_level(logging.ERROR):
        answer = client.post("/api/v1/access/decide", body, content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {tokens['decide']}")
    assert answer.status_code == 400, answer.content
    assert answer.json()["decision"] == "deny" and problem in answer.json()["error"]
    assert not [r for r in caplog.records if r.exc_info]  # no stack trace in the log


@pytest.mark.parametrize(("body", "problem"), [
    (DEEP, "deeper than 32 levels"),
    ('{"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "body": "\\ud83d"}', "body is not valid"),
])
def test_the_evaluate_api_refuses_deep_or_invalid_unicode_bodies_with_a_400(client, tokens, body, problem, caplog):
    with caplog.at_level(logging.ERROR):
        answer = client.post("/api/v1/gateway/evaluate", body, content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {tokens['evaluate']}")
    assert answer.status_code == 400, answer.content
    assert problem in json.dumps(answer.json())
    assert not [r for r in caplog.records if r.exc_info]
