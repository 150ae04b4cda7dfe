"""The decision API for proxies, its JWKS and its OpenAPI document.

The API fails closed: a malformed request is a 400 that also says ``deny``; an internal error
is logged and answered with ``deny``; nothing but a complete, successful evaluation answers
``allow``."""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User, normalize_email
from console.access import decisions, selectors
from console.access.models import ApiToken
from console.access.openapi import OPENAPI
from console.access.services import api_token_hash
from console.access.tokens import jwks
from console.core.permissions import api_view, public

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


class BadRequest(Exception):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message, self.field = message, field


def _deny(reason: str, status: int = 200, **extra: Any) -> JsonResponse:
    body = {"decision": "deny", "reason": reason, "policy": None, "challenge": [], "token": None,
            "expires_at": None, "session_id": None} | extra
    return JsonResponse(body, status=status)


def _authenticate(request: HttpRequest, scope: str) -> ApiToken | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ztc_"):
        return None
    try:
        _, prefix, secret = header.removeprefix("Bearer ").split("_", 2)
    except ValueError:
        return None
    token = ApiToken.objects.filter(prefix=prefix).first()
    if token is None or not token.is_usable or scope not in token.scopes:
        return None
    if not hmac.compare_digest(token.secret_hash, api_token_hash(secret)):
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def _text(body: dict, name: str, *, limit: int = 500, required: bool = False) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name} is required", name)
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string", name)
    if len(value) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters", name)
    return value.strip()


def _parse(request: HttpRequest) -> dict:
    if len(request.body) > MAX_BODY:
        raise BadRequest("the body is larger than 64 KB")
    if not request.content_type or request.content_type != "application/json":
        raise BadRequest("send Content-Type: application/json")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = set(body) - {"application", "user", "token", "service_token", "ip", "country", "device_id"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    return body


def _application(body: dict):
    target = body.get("application")
    if isinstance(target, str) and target:
        app = selectors.application_by_aud(target.strip())
    elif isinstance(target, dict):
        hostname = _text(target, "hostname", limit=253, required=True).lower()
        path = _text(target, "path", limit=2000) or "/"
        if set(target) - {"hostname", "path"}:
            raise BadRequest("application takes only hostname and path", "application")
        app = selectors.application_for_host(hostname, path)
    else:
        raise BadRequest("application is required: its aud tag, or {hostname, path}", "application")
    return app


def _user(body: dict) -> tuple[User | None, str, list[str], dict]:
    data = body.get("user")
    if data is None:
        return None, "", [], {}
    if not isinstance(data, dict):
        raise BadRequest("user must be an object", "user")
    if set(data) - {"email", "identity_provider", "amr", "claims"}:
        raise BadRequest("user takes email, identity_provider, amr and claims", "user")
    email = normalize_email(_text(data, "email", limit=254, required=True))
    idp = _text(data, "identity_provider", limit=60)
    amr = data.get("amr", [])
    if not isinstance(amr, list) or not all(isinstance(a, str) and len(a) <= 40 for a in amr) or len(amr) > 20:
        raise BadRequest("user.amr must be a list of short strings", "user.amr")
    claims = data.get("claims", {})
    if not isinstance(claims, dict):
        raise BadRequest("user.claims must be an object", "user.claims")
    user = User.objects.filter(email=email, is_active=True).first()
    if user is None:
        raise LookupError("no active user has that e-mail")
    return user, idp, amr, claims


def _service_token(body: dict):
    data = body.get("service_token")
    if data is None:
        return None
    if not isinstance(data, dict):
        raise BadRequest("service_token must be an object", "service_token")
    client_id = _text(data, "client_id", limit=120, required=True)
    client_secret = _text(data, "client_secret", limit=200, required=True)
    token = decisions.authenticate_service_token(client_id, client_secret)
    if token is None:
        raise LookupError("the service token is unknown, expired or revoked")
    return token


def issuer_for(request: HttpRequest) -> str:
    return settings.ACCESS_TOKEN_ISSUER or f"{request.scheme}://{request.get_host()}"


@csrf_exempt
@api_view
@require_POST
def decide(request: HttpRequest) -> JsonResponse:
    request_id = uuid.uuid4().hex
    try:
        if _authenticate(request, ApiToken.Scope.ACCESS_DECIDE) is None:
            return _deny("a valid API token with the access:decide scope is required", status=401)
        body = _parse(request)
        application = _application(body)
        if application is None:
            return _deny("no application matches", status=404)
        ip = _text(body, "ip", limit=45)
        if ip and decisions.parse_ip(ip) is None:
            raise BadRequest("ip is not an IP address", "ip")
        country = _text(body, "country", limit=2).upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise BadRequest("country must be a two-letter code", "country")
        token = _text(body, "token", limit=4096)
        device_id = _text(body, "device_id", limit=120)
        try:
            user, idp, amr, claims = _user(body)
            service_token = _service_token(body)
        except LookupError as exc:
            return _deny(str(exc))
        if user is None and not token and service_token is None:
            raise BadRequest("send a user, a token or a service_token", "user")
        outcome = decisions.decide(
            application=application, source="api", issuer=issuer_for(request), user=user, token=token,
            ip=ip, country=country, service_token=service_token, device_id=device_id,
            identity_provider=idp, auth_methods=amr, claims=claims,
        )
    except BadRequest as exc:
        return _deny(f"bad request: {exc.message}", status=400, error=exc.message, field=exc.field)
    except Exception:  # fail closed, whatever went wrong
        log.exception("decision API failed closed (request %s)", request_id)
        return _deny(f"internal error; the request was denied (reference {request_id})", request_id=request_id)

    decision = outcome.decision
    reason = f"Denied: {outcome.problem}." if outcome.problem else decision.reason
    return JsonResponse({
        "decision": decision.outcome.value,
        "reason": reason,
        "policy": {"id": decision.policy.id, "name": decision.policy.name} if decision.policy else None,
        "challenge": [c.as_dict() for c in decision.challenge],
        "token": outcome.token or None,
        "expires_at": outcome.expires_at.isoformat() if outcome.expires_at else None,
        "session_id": str(outcome.session.pk) if outcome.session else None,
        "user": {"email": outcome.user.email} if outcome.user else None,
    })


@public
@require_GET
def jwks_view(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response


@public
@require_GET
def openapi_view(request: HttpRequest) -> JsonResponse:
    document = dict(OPENAPI)
    document["servers"] = [{"url": f"{request.scheme}://{request.get_host()}"}]
    return JsonResponse(document)
