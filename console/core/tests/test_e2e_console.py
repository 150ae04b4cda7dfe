"""What people do in the console, clicked through in Chromium against the live server.

Each test signs in through the real form and checks what a person would notice on the page:
headings, table rows, badges, the address bar and the status of the page they land on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def new_page(browser) -> Iterator[Callable[[], Page]]:
    """``new_page()``: a page in a browser context of its own (its own cookies: another person)."""
    contexts = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sidebar(page: Page):
    return page.get_by_role("complementary", name="Main navigation").get_by_role("navigation")


def test_admin_creates_a_group_adds_a_member_and_finds_both_in_the_audit_trail(
    page, sign_in, super_admin, employee
):
    sign_in(page, super_admin.email)

    sidebar(page).get_by_role("link", name="Groups", exact=True).click()
    expect(page.get_by_role("heading", name="Groups", level=1)).to_be_visible()
    page.get_by_test_id("group-create").click()
    expect(page.get_by_role("heading", name="New group", level=1)).to_be_visible()
    page.get_by_label("Name").fill("Red Team")
    page.get_by_label("Description").fill("Attacks our own systems before others do.")
    page.get_by_test_id("group-save").click()

    expect(page).to_have_url(re.compile(r"/accounts/groups/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Red Team")
    expect(page.get_by_text("Attacks our own systems before others do.", exact=True)).to_be_visible()
    expect(page.get_by_text("This group has no members")).to_be_visible()

    page.get_by_test_id("add-member-email").fill(employee.email)
    page.get_by_test_id("add-member-submit").click()

    members = page.get_by_test_id("member-table").locator("tbody tr")
    expect(members).to_have_count(1)
    expect(members.first).to_contain_text(employee.email)
    expect(members.first).to_contain_text("Emil Employee")
    expect(page.get_by_role("heading", level=1)).to_contain_text("1 member")

    sidebar(page).get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
    rows = page.get_by_test_id("audit-table").locator("tbody tr")
    created = rows.filter(has_text="group.created")
    expect(created).to_have_count(1)
    expect(created).to_contain_text("Red Team")
    expect(created).to_contain_text(super_admin.email)
    added = rows.filter(has_text="group.member_added")
    expect(added).to_have_count(1)
    expect(added).to_contain_text(employee.email)
    expect(added).to_contain_text(super_admin.email)


def test_employee_lands_on_the_app_launcher_and_is_refused_console_pages(
    page, sign_in, live_server, employee
):
    sign_in(page, employee.email)

    expect(page).to_have_url(f"{live_server.url}/launcher/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Emil")
    expect(sidebar(page).get_by_role("link")).to_have_text(["App Launcher", "My MFA devices", "My web gateway"])
    for label in ("Users", "Groups", "Audit trail"):
        expect(page.get_by_role("link", name=label, exact=True)).to_have_count(0)

    for path in ("/accounts/users/", "/audit/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("You do not have access to this page")
        expect(page.get_by_test_id("user-table")).to_have_count(0)
        expect(page.get_by_test_id("audit-table")).to_have_count(0)


def test_deactivating_a_user_signs_out_their_open_session(
    page, new_page, sign_in, live_server, super_admin, employee
):
    victim = new_page()
    sign_in(victim, employee.email)
    expect(victim).to_have_url(f"{live_server.url}/launcher/")

    sign_in(page, super_admin.email)
    sidebar(page).get_by_role("link", name="Users", exact=True).click()
    page.get_by_test_id("user-table").get_by_role("link", name="Emil Employee").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Emil Employee")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Active")

    page.get_by_test_id("deactivate").click()
    dialog = page.get_by_role("dialog", name="Deactivate this user?")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("confirm-deactivate").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Deactivated")
    expect(page.get_by_text("Emil Employee was deactivated and can no longer sign in.")).to_be_visible()
    expect(page.get_by_test_id("reactivate")).to_be_visible()

    victim.get_by_role("link", name="App Launcher").click()
    expect(victim).to_have_url(re.compile(r"/accounts/login/\?next=/launcher/$"))
    expect(victim.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(victim.get_by_text("Emil Employee")).to_have_count(0)


def test_user_list_search_and_sort_update_the_table_in_place(page, sign_in, make_user, super_admin):
    make_user(full_name="Anna Able", email="z-anna@corp.example")
    make_user(full_name="Bert Baker", email="y-bert@corp.example")
    make_user(full_name="Cora Cole", email="x-cora@corp.example")
    sign_in(page, super_admin.email)
    sidebar(page).get_by_role("link", name="Users", exact=True).click()

    table = page.get_by_test_id("user-table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(4)
    # A full page load would wipe this; an htmx swap keeps it.
    page.evaluate("() => { window.__sameDocument = true; }")

    page.get_by_role("searchbox", name="Search").fill("bert")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("y-bert@corp.example")
    expect(page).to_have_url(re.compile(r"[?&]q=bert(&|$)"))

    page.get_by_role("searchbox", name="Search").fill("")
    expect(rows).to_have_count(4)
    emails = table.locator("tbody tr td:nth-child(2)")
    expect(emails).to_have_text(
        ["z-anna@corp.example", "y-bert@corp.example", "x-cora@corp.example", "root@corp.example"]
    )

    table.get_by_role("link", name="E-mail").click()
    expect(emails).to_have_text(
        ["root@corp.example", "x-cora@corp.example", "y-bert@corp.example", "z-anna@corp.example"]
    )
    expect(table.locator("th[aria-sort=ascending]")).to_contain_text("E-mail")
    expect(page).to_have_url(re.compile(r"[?&]sort=email(&|$)"))
    assert page.evaluate("() => window.__sameDocument === true")


def test_repeated_wrong_passwords_pause_sign_in_and_the_lockout_is_audited(
    page, new_page, sign_in, live_server, super_admin, employee
):
    sign_in(page, employee.email, "not-the-password")
    expect(page.get_by_role("alert")).to_be_visible()
    for _ in range(4):
        sign_in(page, employee.email, "not-the-password")

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", employee.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_response(
        lambda r: r.url.endswith("/accounts/login/") and r.request.method == "POST"
    ) as attempt:
        page.get_by_role("button", name="Sign in", exact=True).click()
    assert attempt.value.status == 429
    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()

    page.goto(f"{live_server.url}/launcher/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    admin = new_page()
    sign_in(admin, super_admin.email)
    sidebar(admin).get_by_role("link", name="Audit trail").click()
    lockouts = admin.get_by_test_id("audit-table").locator("tbody tr").filter(has_text="auth.lockout")
    expect(lockouts.first).to_be_visible()
    expect(lockouts.first).to_contain_text(employee.email)
