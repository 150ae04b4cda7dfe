"""Application operations of AI applications: which request of a library application is a
prompt sent (``SendPrompt``), a file uploaded (``UploadFile``), a conversation shared (``Share``)
or a sign-in (``LogIn``), and the prompt text of a ``SendPrompt``. Pure: a method, a URL path and
a body in; an operation (and the prompt) out.

The shapes (sample requests, one per application and operation, are the fixtures in
``shadow_ai/tests/fixtures/ai_requests.json``, which the tests replay). SendPrompt, and where
its prompt is:

* ChatGPT (``chatgpt``): ``POST /backend-api/conversation`` (or ``/backend-api/f/conversation``);
  the user messages' ``content.parts``.
* Claude (``claude``): ``POST /api/organizations/{org}/chat_conversations/{id}/completion``;
  ``prompt``.
* Gemini (``gemini``): ``POST …/assistant.lamda.BardFrontendService/StreamGenerate``; the form
  field ``f.req``, JSON holding JSON whose first string is the prompt.
* Microsoft Copilot (``microsoft-copilot``): ``POST /c/api/conversations/{id}/messages`` (the
  HTTP form of its chat socket); ``content[].text``.
* Perplexity (``perplexity``): ``POST /rest/sse/perplexity_ask``; ``query_str``.
* DeepSeek (``deepseek``): ``POST /api/v0/chat/completion``; ``prompt``.
* OpenAI API (``openai-platform``): ``POST /v1/chat/completions``, ``/v1/responses`` or
  ``/v1/completions``; the user ``messages[].content`` (a string or ``text`` parts), ``input``,
  ``prompt``.
* Anthropic API (``anthropic-console``): ``POST /v1/messages``; ``system`` and the user
  ``messages[].content``.
* Gemini API (``google-ai-studio``): ``POST /v1beta/models/{model}:generateContent`` (or
  ``:streamGenerateContent``); the user ``contents[].parts[].text``.

Uploads, shares and sign-ins are recognized by path (``RULES``; Gemini's share is one of many
RPCs on one ``batchexecute`` path, so it is not told apart).
Streamed answers (server-sent events from all of them) are passed through as they stream."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

SEND_PROMPT = "SendPrompt"
UPLOAD_FILE = "UploadFile"
SHARE = "Share"
LOG_IN = "LogIn"
OPERATIONS = (SEND_PROMPT, UPLOAD_FILE, SHARE, LOG_IN)
OPERATION_LABELS = {SEND_PROMPT: "Send a prompt", UPLOAD_FILE: "Upload a file", SHARE: "Share a conversation",
                    LOG_IN: "Sign in"}


@dataclass(frozen=True)
class Rule:
    operation: str
    path: re.Pattern[str]
    methods: frozenset[str] = frozenset({"POST"})


def _rules(*items: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule(operation, re.compile(pattern)) for operation, pattern in items)


RULES: dict[str, tuple[Rule, ...]] = {
    "chatgpt": _rules((SEND_PROMPT, r"^/backend-api/(f/)?conversation/?$"), (UPLOAD_FILE, r"^/backend-api/files"),
                      (SHARE, r"^/backend-api/share/create"), (LOG_IN, r"^/api/auth/(signin|callback)")),
    "claude": _rules((SEND_PROMPT, r"^/api/organizations/[^/]+/chat_conversations/[^/]+/(retry_)?completion$"),
                     (UPLOAD_FILE, r"^/api/(organizations/)?[^/]+/(upload|convert_document)"),
                     (SHARE, r"^/api/organizations/[^/]+/chat_conversations/[^/]+/share"),
                     (LOG_IN, r"^/api/auth/(send_magic_link|verify_magic_link|verify_google)")),
    "gemini": _rules((SEND_PROMPT, r"/assistant\.lamda\.BardFrontendService/StreamGenerate$"),
                     (UPLOAD_FILE, r"^/upload")),
    "microsoft-copilot": _rules((SEND_PROMPT, r"^/c/api/conversations/[^/]+/messages$"),
                                (UPLOAD_FILE, r"^/c/api/attachments"), (SHARE, r"^/c/api/conversations/[^/]+/share"),
                                (LOG_IN, r"^/c/api/(start|auth)")),
    "perplexity": _rules((SEND_PROMPT, r"^/rest/sse/perplexity_ask$"),
                         (UPLOAD_FILE, r"^/rest/uploads/create_upload_url"), (SHARE, r"^/rest/thread/.+/share"),
                         (LOG_IN, r"^/api/auth/signin")),
    "deepseek": _rules((SEND_PROMPT, r"^/api/v0/chat/completion$"), (UPLOAD_FILE, r"^/api/v0/file/upload_file"),
                       (SHARE, r"^/api/v0/share"), (LOG_IN, r"^/api/v0/users/login")),
    "openai-platform": _rules((SEND_PROMPT, r"^/v1/(chat/completions|responses|completions)$"),
                              (UPLOAD_FILE, r"^/v1/(files|uploads)")),
    "anthropic-console": _rules((SEND_PROMPT, r"^/v1/messages$"), (UPLOAD_FILE, r"^/v1/files")),
    "google-ai-studio": _rules((SEND_PROMPT, r"^/v1(beta)?/models/[^/:]+:(stream)?[gG]enerateContent$"),
                               (UPLOAD_FILE, r"^/upload/v1(beta)?/files")),
}


def operation_of(app_key: str | None, method: str, path: str) -> str:
    """The operation a request is (``""`` when none is known); ``path`` is the URL's path, without
    the query."""
    if not app_key or app_key not in RULES:
        return ""
    for rule in RULES[app_key]:
        if method.upper() in rule.methods and rule.path.search(path):
            return rule.operation
    return ""


# --- The prompt of a SendPrompt ------------------------------------------------------------------


def _texts(content: Any) -> Iterable[str]:
    """Text of a message content: a string, or parts with ``text`` (or ChatGPT's ``parts``)."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]
    elif isinstance(content, dict):
        yield from _texts(content.get("parts") or content.get("text") or [])


def _user_messages(messages: Any, *, role_key: str = "role") -> Iterable[str]:
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        role = message.get(role_key)
        role = role.get("role") if isinstance(role, dict) else role
        if role in ("user", None):
            yield from _texts(message.get("content"))


def _gemini_web(body: str) -> Iterable[str]:
    """``f.req=[null,"[[\\"the prompt\\",0,null,...],...]"]`` (form-encoded)."""
    values = parse_qs(body).get("f.req") or []
    try:
        outer = json.loads(values[0]) if values else None
        inner = json.loads(outer[1]) if isinstance(outer, list) and len(outer) > 1 else None
    except (ValueError, TypeError):
        return
    while isinstance(inner, list) and inner:
        inner = inner[0]
    if isinstance(inner, str):
        yield inner


def _from_json(app_key: str, data: Any) -> Iterable[str]:
    if not isinstance(data, dict):
        return
    if app_key == "chatgpt":
        yield from _user_messages(data.get("messages"), role_key="author")
    elif app_key in ("claude", "deepseek"):
        yield from _texts(data.get("prompt"))
    elif app_key == "perplexity":
        yield from _texts(data.get("query_str"))
    elif app_key == "microsoft-copilot":
        yield from _texts(data.get("content"))
    elif app_key == "openai-platform":
        yield from _user_messages(data.get("messages"))
        yield from _texts(data.get("prompt"))
        source = data.get("input")
        yield from _user_messages(source) if isinstance(source, list) and source and isinstance(source[0], dict) \
            else _texts(source)
    elif app_key == "anthropic-console":
        yield from _texts(data.get("system"))
        yield from _user_messages(data.get("messages"))
    elif app_key == "google-ai-studio":
        for content in data.get("contents") or []:
            if isinstance(content, dict) and content.get("role", "user") == "user":
                yield from _texts(content.get("parts"))


def prompt_of(app_key: str | None, body: str) -> str:
    """The prompt text a SendPrompt body carries (its user parts, joined by blank lines), or
    ``""`` when the shape is not known or holds no text."""
    if not app_key or not body:
        return ""
    if app_key == "gemini":
        texts = list(_gemini_web(body))
    else:
        try:
            data = json.loads(body)
        except ValueError:
            return ""
        texts = list(_from_json(app_key, data))
    return "\n\n".join(t for t in texts if t.strip())
