"""The OpenAI connector against a loopback server replaying the Admin API and Compliance API."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.errors import AuthError, MalformedResponse, RateLimited
from shadow_ai.casb.connectors.openai import mapping
from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.testing import Response, Script, collect

CREDS = {"admin_api_key": payloads.ADMIN_KEY}


@pytest.fixture
def openai(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    return make_ctx("openai", credentials=CREDS, config={"workspace_id": "ws-acme", "organization_id": "org-acme"})


def test_a_scan_pages_through_every_list_and_reports_what_the_reference_lists(openai, vendor_server):
    connector, ctx = openai
    found = collect(connector, ctx)
    assert found.keys(mapping.ADMIN_NOT_ROTATED.key) == {"admin_key:key_old"}
    assert found.keys(mapping.ADMIN_UNUSED.key) == {"admin_key:key_idle"}
    assert found.keys(mapping.ADMIN_NO_EXPIRY.key) == {"admin_key:key_old"}
    assert found.keys(mapping.PROJECT_NOT_ROTATED.key) == {"project_key:proj_web:pk_web_old"}
    assert found.keys(mapping.PROJECT_UNUSED.key) == {"project_key:proj_data:pk_data_idle"}
    assert found.keys(mapping.HIGH_INVITE.key) == {"invite:invite-owner"}
    assert found.keys(mapping.STALE_INVITE.key) == {"invite:invite-old"}
    assert found.keys(mapping.INACTIVE_USER.key) == {"user:user_dan"}  # Ada signed in, Eve is new
    assert found.keys(mapping.GPT_ACTIONS.key) == {"gpt:g-sales"}
    assert found.keys(mapping.GPT_BROWSING.key) == {"gpt:g-sales"}
    assert found.keys(mapping.GPT_LINK.key) == {"gpt:g-sales"}
    assert found.keys(mapping.GPT_CODE.key) == {"gpt:g-analyst"}
    assert found.keys(mapping.GPT_STORE.key) == {"gpt:g-public"}
    sales = found.of(mapping.GPT_ACTIONS.key)[0]
    assert sales.asset == "Sales deck helper" and sales.details["action_domains"] == ["crm.example.net"]
    idle = found.of(mapping.PROJECT_UNUSED.key)[0]
    assert idle.owner == "cy@acme.example" and idle.details["project"] == "Data team"
    # Pagination: two pages of admin keys (limit + after), archived projects never asked for keys.
    pages = vendor_server.hits("/v1/organization/admin_api_keys")
    assert [r.arg("after") for r in pages] == [None, "key_idle"]
    assert vendor_server.hits("/v1/organization/projects/proj_old/api_keys") == []
    first = pages[0]
    assert first.headers["Authorization"] == f"Bearer {payloads.ADMIN_KEY}"
    assert first.headers["OpenAI-Organization"] == "org-acme"
    logins = vendor_server.hits("/v1/organization/audit_logs")[0]
    assert logins.query["event_types[]"] == ["login.succeeded"]


def test_a_429_is_waited_out_as_retry_after_says(openai, vendor_server, waits):
    connector, ctx = openai
    vendor_server.route("GET", "/v1/organization/invites", Script(
        Response(429, {"error": {"message": "Rate limit reached for requests", "type": "requests",
                                 "code": "rate_limit_exceeded"}}, {"Retry-After": "3"}),
        {"object": "list", "data": payloads.invites(), "has_more": False, "last_id": "invite-done"},
    ))
    found = collect(connector, ctx)
    assert waits == [3.0]
    assert found.keys(mapping.HIGH_INVITE.key) == {"invite:invite-owner"}


def test_openai_reset_headers_set_the_wait_and_a_long_one_hands_the_scan_back(openai, vendor_server, waits):
    connector, ctx = openai
    throttled = {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}
    vendor_server.route("GET", "/v1/organization/users", Script(
        Response(429, throttled, {"x-ratelimit-reset-requests": "2s"}),
        {"object": "list", "data": [], "has_more": False},
    ))
    users = next(s for s in connector.steps(ctx) if s.key == "users")
    users.fetch(ctx, None)
    assert waits == [2.0]
    vendor_server.route("GET", "/v1/organization/users", Response(429, throttled,
                                                                  {"x-ratelimit-reset-requests": "6m0s"}))
    with pytest.raises(RateLimited) as later:
        users.fetch(ctx, None)
    assert later.value.retry_after == 360.0 and waits == [2.0]  # not slept through: the scan resumes later


def test_a_refused_key_is_an_auth_error_that_says_so(make_ctx, vendor_server):
    vendor_server.route("GET", "/v1/organization/admin_api_keys", Response(401, {"error": {
        "message": "Incorrect API key provided: sk-admin-****6789.", "type": "invalid_request_error",
        "param": None, "code": "invalid_api_key"}}))
    connector, ctx = make_ctx("openai", credentials={"admin_api_key": "sk-admin-wrong"})
    checks = connector.check(ctx)
    assert [c.ok for c in checks] == [False]
    assert "Incorrect API key provided" in checks[0].detail and "Admin key" in checks[0].detail
    with pytest.raises(AuthError) as refused:
        connector.steps(ctx)[3].fetch(ctx, None)
    assert refused.value.status == 401 and refused.value.needs_attention


def test_malformed_json_is_reported_as_such_after_the_retries(openai, vendor_server, waits):
    connector, ctx = openai
    vendor_server.route("GET", "/v1/organization/projects",
                        Response(200, raw=b"<html><body>502 Bad Gateway</body></html>",
                                 headers={"Content-Type": "text/html"}))
    with pytest.raises(MalformedResponse) as broken:
        connector.steps(ctx)[4].fetch(ctx, None)
    assert "not JSON" in broken.value.message and "text/html" in broken.value.message
    assert broken.value.retryable and len(vendor_server.hits("/v1/organization/projects")) == 3  # 1 + 2 retries
    assert len(waits) == 2


def test_the_connection_test_names_each_part(openai, vendor_server):
    connector, ctx = openai
    checks = connector.check(ctx)
    assert [(c.name, c.ok) for c in checks] == [("Admin API key", True), ("Projects", True), ("Audit log", True),
                                                 ("Compliance API (GPTs)", True)]


def test_without_audit_logging_inactive_members_are_skipped_not_guessed(openai, vendor_server):
    connector, ctx = openai
    vendor_server.route("GET", "/v1/organization/audit_logs", Response(400, {"error": {
        "message": "Audit logging is not enabled for this organization.", "type": "invalid_request_error"}}))
    found = collect(connector, ctx)
    assert set(found.skipped) == {"logins", "users", "dlp_gpt_files", "dlp_project_files",
                                  "dlp_conversation_files"}  # no DLP profiles: file scans skip too
    assert "audit logging" in found.skipped["logins"].lower()
    assert not found.of(mapping.INACTIVE_USER.key)
    checks = connector.check(ctx)
    audit = next(c for c in checks if c.name == "Audit log")
    assert not audit.ok and not audit.required
