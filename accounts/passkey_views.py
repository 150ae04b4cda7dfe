"""Signing in with a passkey or security key from the sign-in page (``mfa.passkeys`` does the
checking). Two JSON endpoints for ``static/js/passkey-sign-in.js``: the options (a fresh
challenge kept in this browser's session) and the answer, which signs the person in."""

from __future__ import annotations

import json

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from accounts.models import User
from console.core import ratelimit
from console.core.errors import ConsoleError
from console.core.permissions import public
from console.core.redirects import safe_next
from console.core.request_context import client_ip
from mfa import passkeys
from mfa.models import WebAuthnAuthenticator
from mfa.services import RateLimited

_TOO_MANY = "Too many sign-in attempts from your network. Wait a few minutes."


def _origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _within_address_ceiling(request: HttpRequest) -> bool:
    """The sign-in page's own ceiling per address, shared with password sign-in."""
    return ratelimit.hit("login-ip", client_ip(request) or "unknown", limit=settings.LOGIN_RATE_LIMIT_PER_IP,
                         window=settings.LOGIN_RATE_LIMIT_WINDOW)


def _body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@public
@require_POST
def passkey_options(request: HttpRequest) -> JsonResponse:
    return JsonResponse(passkeys.sign_in_begin(request.session, origin=_origin(request)))


@public
@require_POST
def passkey_sign_in(request: HttpRequest) -> JsonResponse:
    if not _within_address_ceiling(request):
        return JsonResponse({"error": _TOO_MANY}, status=429)
    body = _body(request)
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return JsonResponse({"error": "No answer from an authenticator came with the request."}, status=400)

    def locked_out(user: User) -> bool:
        return AxesProxyHandler.is_locked(request, credentials={"username": user.email})

    def sign_in(user: User, device: WebAuthnAuthenticator) -> None:
        request.login_method = passkeys.LOGIN_METHOD  # type: ignore[attr-defined]
        request.login_details = {"authenticator": device.name, "authenticator_kind": device.kind}  # type: ignore[attr-defined]
        request.login_identity = {  # type: ignore[attr-defined]
            "identity_provider": passkeys.LOGIN_METHOD, "amr": list(passkeys.AMR),
        }
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")

    try:
        passkeys.sign_in_complete(
            session=request.session, ip=client_ip(request), origin=_origin(request), response=credential,
            locked_out=locked_out, sign_in=sign_in,
        )
    except RateLimited as exc:
        return JsonResponse({"error": exc.message}, status=429)
    except ConsoleError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse({"ok": True, "next": safe_next(request, body.get("next"), settings.LOGIN_REDIRECT_URL)})
