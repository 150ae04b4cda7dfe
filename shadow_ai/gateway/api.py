"""``POST /api/v1/gateway/evaluate``: Gateway HTTP policy decisions for secure web gateways.

It fails closed: a missing or wrong API token (401), a malformed request (400), an unknown
person and any internal error all answer ``action: block`` with the reason; only a complete
evaluation answers anything else.

``body`` (optional, at most ``MAX_INSPECTED_BYTES`` of UTF-8) is the payload the gateway
inspected, for DLP profile conditions and prompt topics. It is scanned in memory; the answer
says which profiles it triggered and how many matches counted, never what matched, and which
prompt topics it carries. It is stored only when the deciding policy captures prompts, and then
only encrypted to the organization's prompt-log public key (``shadow_ai.prompts.services``)."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import normalize_email
from console.access.api import authenticate_api_token
from console.access.models import ApiToken
from console.core import apijson, jsonbody
from console.core.api import BadRequest, json_answer, text_field
from console.core.permissions import api_view
from shadow_ai import hostnames
from shadow_ai.gateway import engine, runtime
from shadow_ai.prompts import services as prompt_services

log = logging.getLogger(__name__)
MAX_INSPECTED_BYTES = 1_000_000
# The JSON request: the other fields (16 KB) and the body, whose JSON escapes may double it.
MAX_BODY = 16 * 1024 + 2 * MAX_INSPECTED_BYTES
FIELDS = frozenset({"hostname", "url", "method", "user", "device_id", "body"})
BLOCK_PAGE_SALT = "shadow_ai.block_page"


def block_page_token(*, hostname: str, application: str, policy: str, message: str,
                     alternative: engine.AppFacts | None) -> str:
    """What the block page shows, signed so nobody can make the console's page say something else."""
    payload: dict[str, Any] = {"h": hostname, "a": application, "p": policy, "m": message}
    if alternative is not None:
        payload["alt"] = [alternative.name, alternative.url]
    return signing.dumps(payload, salt=BLOCK_PAGE_SALT, compress=True)


def read_block_page_token(token: str, *, max_age: int = 7 * 86400) -> dict[str, Any] | None:
    try:
        payload = signing.loads(token, salt=BLOCK_PAGE_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    return payload if isinstance(payload, dict) else None


def _app_ref(app: engine.AppFacts) -> dict[str, str]:
    return {"key": app.key, "name": app.name, "url": app.url}


def _body(
    request: HttpRequest, decision: engine.Decision, *, hostname: str = "", app: engine.AppFacts | None = None,
    **extra: Any,
) -> dict[str, Any]:
    policy = decision.policy
    block = None
    if decision.action == engine.Action.BLOCK:
        message = decision.block_message or decision.reason
        token = block_page_token(hostname=hostname, application=app.name if app else hostname,
                                 policy=policy.name if policy else "", message=message,
                                 alternative=decision.alternative)
        block = {
            "message": message,
            "page_url": request.build_absolute_uri(reverse("shadow_ai:blocked")) + f"?t={token}",
            "alternative": _app_ref(decision.alternative) if decision.alternative else None,
        }
    return {
        "action": decision.action.value,
        "reason": decision.reason,
        "policy": {"id": policy.id, "name": policy.name} if policy else None,
        "application": app.as_dict() if app else None,
        "redirect": {"url": decision.redirect_to.url, "application": _app_ref(decision.redirect_to)}
        if decision.redirect_to else None,
        "block": block,
        "isolation": decision.isolation.as_dict() if decision.isolation else None,
        "capture_prompts": decision.capture_prompts,
        "inspect": decision.inspected,
        "dlp": _dlp(decision.dlp),
        "topics": [hit.as_dict() for hit in decision.topics.hits] if decision.topics is not None else None,
    } | extra


def _dlp(outcome: engine.DlpOutcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {"scanned": outcome.scanned,
            "triggered": [{"id": hit.profile_id, "name": hit.name, "matches": hit.matches}
                          for hit in outcome.triggered]}


def _refuse(request: HttpRequest, reason: str, status: int, **extra: Any) -> HttpResponse:
    decision = engine.Decision(engine.Action.BLOCK, reason)
    return json_answer(_body(request, decision, **extra), status=status)


def _wrong_method(request: HttpRequest, message: str) -> HttpResponse:
    return _refuse(request, f"Blocked: bad request: {message}.", 405, error=message, field="method")


def _parse(request: HttpRequest) -> dict:
    try:
        return jsonbody.json_object(request, limit=MAX_BODY, fields=FIELDS)
    except jsonbody.BodyTooLarge:
        # Only ``body`` may be that big: name it, rather than just blame the HTTP request.
        raise BadRequest(f"the request is larger than {MAX_BODY // 1024} KB: body takes at most "
                         f"{MAX_INSPECTED_BYTES // 1_000_000} MB and the other fields 16 KB", "body") from None
    except jsonbody.BodyError as exc:
        raise BadRequest(exc.message, exc.field) from None


def _too_big() -> str:
    return f"body is larger than {MAX_INSPECTED_BYTES // 1_000_000} MB, the most the gateway inspects"


def _inspected(body: dict) -> str:
    if "body" not in body:
        return ""
    value = body["body"]
    if not isinstance(value, str):  # null included: the document types it as a string
        raise BadRequest("body must be a string (the request payload the gateway inspected)", "body")
    if len(value) > MAX_INSPECTED_BYTES or len(value.encode("utf-8", "replace")) > MAX_INSPECTED_BYTES:
        raise BadRequest(_too_big(), "body")
    return value


def _validate(body: dict) -> dict[str, str]:
    url = text_field(body, "url", limit=4096)
    raw_host = text_field(body, "hostname", limit=253)
    for name, value in (("hostname", raw_host), ("url", url)):
        if name in body and not value:
            raise BadRequest(f"{name} is empty (leave it out instead)", name)
    url_host = ""
    if url:
        try:
            parts = urlsplit(url if "://" in url else f"https://{url}")
            url_host = hostnames.normalize(parts.hostname or "")
        except ValueError:
            raise BadRequest("url has no valid hostname", "url") from None
    if raw_host:
        try:
            host = hostnames.normalize(raw_host)
        except ValueError:
            raise BadRequest("hostname is not a hostname (e.g. chatgpt.com)", "hostname") from None
        if url_host and url_host != host:
            raise BadRequest(f"url is on {url_host} but hostname says {host}", "url")
    elif url_host:
        host = url_host
    else:
        raise BadRequest("hostname is required (or a url to take it from)", "hostname")
    if "user" not in body:
        raise BadRequest("user is required: {\"email\": …}, the person the gateway identified", "user")
    user = body["user"]
    if not isinstance(user, dict):
        raise BadRequest("user must be an object", "user")
    if set(user) - {"email"}:
        raise BadRequest("user takes only email", "user")
    email = normalize_email(text_field(user, "email", limit=254, required=True, where="user"))
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise BadRequest("user.email is not an e-mail address", "user.email")
    method = text_field(body, "method", limit=16).upper()
    if method and not method.isalpha():
        raise BadRequest("method is not an HTTP method", "method")
    return {"hostname": host, "url": url, "email": email, "method": method,
            "device_id": text_field(body, "device_id", limit=120), "body": _inspected(body)}


@csrf_exempt
@api_view
@apijson.allow_methods(["POST"], _wrong_method)
def evaluate(request: HttpRequest) -> HttpResponse:
    try:
        token = authenticate_api_token(request, ApiToken.Scope.GATEWAY_EVALUATE)
        if token is None:
            return _refuse(request, "Blocked: a valid API token with the gateway:evaluate scope is required.", 401)
        parsed = _validate(_parse(request))
        outcome = runtime.evaluate(hostname=parsed["hostname"], email=parsed["email"], url=parsed["url"],
                                   method=parsed["method"], device_id=parsed["device_id"], body=parsed["body"])
        decision, entry = prompt_services.after_decision(outcome, token=token)
        body = _body(request, decision, hostname=parsed["hostname"], app=outcome.request.app,
                     prompt_log=entry.pk if entry is not None else None)
    except BadRequest as exc:
        return _refuse(request, f"Blocked: bad request: {exc.message}.", 400, error=exc.message, field=exc.field)
    except Exception:  # fail closed, whatever went wrong
        request_id = uuid.uuid4().hex
        log.exception("gateway evaluate failed closed (request %s)", request_id)
        return _refuse(request, f"Blocked: internal error; the request was blocked (reference {request_id}).", 200,
                       request_id=request_id)
    return json_answer(body)
