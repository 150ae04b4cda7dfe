"""The sharing checks of the Google Workspace connector — Drive files, public calendars, mail
delegation — read as each user in turn, against a loopback server replaying the Directory,
Drive, Calendar and Gmail APIs. Each answers only a request made as the right user with the
right scope (the token names both), which is what domain-wide delegation does."""

from __future__ import annotations

import json

import pytest

from shadow_ai.casb.connectors.google_workspace import mapping
from shadow_ai.casb.connectors.google_workspace.tests import payloads
from shadow_ai.casb.models import Finding, FindingInstance, ScanRun
from shadow_ai.casb.testing import collect

BEN, CLEO, ELI = "ben@acme.example", "cleo@acme.example", "eli@acme.example"


@pytest.fixture
def creds():
    return {"service_account_json": payloads.service_account_json()}


@pytest.fixture
def everything(make_ctx, vendor_server, creds):
    payloads.serve(vendor_server, scopes=payloads.ALL_SCOPES)
    return make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})


def step(connector, ctx, key):
    return next(s for s in connector.steps(ctx) if s.key == key)


def walk(fetch, ctx, cursor=None):
    """Every page of one step from ``cursor``: (observations, cursors handed back)."""
    found, cursors = [], []
    while True:
        page = fetch(ctx, cursor)
        found.extend(page.observations)
        cursor = page.next_cursor
        if cursor is None:
            return found, cursors
        cursors.append(cursor)


def test_each_files_audience_and_access_becomes_its_finding_type(everything, vendor_server):
    connector, ctx = everything
    found = collect(connector, ctx)
    assert found.skipped == {}
    assert found.keys(mapping.FILE_PUBLIC_EDIT.key) == {"file:f-budget"}
    assert found.keys(mapping.FILE_PUBLIC_VIEW.key) == {"file:f-deck"}
    assert found.keys(mapping.FILE_EXTERNAL_EDIT.key) == {"file:f-contract"}
    assert found.keys(mapping.FILE_EXTERNAL_VIEW.key) == {"file:f-roadmap"}  # a commenter at partner.example
    assert found.keys(mapping.FILE_DOMAIN_EDIT.key) == {"file:f-wiki"}
    assert found.keys(mapping.FILE_DOMAIN_VIEW.key) == {"file:f-roadmap"}
    # Not reported: an unshared file, people inside (an alias domain counts as inside), a deleted account.
    reported = {o.key for o in found.observations if o.type_key in {t.key for t in mapping.FILE_TYPES}}
    assert not reported & {"file:f-notes", "file:f-plan", "file:f-gone"}
    budget = found.of(mapping.FILE_PUBLIC_EDIT.key)[0]
    assert budget.asset == "Budget 2025" and budget.owner == BEN and budget.asset_kind == "File"
    assert budget.details["shared_with"] == ["anyone with the link"] and budget.details["roles"] == ["writer"]
    assert budget.details["link"].startswith("https://docs.google.com/document/d/f-budget")
    assert found.of(mapping.FILE_PUBLIC_VIEW.key)[0].details["shared_with"] == ["anyone (findable)"]
    assert found.of(mapping.FILE_EXTERNAL_VIEW.key)[0].details["shared_with"] == ["pat@partner.example"]


def test_drive_is_read_as_each_active_user_page_by_page(everything, vendor_server):
    connector, ctx = everything
    _, cursors = walk(step(connector, ctx, "files").fetch, ctx)
    drive = vendor_server.hits("/drive/v3/files")
    as_user = [(payloads.acting_user(r), r.arg("pageToken")) for r in drive]
    assert as_user == [(payloads.ADMIN, None), (BEN, None), (BEN, "1"), (CLEO, None), (ELI, None)]  # dora: suspended
    first = drive[0]
    assert first.arg("q") == "'me' in owners and trashed = false"
    assert "permissions(" in first.arg("fields") and "nextPageToken" in first.arg("fields")
    # users.list is paged too (2 a page): three pages, each read once
    assert [r.arg("pageToken") for r in vendor_server.hits("/admin/directory/v1/users")] == [None, "2", "4"]
    # one token per user for Drive, however many pages; the admin's own for the domains
    tokens = payloads.token_requests(vendor_server)
    assert tokens.count((BEN, payloads.DRIVE)) == 1 and (payloads.ADMIN, payloads.DOMAINS) in tokens
    assert len(vendor_server.hits("/admin/directory/v1/customer/my_customer/domains")) == 1
    assert len(cursors) == 5


def test_a_user_whose_drive_answers_403_is_named_and_keeps_the_file_findings(everything):
    connector, ctx = everything
    found = collect(connector, ctx)
    assert any(ELI in w and "HTTP 403" in w for w in found.warnings), found.warnings
    # Without DLP profiles the DLP types are never checked; with Eli unreadable, neither are the sharing ones.
    assert set(found.state["unchecked"]) == {t.key for t in mapping.FILE_TYPES + mapping.DLP_TYPES}
    assert found.keys(mapping.FILE_PUBLIC_EDIT.key) == {"file:f-budget"}  # the others were still read


def test_a_stopped_scan_resumes_in_the_middle_of_a_users_files(everything, make_ctx, vendor_server, creds):
    connector, ctx = everything
    _, cursors = walk(step(connector, ctx, "files").fetch, ctx)
    middle = next(c for c in cursors if json.loads(c)["page"] == "1")  # ben's second page of files
    assert json.loads(middle) == {"users": None, "user": 1, "page": "1"}
    vendor_server.requests.clear()
    _, fresh = make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    found, _ = walk(step(connector, fresh, "files").fetch, fresh, middle)
    assert {o.key for o in found} == {"file:f-roadmap", "file:f-deck", "file:f-contract", "file:f-wiki"}
    drive = vendor_server.hits("/drive/v3/files")
    assert drive[0].arg("pageToken") == "1" and payloads.acting_user(drive[0]) == BEN
    assert payloads.ADMIN not in {payloads.acting_user(r) for r in drive}  # not read again


def test_public_calendars(everything, vendor_server):
    connector, ctx = everything
    found, _ = walk(step(connector, ctx, "calendars").fetch, ctx)
    assert {o.key: o.details["public_roles"] for o in found} == {
        "calendar:100002": ["reader"], "calendar:100003": ["freeBusyReader"]}  # cleo's on the second ACL page
    ben = next(o for o in found if o.owner == BEN)
    assert ben.type_key == mapping.CALENDAR_PUBLIC.key and ben.asset_kind == "Calendar"
    assert not ben.details["free_busy_only"]
    assert [r.arg("pageToken") for r in vendor_server.hits("/calendar/v3/calendars/primary/acl")
            if payloads.acting_user(r) == CLEO] == [None, "1"]


def test_mail_delegation(everything, vendor_server):
    connector, ctx = everything
    found, _ = walk(step(connector, ctx, "mail_delegation").fetch, ctx)
    assert [(o.type_key, o.key, o.asset, o.details["delegate"]) for o in found] == [
        (mapping.MAIL_DELEGATE.key, "delegate:100001:ben@acme.example", payloads.ADMIN, BEN)]  # pending: no access
    asked = {payloads.acting_user(r) for r in vendor_server.hits("/gmail/v1/users/me/settings/delegates")}
    assert asked == {payloads.ADMIN, BEN, CLEO}  # eli has no mailbox, dora is suspended


def test_a_scope_not_granted_skips_its_check_and_names_the_scope(make_ctx, vendor_server, creds):
    payloads.serve(vendor_server, scopes=payloads.ALL_SCOPES - {payloads.GMAIL})
    connector, ctx = make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    found = collect(connector, ctx)
    assert set(found.skipped) == {"mail_delegation"}
    assert "gmail.settings.basic" in found.skipped["mail_delegation"]
    assert not found.of(mapping.MAIL_DELEGATE.key) and found.of(mapping.FILE_PUBLIC_EDIT.key)
    assert vendor_server.hits("/gmail/v1/users/me/settings/delegates") == []


def test_without_the_domains_scope_file_sharing_is_skipped(make_ctx, vendor_server, creds):
    payloads.serve(vendor_server, scopes=payloads.ALL_SCOPES - {payloads.DOMAINS})
    connector, ctx = make_ctx("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    found = collect(connector, ctx)
    # Without the company's domains neither "outside" nor the domains' SPF and DMARC can be judged.
    assert set(found.skipped) == {"files", "mail_auth"}
    assert "admin.directory.domain.readonly" in found.skipped["files"]
    assert vendor_server.hits("/drive/v3/files") == []


@pytest.mark.django_db
def test_findings_of_a_skipped_or_unreadable_check_stay_open(make_integration, vendor_server, scan, creds):
    payloads.serve(vendor_server, scopes=payloads.ALL_SCOPES)
    integration = make_integration("google_workspace", credentials=creds, config={"admin_email": payloads.ADMIN})
    first = scan(integration)
    assert first.status == ScanRun.Status.SUCCEEDED, first.messages
    assert Finding.objects.get(type_key=mapping.FILE_PUBLIC_EDIT.key).severity == 4  # Critical
    assert Finding.objects.get(type_key=mapping.MAIL_DELEGATE.key).active_instances == 1
    # The Gmail scope is taken away and ben's public file is fixed; eli's Drive still answers 403.
    payloads.serve(vendor_server, scopes=payloads.ALL_SCOPES - {payloads.GMAIL})
    shared = payloads.files()
    shared[BEN][0][0] = payloads.drive_file("f-budget", "Budget 2025", BEN)
    vendor_server.route("GET", "/drive/v3/files", payloads.files_handler(shared))
    second = scan(integration)
    assert second.status == ScanRun.Status.SUCCEEDED
    text = json.dumps(second.messages)
    assert "Checking mail delegation: skipped" in text and "gmail.settings.basic" in text
    open_ = FindingInstance.objects.filter(resolved_at__isnull=True)
    assert open_.filter(finding__type_key=mapping.MAIL_DELEGATE.key).count() == 1  # skipped: kept
    # Eli's Drive could not be read, so no file finding is resolved in this scan, not even the fixed one.
    assert open_.filter(finding__type_key=mapping.FILE_PUBLIC_EDIT.key).count() == 1
    # With everyone's Drive readable again the fixed file is resolved.
    shared["eli@acme.example"] = [[]]
    vendor_server.route("GET", "/drive/v3/files", payloads.files_handler(shared))
    scan(integration)
    assert not FindingInstance.objects.filter(finding__type_key=mapping.FILE_PUBLIC_EDIT.key,
                                              resolved_at__isnull=True).exists()
    assert FindingInstance.objects.filter(finding__type_key=mapping.FILE_PUBLIC_VIEW.key,
                                          resolved_at__isnull=True).count() == 1
