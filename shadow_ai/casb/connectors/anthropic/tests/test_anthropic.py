"""The Anthropic connector against a loopback server replaying the Admin API."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.anthropic import mapping
from shadow_ai.casb.connectors.anthropic.tests import payloads
from shadow_ai.casb.connectors.errors import AuthError, MalformedResponse
from shadow_ai.casb.testing import Response, Script, collect

CREDS = {"admin_api_key": payloads.ADMIN_KEY}


@pytest.fixture
def anthropic(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    return make_ctx("anthropic", credentials=CREDS)


def test_a_scan_pages_through_keys_usage_and_invites(anthropic, vendor_server):
    connector, ctx = anthropic
    found = collect(connector, ctx)
    assert found.keys(mapping.UNUSED_KEY.key) == {"api_key:apikey_01Idle"}  # Used has usage, New is new
    assert found.keys(mapping.NO_EXPIRY.key) == {"api_key:apikey_01Used"}
    assert found.keys(mapping.HIGH_INVITE.key) == {"invite:invite_01Adm"}  # the expired admin invite is not pending
    assert found.keys(mapping.STALE_INVITE.key) == {"invite:invite_01Old"}
    idle = found.of(mapping.UNUSED_KEY.key)[0]
    assert idle.owner == "bob@acme.example" and idle.details["workspace"] == "Production"
    assert idle.asset == "old prototype (sk-ant-api03-dle...AA)"
    keys = vendor_server.hits("/v1/organizations/api_keys")
    assert [r.arg("after_id") for r in keys] == [None, "apikey_01Idle"]
    assert all(r.headers["x-api-key"] == payloads.ADMIN_KEY and r.headers["anthropic-version"] == "2023-06-01"
               for r in keys)
    usage = vendor_server.hits("/v1/organizations/usage_report/messages")
    assert [r.arg("page") for r in usage] == [None, "page_MjAyNi0wMi0yNg=="]
    assert usage[0].query["group_by[]"] == ["api_key_id"] and usage[0].arg("bucket_width") == "1d"


def test_a_429_waits_as_retry_after_says(anthropic, vendor_server, waits):
    connector, ctx = anthropic
    vendor_server.route("GET", "/v1/organizations/invites", Script(
        Response(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests has "
                                                  "exceeded your rate limit."}}, {"retry-after": "7"}),
        payloads.envelope(payloads.invites(), False)))
    found = collect(connector, ctx)
    assert waits == [7.0] and found.keys(mapping.HIGH_INVITE.key) == {"invite:invite_01Adm"}


def test_a_regular_key_is_refused_with_the_vendors_words(make_ctx, vendor_server):
    refused = Response(401, {"type": "error", "error": {"type": "authentication_error",
                                                        "message": "invalid x-api-key"}})
    vendor_server.route("GET", "/v1/organizations/users", refused)
    vendor_server.route("GET", "/v1/organizations/workspaces", refused)
    connector, ctx = make_ctx("anthropic", credentials={"admin_api_key": "sk-ant-api03-not-admin"})
    checks = connector.check(ctx)
    assert not checks[0].ok and "authentication_error: invalid x-api-key" in checks[0].detail
    with pytest.raises(AuthError):
        collect(connector, ctx)


def test_malformed_json_is_a_malformed_response(anthropic, vendor_server):
    connector, ctx = anthropic
    vendor_server.route("GET", "/v1/organizations/workspaces", Response(200, raw=b'{"data": [{"id": "wrk'))
    with pytest.raises(MalformedResponse):
        collect(connector, ctx)
    vendor_server.route("GET", "/v1/organizations/workspaces", {"data": "not a list", "has_more": False})
    with pytest.raises(MalformedResponse, match="to be a list"):
        collect(connector, ctx)


def test_without_the_usage_report_unused_keys_are_not_guessed(anthropic, vendor_server):
    connector, ctx = anthropic
    vendor_server.route("GET", "/v1/organizations/usage_report/messages", Response(403, {
        "type": "error", "error": {"type": "permission_error", "message": "Usage reports are not available."}}))
    found = collect(connector, ctx)
    assert "usage" in found.skipped and not found.of(mapping.UNUSED_KEY.key)
    assert mapping.UNUSED_KEY.key in found.state["unchecked"]
    assert found.keys(mapping.NO_EXPIRY.key) == {"api_key:apikey_01Used"}
