"""WebAuthn ceremonies with python-fido2. The relying party id and the allowed origins come
from settings (or, when unset, from the origin the page was served from); challenges live in the
signed session, are single-use and expire."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
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


def allowed_origins(origin: str = "") -> set[str]:
    """The configured origins, or else the one the page was served from (``scheme://host[:port]``)."""
    configured = set(settings.WEBAUTHN_ALLOWED_ORIGINS)
    if configured:
        return configured
    return {origin} if origin else set()


def server(origin: str) -> Fido2Server:
    origins = allowed_origins(origin)
    host = urlsplit(origin).netloc.split(":")[0]
    rp = PublicKeyCredentialRpEntity(id=settings.WEBAUTHN_RP_ID or host, name=settings.WEBAUTHN_RP_NAME)
    return Fido2Server(rp, verify_origin=lambda presented: presented in origins)


def _save_state(session: MutableMapping[str, Any], purpose: str, state: Any) -> None:
    session[STATE_KEY] = {"purpose": purpose, "state": state, "at": time.time()}


def take_state(session: MutableMapping[str, Any], purpose: str) -> Any:
    """The pending challenge, removed so that it can be used once only."""
    stored = session.pop(STATE_KEY, None)
    if not stored or stored.get("purpose") != purpose:
        raise ValidationFailed("No WebAuthn ceremony is in progress; start again.")
    if time.time() - stored["at"] > CHALLENGE_SECONDS:
        raise ValidationFailed("The WebAuthn challenge expired; start again.")
    return stored["state"]


def user_handle(user: Any) -> bytes:
    """The WebAuthn user id given at enrolment; a discoverable credential returns it at sign-in."""
    return str(user.pk).encode()


def registration_options(
    session: MutableMapping[str, Any], *, origin: str, user: Any, kind: str, existing: list[bytes]
) -> dict:
    # Both kinds ask for a discoverable credential (a passkey) where the authenticator can keep
    # one, so that it can also sign the person in without a password (``sign_in_options``); a
    # key that cannot still enrolls, for step-up only. ``credProps`` says which one it was.
    platform = kind == "biometrics"
    if platform:
        verification, attachment = UserVerificationRequirement.REQUIRED, AuthenticatorAttachment.PLATFORM
    else:
        verification, attachment = UserVerificationRequirement.DISCOURAGED, AuthenticatorAttachment.CROSS_PLATFORM
    options, state = server(origin).register_begin(
        {"id": user_handle(user), "name": user.email, "displayName": user.full_name or user.email},
        credentials=[AttestedCredentialData(blob) for blob in existing],
        resident_key_requirement=ResidentKeyRequirement.PREFERRED, user_verification=verification,
        authenticator_attachment=attachment, extensions={"credProps": True},
    )
    _save_state(session, f"register:{kind}", state)
    return dict(options)


def authentication_options(
    session: MutableMapping[str, Any], *, origin: str, credentials: list[bytes], require_uv: bool
) -> dict:
    options, state = server(origin).authenticate_begin(
        [AttestedCredentialData(blob) for blob in credentials],
        user_verification=UserVerificationRequirement.REQUIRED if require_uv else UserVerificationRequirement.PREFERRED,
    )
    _save_state(session, "authenticate", state)
    return dict(options)


SIGN_IN = "sign-in"


def sign_in_options(session: MutableMapping[str, Any], *, origin: str) -> dict:
    """A sign-in with a discoverable credential: no ``allowCredentials`` (the authenticator
    offers the passkeys it keeps for this site) and user verification required, so that the
    key alone is two factors (something you have, and a PIN or biometric)."""
    options, state = server(origin).authenticate_begin(user_verification=UserVerificationRequirement.REQUIRED)
    _save_state(session, SIGN_IN, state)
    return dict(options)
