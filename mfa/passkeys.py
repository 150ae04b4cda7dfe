"""Signing in with a passkey or security key (WebAuthn, discoverable credentials): no e-mail,
no password. The authenticator offers the passkeys it keeps for this site; the one chosen names
its owner (its credential id and user handle), and its signature, made with user verification
(a PIN or a biometric), is two factors at once. So the sign-in also counts as the MFA
verification of the new console session, with the key's method ("Security key" or
"Biometrics"), exactly as a step-up with that key would.

The same rules as every other verification step apply: a ceiling per address and per person
(``MFA_ATTEMPTS_PER_*``; the lockout is audited), a person locked out of password sign-in from
this address stays locked out here, deactivated accounts are refused, a key whose signature
counter goes backwards is blocked as a possible clone, and every failure is in the audit trail
(``auth.login_failed`` with method ``passkey``; success is ``auth.login``)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from django.conf import settings
from fido2.webauthn import AttestedCredentialData, AuthenticationResponse

from accounts.models import User
from console.audit.services import audit_record
from console.core import ratelimit
from console.core.errors import PermissionRefused, ValidationFailed
from mfa import services, webauthn
from mfa.models import WebAuthnAuthenticator

LOGIN_METHOD = "passkey"
# What Access policies see about a passkey sign-in (RFC 8176): a hardware-held key, and more
# than one factor (the key and its user verification).
AMR = ("hwk", "mfa")

_UNKNOWN = ("This passkey is not registered with the console (it may have been removed). "
            "Sign in another way, or ask your IT help desk.")


def sign_in_begin(session: MutableMapping[str, Any], *, origin: str) -> dict:
    """The WebAuthn options for a passkey sign-in from the page served at ``origin``."""
    return webauthn.sign_in_options(session, origin=origin)


def _failed(*, user: User | None, reason: str, ip: str | None) -> None:
    """Audited outside any transaction, so that refusing does not erase the record."""
    audit_record(actor=None, action="auth.login_failed", object_type="accounts.user",
                 object_id=str(user.pk) if user else "", object_repr=user.email if user else "unknown passkey",
                 changes={"method": LOGIN_METHOD, "reason": reason[:200], "ip_address": ip or ""})


def _address_limit(ip: str | None) -> None:
    if not ratelimit.hit("mfa-ip", ip or "unknown", limit=settings.MFA_ATTEMPTS_PER_IP,
                         window=settings.MFA_ATTEMPT_WINDOW):
        audit_record(actor=None, action="mfa.locked_out", object_type="accounts.user",
                     object_repr="passkey sign-in", changes={"by": "address", "ip_address": ip or ""})
        raise services.RateLimited("Too many verification attempts. Wait a few minutes and try again.")


def _owner(response: dict, ip: str | None) -> tuple[WebAuthnAuthenticator, int]:
    """The enrolled authenticator the answer names, and the signature counter it presents."""
    try:
        parsed = AuthenticationResponse.from_dict(response)
    except (ValueError, KeyError, TypeError) as exc:
        _address_limit(ip)
        _failed(user=None, reason=f"malformed answer: {exc}", ip=ip)
        raise ValidationFailed("The authenticator's answer could not be read; try again.") from None
    device = (WebAuthnAuthenticator.objects.select_related("user")
              .filter(credential_id=bytes(parsed.raw_id), confirmed=True).first())
    handle = parsed.response.user_handle
    if device is None or (handle is not None and bytes(handle) != webauthn.user_handle(device.user)):
        _address_limit(ip)
        _failed(user=None, reason="no enrolled authenticator has this credential", ip=ip)
        raise ValidationFailed(_UNKNOWN)
    return device, parsed.response.authenticator_data.counter


def sign_in_complete(
    *, session: MutableMapping[str, Any], ip: str | None, origin: str, response: dict,
    locked_out: Callable[[User], bool], sign_in: Callable[[User, WebAuthnAuthenticator], None],
) -> WebAuthnAuthenticator:
    """Check a passkey sign-in answer and, when it holds, call ``sign_in(user, authenticator)``
    (the view's ``login``) and record the verification in the new console session. ``locked_out(user)``
    says whether password sign-in is locked for that person from this address. Returns the
    authenticator used. Raises ``ValidationFailed`` (wrong or unknown answer),
    ``RateLimited`` (too many tries) or ``PermissionRefused`` (deactivated, locked, clone)."""
    state = webauthn.take_state(session, webauthn.SIGN_IN)
    device, counter = _owner(response, ip)
    user = device.user
    browser = services.BrowserSession(user=user, session=session, ip=ip, origin=origin)
    services.attempt_limit(browser)
    if not user.is_active:
        _failed(user=user, reason="the account is deactivated", ip=ip)
        raise PermissionRefused("This account is deactivated. Ask your IT help desk.")
    if locked_out(user):
        _failed(user=user, reason="locked out after failed sign-ins", ip=ip)
        raise PermissionRefused("Sign-in is locked for this account after too many failed attempts. "
                                "Wait a few minutes, or ask an admin to unlock it.")
    try:
        webauthn.server(origin).authenticate_complete(state, [AttestedCredentialData(bytes(device.credential_data))],
                                                      response)
    except (ValueError, KeyError, TypeError) as exc:
        _failed(user=user, reason=str(exc), ip=ip)
        if "verification" in str(exc).lower():
            raise ValidationFailed("Your passkey must also check it is you (PIN, fingerprint or face) "
                                   "to sign you in. Try again and confirm on the authenticator.") from None
        raise ValidationFailed(f"The authenticator's answer was refused: {exc}") from None
    return services.webauthn_counter_accept(browser, device=device, counter=counter,
                                            before_verified=lambda: sign_in(user, device))
