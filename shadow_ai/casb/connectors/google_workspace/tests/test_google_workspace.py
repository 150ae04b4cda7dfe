"""The Google Workspace connector against a loopback server replaying Google's token endpoint and
Directory API (users.list, tokens.list)."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.errors import AuthError, MalformedResponse
from shadow_ai.casb.connectors.google_workspace import mapping
from shadow_ai.casb.connectors.google_workspace.tests import payloads
from shadow_ai.casb.testing import Response, Script, collect


@pytest.fixture
def creds():
    return {"service_account_json": payloads.service_account_json()}


@pytest.fixture
def workspace(make_ctx, vendor_server, creds):
    payloads.serve(vendor_server)
    return make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})


def test_a_scan_reads_every_user_page_and_each_users_oauth_grants(workspace, vendor_server):
    connector, ctx = workspace
    found = collect(connector, ctx)
    assert found.keys(mapping.ADMIN_2FA.key) == {"user:100001"}
    assert found.keys(mapping.USER_2FA.key) == {"user:100002"}
    assert found.keys(mapping.NO_RECOVERY_EMAIL.key) == found.keys(mapping.NO_RECOVERY_PHONE.key) == {"user:100002"}
    assert found.keys(mapping.INACTIVE_USER.key) == {"user:100003", "user:100005"}  # 90 days; never signed in
    assert found.keys(mapping.SUSPENDED_ADMIN.key) == {"user:100004"}
    assert found.keys(mapping.APP_DRIVE.key) == {"app:1234-chatgpt.apps.googleusercontent.com:100002",
                                                  "app:1234-chatgpt.apps.googleusercontent.com:100003"}
    assert found.keys(mapping.APP_CALENDAR.key) == found.keys(mapping.APP_DOCS.key) == {
        "app:5678-notetaker.apps.googleusercontent.com:100002"}
    assert found.keys(mapping.APP_GMAIL.key) == {"app:4242-mailer.apps.googleusercontent.com:100003"}
    assert found.keys(mapping.APP_SIGN_IN.key) == {"app:9999-puzzle.apps.googleusercontent.com:100003"}
    chatgpt = found.of(mapping.APP_DRIVE.key)[0]
    assert chatgpt.asset == "ChatGPT" and chatgpt.owner == "ben@acme.example"
    assert chatgpt.app.name == "ChatGPT" and chatgpt.app.external_id.startswith("1234-chatgpt")
    pages = vendor_server.hits("/admin/directory/v1/users")[:3]  # the users step's (later steps read it again)
    assert [r.arg("pageToken") for r in pages] == [None, "2", "4"]
    assert pages[0].arg("customer") == "my_customer"
    assert pages[0].headers["Authorization"] == "Bearer ya29.replay-token"
    assert vendor_server.hits("/admin/directory/v1/users/100004/tokens") == []  # suspended: not asked
    base = " ".join(sorted(payloads.WORKSPACE_SCOPES))
    admin_tokens = [t for t in payloads.token_requests(vendor_server) if t == (payloads.ADMIN, base)]
    assert len(admin_tokens) == 1  # one admin token for the whole scan


def test_the_token_request_is_a_signed_assertion_for_the_admin(make_ctx, vendor_server, creds):
    payloads.serve(vendor_server, scopes=payloads.ALL_SCOPES)
    connector, ctx = make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    checks = connector.check(ctx)
    assert all(c.ok for c in checks), checks
    assert [c.name for c in checks if not c.required] == [
        "Domains (admin.directory.domain.readonly)", "Drive files (drive.readonly)",
        "Calendar sharing (calendar.acls.readonly)", "Mail delegation (gmail.settings.basic)"]
    # Verified domains and aliases only: an unverified one may belong to anyone.
    assert checks[3].detail == ("The company's domains: acme-corp.example, acme-labs.example, acme-mail.example, "
                                "acme.example.")
    form = vendor_server.hits("/token", "POST")[0].form
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_test_connection_marks_each_missing_optional_scope_without_failing(workspace):
    connector, ctx = workspace  # the required scopes only
    checks = connector.check(ctx)
    assert all(c.ok for c in checks if c.required)
    optional = {c.name: c for c in checks if not c.required}
    assert len(optional) == 4 and not any(c.ok for c in optional.values())
    drive = optional["Drive files (drive.readonly)"]
    assert drive.detail.startswith("Without it file sharing is not checked.")
    assert "drive.readonly" in drive.detail and "Domain-wide delegation" in drive.detail


def test_missing_delegated_scopes_say_which_and_where_to_add_them(make_ctx, vendor_server, creds):
    payloads.serve(vendor_server, scopes={payloads.SCOPE + "admin.directory.user.readonly"})
    connector, ctx = make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    checks = connector.check(ctx)
    assert len(checks) == 1 and not checks[0].ok
    assert "Domain-wide delegation" in checks[0].detail and "admin.directory.user.security" in checks[0].detail


def test_a_wrong_admin_and_a_broken_key_file_are_named(make_ctx, vendor_server, creds):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("google_workspace", credentials=creds, config={"admin_email": "nobody@acme.example"})
    assert "nobody@acme.example is not a user" in connector.check(ctx)[0].detail
    connector, ctx = make_ctx("google_workspace", credentials={"service_account_json": "{not json"},
                              config={"admin_email": payloads.ADMIN})
    assert "not valid JSON" in connector.check(ctx)[0].detail


def test_a_429_waits_and_a_401_mid_scan_gets_a_new_token_once(workspace, vendor_server, waits):
    connector, ctx = workspace
    users = payloads.users()
    vendor_server.route("GET", "/admin/directory/v1/users", Script(
        Response(429, {"error": {"code": 429, "message": "Quota exceeded for quota metric 'Queries'",
                                 "status": "RESOURCE_EXHAUSTED"}}, {"Retry-After": "2"}),
        Response(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                 "status": "UNAUTHENTICATED"}}),
        {"kind": "admin#directory#users", "users": users[:1]},
    ))
    found = collect(connector, ctx)
    assert waits == [2.0] and found.keys(mapping.ADMIN_2FA.key) == {"user:100001"}
    base = " ".join(sorted(payloads.WORKSPACE_SCOPES))
    assert [t for t in payloads.token_requests(vendor_server) if t[1] == base] == [(payloads.ADMIN, base)] * 2


def test_a_401_that_persists_is_an_auth_error(workspace, vendor_server):
    connector, ctx = workspace
    vendor_server.route("GET", "/admin/directory/v1/users", Response(401, {"error": {
        "code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}))
    with pytest.raises(AuthError, match="UNAUTHENTICATED"):
        collect(connector, ctx)


def test_malformed_json_from_the_directory(workspace, vendor_server):
    connector, ctx = workspace
    vendor_server.route("GET", "/admin/directory/v1/users", Response(200, raw=b"{'users': []}"))
    with pytest.raises(MalformedResponse):
        collect(connector, ctx)


def test_scope_categories_follow_the_reference():
    assert mapping.scope_categories(["openid", payloads.SCOPE + "userinfo.profile"]) == [mapping.APP_SIGN_IN]
    assert mapping.scope_categories([payloads.SCOPE + "spreadsheets", payloads.SCOPE + "presentations.readonly"]) == [
        mapping.APP_SLIDES, mapping.APP_SHEETS]
    assert mapping.scope_categories([payloads.SCOPE + "youtube"]) == []


# --- Gmail admin: SPF and DMARC of the domains (Directory API domains.list + DNS on loopback) ---


@pytest.fixture
def mail_workspace(make_ctx, vendor_server, creds, dns_server):
    payloads.serve(vendor_server, scopes=payloads.WORKSPACE_SCOPES | {payloads.DOMAINS_SCOPE})
    dns_server.records.update(payloads.MAIL_DNS)
    return make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})


def test_spf_and_dmarc_of_each_verified_domain_and_alias(mail_workspace, vendor_server, dns_server):
    connector, ctx = mail_workspace
    found = collect(connector, ctx)
    assert found.keys(mapping.SPF_ANY.key) == {"domain:acme-mail.example"}
    assert found.keys(mapping.DMARC_NONE.key) == {"domain:acme-mail.example"}
    assert found.keys(mapping.SPF_MISSING.key) == {"domain:acme-labs.example"}
    assert found.keys(mapping.DMARC_SUBDOMAINS.key) == found.keys(mapping.DMARC_PARTIAL.key) == {
        "domain:acme-labs.example"}
    assert found.of(mapping.DMARC_MISSING.key) == []
    assert not any(o.asset in {"acme.example", "acme-new.example", "acme-pending.example"} for o in found.observations)
    spf = found.of(mapping.SPF_ANY.key)[0]
    assert spf.asset == "acme-mail.example" and spf.asset_kind == "Domain"
    assert spf.details == {"record": "v=spf1 include:_spf.google.com +all", "problem": "“+all” lets every IP address "
                           "on the internet send mail as acme-mail.example and pass SPF."}
    assert "pct=25" in found.of(mapping.DMARC_PARTIAL.key)[0].details["problem"]
    assert "mail_auth" not in found.skipped and found.warnings == []
    assert not set(found.state.get("unchecked", [])) & {t.key for t in mapping.MAIL_TYPES}
    asked = {name for name, _, _ in dns_server.queries}
    assert "acme-new.example" not in asked and "_dmarc.acme-labs.example" in asked
    listed = vendor_server.hits("/admin/directory/v1/customer/my_customer/domains")
    # Read as the admin with a token for the optional scope alone.
    assert len(listed) == 1
    assert listed[0].headers["Authorization"] == f"Bearer {payloads.user_token(payloads.ADMIN, payloads.DOMAINS)}"
    assert mapping.SPF_ANY.title == "Google Workspace: Domain SPF record allows any IP address"


def test_without_the_optional_domains_scope_the_step_is_skipped_and_told(workspace, vendor_server, dns_server):
    connector, ctx = workspace  # delegation without admin.directory.domain.readonly
    found = collect(connector, ctx)
    assert "Domain-wide delegation" in found.skipped["mail_auth"]
    assert "admin.directory.domain.readonly" in found.skipped["mail_auth"]
    assert found.keys(mapping.ADMIN_2FA.key) == {"user:100001"}  # the rest of the scan went on
    assert dns_server.queries == [] and vendor_server.hits("/admin/directory/v1/customer/my_customer/domains") == []
    checks = {c.name: c for c in connector.check(ctx)}
    domains = checks["Domains (admin.directory.domain.readonly)"]
    assert not domains.ok and not domains.required and "SPF and DMARC" in domains.detail
    assert all(c.ok for c in checks.values() if c.required)


def test_the_connection_test_counts_the_verified_domains(mail_workspace):
    connector, ctx = mail_workspace
    checks = {c.name: c for c in connector.check(ctx)}
    domains = checks["Domains (admin.directory.domain.readonly)"]
    assert domains.ok and not domains.required
    assert domains.detail == ("The company's domains: acme-corp.example, acme-labs.example, acme-mail.example, "
                              "acme.example.")


def test_a_dns_timeout_leaves_the_domain_unchecked(mail_workspace, dns_server, settings):
    connector, ctx = mail_workspace
    settings.CASB_DNS_TIMEOUT = 0.3
    dns_server.silent.add("_dmarc.acme-labs.example")
    found = collect(connector, ctx)
    assert found.keys(mapping.SPF_MISSING.key) == {"domain:acme-labs.example"}  # its SPF answered
    assert found.of(mapping.DMARC_MISSING.key) == found.of(mapping.DMARC_PARTIAL.key) == []
    unchecked = set(found.state["unchecked"]) - {t.key for t in mapping.DLP_TYPES}  # no DLP profiles here
    assert unchecked == {t.key for t in (mapping.DMARC_MISSING, mapping.DMARC_NONE, mapping.DMARC_SUBDOMAINS,
                                         mapping.DMARC_PARTIAL)}
    assert found.warnings == ["acme-labs.example: SPF/DMARC could not be checked (no answer for "
                              "_dmarc.acme-labs.example TXT within 0.3 seconds); its e-mail authentication findings "
                              "are left as they were."]
