"""POST /api/v1/gateway/evaluate: authentication, bad input with clear errors, failing closed,
and the answers a gateway acts on (redirect to the approved app, the block page)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import jsonschema_rs
import pytest

from console.access.models import ApiToken
from console.access.services import api_token_create, api_token_revoke
from shadow_ai import services as library_services
from shadow_ai.gateway import runtime
from shadow_ai.gateway import services as gateway

pytestmark = pytest.mark.django_db

UNAPPROVED_AI = [{"type": "status", "operator": "in", "values": ["unapproved"]}, {"type": "gen_ai", "value": True}]


@pytest.fixture
def decision_schema(client):
    document = client.get("/api/v1/openapi.json").json()
    wrapped = {"$ref": "#/components/schemas/GatewayDecision", "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(wrapped)


@pytest.fixture
def redirect_policy(library, app_named, super_admin):
    library_services.application_set_status(actor=super_admin, application=app_named("ChatGPT"),
                                            status="unapproved", reason="Trains on prompts.")
    library_services.application_set_status(actor=super_admin, application=app_named("Claude"), status="approved",
                                            reason="Enterprise agreement.")
    return gateway.gateway_policy_create(actor=super_admin, name="Redirect unapproved AI to Claude",
                                         action="redirect", conditions=UNAPPROVED_AI, target=app_named("Claude"))


def test_a_chatgpt_request_is_redirected_to_claude(evaluate, gateway_token, redirect_policy, employee,
                                                   decision_schema):
    response = evaluate(gateway_token, {"url": "https://chatgpt.com/c/abc", "method": "post",
                                        "user": {"email": employee.email.upper()}})
    body = response.json()
    assert response.status_code == 200, body
    assert body["action"] == "redirect"
    assert body["redirect"] == {"url": "https://claude.ai/",
                                "application": {"key": "claude", "name": "Claude", "url": "https://claude.ai/"}}
    assert body["policy"] == {"id": redirect_policy.pk, "name": "Redirect unapproved AI to Claude"}
    assert body["application"]["key"] == "chatgpt" and body["application"]["status"] == "unapproved"
    assert body["application"]["gen_ai"] is True and body["inspect"] is True and body["block"] is None
    assert body["reason"] == ("Policy Redirect unapproved AI to Claude redirects ChatGPT to Claude, the approved "
                              "alternative.")
    decision_schema.validate(body)
    # Claude itself, and anything outside the library, goes through.
    claude = evaluate(gateway_token, {"hostname": "claude.ai", "user": {"email": employee.email}}).json()
    assert claude["action"] == "allow" and claude["application"]["status"] == "approved"
    other = evaluate(gateway_token, {"hostname": "intranet.corp.example", "user": {"email": employee.email}}).json()
    assert other["action"] == "allow" and other["application"] is None and other["policy"] is None
    decision_schema.validate(other)


def test_a_block_links_to_a_page_that_says_why_and_where_to_go(evaluate, client, gateway_token, library, app_named,
                                                               super_admin, employee, decision_schema):
    library_services.application_set_status(actor=super_admin, application=app_named("Claude"), status="approved",
                                            reason="Enterprise agreement.")
    gateway.gateway_policy_create(actor=super_admin, name="Block DeepSeek", action="block",
                                  conditions=[{"type": "application", "values": ["deepseek"]}],
                                  block_message="DeepSeek stores prompts abroad and trains on them.",
                                  target=app_named("Claude"))
    body = evaluate(gateway_token, {"hostname": "chat.deepseek.com", "user": {"email": employee.email}}).json()
    decision_schema.validate(body)
    assert body["action"] == "block"
    assert body["block"]["message"] == "DeepSeek stores prompts abroad and trains on them."
    assert body["block"]["alternative"] == {"key": "claude", "name": "Claude", "url": "https://claude.ai/"}
    page_url = urlsplit(body["block"]["page_url"])
    assert (page_url.scheme, page_url.netloc, page_url.path) == ("http", "testserver", "/shadow-ai/blocked/")

    client.logout()  # the person the gateway blocked need not be signed in to the console
    page = client.get(f"{page_url.path}?{page_url.query}")
    html = page.content.decode()
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert "DeepSeek is blocked" in html and "DeepSeek stores prompts abroad and trains on them." in html
    assert 'href="https://claude.ai/"' in html and "Block DeepSeek" in html
    # The page shows only what the console signed.
    tampered = client.get(f"{page_url.path}?{page_url.query[:-3]}xyz")
    assert tampered.status_code == 400 and "stores prompts" not in tampered.content.decode()
    assert client.get("/shadow-ai/blocked/").status_code == 400


def test_isolation_and_prompt_capture_in_the_answer(evaluate, gateway_token, library, super_admin, employee,
                                                    decision_schema):
    gateway.gateway_policy_create(actor=super_admin, name="Isolate AI", action="isolate",
                                  conditions=[{"type": "gen_ai", "value": True}],
                                  isolation={"upload": True, "paste": True}, capture_prompts=True)
    body = evaluate(gateway_token, {"hostname": "gemini.google.com", "user": {"email": employee.email}}).json()
    decision_schema.validate(body)
    assert body["action"] == "isolate" and body["capture_prompts"] is True
    assert body["isolation"] == {"upload": True, "download": False, "copy": False, "paste": True, "print": False}


def test_do_not_inspect_says_so(evaluate, gateway_token, library, super_admin, employee, decision_schema):
    gateway.gateway_policy_create(actor=super_admin, name="Block AI", action="block",
                                  conditions=[{"type": "gen_ai", "value": True}])
    gateway.gateway_policy_create(actor=super_admin, name="Pinned: Microsoft 365 Copilot", action="do_not_inspect",
                                  conditions=[{"type": "application", "values": ["microsoft-365-copilot"]}])
    body = evaluate(gateway_token, {"hostname": "copilot.cloud.microsoft", "user": {"email": employee.email}}).json()
    decision_schema.validate(body)
    assert (body["action"], body["inspect"], body["policy"]["name"]) == (
        "do_not_inspect", False, "Pinned: Microsoft 365 Copilot")


def test_callers_need_a_token_with_the_gateway_scope(evaluate, library, super_admin, employee, decision_schema):
    body = {"hostname": "chatgpt.com", "user": {"email": employee.email}}
    _, access_only = api_token_create(actor=super_admin, name="proxy", scopes=["access:decide"])
    revoked, revoked_secret = api_token_create(actor=super_admin, name="old gateway", scopes=["gateway:evaluate"])
    api_token_revoke(actor=super_admin, token=revoked)
    for token in (None, "ztc_nope_nope", access_only, revoked_secret, access_only[:-2] + "xx"):
        response = evaluate(token, body)
        answer = response.json()
        assert response.status_code == 401, token
        assert answer["action"] == "block" and "gateway:evaluate scope is required" in answer["reason"]
        decision_schema.validate(answer)
    assert ApiToken.Scope.GATEWAY_EVALUATE.label.startswith("Gateway HTTP policy decisions")


@pytest.mark.parametrize(("body", "content_type", "error", "field"), [
    (b"{", "application/json", "the body is not valid JSON", ""),
    ("[]", "application/json", "the body must be a JSON object", ""),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}}, "text/plain",
     "send Content-Type: application/json", ""),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "ip": "1.2.3.4"}, "application/json",
     "unknown field(s): ip", "ip"),
    ({"user": {"email": "a@corp.example"}}, "application/json", "hostname is required", "hostname"),
    ({"hostname": "", "url": "https://chatgpt.com/", "user": {"email": "a@corp.example"}}, "application/json",
     "hostname is empty", "hostname"),
    ({"url": "https://[::1/", "user": {"email": "a@corp.example"}}, "application/json", "url has no valid hostname",
     "url"),
    ({"hostname": "chat gpt", "user": {"email": "a@corp.example"}}, "application/json", "hostname is not a hostname",
     "hostname"),
    ({"hostname": 42, "user": {"email": "a@corp.example"}}, "application/json", "hostname must be a string",
     "hostname"),
    ({"url": "https:///nothing", "user": {"email": "a@corp.example"}}, "application/json",
     "url has no valid hostname", "url"),
    ({"hostname": "claude.ai", "url": "https://chatgpt.com/", "user": {"email": "a@corp.example"}},
     "application/json", "url is on chatgpt.com but hostname says claude.ai", "url"),
    ({"hostname": "chatgpt.com"}, "application/json", "user is required", "user"),
    ({"hostname": "chatgpt.com", "user": "a@corp.example"}, "application/json", "user must be an object", "user"),
    ({"hostname": "chatgpt.com", "user": {}}, "application/json", "user.email is required", "user.email"),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example", "groups": []}}, "application/json",
     "user takes only email", "user"),
    ({"hostname": "chatgpt.com", "user": {"email": "nobody"}}, "application/json",
     "user.email is not an e-mail address", "user.email"),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "method": "GET /"}, "application/json",
     "method is not an HTTP method", "method"),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "device_id": None}, "application/json",
     "device_id must be a string", "device_id"),
    ({"hostname": "x" * 300, "user": {"email": "a@corp.example"}}, "application/json",
     "hostname is longer than 253 characters", "hostname"),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "url": "https://chatgpt.com/" + "a" * 17000},
     "application/json", "url is longer than 4096 characters", "url"),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "body": 42}, "application/json",
     "body must be a string", "body"),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "body": "a" * 1_000_001}, "application/json",
     "body is larger than 1 MB", "body"),
    ({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "body": "\u0001" * 400_000},
     "application/json", "the request is larger than", "body"),
])
def test_bad_input_is_blocked_with_the_field_to_fix(evaluate, gateway_token, decision_schema, body,
                                                    content_type, error, field):
    response = evaluate(gateway_token, body, content_type=content_type)
    answer = response.json()
    assert response.status_code == 400
    assert answer["action"] == "block" and answer["error"].startswith(error) and answer["field"] == field
    assert answer["reason"] == f"Blocked: bad request: {answer['error']}."
    assert answer["block"]["message"] == answer["reason"]
    decision_schema.validate(answer)


def test_unknown_people_and_internal_errors_fail_closed(evaluate, gateway_token, library, employee, monkeypatch,
                                                        decision_schema, caplog):
    unknown = evaluate(gateway_token, {"hostname": "slack.com", "user": {"email": "ghost@corp.example"}})
    assert unknown.status_code == 200 and unknown.json()["action"] == "block"
    assert "no active user has the e-mail ghost@corp.example" in unknown.json()["reason"]

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(runtime, "evaluate", broken)
    response = evaluate(gateway_token, {"hostname": "slack.com", "user": {"email": employee.email}})
    answer = response.json()
    assert response.status_code == 200 and answer["action"] == "block"
    assert answer["request_id"] in answer["reason"] and "internal error" in answer["reason"]
    assert "database on fire" not in json.dumps(answer)
    assert "gateway evaluate failed closed" in caplog.text
    decision_schema.validate(answer)


def test_a_policy_that_cannot_be_compiled_blocks_everything(evaluate, gateway_token, library, employee):
    from shadow_ai.models import GatewayPolicy

    GatewayPolicy.objects.create(name="Broken", position=1, action="allow",
                                 conditions=[{"type": "status", "values": ["maybe"]}])
    answer = evaluate(gateway_token, {"hostname": "slack.com", "user": {"email": employee.email}}).json()
    assert answer["action"] == "block" and "internal error" in answer["reason"]


def test_the_openapi_document_describes_the_endpoint(client):
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/gateway/evaluate"]["post"]
    assert operation["security"] == [{"apiToken": []}]
    assert set(operation["responses"]) == {"200", "400", "401"}
    assert "gateway:evaluate" in operation["description"]
    assert "/api/v1/access/decide" in document["paths"]  # the Access part is still there
    request = document["components"]["schemas"]["GatewayEvaluateRequest"]
    validator = jsonschema_rs.Draft202012Validator(request)
    assert validator.is_valid({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}})
    assert not validator.is_valid({"hostname": "chatgpt.com"})
    assert not validator.is_valid({"user": {"email": "a@corp.example"}})
    assert validator.is_valid({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "body": "a prompt"})
    assert not validator.is_valid({"hostname": "chatgpt.com", "user": {"email": "a@corp.example"}, "body": 1})
    decision = document["components"]["schemas"]["GatewayDecision"]
    assert "dlp" in decision["required"]
    assert "DLP profiles" in decision["properties"]["dlp"]["description"]


def test_the_endpoint_takes_the_short_path_of_the_wsgi_application():
    from console.core.wsgi_dispatch import FAST_PATHS

    assert "/api/v1/gateway/evaluate" in FAST_PATHS
