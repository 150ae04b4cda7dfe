"""Sign-in events feed the audit trail. Receivers only call the audit service."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver

from console.audit.services import audit_record

_METHODS = {
    "django.contrib.auth.backends.ModelBackend": "password",
    "accounts.oidc.ProviderOIDCBackend": "oidc",
}


@receiver(user_logged_in)
def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    backend = getattr(user, "backend", "")
    # A sign-in that follows an identity verification (onboarding, account recovery) says so.
    method = getattr(request, "login_method", None) or _METHODS.get(backend, backend)
    changes: dict[str, Any] = {"method": method}
    provider = getattr(request, "oidc_provider_slug", None)
    if provider:
        changes["provider"] = provider
    changes.update(getattr(request, "login_details", None) or {})
    if request is not None and hasattr(request, "session"):
        # What Access policies see about this sign-in (login method and AMR); a sign-in that is
        # neither a password nor a provider (a passkey) says so itself.
        request.session["access_identity"] = getattr(request, "login_identity", None) or {
            "identity_provider": provider or "password",
            "amr": list(getattr(request, "oidc_amr", None) or (["pwd"] if not provider else [])),
        }
    audit_record(actor=user, action="auth.login", obj=user, changes=changes)


@receiver(user_logged_out)
def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action="auth.logout", obj=user)


@receiver(user_login_failed)
def _on_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:254]
    if not username:
        return  # an OIDC callback without a matching user reports through its own message
    audit_record(
        actor=None, action="auth.login_failed", object_type="accounts.user",
        object_repr=username, changes={"method": "password"},
    )


@receiver(user_locked_out)
def _on_locked_out(sender: Any, request: Any, username: str, ip_address: str, **kwargs: Any) -> None:
    """django-axes signals both the moment an account locks and every attempt refused while it
    stays locked: the first is a lockout, the others are blocked attempts."""
    username = str(username)[:254]
    first = cache.add(
        f"lockout-audited:{username}:{ip_address}", True,
        timeout=int(settings.AXES_COOLOFF_TIME.total_seconds()),
    )
    audit_record(
        actor=None, action="auth.lockout" if first else "auth.login_blocked",
        object_type="accounts.user", object_repr=username, changes={"ip_address": ip_address},
    )
