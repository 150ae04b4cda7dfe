"""OneDrive and SharePoint items shared with anyone or the whole organization, against the
replayed Graph: each finding type, delta and site paging, items gone meanwhile, a missing optional
permission, and a walk resumed from the middle of a drive."""

from __future__ import annotations

import json

from shadow_ai.casb.connectors.microsoft_365 import mapping
from shadow_ai.casb.connectors.microsoft_365.tests import payloads
from shadow_ai.casb.models import FindingInstance, ScanRun
from shadow_ai.casb.testing import collect

SHARING = {t.key for t in mapping.SHARING_TYPES}
ANA, RAJ, MKT = payloads.ANA_DRIVE, payloads.RAJ_DRIVE, payloads.MARKETING_DRIVE


def key(drive_id: str, item_id: str) -> str:
    return f"item:{drive_id}:{item_id}"


def permissions_path(drive_id: str, item_id: str) -> str:
    return f"/v1.0/drives/{drive_id}/items/{item_id}/permissions"


def delta_path(drive_id: str) -> str:
    return f"/v1.0/drives/{drive_id}/root/delta"


def test_each_sharing_finding_type_from_onedrive_and_sharepoint(m365, vendor_server):
    connector, ctx = m365
    found = collect(connector, ctx)
    assert found.skipped == {}
    assert found.keys(mapping.FILE_PUBLIC_EDIT.key) == {key(ANA, "01ANA0PLAN")}
    assert found.keys(mapping.FOLDER_PUBLIC_EDIT.key) == {key(RAJ, "01RAJ0DROP")}  # an upload-only "file request"
    assert found.keys(mapping.FILE_PUBLIC_VIEW.key) == {key(ANA, "01ANA0DECK")}
    assert found.keys(mapping.FOLDER_PUBLIC_VIEW.key) == {key(MKT, "01MKT0BRND")}
    # The deck also has an organization edit link: one instance per audience, at its strongest access.
    assert found.keys(mapping.FILE_COMPANY_EDIT.key) == {key(ANA, "01ANA0DECK")}
    assert found.keys(mapping.FILE_COMPANY_VIEW.key) == {key(MKT, "01MKT0PRIC")}  # a shared facet without scope
    assert found.keys(mapping.FOLDER_COMPANY_EDIT.key) == {key(MKT, "01MKT0DRFT")}
    assert found.keys(mapping.FOLDER_COMPANY_VIEW.key) == {key(ANA, "01ANA0TEAM")}
    assert found.types() & SHARING == SHARING

    deck = found.of(mapping.FILE_PUBLIC_VIEW.key)[0]
    assert deck.asset == "Board deck.pptx" and deck.asset_kind == "File" and deck.owner == "ana@acme.example"
    assert deck.details["drive_id"] == ANA and deck.details["item_id"] == "01ANA0DECK"
    assert deck.details["size"] == 2097152 and deck.details["location"] == "OneDrive of ana@acme.example"
    assert deck.details["mime_type"] == "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    assert deck.details["link_types"] == ["view"] and deck.details["links"][0]["scope"] == "anonymous"
    assert deck.details["links"][0]["expires"] is not None
    plan = found.of(mapping.FILE_PUBLIC_EDIT.key)[0]
    assert plan.details["links"][0]["expires"] is None  # 0001-01-01 is "never", not "expired"
    drafts = found.of(mapping.FOLDER_COMPANY_EDIT.key)[0]
    assert drafts.asset_kind == "Folder" and drafts.owner == "Marketing"
    assert drafts.details["location"] == "Marketing › Documents"
    assert drafts.details["site_url"] == "https://acme.sharepoint.com/sites/Marketing"
    assert mapping.FILE_PUBLIC_EDIT.title == "Microsoft 365: File publicly accessible with edit access"


def test_permissions_are_read_only_for_items_that_may_be_shared_widely(m365, vendor_server):
    connector, ctx = m365
    found = collect(connector, ctx)
    asked = {r.path for r in vendor_server.requests if r.path.endswith("/permissions")}
    # Not for the unshared note, the deleted workbook, the item shared with named people, the
    # drive roots (an empty shared facet) or the unshared budget.
    for item_id in ("01ANA0NOTE", "01ANA0OLDX", "01ANA0PEOP", "01ROOT0000000000000000000000"):
        assert permissions_path(ANA, item_id) not in asked
    assert permissions_path(payloads.FINANCE_DRIVE, "01FIN0BUDG") not in asked
    # The expired link gives nothing; the item deleted after the page was read (404) is passed over.
    assert permissions_path(ANA, "01ANA0EXPD") in asked and permissions_path(ANA, "01ANA0GONE") in asked
    assert not any(o.key in (key(ANA, "01ANA0EXPD"), key(ANA, "01ANA0GONE")) for o in found.observations)
    assert len(asked) == 9  # five in ana's OneDrive, one in raj's, three in Marketing


def test_delta_pages_sites_pages_and_drives(m365, vendor_server):
    connector, ctx = m365
    collect(connector, ctx)
    pages = vendor_server.hits(delta_path(ANA))
    assert [r.arg("token") for r in pages] == [None, "p1"]  # the second page is the one with the deltaLink
    first = pages[0]
    assert "shared" in first.arg("$select") and "deleted" in first.arg("$select") and "file" in first.arg("$select")
    assert first.headers["Prefer"] == "hierarchicalsharing"
    assert pages[1].arg("$select") is None  # a nextLink is followed as it is
    assert [r.arg("$skiptoken") for r in vendor_server.hits("/v1.0/sites/getAllSites")] == [None, "2"]
    # Ana's personal site is her OneDrive (read with her name): its libraries are not listed again.
    assert vendor_server.hits(f"/v1.0/sites/{payloads.ANA_SITE}/drives") == []
    assert len(vendor_server.hits(f"/v1.0/sites/{payloads.FINANCE_SITE}/drives")) == 1
    assert len(vendor_server.hits(delta_path(payloads.FINANCE_DRIVE))) == 1
    # Guests have no OneDrive in this tenant; a member without one answers 404 and is passed over.
    assert vendor_server.hits("/v1.0/users/u-guest/drive") == []
    assert len(vendor_server.hits("/v1.0/users/u-teen/drive")) == 1


def test_without_files_read_all_only_onedrive_is_skipped(m365, vendor_server):
    connector, ctx = m365
    for person in payloads.users():
        vendor_server.route("GET", f"/v1.0/users/{person['id']}/drive", payloads.denied(
            "accessDenied", "Either scp or roles claim need to be present in the token."))
    found = collect(connector, ctx)
    assert set(found.skipped) == {"onedrive_sharing"}
    assert "Files.Read.All" in found.skipped["onedrive_sharing"] and "accessDenied" in found.skipped["onedrive_sharing"]
    assert len(vendor_server.hits("/v1.0/users/u-raj/drive")) == 0  # stopped at the first refusal
    assert vendor_server.hits(delta_path(ANA)) == []
    assert SHARING <= set(found.state["unchecked"])  # OneDrive findings from earlier scans are kept
    assert found.keys(mapping.FOLDER_COMPANY_EDIT.key) == {key(MKT, "01MKT0DRFT")}  # SharePoint still ran


def test_without_sites_read_all_sharepoint_is_skipped(m365, vendor_server):
    connector, ctx = m365
    vendor_server.route("GET", "/v1.0/sites/getAllSites", payloads.denied(
        "accessDenied", "Access denied"))
    found = collect(connector, ctx)
    assert set(found.skipped) == {"sharepoint_sharing"}
    assert "Sites.Read.All" in found.skipped["sharepoint_sharing"]
    assert not found.of(mapping.FOLDER_PUBLIC_VIEW.key) and SHARING <= set(found.state["unchecked"])
    assert found.keys(mapping.FILE_PUBLIC_EDIT.key) == {key(ANA, "01ANA0PLAN")}  # OneDrive still ran


def test_a_restricted_site_is_passed_over_and_keeps_its_findings(m365, vendor_server):
    connector, ctx = m365
    vendor_server.route("GET", delta_path(payloads.MARKETING_DRIVE), payloads.denied("accessDenied", "Access denied"))
    found = collect(connector, ctx)
    assert "sharepoint_sharing" not in found.skipped  # the root site's library was read before it
    assert not found.of(mapping.FOLDER_PUBLIC_VIEW.key)
    assert len(vendor_server.hits(delta_path(payloads.FINANCE_DRIVE))) == 1  # the sites after it still were
    assert SHARING <= set(found.state["unchecked"])
    assert sum("SharePoint drives or items could not be read" in w for w in found.warnings) == 1


def test_the_walk_resumes_inside_a_drive(m365, make_ctx, vendor_server):
    connector, ctx = m365
    step = next(s for s in connector.steps(ctx) if s.key == "onedrive_sharing")
    first = step.fetch(ctx, None)  # ana's first delta page
    assert first.assets == 4 and json.loads(first.next_cursor)["delta"].endswith("token=p1")
    assert {o.key for o in first.observations} == {key(ANA, "01ANA0PLAN"), key(ANA, "01ANA0TEAM")}
    saved = json.loads(json.dumps(ctx.state))  # what the scanner checkpoints
    # The worker is lost; another resumes from the saved cursor with a fresh context.
    _, resumed = make_ctx("microsoft_365", credentials={"client_secret": payloads.SECRET}, config=payloads.CONFIG)
    resumed.state.update(saved)
    cursor, rest = first.next_cursor, []
    while cursor:
        page = step.fetch(resumed, cursor)
        rest.extend(page.observations)
        cursor = page.next_cursor
    assert {(o.type_key, o.key) for o in rest} == {
        (mapping.FILE_PUBLIC_VIEW.key, key(ANA, "01ANA0DECK")), (mapping.FILE_COMPANY_EDIT.key, key(ANA, "01ANA0DECK")),
        (mapping.FOLDER_PUBLIC_EDIT.key, key(RAJ, "01RAJ0DROP"))}
    assert [r.arg("token") for r in vendor_server.hits(delta_path(ANA))] == [None, "p1"]  # no page read twice
    assert len(vendor_server.hits(permissions_path(ANA, "01ANA0PLAN"))) == 1
    assert len(vendor_server.hits("/v1.0/users/u-ana/drive")) == 1  # the drive travelled in the cursor


def test_an_expired_page_link_enumerates_the_drive_again(m365, vendor_server):
    connector, ctx = m365
    step = next(s for s in connector.steps(ctx) if s.key == "onedrive_sharing")
    first = step.fetch(ctx, None)
    handler = vendor_server.routes[("GET", delta_path(ANA))]
    vendor_server.route("GET", delta_path(ANA), lambda r: payloads.Response(410, {"error": {
        "code": "resyncRequired", "message": "Resync required."}}) if r.arg("token") == "p1" else handler(r))
    again = step.fetch(ctx, first.next_cursor)
    assert again.observations == [] and json.loads(again.next_cursor)["delta"] is None
    assert step.fetch(ctx, again.next_cursor).observations  # from the first page again


def test_test_connection_has_optional_lines_for_onedrive_and_sharepoint(m365, vendor_server):
    connector, ctx = m365
    checks = {c.name: c for c in connector.check(ctx)}
    onedrive, sharepoint = checks["OneDrive sharing (Files.Read.All, optional)"], \
        checks["SharePoint sharing (Sites.Read.All, optional)"]
    assert onedrive.ok and sharepoint.ok and not onedrive.required and not sharepoint.required
    vendor_server.route("GET", "/v1.0/sites/getAllSites", payloads.denied("accessDenied", "Access denied"))
    checks = {c.name: c for c in connector.check(ctx)}
    sharepoint = checks["SharePoint sharing (Sites.Read.All, optional)"]
    assert not sharepoint.ok and "Missing the optional Sites.Read.All" in sharepoint.detail
    assert all(c.ok for c in checks.values() if c.required)


def open_keys(type_key: str) -> set[str]:
    return set(FindingInstance.objects.filter(finding__type_key=type_key, resolved_at__isnull=True)
               .values_list("key", flat=True))


def test_a_removed_link_is_resolved_and_a_withdrawn_permission_keeps_findings(make_integration, vendor_server,
                                                                              scan):
    payloads.serve(vendor_server)
    integration = make_integration("microsoft_365", credentials={"client_secret": payloads.SECRET},
                                   config=payloads.CONFIG)
    assert scan(integration).status == ScanRun.Status.SUCCEEDED
    assert open_keys(mapping.FILE_PUBLIC_EDIT.key) == {key(ANA, "01ANA0PLAN")}
    vendor_server.route("GET", "/v1.0/sites/getAllSites", payloads.denied("accessDenied", "Access denied"))
    second = scan(integration)
    assert second.status == ScanRun.Status.SUCCEEDED and second.state["skipped_steps"] == ["sharepoint_sharing"]
    assert open_keys(mapping.FOLDER_PUBLIC_VIEW.key) == {key(MKT, "01MKT0BRND")}  # kept, not resolved
    payloads.serve(vendor_server)  # granted again, and ana removed the anyone link from her plan
    vendor_server.route("GET", permissions_path(ANA, "01ANA0PLAN"), {"value": [payloads.OWNER]})
    assert scan(integration).status == ScanRun.Status.SUCCEEDED
    assert open_keys(mapping.FILE_PUBLIC_EDIT.key) == set()
    assert open_keys(mapping.FOLDER_PUBLIC_VIEW.key) == {key(MKT, "01MKT0BRND")}
