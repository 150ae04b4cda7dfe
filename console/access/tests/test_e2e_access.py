"""Access, clicked through in Chromium against the live server: an admin publishes an application
behind a group policy, people open it from the App Launcher (or are turned away), and the admin
revokes a session the proxy then refuses.

The application's own address is never contacted: each browser context answers
``https://wiki.corp.example/`` itself."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIKI_HOME = "https://wiki.corp.example/"
ISSUER = "https://console.corp.example"  # what a proxy would be told; any fixed value works here


@pytest.fixture
def new_page(browser) -> Iterator[Callable[[], Page]]:
    """``new_page()``: a page in a browser context of its own (its own cookies: another person).
    The wiki answers in every context, so following a tile never leaves the machine."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        context.route(
            "https://wiki.corp.example/**",
            lambda route: route.fulfill(status=200, body="wiki home", content_type="text/plain"),
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def people(make_user) -> dict:
    """An engineer (in the Engineering group) and a salesperson (not in it)."""
    from accounts.models import GroupMembership
    from accounts.tests.factories import GroupFactory

    engineering = GroupFactory(name="Engineering")
    engineer = make_user(email="eng@corp.example", full_name="Erin Engineer")
    seller = make_user(email="sales@corp.example", full_name="Sam Seller")
    GroupMembership.objects.create(group=engineering, user=engineer)
    return {"engineering": engineering, "engineer": engineer, "seller": seller}


@pytest.fixture
def wiki(super_admin, people):
    """Wiki behind "Engineering only", set up the way the first test clicks it together."""
    from console.access import services

    app = services.application_create(
        actor=super_admin, name="Wiki", type="self_hosted", domain="wiki.corp.example"
    )
    policy = services.policy_create(
        actor=super_admin, name="Engineering only", action="allow",
        rules={"include": [{"type": "group", "values": [people["engineering"].pk]}],
               "exclude": [{"type": "country", "values": ["KP"]}]},
    )
    services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    return app


def sidebar(page: Page):
    return page.get_by_role("complementary", name="Main navigation").get_by_role("navigation")


def test_admin_adds_an_application_writes_a_group_policy_and_attaches_it(page, sign_in, super_admin, people):
    from console.access.models import Application, Policy

    sign_in(page, super_admin.email)

    sidebar(page).get_by_role("link", name="Applications", exact=True).click()
    expect(page.get_by_role("heading", name="Applications", level=1)).to_be_visible()
    page.get_by_role("link", name="Add application").click()
    expect(page.get_by_role("heading", name="Add an application", level=1)).to_be_visible()
    # Required fields' labels end in a "*" kept from screen readers, hence roles and names.
    page.get_by_role("textbox", name="Name", exact=True).fill("Wiki")
    page.get_by_role("combobox", name="Type", exact=True).select_option(label="Self-hosted")
    page.get_by_role("textbox", name="Hostname", exact=True).fill("wiki.corp.example")
    page.get_by_role("button", name="Add application").click()

    expect(page).to_have_url(re.compile(r"/access/applications/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Wiki")
    expect(page.get_by_text("nobody can open this application")).to_be_visible()
    expect(page.get_by_test_id("app-policies")).to_have_count(0)
    wiki_url = page.url

    sidebar(page).get_by_role("link", name="Policies", exact=True).click()
    expect(page.get_by_role("heading", name="Policies", level=1)).to_be_visible()
    page.get_by_role("link", name="New policy").click()
    expect(page.get_by_role("heading", name="New policy", level=1)).to_be_visible()
    page.get_by_role("textbox", name="Name", exact=True).fill("Engineering only")
    page.get_by_role("combobox", name="Action", exact=True).select_option(label="Allow")

    rules = page.locator("[data-rule]")
    expect(rules).to_have_count(1)
    first = rules.nth(0)
    first.locator("select[name$='-kind']").select_option(label="Include")
    first.locator("select[name$='-type']").select_option(label="Everyone")
    expect(first.locator("textarea[name$='-values']")).to_be_hidden()
    first.locator("select[name$='-type']").select_option(label="Groups")
    expect(first.locator("textarea[name$='-values']")).to_be_visible()
    expect(first.locator("input[name$='-claim_name']")).to_be_hidden()
    expect(first.locator("input[name$='-managed']")).to_be_hidden()
    first.locator("textarea[name$='-values']").fill("Engineering")

    page.get_by_role("button", name="Add a rule").click()
    expect(rules).to_have_count(2)
    second = rules.nth(1)
    second.locator("select[name$='-kind']").select_option(label="Exclude")
    second.locator("select[name$='-type']").select_option(label="Country")
    expect(second.locator("textarea[name$='-values']")).to_be_visible()
    expect(second.locator("input[name$='-claim_name']")).to_be_hidden()
    expect(second.locator("input[name$='-min_edr_score']")).to_be_hidden()
    second.locator("textarea[name$='-values']").fill("KP")
    page.get_by_role("button", name="Create policy").click()

    expect(page).to_have_url(re.compile(r"/access/policies/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Engineering only")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Allow")
    rows = page.get_by_test_id("policy-rules").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Include")
    expect(rows.nth(0)).to_contain_text("Member of Engineering")
    expect(rows.nth(1)).to_contain_text("Exclude")
    expect(rows.nth(1)).to_contain_text("Country is KP")
    expect(page.get_by_text("No application yet")).to_be_visible()

    sidebar(page).get_by_role("link", name="Applications", exact=True).click()
    page.get_by_test_id("app-table").get_by_role("link", name="Wiki").click()
    expect(page).to_have_url(wiki_url)
    page.get_by_label("Attach").select_option(label="Engineering only (Allow)")
    page.get_by_role("button", name="Attach", exact=True).click()

    attached = page.get_by_test_id("app-policies").locator("tbody tr")
    expect(attached).to_have_count(1)
    expect(attached.first).to_contain_text("Engineering only")
    expect(attached.first).to_contain_text("Allow")
    expect(page.get_by_text("Engineering only now applies to Wiki.")).to_be_visible()
    expect(page.get_by_text("nobody can open this application")).to_have_count(0)

    app = Application.objects.get(name="Wiki")
    policy = Policy.objects.get(name="Engineering only")
    assert (app.type, app.domain, app.launch_url) == ("self_hosted", "wiki.corp.example", WIKI_HOME)
    assert policy.rules == {
        "include": [{"type": "group", "values": [people["engineering"].pk]}],
        "require": [],
        "exclude": [{"type": "country", "values": ["KP"]}],
    }
    assert list(app.policies.all()) == [policy]


def test_engineer_opens_wiki_from_the_launcher_and_the_launch_is_logged(
    page, new_page, sign_in, live_server, super_admin, people, wiki
):
    from console.access.models import AccessLogEntry, AccessSession

    engineer = new_page()
    sign_in(engineer, people["engineer"].email)
    expect(engineer).to_have_url(f"{live_server.url}/launcher/")
    tile = engineer.get_by_test_id("launcher-tiles").get_by_role("link", name="Wiki")
    expect(tile).to_be_visible()

    search = engineer.get_by_role("searchbox", name="Search applications")
    search.fill("zzz")
    expect(engineer.get_by_text("No application matches your search")).to_be_visible()
    expect(tile).to_have_count(0)
    search.fill("")
    expect(tile).to_be_visible()
    expect(engineer.get_by_text("No application matches your search")).to_have_count(0)

    tile.click()
    expect(engineer).to_have_url(WIKI_HOME)
    expect(engineer.get_by_text("wiki home")).to_be_visible()

    session = AccessSession.objects.get(application=wiki)
    assert session.user == people["engineer"]
    assert session.is_active
    assert session.policy_name == "Engineering only"
    entry = AccessLogEntry.objects.get(application_id=wiki.pk)
    assert (entry.email, entry.outcome, entry.source) == (people["engineer"].email, "allow", "launcher")
    assert (entry.policy_name, entry.session_id) == ("Engineering only", session.pk)

    sign_in(page, super_admin.email)
    sidebar(page).get_by_role("link", name="Access authentication").click()
    expect(page.get_by_role("heading", name="Access authentication log", level=1)).to_be_visible()
    rows = page.get_by_test_id("access-log").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(people["engineer"].email)
    expect(rows.first).to_contain_text("Wiki")
    expect(rows.first).to_contain_text("allow")
    expect(rows.first).to_contain_text("App Launcher")


def test_someone_outside_engineering_sees_no_wiki_tile_and_is_refused_at_its_address(
    page, sign_in, live_server, people, wiki
):
    from console.access.models import AccessLogEntry, AccessSession

    sign_in(page, people["seller"].email)
    expect(page).to_have_url(f"{live_server.url}/launcher/")
    expect(page.get_by_text("No applications are available to you yet")).to_be_visible()
    expect(page.get_by_role("link", name="Wiki")).to_have_count(0)

    response = page.goto(f"{live_server.url}/access/applications/{wiki.pk}/launch/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot open Wiki")
    expect(page.get_by_text("No access policy allows you in right now.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/launch/$"))

    assert not AccessSession.objects.filter(application=wiki).exists()
    entry = AccessLogEntry.objects.get(application_id=wiki.pk)
    assert (entry.email, entry.outcome) == (people["seller"].email, "deny")


def test_admin_revokes_a_session_and_the_proxy_refuses_its_token(page, sign_in, super_admin, people, wiki):
    from console.access import decisions
    from console.access.models import AccessSession

    engineer = people["engineer"]
    allowed = decisions.decide(application=wiki, source="api", issuer=ISSUER, user=engineer)
    assert allowed.outcome == "allow" and allowed.token
    session = allowed.session
    # The token works until the session is revoked.
    again = decisions.decide(application=wiki, source="api", issuer=ISSUER, token=allowed.token)
    assert again.outcome == "allow" and again.session.pk == session.pk

    sign_in(page, super_admin.email)
    sidebar(page).get_by_role("link", name="Sessions", exact=True).click()
    expect(page.get_by_role("heading", name="Active sessions", level=1)).to_be_visible()
    rows = page.get_by_test_id("session-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(engineer.email)
    expect(rows.first).to_contain_text("Wiki")
    expect(rows.first).to_contain_text("Engineering only")

    rows.first.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog", name="Revoke this session?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Revoke").click()

    expect(page.get_by_text("The session was revoked; the next check by the proxy refuses it.")).to_be_visible()
    expect(page.get_by_test_id("session-table")).to_have_count(0)
    expect(page.get_by_text("No active sessions")).to_be_visible()

    session = AccessSession.objects.get(pk=session.pk)
    assert session.revoked_at is not None
    assert session.revoked_reason == f"revoked by {super_admin.email}"
    refused = decisions.decide(application=wiki, source="api", issuer=ISSUER, token=allowed.token)
    assert refused.outcome == "deny"
    assert not refused.token
    assert "revoked" in refused.problem
    assert "revoked" in refused.log.reason
