"""The Gateway part of the console's OpenAPI document (added in ``ShadowAiConfig.ready``)."""

from shadow_ai.gateway.api import MAX_INSPECTED_BYTES
from shadow_ai.gateway.engine import ISOLATION_CONTROLS, RISK_LEVELS, STATUSES, Action
from shadow_ai.models import Category
from shadow_ai.prompts.topics import TOPICS

_NULLABLE_NUMBER = {"type": ["number", "null"], "minimum": 0, "maximum": 5}
_APP_REF = {
    "type": "object", "required": ["key", "name", "url"],
    "properties": {"key": {"type": "string"}, "name": {"type": "string"}, "url": {"type": "string"}},
}

GATEWAY_SCHEMAS = {
    "GatewayEvaluateRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["user"],
        "anyOf": [{"required": ["hostname"]}, {"required": ["url"]}],
        "properties": {
            "hostname": {"type": "string", "minLength": 1, "maxLength": 253,
                         "description": "The requested host (SNI or Host header); a port is ignored."},
            "url": {"type": "string", "minLength": 1, "maxLength": 4096,
                    "description": "The full URL requested; its host is used when hostname is absent and "
                    "must agree with hostname when both are sent."},
            "method": {"type": "string", "maxLength": 16, "description": "The HTTP method, e.g. POST."},
            "user": {
                "type": "object", "additionalProperties": False, "required": ["email"],
                "description": "The person, as the gateway identified them. Unknown people are blocked.",
                "properties": {"email": {"type": "string", "minLength": 3, "maxLength": 254}},
            },
            "device_id": {"type": "string", "maxLength": 120,
                          "description": "The device's id (Directory → Devices) for posture conditions."},
            "body": {"type": "string", "maxLength": MAX_INSPECTED_BYTES,
                     "description": "The request payload the gateway inspected (an AI prompt, an uploaded "
                     f"text), at most {MAX_INSPECTED_BYTES // 1_000_000} MB of UTF-8, for DLP profile conditions. "
                     "Scanned in memory for DLP profile conditions and prompt topics; stored only, encrypted to the "
                     "organization's prompt-log key, when the deciding policy captures prompts."},
        },
    },
    "GatewayDecision": {
        "type": "object",
        "required": ["action", "reason", "policy", "application", "redirect", "block", "isolation",
                     "capture_prompts", "inspect", "dlp", "topics"],
        "properties": {
            "action": {"type": "string", "enum": [a.value for a in Action]},
            "reason": {"type": "string", "description": "Why, in words a person can read."},
            "policy": {"oneOf": [
                {"type": "null"},
                {"type": "object", "required": ["id", "name"],
                 "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
            ]},
            "application": {"oneOf": [
                {"type": "null"},
                {"type": "object",
                 "required": ["id", "key", "name", "vendor", "category", "status", "gen_ai", "scores", "url"],
                 "properties": {
                     "id": {"type": "integer"}, "key": {"type": "string"}, "name": {"type": "string"},
                     "vendor": {"type": "string"},
                     "category": {"type": "string", "enum": list(Category.values)},
                     "status": {"type": "string", "enum": list(STATUSES)},
                     "gen_ai": {"type": "boolean"},
                     "scores": {"type": "object", "required": ["saas", "gen_ai"],
                                "properties": {"saas": _NULLABLE_NUMBER, "gen_ai": _NULLABLE_NUMBER}},
                     "url": {"type": "string"},
                 }},
            ], "description": "The library application the hostname belongs to, or null."},
            "redirect": {"oneOf": [
                {"type": "null"},
                {"type": "object", "required": ["url", "application"],
                 "properties": {"url": {"type": "string"}, "application": _APP_REF}},
            ], "description": "On redirect: where to send the person (the approved alternative)."},
            "block": {"oneOf": [
                {"type": "null"},
                {"type": "object", "required": ["message", "page_url", "alternative"],
                 "properties": {
                     "message": {"type": "string"},
                     "page_url": {"type": "string", "description": "A signed link to the console's block "
                                  "page, which says why and where to go instead."},
                     "alternative": {"oneOf": [{"type": "null"}, _APP_REF]},
                 }},
            ]},
            "isolation": {"oneOf": [
                {"type": "null"},
                {"type": "object", "required": list(ISOLATION_CONTROLS),
                 "properties": {c: {"type": "boolean"} for c in ISOLATION_CONTROLS},
                 "description": "true: the control is blocked in the isolated browser."},
            ]},
            "capture_prompts": {"type": "boolean", "description": "Log the prompts sent to this application."},
            "inspect": {"type": "boolean", "description": "false for Do Not Inspect: no TLS inspection, "
                        "logging, DLP or prompt capture."},
            "dlp": {"oneOf": [
                {"type": "null"},
                {"type": "object", "required": ["scanned", "triggered"],
                 "properties": {
                     "scanned": {"type": "boolean", "description": "false when no body was sent (no profile "
                                 "can trigger)."},
                     "triggered": {"type": "array", "items": {
                         "type": "object", "required": ["id", "name", "matches"],
                         "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                        "matches": {"type": "integer", "minimum": 1,
                                                    "description": "Matches that counted (never what matched)."}},
                     }},
                 }},
            ], "description": "null unless a DLP profile condition was evaluated: then the DLP profiles the body "
               "triggered, with match counts."},
            "topics": {"oneOf": [
                {"type": "null"},
                {"type": "array", "items": {"$ref": "#/components/schemas/PromptTopic"}},
            ], "description": "null without a body; otherwise the body's prompt topics, strongest first (empty: "
               "none)."},
            "prompt_log": {"type": ["integer", "null"], "description": "The prompt-log entry the captured prompt "
                           "was stored under (encrypted), when the policy captures prompts."},
            "error": {"type": "string"},
            "field": {"type": "string"},
            "request_id": {"type": "string"},
        },
    },
}

GATEWAY_SCHEMAS["PromptTopic"] = {
    "type": "object", "required": ["key", "name", "kind", "confidence", "reasons"],
    "properties": {
        "key": {"type": "string", "enum": [t.key for t in TOPICS]},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["content", "intent"],
                 "description": "content: what the prompt holds; intent: what it asks for."},
        "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
        "reasons": {"type": "array", "items": {"type": "string"},
                    "description": "Why, without the matched text."},
        "probability": {"type": "number", "minimum": 0, "maximum": 1,
                        "description": "Intent topics: the classifier's probability."},
    },
}

_RISK = ", ".join(RISK_LEVELS)

GATEWAY_PATHS = {
    "/api/v1/gateway/evaluate": {
        "post": {
            "operationId": "gatewayEvaluate",
            "summary": "Decide what a secure web gateway does with one HTTP request",
            "description": "Evaluates the enabled Gateway HTTP policies in order (Do Not Inspect first) for "
            "the application the hostname belongs to, the person, their groups, device posture and risk "
            f"score ({_RISK}), and the DLP profiles and prompt topics of the optional body. The first matching policy "
            "decides; nothing matching allows. Needs an API token with the gateway:evaluate scope. Fails "
            "closed: a bad token, malformed input, an unknown "
            "person or an internal error answers action=block with the reason.",
            "security": [{"apiToken": []}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/GatewayEvaluateRequest"}}}},
            "responses": {
                code: {"description": text, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/GatewayDecision"}}}}
                for code, text in (
                    ("200", "The decision (an unknown person or an internal error also answers 200 with "
                     "action=block)"),
                    ("400", "Malformed request: block, with error and field"),
                    ("401", "Missing or invalid API token: block"),
                )
            },
        },
    },
}
