"""The Gemini for Workspace connector against a loopback server replaying Google's token endpoint,
Directory API and Enterprise License Manager API."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.errors import AuthError, MalformedResponse
from shadow_ai.casb.connectors.gemini import mapping
from shadow_ai.casb.connectors.gemini.tests import payloads
from shadow_ai.casb.testing import Response, Script, collect


@pytest.fixture
def gemini(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    return make_ctx("gemini", credentials={"service_account_json": payloads.service_account_json()},
                    config={"admin_email": payloads.ADMIN})


def test_licences_of_both_products_are_paged_and_matched_to_users(gemini, vendor_server):
    connector, ctx = gemini
    found = collect(connector, ctx)
    assert found.keys(mapping.ADMIN_2FA.key) == {"user:100001"}
    assert found.keys(mapping.USER_2FA.key) == {"user:100002", "user:100005"}
    assert found.keys(mapping.ADMIN_ULTRA.key) == {"user:100003"}
    assert found.keys(mapping.USER_SUSPENDED_ULTRA.key) == {"user:100004"}
    assert not found.of(mapping.USER_ULTRA.key) and not found.of(mapping.ADMIN_SUSPENDED_ULTRA.key)
    assert "user:100006" not in {o.key for o in found.observations}
    pages = vendor_server.hits("/apps/licensing/v1/product/101047/users")
    assert [r.arg("pageToken") for r in pages] == [None, "2"]
    assert {r.arg("customerId") for r in pages} == {payloads.CUSTOMER}  # read once from customers.get
    assert len(vendor_server.hits("/admin/directory/v1/customers/my_customer")) == 1
    assert found.of(mapping.ADMIN_ULTRA.key)[0].details["licences"] == ["Google AI Ultra for Business"]


def test_a_configured_customer_id_is_used_as_is(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("gemini", credentials={"service_account_json": payloads.service_account_json()},
                              config={"admin_email": payloads.ADMIN, "customer_id": "C0other"})
    collect(connector, ctx)
    assert vendor_server.hits("/admin/directory/v1/customers/my_customer") == []
    assert vendor_server.hits("/apps/licensing/v1/product/101047/users")[0].arg("customerId") == "C0other"


def test_a_429_with_retry_after_on_the_licensing_api(gemini, vendor_server, waits):
    connector, ctx = gemini
    vendor_server.route("GET", "/apps/licensing/v1/product/101068/users", Script(
        Response(429, {"error": {"code": 429, "message": "Rate Limit Exceeded", "status": "RESOURCE_EXHAUSTED",
                                 "errors": [{"reason": "rateLimitExceeded", "domain": "usageLimits"}]}},
                 {"Retry-After": "4"}),
        {"kind": "licensing#licenseAssignmentList", "items": payloads.gemini_business()}))
    found = collect(connector, ctx)
    assert waits == [4.0] and "user:100005" in found.keys(mapping.USER_2FA.key)


def test_missing_licensing_scope_and_a_401(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    vendor_server.route("POST", "/token", Response(401, {"error": "unauthorized_client", "error_description":
                                                         "Client is unauthorized to retrieve access tokens using "
                                                         "this method, or client not authorized for any of the "
                                                         "scopes requested."}))
    connector, ctx = make_ctx("gemini", credentials={"service_account_json": payloads.service_account_json()},
                              config={"admin_email": payloads.ADMIN})
    check = connector.check(ctx)[0]
    assert not check.ok and "apps.licensing" in check.detail
    with pytest.raises(AuthError):
        collect(connector, ctx)


def test_malformed_licence_list(gemini, vendor_server):
    connector, ctx = gemini
    vendor_server.route("GET", "/apps/licensing/v1/product/101047/users", Response(200, raw=b"\x00\x01garbage"))
    with pytest.raises(MalformedResponse):
        collect(connector, ctx)
