"""Shadow AI, clicked through in Chromium against the live server: an admin reviews ChatGPT and
Claude in the library, writes "redirect unapproved AI to Claude" in the policy editor, and the
gateway's evaluate API then sends a ChatGPT request to Claude; the gateway's HTTP logs then come
in through the telemetry API, a real worker rolls them up on demand (progress bar), and the
Shadow AI dashboard and ChatGPT's page show the numbers, computed here from the rows sent.
Nothing leaves the machine: the applications' own addresses are never opened."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.template.defaultfilters import filesizeformat
from playwright.sync_api import Page, expect

from shadow_ai.models import Application, GatewayPolicy, Status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sidebar(page: Page):
    return page.get_by_role("complementary", name="Main navigation").get_by_role("navigation")


def test_admin_reviews_apps_writes_a_redirect_policy_and_the_gateway_redirects(
    page, sign_in, live_server, library, super_admin, employee, gateway_token, celery_worker_process,
):
    sign_in(page, super_admin.email)

    # ChatGPT: Unapproved, from its own page.
    sidebar(page).get_by_role("link", name="Application library").click()
    expect(page.get_by_role("heading", name="Application library", level=1)).to_be_visible()
    # Enter as well as typing: the search works whether or not htmx has started yet on a busy machine.
    page.get_by_role("searchbox", name="Search").fill("chatgpt")
    page.get_by_role("searchbox", name="Search").press("Enter")
    rows = page.get_by_test_id("library-row")
    expect(rows).to_have_count(2)  # ChatGPT, and Sora on sora.chatgpt.com
    page.locator("[data-testid=library-row][data-key=chatgpt]").get_by_role("link", name="ChatGPT").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ChatGPT")
    expect(page.get_by_test_id("rubric-saas")).to_be_visible()
    page.get_by_test_id("status-select").select_option(label="Unapproved")
    page.get_by_test_id("status-reason-input").fill("Consumer plans train on prompts.")
    page.get_by_test_id("status-save").click()
    expect(page.get_by_text("ChatGPT is now Unapproved.")).to_be_visible()
    expect(page.get_by_test_id("status-history")).to_contain_text("Consumer plans train on prompts.")

    # Claude: Approved, with the bulk form of the library.
    sidebar(page).get_by_role("link", name="Application library").click()
    page.get_by_role("searchbox", name="Search").fill("claude")
    page.get_by_role("searchbox", name="Search").press("Enter")
    expect(page.locator("[data-testid=library-row][data-key=claude]")).to_have_count(1)
    page.get_by_role("checkbox", name="Select Claude", exact=True).check()
    expect(page.locator("[data-bulk-count]")).to_have_text("1")
    page.get_by_test_id("bulk-status").select_option(label="Approved")
    page.get_by_test_id("bulk-reason").fill("Enterprise agreement: no training on our data.")
    page.get_by_test_id("bulk-submit").click()
    expect(page.get_by_text("1 of 1 application(s) set to Approved.")).to_be_visible()
    assert Application.objects.get(key="claude").status == Status.APPROVED
    assert Application.objects.get(key="chatgpt").status == Status.UNAPPROVED

    # The policy, in the editor.
    sidebar(page).get_by_role("link", name="Gateway policies", exact=True).click()
    expect(page.get_by_text("No Gateway policies yet")).to_be_visible()
    page.get_by_role("link", name="New policy").click()
    expect(page.get_by_role("heading", name="New Gateway policy", level=1)).to_be_visible()
    page.get_by_role("textbox", name="Name", exact=True).fill("Redirect unapproved AI to Claude")
    target = page.get_by_role("combobox", name="Approved alternative")
    page.get_by_role("combobox", name="Action", exact=True).select_option(label="Block")
    expect(page.get_by_role("textbox", name="Block page message")).to_be_visible()
    page.get_by_role("combobox", name="Action", exact=True).select_option(label="Redirect")
    expect(page.get_by_role("textbox", name="Block page message")).to_be_hidden()
    expect(target).to_be_visible()
    target.select_option(label="Claude")

    conditions = page.locator("[data-rule]")
    expect(conditions).to_have_count(1)
    first = conditions.nth(0)
    first.locator("select[name$='-type']").select_option(label="Approval status")
    expect(first.locator("textarea[name$='-values']")).to_be_hidden()
    first.get_by_label("Unapproved").check()
    page.get_by_role("button", name="Add a condition").click()
    expect(conditions).to_have_count(2)
    second = conditions.nth(1)
    second.locator("select[name$='-type']").select_option(label="Generative AI")
    second.locator("select[name$='-gen_ai']").select_option(label="is a generative AI application")
    page.get_by_role("button", name="Create policy").click()

    expect(page).to_have_url(re.compile(r"/shadow-ai/policies/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Redirect unapproved AI to Claude")
    expect(page.get_by_text("Status is Unapproved")).to_be_visible()
    expect(page.get_by_text("Generative AI application", exact=True)).to_be_visible()
    policy = GatewayPolicy.objects.get()
    assert (policy.action, policy.target.key) == ("redirect", "claude")

    # The tester agrees before any gateway asks.
    sidebar(page).get_by_role("link", name="Gateway policy tester").click()
    page.get_by_role("combobox", name="User").fill(employee.email)  # an input with a datalist
    page.get_by_role("textbox", name="Hostname or URL").fill("https://chatgpt.com/c/42")
    page.get_by_test_id("tester-run").click()
    expect(page.get_by_test_id("tester-action")).to_have_text("REDIRECT")
    expect(page.get_by_test_id("tester-reason")).to_contain_text("redirects ChatGPT to Claude")

    # And the gateway, through the API, is sent to Claude.
    response = page.request.post(
        f"{live_server.url}/api/v1/gateway/evaluate",
        headers={"Authorization": f"Bearer {gateway_token}", "Content-Type": "application/json"},
        data={"hostname": "chatgpt.com", "url": "https://chatgpt.com/c/42", "method": "POST",
              "user": {"email": employee.email}},
    )
    answer = response.json()
    assert response.status == 200, answer
    assert answer["action"] == "redirect"
    assert answer["redirect"]["url"] == "https://claude.ai/" and answer["redirect"]["application"]["key"] == "claude"
    assert answer["policy"] == {"id": policy.pk, "name": "Redirect unapproved AI to Claude"}
    assert answer["application"]["key"] == "chatgpt" and answer["application"]["status"] == "unapproved"
    claude = page.request.post(
        f"{live_server.url}/api/v1/gateway/evaluate",
        headers={"Authorization": f"Bearer {gateway_token}", "Content-Type": "application/json"},
        data={"hostname": "claude.ai", "user": {"email": employee.email}},
    ).json()
    assert claude["action"] == "allow"

    see_usage_on_the_dashboard(page, live_server, employee)


def gateway_logs(employee_email: str) -> list[dict]:
    """What the gateway logged: the employee and a partner (not in the directory) on ChatGPT and
    Claude, someone the logs do not name, GitHub (not AI) and an internal host."""
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    rows = []

    def log(host: str, email: str | None, up: int, down: int = 4000) -> None:
        row = {"RequestID": f"e2e-{len(rows)}", "Datetime": (now - timedelta(seconds=len(rows))).isoformat(),
               "HTTPHost": host, "URL": f"https://{host}/", "HTTPMethod": "POST", "HTTPStatusCode": 200,
               "Action": "allow", "UploadBytes": up, "DownloadBytes": down, "SourceIPCountryCode": "DE"}
        if email:
            row["Email"] = email
        rows.append(row)

    for n in range(5):
        log("chatgpt.com", employee_email, 1024 * (n + 1))
    for _ in range(3):
        log("claude.ai", employee_email, 2048)
    for _ in range(2):
        log("chat.openai.com", "partner@vendor.example", 512)
    for _ in range(4):
        log("claude.ai", "partner@vendor.example", 100)
    log("chatgpt.com", None, 300)
    log("github.com", employee_email, 50)
    for _ in range(2):
        log("wiki.internal.example", employee_email, 10)
    return rows


def see_usage_on_the_dashboard(page: Page, live_server, employee) -> None:
    rows = gateway_logs(employee.email)
    ai = [r for r in rows if r["HTTPHost"] in ("chatgpt.com", "chat.openai.com", "claude.ai")]
    chatgpt = [r for r in ai if r["HTTPHost"] != "claude.ai"]
    named = {r["Email"] for r in ai if "Email" in r}

    # A telemetry source for the gateway's HTTP logs; its token is shown once.
    sidebar(page).get_by_role("link", name="Telemetry sources").click()
    page.get_by_test_id("source-new").click()
    page.get_by_role("textbox", name="Name").fill("Logpush: Gateway HTTP")
    page.get_by_role("combobox", name="Sends").select_option(label="Gateway HTTP logs")
    page.get_by_test_id("source-save").click()
    token = page.get_by_test_id("source-token").inner_text().strip()
    answer = page.request.post(f"{live_server.url}/api/v1/telemetry/gateway_http",
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
                               data="\n".join(json.dumps(r) for r in rows))
    assert answer.status == 200 and answer.json()["stored"] == len(rows), answer.text()

    # Not rolled up yet; an admin runs the rollup now and a worker does it while the bar fills.
    sidebar(page).get_by_role("link", name="Shadow AI dashboard").click()
    expect(page.get_by_text("Gateway logs are waiting to be rolled up")).to_be_visible()
    page.get_by_test_id("rollup-now").click()
    expect(page.get_by_text("New Gateway logs are being rolled up")).to_be_visible()
    progress = page.get_by_test_id("usage-run")
    expect(progress).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.get_by_test_id("usage-run-message")).to_contain_text(f"{len(rows)} log rows")

    # Rebuilding every day asks first, and gives the same numbers.
    page.get_by_test_id("rollup-rebuild").click()
    page.get_by_test_id("confirm-rollup-rebuild").click()
    expect(page.get_by_text("Every day with Gateway logs is being rolled up again")).to_be_visible()
    expect(page.get_by_test_id("usage-run")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.get_by_test_id("usage-run")).to_contain_text("Rebuild of every day")

    page.reload()
    tiles = page.get_by_test_id("usage-tiles")
    expect(tiles.get_by_test_id("tile-applications")).to_contain_text("2")  # ChatGPT and Claude
    expect(tiles.get_by_test_id("tile-status-approved")).to_contain_text("1")
    expect(tiles.get_by_test_id("tile-status-unapproved")).to_contain_text("1")
    expect(tiles.get_by_test_id("tile-people")).to_contain_text(str(len(named)))
    expect(tiles.get_by_test_id("tile-unapproved-people")).to_contain_text(
        str(len({r["Email"] for r in chatgpt if "Email" in r})))
    expect(tiles.get_by_test_id("tile-requests").locator(".stat-value")).to_have_text(str(len(ai)))
    expect(tiles.get_by_test_id("tile-uploaded-unapproved").locator(".stat-value")).to_have_text(
        filesizeformat(sum(r["UploadBytes"] for r in chatgpt)))
    chatgpt_app = Application.objects.get(key="chatgpt")
    expect(page.locator(f"[data-testid=top-app-row][data-app='{chatgpt_app.pk}'] [data-testid=top-app-requests]")
           ).to_have_text(str(len(chatgpt)))
    expect(page.locator("[data-testid=unmatched-host][data-host='wiki.internal.example']")).to_contain_text("2")
    # People by approval status loads after the page and is drawn like the others: one line each.
    people_chart = page.get_by_test_id("status-people-panel").get_by_test_id("chart-status-people")
    expect(people_chart.locator(".main-svg").first).to_be_visible()
    expect(people_chart.locator(".scatterlayer .trace")).to_have_count(2)  # Approved and Unapproved

    # Drill down from the "uploaded to unapproved AI" chart to ChatGPT's people.
    point = page.get_by_test_id("chart-uploads").locator(".point path").first
    point.scroll_into_view_if_needed()
    bar = point.bounding_box()
    page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)  # plotly picks the bar on hover
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    expect(page).to_have_url(re.compile(rf"/shadow-ai/library/{chatgpt_app.pk}/\?range=30d#usage$"))
    expect(page.get_by_test_id("app-usage-requests")).to_have_text(str(len(chatgpt)))
    people = page.get_by_test_id("app-person-row")
    expect(people).to_have_count(2)
    for email in sorted(named):
        mine = sum(1 for r in chatgpt if r.get("Email") == email)
        expect(page.locator(f"[data-testid=app-person-row][data-person='{email}'] [data-testid=app-person-requests]"
                            )).to_have_text(str(mine))


def test_admin_orders_policies_by_dragging_and_disables_one(page, sign_in, live_server, library, super_admin):
    from shadow_ai.gateway import services

    for name, action in (("Allow AI", "allow"), ("Block AI", "block"), ("Isolate AI", "isolate")):
        services.gateway_policy_create(actor=super_admin, name=name, action=action,
                                       conditions=[{"type": "gen_ai", "value": True}])
    sign_in(page, super_admin.email)
    page.goto(f"{live_server.url}/shadow-ai/policies/")
    rows = page.get_by_test_id("policy-row")
    expect(rows).to_have_count(3)
    rows.nth(1).drag_to(rows.nth(0), target_position={"x": 10, "y": 2})
    expect(page.get_by_text("Policy order saved.")).to_be_visible()
    expect(rows.nth(0)).to_contain_text("Block AI")
    assert list(GatewayPolicy.objects.values_list("name", flat=True)) == ["Block AI", "Allow AI", "Isolate AI"]

    rows.nth(2).get_by_role("button", name="Move Isolate AI up").click()
    expect(rows.nth(1)).to_contain_text("Isolate AI")
    rows.nth(0).get_by_test_id("toggle").click()
    expect(rows.nth(0)).to_contain_text("Disabled")
    assert list(GatewayPolicy.objects.values_list("name", "enabled")) == [
        ("Block AI", False), ("Isolate AI", True), ("Allow AI", True)]


def test_rows_ticked_for_a_bulk_change_stay_ticked_when_the_list_is_rendered_again(
    page, sign_in, live_server, library, super_admin,
):
    """A search answered again (Enter after the typing already searched) re-renders the list
    under the person; the rows they ticked stay ticked and "Apply to selected" acts on them."""
    sign_in(page, super_admin.email)
    page.goto(f"{live_server.url}/shadow-ai/library/?q=claude")
    page.wait_for_function("() => window.htmx && document.readyState === 'complete'")
    box = page.get_by_role("checkbox", name="Select Claude", exact=True)
    box.check()
    expect(page.locator("[data-bulk-count]")).to_have_text("1")

    search = page.get_by_role("searchbox", name="Search")
    with page.expect_response(lambda r: "/shadow-ai/library/" in r.url and r.request.method == "GET"):
        search.press("Enter")
    page.wait_for_load_state("networkidle")
    expect(box).to_be_checked()
    expect(page.locator("[data-bulk-count]")).to_have_text("1")

    page.get_by_test_id("bulk-status").select_option(label="Approved")
    page.get_by_test_id("bulk-reason").fill("Enterprise agreement.")
    page.get_by_test_id("bulk-submit").click()
    expect(page.get_by_text("1 of 1 application(s) set to Approved.")).to_be_visible()
    assert Application.objects.get(key="claude").status == Status.APPROVED
