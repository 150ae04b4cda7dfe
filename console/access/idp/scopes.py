"""The scopes the authorization server knows. Sign-in scopes (OpenID Connect) are fixed here;
features that accept the server's access tokens register their own:

    from console.access.idp import scopes
    scopes.register("ssf.manage", "Manage Shared Signals streams")

A SaaS client may ask for the sign-in scopes; a machine client for the registered scopes it was
given. This module is also the django-oauth-toolkit scopes backend (``SCOPES_BACKEND_CLASS``)."""

from __future__ import annotations

from typing import Any

SIGN_IN_SCOPES = {
    "openid": "Sign you in",
    "email": "Your e-mail address",
    "profile": "Your name",
    "groups": "The directory groups you belong to",
}
_registered: dict[str, str] = {}


def register(name: str, description: str) -> None:
    """Make ``name`` a scope machine clients can be given (idempotent)."""
    if name in SIGN_IN_SCOPES:
        raise ValueError(f"{name} is a sign-in scope")
    _registered[name] = description


def machine_scopes() -> dict[str, str]:
    return dict(sorted(_registered.items()))


def _console_client(application: Any) -> Any:
    return getattr(application, "console", None) if application is not None else None


class RegisteredScopes:
    """django-oauth-toolkit's view of the scopes: per client, what it may ask for."""

    def get_all_scopes(self) -> dict[str, str]:
        return SIGN_IN_SCOPES | _registered

    def get_available_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
                             ) -> list[str]:
        client = _console_client(application)
        if client is None:
            return list(SIGN_IN_SCOPES) + list(_registered) if application is None else []
        if client.kind == client.Kind.SAAS:
            return list(SIGN_IN_SCOPES)
        return [s for s in client.scopes if s in _registered]

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
                           ) -> list[str]:
        client = _console_client(application)
        if client is None:
            return []
        if client.kind == client.Kind.SAAS:
            return ["openid"]
        return [s for s in client.scopes if s in _registered]
