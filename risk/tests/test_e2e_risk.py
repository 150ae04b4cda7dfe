"""Risk scoring clicked through in Chromium: an investigator reads why a person is High (the
chart draws under the strict CSP), resets them with a reason, and watches a full rescore's
progress bar finish (a real worker does the rescore)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from risk.models import AuthEvent, Level, RiskLevelChange, UserRisk
from risk.services import batches, detection
from risk.tests.factories import access_row, ndjson

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_an_investigator_reads_the_reasons_resets_and_rescores(
    page, sign_in, live_server, security_admin, employee, enable, source, celery_worker_process,
):
    enable("impossible_travel")
    sender, _ = source("access_requests")
    batches.ingest(source=sender, body=ndjson([
        access_row(employee.email, T0, ip="85.214.132.117", ray="a"),
        access_row(employee.email, T0 + timedelta(minutes=30), ip="1.0.16.1", ray="b"),
    ]))
    detection.detect_and_score("auth", list(AuthEvent.objects.values_list("pk", flat=True)))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text + " @ " + str(m.location)) if m.type == "error" else None)

    sign_in(page, security_admin.email)
    page.goto(f"{live_server.url}/risk/users/")
    expect(page.get_by_test_id("tile-high")).to_contain_text("1")
    page.get_by_role("link", name=employee.full_name).click()
    expect(page.get_by_test_id("risk-level")).to_have_text("High")
    expect(page.get_by_test_id("risk-events")).to_contain_text("Berlin, DE → Tokyo, JP")
    # plotly drew the timeline (an SVG inside the chart element), with nothing refused by the CSP.
    expect(page.locator("[data-testid=risk-timeline] svg.main-svg").first).to_be_visible()
    assert not [e for e in errors if "Content Security Policy" in e], errors

    page.fill("#id_reset-reason", "Confirmed travel with the person by phone")
    page.get_by_role("button", name="Reset risk").click()
    page.get_by_test_id("confirm-reset").click()
    expect(page.get_by_test_id("risk-level")).to_have_text("Unscored")
    expect(page.get_by_test_id("risk-history")).to_contain_text("Confirmed travel with the person by phone")
    assert UserRisk.objects.get(user=employee).level == Level.UNSCORED

    page.goto(f"{live_server.url}/risk/users/")
    page.get_by_test_id("rescore-start").click()
    progress = page.get_by_test_id("rescore-progress")
    expect(progress).to_have_attribute("data-status", "done", timeout=20_000)
    expect(progress).to_contain_text("scored people checked")
    assert RiskLevelChange.objects.filter(user=employee, cause="reset").count() == 1
