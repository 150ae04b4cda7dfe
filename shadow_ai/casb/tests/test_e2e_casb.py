"""CASB in Chromium against the live server, with a real Celery worker and the vendor replayed on
loopback: an admin connects OpenAI, watches the first scan's progress bar finish, ignores a
finding, scans again and finds it still ignored."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.models import Finding, Integration, ScanRun

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def sidebar(page: Page):
    return page.get_by_role("complementary", name="Main navigation").get_by_role("navigation")


def test_connect_scan_watch_progress_ignore_and_rescan(page, sign_in, live_server, super_admin, vendor_server,
                                                       celery_worker_process):
    payloads.serve(vendor_server, page_size=1)
    vendor_server.delay = 0.05
    sign_in(page, super_admin.email)

    sidebar(page).get_by_role("link", name="CASB integrations").click()
    expect(page.get_by_text("No integrations yet")).to_be_visible()
    page.get_by_test_id("integration-connect").click()
    page.get_by_test_id("vendor-openai").get_by_role("link", name="Connect OpenAI").click()
    expect(page.get_by_role("heading", name="Connect OpenAI", level=1)).to_be_visible()
    page.get_by_label("Name").fill("OpenAI (Acme)")
    page.get_by_label("Admin API key").fill("sk-admin-not-this-one")
    page.get_by_label("ChatGPT Enterprise workspace ID").fill("ws-acme")
    page.get_by_label("Scan every (hours)").fill("6")
    page.get_by_label("Vendor address (testing only)").fill(vendor_server.url)
    # A wrong key: the vendor says so, nothing is saved.
    from shadow_ai.casb.testing import Response

    real_keys = vendor_server.routes[("GET", "/v1/organization/admin_api_keys")]
    vendor_server.route("GET", "/v1/organization/admin_api_keys", lambda request: real_keys(request) if
                        request.headers.get("Authorization") == f"Bearer {payloads.ADMIN_KEY}" else Response(
                            401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}))
    page.get_by_test_id("integration-save").click()
    expect(page.get_by_text("Incorrect API key provided").first).to_be_visible()
    assert not Integration.objects.exists()
    page.get_by_label("Admin API key").fill(payloads.ADMIN_KEY)
    page.get_by_test_id("integration-save").click()

    expect(page.get_by_text("OpenAI (Acme) is connected. Its first scan has started.")).to_be_visible()
    progress = page.get_by_test_id("scan-progress")
    expect(progress).to_be_visible()
    expect(page.get_by_role("progressbar", name="Scan progress")).to_be_visible()
    expect(progress).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.get_by_test_id("scan-progress-text")).to_contain_text("Done.")
    expect(page.get_by_role("progressbar", name="Scan progress")).to_have_attribute("aria-valuenow", "100")
    first_run = ScanRun.objects.get()
    assert first_run.status == ScanRun.Status.SUCCEEDED and first_run.pages > 5

    page.get_by_role("link", name="See the findings").click()
    expect(page.get_by_role("heading", name="CASB findings", level=1)).to_be_visible()
    row = page.locator("[data-testid=finding-row][data-type='openai.stale_pending_invite']")
    row.get_by_role("link", name="OpenAI: Stale pending invite").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("OpenAI: Stale pending invite")
    expect(page.get_by_test_id("instance-table")).to_contain_text("fay@acme.example")
    page.get_by_test_id("ignore-reason").fill("Contractors accept late; reviewed monthly.")
    page.get_by_test_id("ignore").click()
    expect(page.get_by_text("Finding ignored: scans go on, and it stays ignored.")).to_be_visible()
    expect(page.get_by_test_id("finding-status").first).to_have_text("Ignored")

    page.get_by_role("link", name="OpenAI (Acme)").first.click()
    page.get_by_test_id("scan-now").click()
    expect(page.get_by_text("Scan started.")).to_be_visible()
    expect(page.get_by_test_id("scan-progress")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    assert ScanRun.objects.filter(status=ScanRun.Status.SUCCEEDED).count() == 2

    sidebar(page).get_by_role("link", name="CASB findings").click()
    page.get_by_label("Status").select_option(label="Ignored")
    ignored = page.locator("[data-testid=finding-row]")
    expect(ignored).to_have_count(1)
    expect(ignored.first).to_have_attribute("data-type", "openai.stale_pending_invite")
    expect(ignored.first.get_by_test_id("finding-status")).to_have_text("Ignored")
    finding = Finding.objects.get(type_key="openai.stale_pending_invite")
    assert finding.status == Finding.Status.IGNORED and finding.active_instances == 1
    assert finding.last_seen_at > first_run.finished_at  # the second scan saw it again, and left it ignored
