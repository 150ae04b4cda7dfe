"""The Microsoft 365 connector against a loopback server replaying the identity platform's token
endpoint and Microsoft Graph."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.errors import AuthError, BadRequest, MalformedResponse
from shadow_ai.casb.connectors.microsoft_365 import mapping
from shadow_ai.casb.connectors.microsoft_365.tests import payloads
from shadow_ai.casb.testing import Response, Script, collect

CONFIG = payloads.CONFIG


def test_third_party_grants_users_and_domains_across_graph_pages(m365, vendor_server):
    connector, ctx = m365
    found = collect(connector, ctx)
    assert found.keys(mapping.APP_FILES.key) == {"grant:sp-chatgpt:u-ana:sp-graph"}
    assert found.keys(mapping.APP_LIMITED.key) == {"grant:sp-chatgpt:u-raj:sp-graph"}
    assert found.keys(mapping.APP_MAIL.key) == {"grant:sp-summarize:all:sp-graph"}
    assert found.keys(mapping.APP_DISABLED.key) == {"sp:sp-banned"}
    assert not any(o.asset in ("Acme HR portal", "Microsoft Graph") for o in found.observations if o.app)
    files = found.of(mapping.APP_FILES.key)[0]
    assert files.owner == "ana@acme.example" and files.app.hostnames == ("chatgpt.com",)
    assert found.of(mapping.APP_MAIL.key)[0].owner == "All users (admin consent)"
    assert found.keys(mapping.PASSWORD_EXPIRY_OFF.key) == found.keys(mapping.STRONG_PASSWORD_OFF.key) == {"user:u-raj"}
    assert found.keys(mapping.PASSWORD_OLD.key) == {"user:u-raj"}
    assert found.keys(mapping.DISABLED.key) == {"user:u-old"}
    assert found.keys(mapping.NOT_SYNCED.key) == found.keys(mapping.PROVISIONING_ERROR.key) == {"user:u-sync"}
    assert found.keys(mapping.MINOR.key) == {"user:u-teen"}
    assert found.keys(mapping.DOMAIN_UNVERIFIED.key) == {"domain:acme-old.example"}
    pages = vendor_server.hits("/v1.0/servicePrincipals")
    assert [r.arg("$skiptoken") for r in pages] == [None, "2", "4"]
    assert pages[0].arg("$select").startswith("id,appId,displayName") and pages[1].arg("$select") is None
    assert pages[0].headers["Authorization"] == "Bearer eyJ0eXAi.replay.graph"


def test_a_next_link_to_another_host_is_not_followed(m365, vendor_server):
    connector, ctx = m365
    vendor_server.route("GET", "/v1.0/domains", {"value": [], "@odata.nextLink": "https://evil.example/v1.0/domains"})
    with pytest.raises(BadRequest, match="not one of its API hosts"):
        collect(connector, ctx)


def test_graph_throttling_waits_for_retry_after(m365, vendor_server, waits):
    connector, ctx = m365
    vendor_server.route("GET", "/v1.0/domains", Script(
        Response(429, {"error": {"code": "TooManyRequests", "message": "Too many requests",
                                 "innerError": {"date": "2026-03-01T12:00:00", "request-id": "r1"}}},
                 {"Retry-After": "5"}),
        {"value": payloads.domains()}))
    found = collect(connector, ctx)
    assert waits == [5.0] and found.keys(mapping.DOMAIN_UNVERIFIED.key) == {"domain:acme-old.example"}


def test_a_wrong_secret_and_a_missing_permission_are_told_apart(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("microsoft_365", credentials={"client_secret": "wrong"}, config=CONFIG)
    check = connector.check(ctx)
    assert len(check) == 1 and "client secret is wrong or expired" in check[0].detail
    connector, ctx = make_ctx("microsoft_365", credentials={"client_secret": payloads.SECRET}, config=CONFIG)
    vendor_server.route("GET", "/v1.0/oauth2PermissionGrants", Response(403, {"error": {
        "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}))
    checks = {c.name: c for c in connector.check(ctx)}
    grants = checks["Consent grants (DelegatedPermissionGrant.Read.All)"]
    assert not grants.ok and "Authorization_RequestDenied" in grants.detail
    assert "Missing this application" in grants.detail
    assert checks["Users (User.Read.All)"].ok


def test_a_401_from_graph_stops_the_scan(m365, vendor_server):
    connector, ctx = m365
    vendor_server.route("GET", "/v1.0/servicePrincipals", Response(401, {"error": {
        "code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}))
    with pytest.raises(AuthError, match="InvalidAuthenticationToken"):
        collect(connector, ctx)
    assert len(vendor_server.hits(f"/{payloads.TENANT}/oauth2/v2.0/token", "POST")) == 2  # one fresh token tried


def test_malformed_graph_page(m365, vendor_server):
    connector, ctx = m365
    vendor_server.route("GET", "/v1.0/users", Response(200, raw=b'{"value": [}'))
    with pytest.raises(MalformedResponse):
        collect(connector, ctx)


# --- Email admin: SPF and DMARC of the verified domains (Graph /domains + DNS on loopback) ---

MAIL_DOMAINS = [
    {"id": "acme.example", "isVerified": True, "isDefault": True, "isInitial": False, "authenticationType": "Managed",
     "supportedServices": ["Email", "OfficeCommunicationsOnline"]},
    {"id": "acme-old.example", "isVerified": False, "isDefault": False, "isInitial": False,
     "authenticationType": "Managed", "supportedServices": []},
    {"id": "acmecorp.onmicrosoft.com", "isVerified": True, "isDefault": False, "isInitial": True,
     "authenticationType": "Managed", "supportedServices": ["Email", "OfficeCommunicationsOnline"]},
    {"id": "eu.acme.example", "isVerified": True, "isDefault": False, "isInitial": False,
     "authenticationType": "Managed", "supportedServices": ["Email"]},
    {"id": "acme-shop.example", "isVerified": True, "isDefault": False, "isInitial": False,
     "authenticationType": "Managed", "supportedServices": ["Email"]},
]
MAIL_DNS = {
    "acme.example": ["v=spf1 include:spf.protection.outlook.com -all", "MS=ms12345678"],
    "_dmarc.acme.example": ["v=DMARC1; p=reject; sp=none; rua=mailto:dmarc@acme.example"],
    "eu.acme.example": ["v=spf1 include:spf.protection.outlook.com ?all"],
    "acme-shop.example": ["MS=ms87654321"],
}


@pytest.fixture
def m365_mail(m365, vendor_server, dns_server):
    vendor_server.route("GET", "/v1.0/domains", payloads.graph_pages(vendor_server, "/v1.0/domains", MAIL_DOMAINS, 2))
    dns_server.records.update(MAIL_DNS)
    return m365


def test_spf_and_dmarc_of_the_verified_domains(m365_mail, dns_server):
    connector, ctx = m365_mail
    found = collect(connector, ctx)
    assert found.keys(mapping.DMARC_SUBDOMAINS.key) == {"domain:acme.example"}
    assert found.keys(mapping.SPF_ANY.key) == {"domain:eu.acme.example"}
    # eu.acme.example has no DMARC record of its own: acme.example's sp=none applies to it
    assert found.keys(mapping.DMARC_NONE.key) == {"domain:eu.acme.example"}
    assert found.keys(mapping.SPF_MISSING.key) == found.keys(mapping.DMARC_MISSING.key) == {"domain:acme-shop.example"}
    assert found.of(mapping.DMARC_PARTIAL.key) == []
    assert found.of(mapping.DMARC_NONE.key)[0].details["problem"].startswith(
        "The policy is sp=none (inherited from _dmarc.acme.example)")
    asked = {name for name, _, _ in dns_server.queries}
    assert not any("onmicrosoft" in name or "acme-old" in name for name in asked)
    assert mapping.SPF_ANY.title == "Microsoft 365: Domain SPF allows any IP"
    assert found.keys(mapping.DOMAIN_UNVERIFIED.key) == {"domain:acme-old.example"}


def test_a_dns_outage_keeps_the_findings_and_a_fixed_record_resolves_them(make_integration, vendor_server, dns_server,
                                                                          scan, settings):
    from shadow_ai.casb.models import FindingInstance, ScanRun

    payloads.serve(vendor_server)
    vendor_server.route("GET", "/v1.0/domains", payloads.graph_pages(vendor_server, "/v1.0/domains", MAIL_DOMAINS, 10))
    dns_server.records.update(MAIL_DNS)
    integration = make_integration("microsoft_365", credentials={"client_secret": payloads.SECRET}, config=CONFIG)

    def open_domains(type_key: str) -> set[str]:
        return set(FindingInstance.objects.filter(finding__type_key=type_key, resolved_at__isnull=True)
                   .values_list("asset", flat=True))

    assert scan(integration).status == ScanRun.Status.SUCCEEDED
    assert open_domains(mapping.SPF_MISSING.key) == {"acme-shop.example"}

    settings.CASB_DNS_TIMEOUT = 0.3
    dns_server.silent.add("acme-shop.example")
    dns_server.records["acme.example"] = ["v=spf1 +all"]
    dns_server.records["_dmarc.acme.example"] = ["v=DMARC1; p=reject"]
    run = scan(integration)
    assert run.status == ScanRun.Status.SUCCEEDED
    assert open_domains(mapping.SPF_MISSING.key) == {"acme-shop.example"}  # a timeout is not "fixed"
    assert open_domains(mapping.SPF_ANY.key) == {"acme.example", "eu.acme.example"}
    assert any("acme-shop.example: SPF/DMARC could not be checked (no answer for acme-shop.example TXT" in m["text"]
               for m in run.messages)
    # DMARC of acme.example answered: its sp=none is gone
    assert open_domains(mapping.DMARC_SUBDOMAINS.key) == set()

    dns_server.silent.clear()
    dns_server.records["acme-shop.example"] = ["v=spf1 include:spf.protection.outlook.com -all"]
    scan(integration)
    assert open_domains(mapping.SPF_MISSING.key) == set()
    assert open_domains(mapping.DMARC_MISSING.key) == {"acme-shop.example"}
