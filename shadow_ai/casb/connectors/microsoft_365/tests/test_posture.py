"""Authentication methods, proxy addresses, app certificates, inbox rules and calendar sharing,
against the replayed Graph: what each reports, the optional permissions, paging and resuming."""

from __future__ import annotations

import json

from shadow_ai.casb.connectors.microsoft_365 import client, mapping
from shadow_ai.casb.connectors.microsoft_365.tests import payloads
from shadow_ai.casb.models import FindingInstance, ScanRun
from shadow_ai.casb.testing import collect

AUTH_TYPES = {t.key for t in mapping.AUTH_METHOD_TYPES}
RULE_TYPES = {t.key for t in mapping.RULE_TYPES}


def methods_path(user_id: str) -> str:
    return f"/v1.0/users/{user_id}/authentication/methods"


def rules_path(user_id: str) -> str:
    return f"/v1.0/users/{user_id}/mailFolders/inbox/messageRules"


def test_unattested_keys_weak_hello_keys_and_risky_temporary_access_passes(m365, vendor_server):
    connector, ctx = m365
    found = collect(connector, ctx)
    assert found.skipped == {}
    assert found.keys(mapping.FIDO2_UNATTESTED.key) == {"method:u-ana:fido-blue"}  # Red key is attested
    assert found.keys(mapping.WHFB_WEAK.key) == {"method:u-raj:whfb-raj"}
    # u-old's reusable 30-day pass has expired and u-sync's is a one-hour one-time pass: no risk.
    assert found.keys(mapping.TAP_REUSABLE.key) == {"method:u-raj:tap-raj"}
    assert found.keys(mapping.TAP_LONG.key) == {"method:u-raj:tap-raj", "method:u-teen:tap-teen"}
    fido = found.of(mapping.FIDO2_UNATTESTED.key)[0]
    assert fido.owner == "ana@acme.example" and fido.details["method"] == "Blue key"
    assert found.of(mapping.TAP_LONG.key)[0].details["lifetime_minutes"] == 1440
    # One request per user, over every page of users (guests included: they can hold a pass too).
    assert all(len(vendor_server.hits(methods_path(u["id"]))) == 1 for u in payloads.users())
    first = next(r for r in vendor_server.hits("/v1.0/users") if r.arg("$select") == client.PER_USER_FIELDS)
    assert first.arg("$top") == str(client.PER_USER_PAGE)


def test_proxy_addresses_at_domains_the_tenant_has_not_verified(m365, vendor_server):
    connector, ctx = m365
    found = collect(connector, ctx)
    # raj@acme-old.example: that domain is not verified. SIP/X500 entries, the onmicrosoft.com alias
    # (any case) and the guest's own address are not findings.
    assert found.keys(mapping.PROXY_ADDRESSES.key) == {"user:u-raj"}
    assert found.of(mapping.PROXY_ADDRESSES.key)[0].details["addresses"] == ["raj@acme-old.example"]
    assert ctx.state["verified_domains"] == ["acme.example", "acme.onmicrosoft.com"]


def test_app_registration_certificates_expiring_within_90_days(m365, vendor_server):
    connector, ctx = m365
    found = collect(connector, ctx)
    assert found.keys(mapping.CERT_EXPIRING.key) == {"cert:app-hr:k-soon"}  # not next year's, not the expired one
    cert = found.of(mapping.CERT_EXPIRING.key)[0]
    assert cert.asset == "Acme HR portal" and cert.details["days_left"] == 30
    assert cert.details["certificate"] == "CN=hr-portal 2025"
    pages = vendor_server.hits("/v1.0/applications")
    assert [r.arg("$skiptoken") for r in pages] == [None, "2"] and "keyCredentials" in pages[0].arg("$select")


def test_inbox_rules_that_send_mail_outside(m365, vendor_server):
    connector, ctx = m365
    found = collect(connector, ctx)
    assert found.skipped == {}
    # "Home copy" is on the second page of ana's rules; the disabled redirect and raj's rule in
    # error do not run; forwarding to raj@acme.example stays inside.
    assert found.keys(mapping.RULE_FORWARD.key) == {"rule:u-ana:AQAAAJ5dZqB="}
    assert found.of(mapping.RULE_FORWARD.key)[0].details["recipients"] == ["ana@home-mail.example"]
    assert found.of(mapping.RULE_FORWARD.key)[0].asset == "Home copy (ana@acme.example)"
    assert found.keys(mapping.RULE_FORWARD_ATTACHMENT.key) == {"rule:u-raj:AQAAAJ5dZrA="}
    assert found.keys(mapping.RULE_REDIRECT.key) == {"rule:u-raj:AQAAAJ5dZrA="}
    assert [r.arg("$skiptoken") for r in vendor_server.hits(rules_path("u-ana"))] == [None, "2"]
    # No mailbox to ask about: the intern has no mail address, the guest's is elsewhere.
    assert vendor_server.hits(rules_path("u-teen")) == vendor_server.hits(rules_path("u-guest")) == []
    assert len(vendor_server.hits(rules_path("u-old"))) == 1  # a 404 (no mailbox) is passed over


def test_calendars_shared_outside_the_verified_domains(m365, vendor_server):
    connector, ctx = m365
    found = collect(connector, ctx)
    # "My Organization" has no address; raj is inside; a share with the role "none" gives nothing.
    assert found.keys(mapping.CALENDAR_EXTERNAL.key) == {"calendar:u-ana:consultant@partner.example"}
    shared = found.of(mapping.CALENDAR_EXTERNAL.key)[0]
    assert shared.owner == "ana@acme.example" and shared.details == {"shared_with": "consultant@partner.example",
                                                                     "role": "read"}


def test_a_missing_optional_permission_skips_only_its_step(m365, vendor_server):
    connector, ctx = m365
    for person in payloads.users():
        vendor_server.route("GET", methods_path(person["id"]), payloads.denied())
        vendor_server.route("GET", f"/v1.0/users/{person['id']}/calendar/calendarPermissions",
                            payloads.denied("ErrorAccessDenied", "Access is denied. Check credentials and try again."))
    found = collect(connector, ctx)
    assert set(found.skipped) == {"auth_methods", "calendars"}
    assert "UserAuthenticationMethod.Read.All" in found.skipped["auth_methods"]
    assert "Authorization_RequestDenied" in found.skipped["auth_methods"]
    assert "Calendars.Read" in found.skipped["calendars"]
    assert not found.types() & (AUTH_TYPES | {mapping.CALENDAR_EXTERNAL.key})
    assert AUTH_TYPES | {mapping.CALENDAR_EXTERNAL.key} <= set(found.state["unchecked"])
    assert len(vendor_server.hits(methods_path("u-raj"))) == 0  # the step stopped at the first refusal
    assert found.keys(mapping.RULE_FORWARD.key) == {"rule:u-ana:AQAAAJ5dZqB="}  # the rest still ran


def test_mailboxes_outside_the_apps_scope_are_passed_over(m365, vendor_server):
    connector, ctx = m365
    vendor_server.route("GET", rules_path("u-raj"), payloads.denied(
        "ErrorAccessDenied", "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly "
        "AccessPolicy settings."))
    found = collect(connector, ctx)
    assert "inbox_rules" not in found.skipped
    assert found.keys(mapping.RULE_FORWARD.key) == {"rule:u-ana:AQAAAJ5dZqB="}
    assert not found.of(mapping.RULE_REDIRECT.key)
    assert len(vendor_server.hits(rules_path("u-sync"))) == 1  # the users after it were still read
    assert RULE_TYPES <= set(found.state["unchecked"])  # so raj's old findings are not resolved
    assert sum("outside what the app may read" in w for w in found.warnings) == 1


def test_a_per_user_step_resumes_from_a_middle_cursor(m365, make_ctx, vendor_server):
    connector, ctx = m365
    step = next(s for s in connector.steps(ctx) if s.key == "auth_methods")
    first = step.fetch(ctx, None)  # users ana and raj
    assert first.assets == 2 and "$skiptoken=2" in first.next_cursor
    saved = json.loads(json.dumps(ctx.state))  # what the scanner checkpoints
    # The worker is lost; another resumes from the saved cursor with a fresh context.
    _, resumed = make_ctx("microsoft_365", credentials={"client_secret": payloads.SECRET}, config=payloads.CONFIG)
    resumed.state.update(saved)
    cursor, rest = first.next_cursor, []
    while cursor:
        page = step.fetch(resumed, cursor)
        rest.extend(page.observations)
        cursor = page.next_cursor
    assert {o.key for o in first.observations} == {"method:u-ana:fido-blue", "method:u-raj:whfb-raj",
                                                   "method:u-raj:tap-raj"}
    assert {(o.type_key, o.key) for o in rest} == {(mapping.TAP_LONG.key, "method:u-teen:tap-teen")}
    assert all(len(vendor_server.hits(methods_path(u["id"]))) == 1 for u in payloads.users())  # nobody twice


def test_test_connection_lists_the_optional_permissions(m365, vendor_server):
    connector, ctx = m365
    checks = {c.name: c for c in connector.check(ctx)}
    optional = [c for c in checks.values() if not c.required]
    assert [c.name for c in optional] == ["Authentication methods (UserAuthenticationMethod.Read.All, optional)",
                                          "Inbox rules (MailboxSettings.Read, optional)",
                                          "Calendar sharing (Calendars.Read, optional)",
                                          "OneDrive sharing (Files.Read.All, optional)",
                                          "SharePoint sharing (Sites.Read.All, optional)",
                                          "Copilot interactions (AiEnterpriseInteraction.Read.All, optional)"]
    assert all(c.ok for c in checks.values())
    vendor_server.route("GET", rules_path("u-ana"), payloads.denied(
        "ErrorAccessDenied", "Access is denied. Check credentials and try again."))
    checks = {c.name: c for c in connector.check(ctx)}
    rules = checks["Inbox rules (MailboxSettings.Read, optional)"]
    assert not rules.ok and not rules.required and "Missing the optional MailboxSettings.Read" in rules.detail
    assert "ErrorAccessDenied" in rules.detail
    assert all(c.ok for c in checks.values() if c.required)


def open_keys(type_key: str) -> set[str]:
    return set(FindingInstance.objects.filter(finding__type_key=type_key, resolved_at__isnull=True)
               .values_list("key", flat=True))


def test_a_withdrawn_permission_keeps_its_findings_until_it_is_back(make_integration, vendor_server, scan):
    payloads.serve(vendor_server)
    integration = make_integration("microsoft_365", credentials={"client_secret": payloads.SECRET},
                                   config=payloads.CONFIG)
    assert scan(integration).status == ScanRun.Status.SUCCEEDED
    assert open_keys(mapping.TAP_LONG.key) == {"method:u-raj:tap-raj", "method:u-teen:tap-teen"}
    for person in payloads.users():
        vendor_server.route("GET", methods_path(person["id"]), payloads.denied())
    second = scan(integration)
    assert second.status == ScanRun.Status.SUCCEEDED and second.state["skipped_steps"] == ["auth_methods"]
    assert any("UserAuthenticationMethod.Read.All" in m["text"] for m in second.messages)
    assert open_keys(mapping.TAP_LONG.key) == {"method:u-raj:tap-raj", "method:u-teen:tap-teen"}
    payloads.serve(vendor_server)  # granted again, and raj's pass was deleted meanwhile
    vendor_server.route("GET", methods_path("u-raj"), {"value": payloads.methods()["u-raj"][:2]})
    assert scan(integration).status == ScanRun.Status.SUCCEEDED
    assert open_keys(mapping.TAP_LONG.key) == {"method:u-teen:tap-teen"}
    assert open_keys(mapping.TAP_REUSABLE.key) == set()
