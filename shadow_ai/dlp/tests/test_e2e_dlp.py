"""DLP profiles in Chromium against the live server: an admin creates a custom profile, adds a
regex entry and a wordlist entry, tests a text and sees the redacted matches."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from shadow_ai.dlp.models import DlpProfile

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sidebar(page: Page):
    return page.get_by_role("complementary", name="Main navigation").get_by_role("navigation")


def test_create_profile_add_entries_and_test_text(page, sign_in, live_server, security_admin):
    sign_in(page, security_admin.email)
    sidebar(page).get_by_role("link", name="DLP profiles").click()
    expect(page.get_by_role("heading", name="DLP profiles", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Credentials and Secrets")).to_be_visible()

    page.get_by_test_id("profile-create").click()
    page.get_by_label("Name").fill("Project Falcon")
    page.get_by_label("Match count").fill("1")
    page.get_by_test_id("profile-save").click()
    expect(page.get_by_text("Project Falcon created.")).to_be_visible()
    expect(page.get_by_text("No entries yet")).to_be_visible()

    page.get_by_test_id("entry-add").click()
    page.get_by_label("Name").fill("Ticket number")
    page.get_by_label("Pattern").fill("(?=FAL)FAL-\\d{5}")
    page.get_by_test_id("entry-save").click()
    expect(page.get_by_text("RE2 has no lookahead or lookbehind")).to_be_visible()
    page.get_by_label("Pattern").fill("\\bFAL-\\d{5}\\b")
    page.get_by_test_id("entry-save").click()
    expect(page.get_by_text("Entry Ticket number added.")).to_be_visible()

    page.get_by_test_id("entry-add").click()
    page.get_by_role("radio", name="Wordlist").check()
    page.get_by_label("Name").fill("Code names")
    page.get_by_label("Terms").fill("Nightingale\nKestrel-7")
    page.get_by_test_id("entry-save").click()
    expect(page.locator("[data-testid=entry-row]")).to_have_count(2)

    text = "Status: FAL-12345 blocked by nightingale rollout."
    page.get_by_label("Text to test").fill(text)
    page.get_by_test_id("test-run").click()
    result = page.get_by_test_id("test-result")
    expect(result).to_have_attribute("data-triggered", "true")
    expect(result).to_contain_text("Triggers.")
    redacted = page.get_by_test_id("match-redacted")
    expect(redacted).to_have_text(["XXX-XXXXX", "XXXXXXXXXXX"])
    expect(page.get_by_test_id("match-table")).not_to_contain_text("FAL-12345")
    expect(page.get_by_test_id("match-table")).to_contain_text("Status: ")

    # One match is not enough for a match count of 1.
    page.get_by_label("Text to test").fill("only FAL-54321 here")
    page.get_by_test_id("test-run").click()
    expect(page.get_by_test_id("test-result")).to_have_attribute("data-triggered", "false")
    assert DlpProfile.objects.get(name="Project Falcon").entries.count() == 2
