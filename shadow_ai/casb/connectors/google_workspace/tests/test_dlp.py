"""DLP in the Google Workspace connector: the content of each file shared publicly, outside or
company-wide is read as its owner (Drive files.export for Docs, Sheets and Slides; files.get with
alt=media for stored text files) and scanned with the integration's DLP profiles, against a
loopback server replaying the Drive API."""

from __future__ import annotations

import json

import pytest

from shadow_ai.casb.connectors.base import DlpCheck
from shadow_ai.casb.connectors.google_workspace import mapping
from shadow_ai.casb.connectors.google_workspace.tests import payloads
from shadow_ai.casb.models import Finding, FindingInstance, ScanRun
from shadow_ai.casb.testing import collect
from shadow_ai.dlp import engine

BEN, CLEO = "ben@acme.example", "cleo@acme.example"
DLP_KEYS = {t.key for t in mapping.DLP_TYPES}


def predefined(*names: str) -> tuple[engine.Profile, ...]:
    """The engine's predefined profiles with every entry on, as the scanner compiles them."""
    return tuple(engine.Profile(id=spec.key, name=spec.name,
                                entries=tuple(engine.ENTRIES_BY_KEY[k] for k in spec.entry_keys))
                 for spec in engine.PREDEFINED_PROFILES if spec.name in names)


@pytest.fixture
def creds():
    return {"service_account_json": payloads.service_account_json()}


@pytest.fixture
def drive(vendor_server):
    """The domain with the DLP sample files and their contents."""
    payloads.serve(vendor_server, scopes=payloads.ALL_SCOPES)
    pages = payloads.dlp_files()
    vendor_server.route("GET", "/drive/v3/files", payloads.files_handler(pages))
    payloads.serve_contents(vendor_server, pages, payloads.contents())
    return pages


@pytest.fixture
def scanning(drive, make_ctx, creds):
    connector, ctx = make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    ctx.dlp = DlpCheck(predefined("Financial Information", "Credentials and Secrets"), 4096)
    return connector, ctx


def content_requests(server) -> list[tuple[str, str, str]]:
    """(file id, how, as whom) of every content request: "export:<mimeType>" or "media"."""
    found = []
    for request in server.requests:
        parts = request.path.split("/")
        if request.path.startswith("/drive/v3/files/") and (request.arg("alt") == "media" or parts[-1] == "export"):
            how = f"export:{request.arg('mimeType')}" if parts[-1] == "export" else "media"
            found.append((parts[4], how, payloads.acting_user(request)))
    return found


def test_a_public_doc_with_a_card_number_is_a_critical_dlp_finding_next_to_its_sharing_finding(scanning):
    connector, ctx = scanning
    found = collect(connector, ctx)
    assert found.skipped == {}
    assert found.keys(mapping.DLP_PUBLIC_EDIT.key) == {"file:f-budget"}
    assert found.keys(mapping.FILE_PUBLIC_EDIT.key) == {"file:f-budget"}  # the plain sharing finding stays
    budget = found.of(mapping.DLP_PUBLIC_EDIT.key)[0]
    assert mapping.DLP_PUBLIC_EDIT.title == ("Google Workspace: File publicly accessible with edit access with DLP "
                                             "Profile match")
    assert budget.asset == "Budget 2025" and budget.owner == BEN and budget.asset_kind == "File"
    details = budget.details
    assert details["shared_with"] == ["anyone with the link"] and details["roles"] == ["writer"]
    assert details["link"].startswith("https://docs.google.com/document/d/f-budget")
    assert details["dlp_profiles"] == ["Financial Information"] and details["dlp_matches"] == 1
    sample = details["dlp_samples"][0]
    assert sample["match"] == "XXXX XXXX XXXX XXXX" and "company card XXXX XXXX XXXX XXXX" in sample["context"]
    assert payloads.CARD not in json.dumps(details)


def test_each_audience_of_a_flagged_file_gets_its_dlp_type_and_clean_files_only_sharing(scanning):
    connector, ctx = scanning
    found = collect(connector, ctx)
    # The roadmap is shared company-wide and with a commenter outside: both DLP twins.
    assert found.keys(mapping.DLP_DOMAIN_VIEW.key) == {"file:f-roadmap"}
    assert found.keys(mapping.DLP_EXTERNAL_VIEW.key) == {"file:f-roadmap"}
    assert found.keys(mapping.DLP_EXTERNAL_EDIT.key) == {"file:f-contract"}  # a stored text file (alt=media)
    assert found.keys(mapping.DLP_DOMAIN_EDIT.key) == {"file:f-ledger"}  # a spreadsheet, exported as CSV
    assert found.of(mapping.DLP_DOMAIN_EDIT.key)[0].details["dlp_samples"][0]["match"] == "XXXX XXXX XXXX XXXX"
    # The clean deck, the wiki whose export is gone (404), the image, the large CSV: sharing findings only.
    assert found.keys(mapping.DLP_PUBLIC_VIEW.key) == set()
    assert found.keys(mapping.FILE_PUBLIC_VIEW.key) == {"file:f-deck", "file:f-photo", "file:f-handbook"}
    assert found.keys(mapping.FILE_DOMAIN_EDIT.key) == {"file:f-wiki", "file:f-ledger"}
    assert found.keys(mapping.FILE_DOMAIN_VIEW.key) == {"file:f-roadmap", "file:f-dump"}
    assert not set(found.state.get("unchecked", [])) & DLP_KEYS


def test_only_shared_text_files_are_read_each_as_its_owner(scanning, vendor_server):
    connector, ctx = scanning
    collect(connector, ctx)
    asked = content_requests(vendor_server)
    assert sorted(asked) == sorted([
        ("f-handbook", "export:text/plain", payloads.ADMIN),
        ("f-budget", "export:text/plain", BEN),
        ("f-roadmap", "export:text/plain", BEN),
        ("f-deck", "export:text/plain", BEN),
        ("f-contract", "media", CLEO),
        ("f-wiki", "export:text/plain", CLEO),
        ("f-ledger", "export:text/csv", CLEO),
    ])
    # Never read: the unshared notes, a file shared only inside, the image, the CSV over the cap.
    assert not {a[0] for a in asked} & {"f-notes", "f-plan", "f-gone", "f-photo", "f-dump"}
    # A page of files is smaller when each shared file may be downloaded.
    assert {r.arg("pageSize") for r in vendor_server.hits("/drive/v3/files")} == {"100"}


def test_files_not_scanned_are_counted_in_one_message(scanning):
    connector, ctx = scanning
    found = collect(connector, ctx)
    dlp = [w for w in found.warnings if w.startswith("DLP:")]
    assert dlp == ["DLP: 4 shared files were not scanned for sensitive data — 1 not text-based (images, PDFs, "
                   "archives, other Google file types); 2 larger than 4 KB; 1 could not be downloaded (deleted "
                   "meanwhile, or Google refused the download)."]
    assert found.keys(mapping.FILE_DOMAIN_EDIT.key) >= {"file:f-wiki"}  # the 404 broke nothing


def test_without_dlp_profiles_the_dlp_types_are_unchecked_and_nothing_is_downloaded(drive, make_ctx, creds,
                                                                                     vendor_server):
    connector, ctx = make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    found = collect(connector, ctx)
    assert DLP_KEYS <= set(found.state["unchecked"])
    assert not found.types() & DLP_KEYS
    assert found.keys(mapping.FILE_PUBLIC_EDIT.key) == {"file:f-budget"}  # the step itself ran
    assert content_requests(vendor_server) == []
    assert {r.arg("pageSize") for r in vendor_server.hits("/drive/v3/files")} == {"1000"}
    assert not [w for w in found.warnings if w.startswith("DLP:")]


def test_a_resumed_scan_reads_only_the_files_of_the_pages_left(scanning, make_ctx, vendor_server, creds):
    connector, ctx = scanning
    files = next(s for s in connector.steps(ctx) if s.key == "files")
    cursor, cursors = None, []
    while True:
        page = files.fetch(ctx, cursor)
        cursor = page.next_cursor
        if cursor is None:
            break
        cursors.append(cursor)
    middle = next(c for c in cursors if json.loads(c)["page"] == "1")  # ben's second page of files
    vendor_server.requests.clear()
    _, fresh = make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    fresh.dlp = ctx.dlp
    fresh.state = {"company_domains": ctx.state["company_domains"]}
    found, cursor = [], middle
    while cursor is not None:
        page = files.fetch(fresh, cursor)
        found.extend(page.observations)
        cursor = page.next_cursor
    assert {a[0] for a in content_requests(vendor_server)} == {"f-roadmap", "f-deck", "f-contract", "f-wiki",
                                                               "f-ledger"}
    assert {o.key for o in found if o.type_key in DLP_KEYS} == {"file:f-roadmap", "file:f-contract", "file:f-ledger"}


@pytest.mark.django_db
def test_a_scan_with_profiles_keeps_dlp_findings_and_one_without_does_not_resolve_them(
        drive, make_integration, scan, creds, vendor_server, settings):
    from shadow_ai.dlp.models import DlpProfile

    settings.CASB_DLP_MAX_BYTES = 4096

    integration = make_integration("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    integration.dlp_profiles.set([DlpProfile.objects.get(name="Financial Information")])
    first = scan(integration)
    assert first.status == ScanRun.Status.SUCCEEDED, first.messages
    critical = Finding.objects.get(type_key=mapping.DLP_PUBLIC_EDIT.key)
    assert critical.severity == 4 and critical.active_instances == 1
    assert Finding.objects.get(type_key=mapping.DLP_EXTERNAL_EDIT.key).severity == 3
    assert Finding.objects.get(type_key=mapping.DLP_DOMAIN_VIEW.key).severity == 2
    instance = FindingInstance.objects.get(finding=critical)
    assert instance.details["dlp_profiles"] == ["Financial Information"]
    assert payloads.CARD not in json.dumps(instance.details)
    assert "DLP: 4 shared files were not scanned" in json.dumps(first.messages)
    # The profiles are taken off the integration: contents are not read, DLP findings stay open.
    integration.dlp_profiles.clear()
    vendor_server.requests.clear()
    second = scan(integration)
    assert second.status == ScanRun.Status.SUCCEEDED, second.messages
    assert content_requests(vendor_server) == []
    assert FindingInstance.objects.filter(finding=critical, resolved_at__isnull=True).count() == 1
    # Profiles back and the budget cleaned up: the next scan resolves its DLP instance, not its sharing one.
    integration.dlp_profiles.set([DlpProfile.objects.get(name="Financial Information")])
    held = payloads.contents()
    held["f-budget"] = f"{payloads.BOM}Budget 2025\r\nTravel: ask finance.\r\n"
    payloads.serve_contents(vendor_server, drive, held)
    scan(integration)
    assert not FindingInstance.objects.filter(finding=critical, resolved_at__isnull=True).exists()
    assert FindingInstance.objects.filter(finding__type_key=mapping.FILE_PUBLIC_EDIT.key,
                                          resolved_at__isnull=True).count() == 1
