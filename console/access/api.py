"""The decision API for proxies, its JWKS and its OpenAPI document.

The API fails closed: a malformed request is a 400 that also says ``deny``; an internal error
is logged and answered with ``deny``; nothing but a complete, successful evaluation answers
``allow``."""

from __future__ import annotations

import hmac
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts.models import normalize_email
from console.access import decisions, hotcache
from console.access.models import ApiToken
from console.access.openapi import OPENAPI
from console.access.services import api_token_hash
from console.access.tokens import jwks
from console.core import apijson, jsonbody
from console.core.api import BadRequest, bearer_credential, error_answer, json_answer, object_field, text_field
from console.core.permissions import api_view, public

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


def _deny(reason: str, status: int = 200, **extra: Any) -> HttpResponse:
    body = {"decision": "deny", "reason": reason, "policy": None, "challenge": [], "token": None,
            "expires_at": None, "session_id": None} | extra
    return json_answer(body, status=status)


def _wrong_method(request: HttpRequest, message: str) -> HttpResponse:
    return _deny(f"bad request: {message}", status=405, error=message, field="method")


def _not_allowed(request: HttpRequest, message: str) -> HttpResponse:
    return error_answer(405, message, "method")


def authenticate_api_token(request: HttpRequest, scope: str) -> ApiToken | None:
    """The usable API token with ``scope`` that the request's ``Authorization: Bearer ztc_…``
    header carries, or ``None``. Every API that takes console API tokens asks this."""
    credential = bearer_credential(request, "ztc")
    if credential is None:
        return None
    prefix, secret = credential
    hotcache.ensure_fresh()
    token = decisions._cached("api_tokens", prefix, lambda: ApiToken.objects.filter(prefix=prefix).first())
    if token is None or not token.is_usable or scope not in token.scopes:
        return None
    if not hmac.compare_digest(token.secret_hash, api_token_hash(secret)):
        return None
    decisions._touch(ApiToken, token, timezone.now())
    return token


REQUEST_FIELDS = frozenset({"application", "user", "token", "service_token", "ip", "country", "device_id"})


def _parse(request: HttpRequest) -> dict:
    try:
        return jsonbody.json_object(request, limit=MAX_BODY, fields=REQUEST_FIELDS)
    except jsonbody.BodyError as exc:
        raise BadRequest(exc.message, exc.field) from None


@dataclass
class ParsedRequest:
    """A request whose shape is valid; nothing has been looked up yet."""

    aud: str = ""
    hostname: str = ""
    path: str = "/"
    email: str = ""
    identity_provider: str = ""
    amr: list[str] = field(default_factory=list)
    claims: dict = field(default_factory=dict)
    token: str = ""
    client_id: str = ""
    client_secret: str = ""
    has_service_token: bool = False
    ip: object = None  # an ipaddress address, parsed once
    country: str = ""
    device_id: str = ""


def _validate(body: dict) -> ParsedRequest:
    """Check the whole shape before anything is looked up, so every malformed request is a 400."""
    parsed = ParsedRequest()
    if "application" not in body:
        raise BadRequest("application is required: its aud tag, or {hostname, path}", "application")
    target = body["application"]
    if isinstance(target, str):
        parsed.aud = text_field(body, "application", limit=64, required=True)
        if not parsed.aud:
            raise BadRequest("application must not be empty", "application")
    elif isinstance(target, dict):
        if set(target) - {"hostname", "path"}:
            raise BadRequest("application takes only hostname and path", "application")
        parsed.hostname = text_field(target, "hostname", limit=253, required=True, where="application").lower()
        parsed.path = text_field(target, "path", limit=2000, where="application") or "/"
    else:
        raise BadRequest("application must be the aud tag or {hostname, path}", "application")

    user = object_field(body, "user")
    if user is not None:
        if set(user) - {"email", "identity_provider", "amr", "claims"}:
            raise BadRequest("user takes email, identity_provider, amr and claims", "user")
        parsed.email = normalize_email(text_field(user, "email", limit=254, required=True, where="user"))
        parsed.identity_provider = text_field(user, "identity_provider", limit=60, where="user")
        amr = user.get("amr", [])
        if (not isinstance(amr, list) or len(amr) > 20
                or not all(isinstance(a, str) and len(a) <= 40 and "\x00" not in a for a in amr)):
            raise BadRequest("user.amr must be a list of at most 20 short strings", "user.amr")
        parsed.amr = amr
        claims = user.get("claims", {})
        if not isinstance(claims, dict):
            raise BadRequest("user.claims must be an object", "user.claims")
        parsed.claims = claims

    service_token = object_field(body, "service_token")
    if service_token is not None:
        if set(service_token) - {"client_id", "client_secret"}:
            raise BadRequest("service_token takes client_id and client_secret", "service_token")
        parsed.client_id = text_field(service_token, "client_id", limit=120, required=True, where="service_token")
        parsed.client_secret = text_field(service_token, "client_secret", limit=200, required=True,
                                     where="service_token")
        parsed.has_service_token = True

    parsed.token = text_field(body, "token", limit=4096)
    ip = text_field(body, "ip", limit=45)
    parsed.ip = decisions.parse_ip(ip) if ip else None
    if ip and parsed.ip is None:
        raise BadRequest("ip is not an IP address", "ip")
    parsed.country = text_field(body, "country", limit=2).upper()
    if "country" in body and (len(parsed.country) != 2 or not parsed.country.isalpha()):
        raise BadRequest("country must be a two-letter code", "country")
    parsed.device_id = text_field(body, "device_id", limit=120)
    if user is None and not parsed.token and service_token is None:
        raise BadRequest("send a user, a token or a service_token", "user")
    return parsed


def issuer_for(request: HttpRequest) -> str:
    return hotcache.config().issuer or f"{request.scheme}://{request.get_host()}"


@csrf_exempt
@api_view
@apijson.allow_methods(["POST"], _wrong_method)
def decide(request: HttpRequest) -> HttpResponse:
    parsed: ParsedRequest | None = None
    application = None
    try:
        if authenticate_api_token(request, ApiToken.Scope.ACCESS_DECIDE) is None:
            return _deny("a valid API token with the access:decide scope is required", status=401)
        parsed = _validate(_parse(request))
        if parsed.aud:
            application = decisions.application_by_aud(parsed.aud)
        else:
            application = decisions.application_for_host(parsed.hostname, parsed.path)
        if application is None:
            return _deny("no application matches", status=404)
        service_token = None
        if parsed.has_service_token:
            service_token = decisions.authenticate_service_token(parsed.client_id, parsed.client_secret)
            if service_token is None:
                reason = "the service token is unknown, expired or revoked"
                decisions.log_denial(application=application, source="api", reason=f"Denied: {reason}.",
                                     email=f"service token {parsed.client_id}", ip=parsed.ip,
                                     country=parsed.country, method="service token")
                return _deny(reason)
        outcome = decisions.decide(
            application=application, source="api", issuer=issuer_for(request), email=parsed.email,
            token=parsed.token,
            ip=parsed.ip, country=parsed.country, service_token=service_token, device_id=parsed.device_id,
            identity_provider=parsed.identity_provider, auth_methods=parsed.amr, claims=parsed.claims,
        )
    except BadRequest as exc:
        return _deny(f"bad request: {exc.message}", status=400, error=exc.message, field=exc.field)
    except Exception:  # fail closed, whatever went wrong
        request_id = uuid.uuid4().hex
        log.exception("decision API failed closed (request %s)", request_id)
        if parsed is None:
            parsed = _parsed_for_the_log(request)
        if application is None and parsed is not None:
            application = _application_for_the_log(parsed)
        _log_internal_error(application, parsed, request_id)
        return _deny(f"internal error; the request was denied (reference {request_id})", request_id=request_id)

    decision = outcome.decision
    reason = f"Denied: {outcome.problem}." if outcome.problem else decision.reason
    return json_answer({
        "decision": decision.outcome.value,
        "reason": reason,
        "policy": {"id": decision.policy.id, "name": decision.policy.name} if decision.policy else None,
        "challenge": [c.as_dict() for c in decision.challenge],
        "token": outcome.token or None,
        "expires_at": outcome.expires_at,
        "session_id": str(outcome.session.pk) if outcome.session else None,
        "user": {"email": outcome.user.email} if outcome.user else None,
    })


def _parsed_for_the_log(request: HttpRequest) -> ParsedRequest | None:
    """The request as far as it can be read, when the failure came before it was (the token check
    needs the database or Redis): the log entry of the denial then names who and where from."""
    try:
        return _validate(_parse(request))
    except Exception:  # noqa: BLE001 - a body that cannot be read is logged without its details
        return None


def _application_for_the_log(parsed: ParsedRequest) -> Any:
    try:
        if parsed.aud:
            return decisions.application_by_aud(parsed.aud)
        return decisions.application_for_host(parsed.hostname, parsed.path)
    except Exception:  # noqa: BLE001 - the database may be what failed
        return None


def _log_internal_error(application: Any, parsed: ParsedRequest | None, request_id: str) -> None:
    """The fail-closed answer is a decision too: log it (``internal error``), never raising."""
    try:
        decisions.log_denial(
            application=application, source="api", reason=f"internal error (reference {request_id})",
            email=parsed.email if parsed else "", ip=parsed.ip if parsed else None,
            country=parsed.country if parsed else "",
        )
    except Exception:
        log.exception("could not log the internal-error denial (request %s)", request_id)


@public
@apijson.allow_methods(["GET"], _not_allowed)
def jwks_view(request: HttpRequest) -> HttpResponse:
    return apijson.json_response(jwks(), headers={"Cache-Control": "public, max-age=300"})


@public
@apijson.allow_methods(["GET"], _not_allowed)
def openapi_view(request: HttpRequest) -> HttpResponse:
    document = dict(OPENAPI)
    document["servers"] = [{"url": f"{request.scheme}://{request.get_host()}"}]
    return apijson.json_response(document)
