"""The GitHub connector against a loopback server replaying GitHub's REST API as a GitHub App."""

from __future__ import annotations

import time

import pytest

from shadow_ai.casb.connectors.errors import AuthError, MalformedResponse
from shadow_ai.casb.connectors.github import mapping
from shadow_ai.casb.connectors.github.tests import payloads
from shadow_ai.casb.testing import Response, Script, collect

CONFIG = {"organization": payloads.ORG, "app_id": payloads.APP_ID, "installation_id": payloads.INSTALLATION}


@pytest.fixture
def github(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    return make_ctx("github", credentials={"private_key": payloads.private_key_pem()}, config=CONFIG)


def test_org_members_apps_tokens_and_repositories(github, vendor_server):
    connector, ctx = github
    found = collect(connector, ctx)
    assert found.keys(mapping.ORG_2FA.key) == found.keys(mapping.DEFAULT_WRITE.key) == {"org:9001"}
    assert found.keys(mapping.USER_2FA.key) == {"member:11", "member:12", "member:13"}
    assert found.keys(mapping.APP_WRITE_ALL.key) == {"installation:1"}
    assert found.keys(mapping.APP_ORG_ADMIN.key) == {"installation:2"}  # our own installation is not reported
    assert found.keys(mapping.PAT_NO_EXPIRY.key) == {"pat:21", "credential:161195"}
    assert found.keys(mapping.PAT_UNUSED.key) == {"pat:22"}
    assert found.keys(mapping.STALE_REPO.key) == {"repo:3"}  # the archived one is not
    assert found.keys(mapping.NO_PROTECTION.key) == {"repo:3"}
    for weak in (mapping.NO_STATUS_CHECKS, mapping.STALE_REVIEWS, mapping.FORCE_PUSH, mapping.NO_ADMIN_RULES):
        assert found.keys(weak.key) == {"repo:2"}, weak.key
    assert not found.of(mapping.NO_PR_REVIEW.key)
    members = vendor_server.hits(f"/orgs/{payloads.ORG}/members")
    assert [r.arg("page") for r in members] == [None, "2"] and members[0].arg("filter") == "2fa_disabled"
    assert members[0].headers["Authorization"] == "Bearer ghs_replayInstallationToken"
    assert members[0].headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert vendor_server.hits("/repos/acme/old-archive/branches/main/protection") == []


def test_primary_rate_limit_waits_until_the_reset_time(github, vendor_server, waits):
    connector, ctx = github
    reset = int(time.time()) + 3
    vendor_server.route("GET", f"/orgs/{payloads.ORG}", Script(
        Response(403, {"message": "API rate limit exceeded for installation ID 7654321.",
                       "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"},
                 {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
                  "x-ratelimit-reset": str(reset), "x-ratelimit-resource": "core"}),
        Response(429, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "1"}),
        payloads.organization()))
    organization = connector.steps(ctx)[0]
    page = organization.fetch(ctx, None)
    assert len(page.observations) == 2
    assert 1.0 <= waits[0] <= 3.0 and waits[1] == 1.0


def test_a_wrong_app_key_and_an_unknown_installation(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("github", credentials={"private_key": payloads.private_key_pem()},
                              config={**CONFIG, "app_id": "999"})
    check = connector.check(ctx)
    assert not check[0].ok and "check the App ID" in check[0].detail
    connector, ctx = make_ctx("github", credentials={"private_key": payloads.private_key_pem()},
                              config={**CONFIG, "installation_id": "1"})
    assert "has no installation 1" in connector.check(ctx)[0].detail
    with pytest.raises(AuthError):
        collect(connector, ctx)


def test_a_401_mid_scan_refreshes_the_installation_token_once(github, vendor_server):
    connector, ctx = github
    vendor_server.route("GET", f"/orgs/{payloads.ORG}", Script(
        Response(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
        payloads.organization()))
    connector.steps(ctx)[0].fetch(ctx, None)
    assert len(vendor_server.hits(f"/app/installations/{payloads.INSTALLATION}/access_tokens", "POST")) == 2


def test_without_saml_credential_authorizations_are_skipped(github, vendor_server):
    connector, ctx = github
    vendor_server.route("GET", f"/orgs/{payloads.ORG}/credential-authorizations", Response(404, {
        "message": "Not Found", "documentation_url": "https://docs.github.com/rest"}))
    found = collect(connector, ctx)
    assert "credentials" in found.skipped and "SAML" in found.skipped["credentials"]
    assert found.keys(mapping.PAT_NO_EXPIRY.key) == {"pat:21"}
    assert mapping.PAT_NO_EXPIRY.key not in found.state.get("unchecked", [])


def test_malformed_repository_list(github, vendor_server):
    connector, ctx = github
    vendor_server.route("GET", f"/orgs/{payloads.ORG}/repos", Response(200, {"message": "not a list"}))
    with pytest.raises(MalformedResponse, match="without the list"):
        collect(connector, ctx)
    vendor_server.route("GET", f"/orgs/{payloads.ORG}/repos", Response(200, raw=b"[{"))
    with pytest.raises(MalformedResponse, match="not JSON"):
        collect(connector, ctx)
