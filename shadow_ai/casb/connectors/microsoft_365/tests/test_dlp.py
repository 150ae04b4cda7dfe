"""DLP for Microsoft 365 against the replayed Graph: the contents of files shared with anyone or
the organization (a 302 to a pre-authenticated download URL, Office binaries and oversized files
passed over, a file that cannot be read), and Copilot prompts, responses and referenced files."""

from __future__ import annotations

from shadow_ai.casb.connectors.microsoft_365 import mapping
from shadow_ai.casb.connectors.microsoft_365.connector import DLP_SHARING_TYPES
from shadow_ai.casb.connectors.microsoft_365.tests import payloads
from shadow_ai.casb.findings import Severity
from shadow_ai.casb.testing import Response, collect, predefined_dlp

ANA = payloads.ANA_DRIVE
CARD = "4111 1111 1111 1111"
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
CSV = f"name,card\nAcme Corp,{CARD}\nGlobex,4012 8888 8888 1881\n".encode()
FILE_URL = "https://acme-my.sharepoint.com/personal/ana_acme_example/Documents/Exports/customers.csv"


def content_path(item_id: str, drive_id: str = ANA) -> str:
    return f"/v1.0/drives/{drive_id}/items/{item_id}/content"


def text_item(item_id: str, name: str, link_scope: str, *, mime: str, size: int) -> dict:
    row = payloads.item(item_id, name, ANA, shared=payloads.scope(link_scope), mime=mime, size=size)
    row["webUrl"] = f"https://acme-my.sharepoint.com/personal/ana_acme_example/Documents/{name}"
    return row


def serve_contents(server) -> None:
    """Three more shared text files in ana's OneDrive: a CSV with card numbers (its content
    answers 302 to a pre-authenticated URL), a log too large to read, and one whose content is
    refused (403), plus the download routes."""
    pages = payloads.delta_pages()[ANA]
    pages[1] += [text_item("01ANA0CUST", "customers.csv", "anonymous", mime="text/csv", size=len(CSV)),
                 text_item("01ANA0HUGE", "server.log", "organization", mime="text/plain", size=50_000_000),
                 text_item("01ANA0LOCK", "locked.txt", "anonymous", mime="text/plain", size=90)]
    server.route("GET", f"/v1.0/drives/{ANA}/root/delta", payloads.delta_handler(server, ANA, pages))
    permissions = {"01ANA0CUST": payloads.link("cust-view", "anonymous", "view", ["read"]),
                   "01ANA0HUGE": payloads.link("huge-edit", "organization", "edit", ["write"]),
                   "01ANA0LOCK": payloads.link("lock-edit", "anonymous", "edit", ["write"])}
    for item_id, perm in permissions.items():
        server.route("GET", f"/v1.0/drives/{ANA}/items/{item_id}/permissions", {"value": [payloads.OWNER, perm]})
    download = f"{server.url}/personal/ana_acme_example/_layouts/15/download.aspx?UniqueId=cust&tempauth=eyJ0eXAi"
    server.route("GET", content_path("01ANA0CUST"), Response(302, headers={"Location": download}))
    server.route("GET", "/personal/ana_acme_example/_layouts/15/download.aspx",
                 Response(200, raw=CSV, headers={"Content-Type": "application/octet-stream"}))
    server.route("GET", content_path("01ANA0LOCK"), Response(403, {"error": {
        "code": "accessDenied", "message": "Access denied", "innerError": {"request-id": "403-content"}}}))


def interaction(row_id: str, kind: str, text: str, *, links: list[dict] | None = None, minutes: int = 60) -> dict:
    """An aiInteraction as getAllEnterpriseInteractions returns it."""
    user = {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": "u-ana", "displayName": "Ana",
            "userIdentityType": "aadUser", "tenantId": payloads.TENANT}
    app = {"@odata.type": "#microsoft.graph.teamworkApplicationIdentity", "id": "fb8d773d-7ef8-4ec0-a117-179f88add510",
           "displayName": "Microsoft 365 Chat", "applicationIdentityType": "bot"}
    return {"id": row_id, "sessionId": "19:ana-bizchat@thread.v2", "requestId": f"req-{row_id[:4]}",
            "appClass": "IPM.SkypeTeams.Message.Copilot.BizChat", "interactionType": kind,
            "conversationType": "bizchat", "etag": row_id, "createdDateTime": payloads.at(minutes / 1440),
            "locale": "en-us", "contexts": [],
            "from": {"@odata.type": "#microsoft.graph.chatMessageFromIdentitySet", "device": None,
                     "user": user if kind == "userPrompt" else None, "application": None if kind == "userPrompt"
                     else app},
            "body": {"contentType": "text", "content": text}, "attachments": [], "links": links or [],
            "mentions": []}


def copilot_pages() -> list[list[dict]]:
    return [
        [interaction("1001", "userPrompt", f"Why does aws_access_key_id={AWS_KEY} fail in eu-west-1?"),
         interaction("1002", "aiResponse", "Check that the key is active in IAM and the region is enabled.")],
        [interaction("1003", "userPrompt", "Summarize the customer export", minutes=30),
         interaction("1004", "aiResponse", "The export lists two customers and their payment cards.", minutes=29,
                     links=[{"linkUrl": FILE_URL + "?web=1", "displayName": "customers.csv", "linkType": "File"},
                            {"linkUrl": "https://teams.microsoft.com/l/meeting/details?eventId=AAMk",
                             "displayName": "Weekly sync", "linkType": "Meeting"}])],
    ]


def serve_copilot(server) -> None:
    path = "/v1.0/copilot/users/u-ana/interactionHistory/getAllEnterpriseInteractions"
    pages = copilot_pages()

    def handler(request):
        index = int(request.arg("$skiptoken") or 0)
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.aiInteraction)",
                "value": pages[index]}
        if index + 1 < len(pages):
            body["@odata.nextLink"] = f"{server.url}{path}?$skiptoken={index + 1}"
        return body

    server.route("GET", path, handler)
    server.route("GET", "/v1.0/sites/acme-my.sharepoint.com:/personal/ana_acme_example",
                 {"id": payloads.ANA_SITE, "webUrl": "https://acme-my.sharepoint.com/personal/ana_acme_example"})
    server.route("GET", f"/v1.0/sites/{payloads.ANA_SITE}/drives", {"value": [payloads.drives_by_user()["u-ana"]]})
    server.route("GET", f"/v1.0/drives/{ANA}/root:/Exports/customers.csv", {
        "id": "01ANA0CUST", "name": "customers.csv", "size": len(CSV), "webUrl": FILE_URL,
        "file": {"mimeType": "text/csv"}, "parentReference": {"driveId": ANA, "driveType": "business"}})


def dlp_scan(m365, vendor_server, **dlp):
    connector, ctx = m365
    serve_contents(vendor_server)
    serve_copilot(vendor_server)
    ctx.dlp = predefined_dlp("financial_information", "credentials_and_secrets", **dlp)
    return collect(connector, ctx)


def test_a_public_text_file_with_card_numbers_is_a_dlp_finding(m365, vendor_server):
    found = dlp_scan(m365, vendor_server)
    key = f"item:{ANA}:01ANA0CUST"
    assert found.keys(mapping.DLP_PUBLIC_VIEW.key) == {key}
    assert key in found.keys(mapping.FILE_PUBLIC_VIEW.key)  # the plain sharing finding stays
    finding = found.of(mapping.DLP_PUBLIC_VIEW.key)[0]
    assert finding.asset == "customers.csv" and finding.owner == "ana@acme.example"
    assert finding.details["dlp_profiles"] == ["Financial Information"] and finding.details["dlp_matches"] == 2
    assert finding.details["link_types"] == ["view"] and finding.details["item_id"] == "01ANA0CUST"
    assert finding.details["dlp_samples"][0]["match"] == "XXXX XXXX XXXX XXXX"
    assert CARD not in str(finding.details)
    assert mapping.DLP_PUBLIC_VIEW.title == ("Microsoft 365: File publicly accessible with view access with DLP "
                                             "Profile match")
    assert mapping.DLP_PUBLIC_EDIT.severity == Severity.CRITICAL
    assert mapping.DLP_COMPANY_VIEW.severity == Severity.MEDIUM


def test_the_download_follows_graphs_redirect_without_our_token(m365, vendor_server):
    dlp_scan(m365, vendor_server)
    first = vendor_server.hits(content_path("01ANA0CUST"))
    second = vendor_server.hits("/personal/ana_acme_example/_layouts/15/download.aspx")
    assert len(first) == 1 and first[0].headers.get("Authorization", "").startswith("Bearer ")
    assert len(second) == 1 and "Authorization" not in second[0].headers
    assert second[0].arg("tempauth") == "eyJ0eXAi"


def test_office_binaries_and_oversized_files_are_not_downloaded_and_counted(m365, vendor_server):
    found = dlp_scan(m365, vendor_server)
    asked = {r.path for r in vendor_server.requests if r.path.endswith("/content")}
    assert asked == {content_path("01ANA0CUST"), content_path("01ANA0LOCK")}  # not the .docx/.pptx/.xlsx or the log
    assert not found.of(mapping.DLP_COMPANY_EDIT.key) and not found.of(mapping.DLP_PUBLIC_EDIT.key)
    # One warning for the scan: 3 Office files (Q3 plan, deck, pricing), the log, the refused file.
    told = [w for w in found.warnings if "not scanned with the DLP profiles" in w]
    assert len(told) == 1
    assert "3 not text" in told[0] and "1 larger than the download cap" in told[0]
    assert "1 could not be read" in told[0]
    # The refused file was not checked: the DLP sharing types are not resolved by this scan.
    assert set(DLP_SHARING_TYPES) <= set(found.state["unchecked"])


def test_oversized_by_the_cap_is_passed_over(m365, vendor_server):
    found = dlp_scan(m365, vendor_server, max_bytes=32)
    assert not found.of(mapping.DLP_PUBLIC_VIEW.key)
    assert not vendor_server.hits(content_path("01ANA0CUST"))


def test_without_dlp_profiles_nothing_is_downloaded_and_dlp_types_are_kept(m365, vendor_server):
    connector, ctx = m365
    serve_contents(vendor_server)
    serve_copilot(vendor_server)
    found = collect(connector, ctx)
    assert not any(r.path.endswith("/content") or "interactionHistory" in r.path for r in vendor_server.requests)
    assert not found.types() & {t.key for t in (*mapping.DLP_SHARING_TYPES, *mapping.COPILOT_TYPES)}
    unchecked = set(found.state["unchecked"])
    assert set(DLP_SHARING_TYPES) <= unchecked and {t.key for t in mapping.COPILOT_TYPES} <= unchecked
    assert found.of(mapping.FILE_PUBLIC_VIEW.key)  # the sharing findings themselves are still reported


def test_copilot_prompt_with_a_secret_and_a_referenced_file_with_card_numbers(m365, vendor_server):
    found = dlp_scan(m365, vendor_server)
    prompts = found.of(mapping.COPILOT_PROMPT.key)
    assert [p.key for p in prompts] == ["copilot:u-ana:1001"]
    assert prompts[0].owner == "ana@acme.example" and prompts[0].asset == "Prompt in Copilot (BizChat)"
    assert prompts[0].details["dlp_profiles"] == ["Credentials and Secrets"] and AWS_KEY not in str(prompts[0].details)
    assert not found.of(mapping.COPILOT_RESPONSE.key)  # no answer carried sensitive data
    files = found.of(mapping.COPILOT_FILE.key)
    assert [f.key for f in files] == [f"copilot-file:u-ana:{ANA}:01ANA0CUST"]
    assert files[0].details["interaction_id"] == "1004"
    assert files[0].details["dlp_profiles"] == ["Financial Information"]
    # Both interaction pages were read, with a createdDateTime window and Microsoft's page size.
    calls = vendor_server.hits("/v1.0/copilot/users/u-ana/interactionHistory/getAllEnterpriseInteractions")
    assert [c.arg("$skiptoken") for c in calls] == [None, "1"]
    assert calls[0].arg("$filter").startswith("createdDateTime ge ") and calls[0].arg("$top") == "100"
    # The file was downloaded once though the sharing walk and Copilot both read it.
    assert len(vendor_server.hits(content_path("01ANA0CUST"))) == 1
    # Copilot findings are never resolved by a scan that reads only new interactions.
    assert {t.key for t in mapping.COPILOT_TYPES} <= set(found.state["unchecked"])
    assert found.state["carry"]["copilot_until"] == found.state["copilot_window"][1]


def test_the_next_scan_reads_copilot_interactions_from_where_the_last_one_stopped(m365, vendor_server):
    connector, ctx = m365
    serve_copilot(vendor_server)
    ctx.dlp = predefined_dlp("credentials_and_secrets")
    ctx.state["carried"] = {"copilot_until": "2026-03-01T08:00:00Z"}
    step = next(s for s in connector.steps(ctx) if s.key == "copilot")
    step.fetch(ctx, None)
    call = vendor_server.hits("/v1.0/copilot/users/u-ana/interactionHistory/getAllEnterpriseInteractions")[0]
    assert call.arg("$filter").startswith("createdDateTime ge 2026-03-01T08:00:00Z and createdDateTime lt ")


def test_missing_copilot_permission_skips_the_step(m365, vendor_server):
    connector, ctx = m365
    denied = payloads.denied()
    for person in payloads.users():
        vendor_server.route("GET", f"/v1.0/copilot/users/{person['id']}/interactionHistory/"
                            "getAllEnterpriseInteractions", denied)
    ctx.dlp = predefined_dlp("credentials_and_secrets")
    found = collect(connector, ctx)
    assert "AiEnterpriseInteraction.Read.All" in found.skipped["copilot"]
    assert "copilot_until" not in found.state.get("carry", {}) or found.state["carry"]["copilot_until"] != \
        found.state["copilot_window"][1]
    checks = {c.name: c for c in connector.check(ctx)}
    line = checks["Copilot interactions (AiEnterpriseInteraction.Read.All, optional)"]
    assert not line.ok and not line.required
