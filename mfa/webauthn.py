"""WebAuthn ceremonies with python-fido2. The relying party id and the allowed origins come
from settings; challenges live in the signed session, are single-use and expire."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestedCredentialData,
    AuthenticatorAttachment,
    PublicKeyCredentialRpEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from console.core.errors import ValidationFailed

STATE_KEY = "webauthn_state"
CHALLENGE_SECONDS = 300


def allowed_origins(request: HttpRequest | None = None) -> set[str]:
    configured = set(settings.WEBAUTHN_ALLOWED_ORIGINS)
    if configured:
        return configured
    if request is not None:
        return {f"{request.scheme}://{request.get_host()}"}
    return set()


def server(request: HttpRequest) -> Fido2Server:
    origins = allowed_origins(request)
    rp = PublicKeyCredentialRpEntity(id=settings.WEBAUTHN_RP_ID or request.get_host().split(":")[0],
                                     name=settings.WEBAUTHN_RP_NAME)
    return Fido2Server(rp, verify_origin=lambda origin: origin in origins)


def _save_state(request: HttpRequest, purpose: str, state: Any) -> None:
    request.session[STATE_KEY] = {"purpose": purpose, "state": state, "at": time.time()}


def take_state(request: HttpRequest, purpose: str) -> Any:
    """The pending challenge, removed so that it can be used once only."""
    stored = request.session.pop(STATE_KEY, None)
    if not stored or stored.get("purpose") != purpose:
        raise ValidationFailed("No WebAuthn ceremony is in progress; start again.")
    if time.time() - stored["at"] > CHALLENGE_SECONDS:
        raise ValidationFailed("The WebAuthn challenge expired; start again.")
    return stored["state"]


def registration_options(request: HttpRequest, *, kind: str, existing: list[bytes]) -> dict:
    user = request.user
    platform = kind == "biometrics"
    if platform:
        resident, verification = ResidentKeyRequirement.PREFERRED, UserVerificationRequirement.REQUIRED
        attachment = AuthenticatorAttachment.PLATFORM
    else:
        resident, verification = ResidentKeyRequirement.DISCOURAGED, UserVerificationRequirement.DISCOURAGED
        attachment = AuthenticatorAttachment.CROSS_PLATFORM
    options, state = server(request).register_begin(
        {"id": str(user.pk).encode(), "name": user.email, "displayName": user.full_name or user.email},
        credentials=[AttestedCredentialData(blob) for blob in existing],
        resident_key_requirement=resident, user_verification=verification, authenticator_attachment=attachment,
    )
    _save_state(request, f"register:{kind}", state)
    return dict(options)


def authentication_options(request: HttpRequest, *, credentials: list[bytes], require_uv: bool) -> dict:
    options, state = server(request).authenticate_begin(
        [AttestedCredentialData(blob) for blob in credentials],
        user_verification=UserVerificationRequirement.REQUIRED if require_uv else UserVerificationRequirement.PREFERRED,
    )
    _save_state(request, "authenticate", state)
    return dict(options)
