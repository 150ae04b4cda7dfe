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
    # Classic protection alone is judged as before: api is fully protected, web weakly, legacy-tools not
    # at all (nor evaluate-only, whose only ruleset is in "evaluate" mode).
    assert found.keys(mapping.NO_PROTECTION.key) == {"repo:3", "repo:8"}
    for weak in (mapping.NO_STATUS_CHECKS, mapping.FORCE_PUSH):
        assert found.keys(weak.key) == {"repo:2"}, weak.key
    assert found.keys(mapping.STALE_REVIEWS.key) == {"repo:2", "repo:7"}
    assert found.keys(mapping.NO_ADMIN_RULES.key) == {"repo:2", "repo:6"}
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


def _repo(found, type_key: str, repo_id: int):
    return next(o for o in found.of(type_key) if o.key == f"repo:{repo_id}")


def test_rulesets_protect_default_branches_like_classic_rules(github, vendor_server):
    connector, ctx = github
    found = collect(connector, ctx)
    protection = {t.key for t in mapping.PROTECTION_TYPES}
    by_repo = {key: {o.type_key for o in found.observations if o.key == key and o.type_key in protection}
               for key in ("repo:5", "repo:6", "repo:7", "repo:8")}
    # A repository ruleset with every rule and no bypass: nothing to report.
    assert by_repo["repo:5"] == set()
    # An organization ruleset with every rule that organization admins may bypass.
    assert by_repo["repo:6"] == {mapping.NO_ADMIN_RULES.key}
    admins = _repo(found, mapping.NO_ADMIN_RULES.key, 6).details
    assert admins["classic_protection"] is False
    assert admins["rulesets"] == ["“Org baseline” #201 (organization acme): deletion, non_fast_forward, pull_request, "
                                  "required_linear_history, required_status_checks; bypass: OrganizationAdmin (always)"]
    assert admins["reason"] == ("No classic protection rule; active rulesets can be bypassed: “Org baseline” #201 "
                                "(organization acme) by OrganizationAdmin (always).")
    # Classic reviews (without dismissing stale approvals) plus a ruleset blocking force pushes and
    # requiring checks, nobody may bypass it: only stale approvals are missing.
    assert by_repo["repo:7"] == {mapping.STALE_REVIEWS.key}
    stale = _repo(found, mapping.STALE_REVIEWS.key, 7).details
    assert stale["classic_protection"] is True
    assert stale["reason"] == ("The classic protection rule does not dismiss stale approvals; active rulesets "
                               "(“No force pushes” #102 (repository acme/mixed)) do not dismiss stale approvals "
                               "when new commits are pushed.")
    # A ruleset in "evaluate" mode protects nothing.
    assert by_repo["repo:8"] == {mapping.NO_PROTECTION.key}
    assert _repo(found, mapping.NO_PROTECTION.key, 8).details["reason"] == (
        "No classic protection rule and no active ruleset applies to “main”.")
    # Each repository's rules are read page by page; the organization ruleset once per scan.
    rules = vendor_server.hits("/repos/acme/ruleset-only/rules/branches/main")
    assert [r.arg("page") for r in rules] == [None, "2", "3"] and rules[0].arg("per_page") == "100"
    assert len(vendor_server.hits(f"/orgs/acme/rulesets/{payloads.ORG_RULESET}")) == 1
    assert vendor_server.hits(f"/repos/acme/evaluate-only/rulesets/{payloads.EVALUATE_RULESET}") == []


def test_an_organization_ruleset_is_read_once_per_scan(github, vendor_server):
    connector, ctx = github
    # The organization ruleset applies to api too, whose classic rule already includes administrators.
    vendor_server.route("GET", "/repos/acme/api/rules/branches/main", payloads.branch_rules("acme/org-ruleset"))
    found = collect(connector, ctx)
    assert len(vendor_server.hits(f"/orgs/acme/rulesets/{payloads.ORG_RULESET}")) == 1
    assert {o.type_key for o in found.observations if o.key == "repo:1"} == set()
    assert {o.type_key for o in found.observations if o.key == "repo:6"} == {mapping.NO_ADMIN_RULES.key}


def test_hidden_bypass_lists_leave_admin_restrictions_unchecked(github, vendor_server):
    connector, ctx = github
    vendor_server.route("GET", f"/orgs/acme/rulesets/{payloads.ORG_RULESET}", Response(403, {
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/orgs/rules#get-an-organization-repository-ruleset",
        "status": "403"}))
    hidden = {k: v for k, v in payloads.rulesets()[0].items() if k != "bypass_actors"}
    vendor_server.route("GET", f"/repos/acme/ruleset-only/rulesets/{payloads.REPO_RULESET}", hidden)
    found = collect(connector, ctx)
    # Neither ruleset's bypass list is known: admin restrictions are not guessed either way…
    assert found.keys(mapping.NO_ADMIN_RULES.key) == {"repo:2"}
    assert mapping.NO_ADMIN_RULES.key in found.state["unchecked"]
    assert any("bypass lists are not visible" in w for w in found.warnings)
    # …while the rules themselves still count.
    assert not {o.key for o in found.observations if o.key in ("repo:5", "repo:6")}


def test_a_rate_limit_while_reading_rules_is_waited_out(github, vendor_server, waits):
    connector, ctx = github
    path = "/repos/acme/org-ruleset/rules/branches/main"
    vendor_server.route("GET", path, Script(
        Response(429, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "2"}),
        payloads.branch_rules("acme/org-ruleset")))
    found = collect(connector, ctx)
    assert 2.0 in waits
    assert {o.type_key for o in found.observations if o.key == "repo:6"} == {mapping.NO_ADMIN_RULES.key}


def test_connection_check_reports_unreadable_organization_rulesets(github, vendor_server):
    connector, ctx = github
    assert all(c.ok for c in connector.check(ctx))
    vendor_server.route("GET", "/orgs/acme/rulesets", Response(403, {
        "message": "Resource not accessible by integration", "status": "403"}))
    check = next(c for c in connector.check(ctx) if c.name.startswith("Organization rulesets"))
    assert not check.ok and not check.required and "left unchecked" in check.detail
