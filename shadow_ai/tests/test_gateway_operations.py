"""The request's own selectors: application operations of AI applications (SendPrompt and its
prompt, uploads, shares) from the documented request shapes, HTTP method, URL path and regex,
uploaded file types; and the policy editor's rows for them."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from console.core.errors import ValidationFailed
from shadow_ai.gateway import conditions, engine, operations, request_conditions

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "ai_requests.json").read_text())
CHATGPT = engine.AppFacts(1, "chatgpt", "ChatGPT", "artificial_intelligence", "unapproved", True)


def _body(sample: dict) -> str:
    if "form" in sample:
        return urlencode(sample["form"])
    return json.dumps(sample["body"]) if sample["body"] is not None else ""


@pytest.mark.parametrize("sample", FIXTURES["requests"], ids=lambda s: f"{s['app']}-{s['operation'] or 'none'}")
def test_each_documented_request_is_its_operation_and_prompts_are_extracted(sample):
    path = urlsplit(sample["url"]).path
    assert operations.operation_of(sample["app"], sample["method"], path) == sample["operation"]
    if sample["operation"] == operations.SEND_PROMPT:
        assert operations.prompt_of(sample["app"], _body(sample)) == FIXTURES["prompt"]


def test_only_user_text_counts_as_the_prompt():
    body = {"model": "gpt-4.1", "messages": [{"role": "system", "content": "You are terse."},
                                             {"role": "assistant", "content": "Earlier answer."},
                                             {"role": "user", "content": [{"type": "text", "text": "First"},
                                                                          {"type": "image_url", "image_url": {}}]},
                                             {"role": "user", "content": "Second"}]}
    assert operations.prompt_of("openai-platform", json.dumps(body)) == "First\n\nSecond"
    assert operations.prompt_of("claude", "not json") == ""
    assert operations.prompt_of("unknown-app", json.dumps({"prompt": "x"})) == ""
    assert operations.operation_of(None, "POST", "/v1/messages") == ""
    assert operations.operation_of("anthropic-console", "GET", "/v1/messages") == ""


def request(**fields) -> engine.GatewayRequest:
    base = {"hostname": "chatgpt.com", "app": CHATGPT, "user": engine.UserFacts("ada@corp.example"),
            "url": "https://chatgpt.com/backend-api/conversation", "method": "POST"}
    return engine.GatewayRequest(**(base | fields))


def matches(config: dict, req: engine.GatewayRequest) -> bool:
    return engine.compile_condition(config).test(req)


def test_method_path_regex_file_type_and_operation_conditions():
    assert matches({"type": "http_method", "values": ["post", "PUT"]}, request())
    assert not matches({"type": "http_method", "operator": "not_in", "values": ["POST"]}, request())
    assert matches({"type": "url_path", "values": ["/backend-api"]}, request())
    assert not matches({"type": "url_path", "values": ["/backend"]}, request())  # a path, not a string prefix
    assert matches({"type": "url_regex", "values": [r"/backend-api/(f/)?conversation$"]}, request())
    assert matches({"type": "upload_file_type", "values": ["pdf"]}, request(upload_types=frozenset({"pdf"})))
    assert matches({"type": "upload_file_type", "operator": "not_in", "values": ["exe"]}, request())
    assert matches({"type": "operation", "values": ["SendPrompt"]}, request(operation="SendPrompt"))
    assert not matches({"type": "operation", "values": ["UploadFile"]}, request(operation="SendPrompt"))


@pytest.mark.parametrize(("config", "message"), [
    ({"type": "http_method", "values": ["FETCH"]}, "unknown HTTP method FETCH"),
    ({"type": "url_path", "values": ["api"]}, "starts with /"),
    ({"type": "url_regex", "values": ["(unclosed"]}, "not a valid regular expression"),
    ({"type": "upload_file_type", "values": ["pdf", "nope"]}, "unknown file type nope"),
    ({"type": "operation", "values": ["Chat"]}, "unknown operation Chat"),
])
def test_bad_request_conditions_say_what_is_wrong(config, message):
    with pytest.raises(engine.ConditionError, match=message):
        engine.compile_condition(config)


def test_a_policy_blocks_uploads_of_documents_to_chatgpt_but_not_prompts():
    policy = engine.compile_policy(id=1, name="No documents to ChatGPT", action="block", conditions=[
        {"type": "application", "values": ["chatgpt"]}, {"type": "operation", "values": ["UploadFile"]},
        {"type": "upload_file_type", "values": ["pdf", "docx"]}])
    upload = request(url="https://chatgpt.com/backend-api/files", operation="UploadFile",
                     upload_types=frozenset({"pdf"}))
    assert engine.evaluate([policy], upload).action == engine.Action.BLOCK
    assert engine.evaluate([policy], request(operation="SendPrompt")).action == engine.Action.ALLOW


@pytest.mark.django_db
def test_the_editor_turns_rows_into_request_conditions():
    assert conditions.condition_config({"type": "http_method", "operator": "in", "values": "post\nput"}) == {
        "type": "http_method", "operator": "in", "values": ["POST", "PUT"]}
    assert conditions.condition_config({"type": "operation", "values": "sendprompt"})["values"] == ["SendPrompt"]
    assert conditions.condition_config({"type": "upload_file_type", "values": ".PDF, docx"})["values"] == [
        "pdf", "docx"]
    regex = conditions.condition_config({"type": "url_regex", "values": r"/files/\d{1,3},\d+"})
    assert regex["values"] == [r"/files/\d{1,3},\d+"]  # commas belong to the expression
    with pytest.raises(ValidationFailed, match=r"URL path: 'x' is not a URL path \(it starts with /\)"):
        conditions.condition_config({"type": "url_path", "values": "x"})
    assert set(request_conditions.CONDITIONS) <= set(conditions.CONDITION_LABELS)
