"""AI prompt protection, clicked through in Chromium against the live server: a security admin
writes "ChatGPT + DLP profile Credentials and Secrets → Block" in the policy editor, the policy
tester blocks a prompt with an AWS key and allows a clean one, the gateway's evaluate API does the
same (saying which profile triggered, never what matched), and switching the AWS entry off on the
DLP profile's page lets the same prompt through at once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from shadow_ai.models import GatewayPolicy

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
PROMPT = f"Why does boto3 refuse my credentials? aws_access_key_id = {AWS_KEY}, region eu-west-1."
CLEAN = "Why does boto3 refuse my credentials? I set the region to eu-west-1."


@pytest.fixture
def dlp_profiles(transactional_db) -> None:
    from shadow_ai.dlp import predefined
    from shadow_ai.dlp.models import DlpEntry, DlpProfile

    predefined.sync(DlpProfile, DlpEntry)  # a transactional test starts with emptied tables


def sidebar(page: Page):
    return page.get_by_role("complementary", name="Main navigation").get_by_role("navigation")


def evaluate(page: Page, live_server, token: str, email: str, body: str) -> dict:
    response = page.request.post(
        f"{live_server.url}/api/v1/gateway/evaluate",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data={"hostname": "chatgpt.com", "url": "https://chatgpt.com/backend-api/conversation", "method": "POST",
              "user": {"email": email}, "body": body})
    assert response.status == 200, response.text()
    return response.json()


def test_a_prompt_with_a_secret_is_blocked_and_the_profile_page_controls_it(
    page, sign_in, live_server, library, dlp_profiles, security_admin, employee, gateway_token,
):
    sign_in(page, security_admin.email)

    # The policy, in the editor.
    sidebar(page).get_by_role("link", name="Gateway policies", exact=True).click()
    page.get_by_role("link", name="New policy").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Keep secrets out of ChatGPT")
    page.get_by_role("combobox", name="Action", exact=True).select_option(label="Block")
    page.get_by_role("textbox", name="Block page message").fill("Take the credentials out of your prompt.")
    conditions = page.locator("[data-rule]")
    first = conditions.nth(0)
    first.locator("select[name$='-type']").select_option(label="Application")
    first.locator("textarea[name$='-values']").fill("ChatGPT")
    page.get_by_role("button", name="Add a condition").click()
    second = conditions.nth(1)
    second.locator("select[name$='-type']").select_option(label="DLP profile")
    second.get_by_label("DLP profiles").select_option(label="Credentials and Secrets")
    page.get_by_role("button", name="Create policy").click()
    expect(page).to_have_url(re.compile(r"/shadow-ai/policies/\d+/$"))
    expect(page.get_by_text("DLP profile is Credentials and Secrets")).to_be_visible()
    policy = GatewayPolicy.objects.get()

    # The tester: the prompt with a key is blocked and names the profile; a clean one is allowed.
    sidebar(page).get_by_role("link", name="Gateway policy tester").click()
    page.get_by_role("combobox", name="User").fill(employee.email)
    page.get_by_role("textbox", name="Hostname or URL").fill("https://chatgpt.com/")
    page.get_by_role("textbox", name="Request body").fill(PROMPT)
    page.get_by_test_id("tester-run").click()
    expect(page.get_by_test_id("tester-action")).to_have_text("BLOCK")
    expect(page.get_by_test_id("tester-dlp")).to_contain_text("Credentials and Secrets (1 match)")
    assert AWS_KEY not in page.url  # the body is posted, never put in an address
    page.get_by_role("textbox", name="Request body").fill(CLEAN)
    page.get_by_test_id("tester-run").click()
    expect(page.get_by_test_id("tester-action")).to_have_text("ALLOW")

    # The gateway asks the same through the API.
    blocked = evaluate(page, live_server, gateway_token, employee.email, PROMPT)
    assert blocked["action"] == "block" and blocked["policy"] == {"id": policy.pk, "name": policy.name}
    assert blocked["dlp"]["scanned"] is True
    assert [(t["name"], t["matches"]) for t in blocked["dlp"]["triggered"]] == [("Credentials and Secrets", 1)]
    assert AWS_KEY not in str(blocked)
    assert evaluate(page, live_server, gateway_token, employee.email, CLEAN)["action"] == "allow"

    # Switching the AWS key entry off on the profile's page reaches the gateway at once.
    sidebar(page).get_by_role("link", name="DLP profiles").click()
    page.get_by_role("link", name="Credentials and Secrets").click()
    row = page.locator("[data-testid=entry-row][data-entry='AWS Access Key ID']")
    row.get_by_test_id("entry-toggle").click()
    expect(page.locator("[data-testid=entry-row][data-entry='AWS Access Key ID']")).to_have_attribute(
        "data-enabled", "false")
    assert evaluate(page, live_server, gateway_token, employee.email, PROMPT)["action"] == "allow"
