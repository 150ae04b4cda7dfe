"""The authorization server's access tokens, for the APIs that accept them (the SSF API next to
console API tokens): who a bearer token speaks for and which scopes it carries."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest
from oauth2_provider.models import get_access_token_model
from oauth2_provider.settings import oauth2_settings

from console.access.idp.models import Client


def issuer(request: HttpRequest) -> str:
    """The authorization server's issuer, as its metadata documents name it."""
    return oauth2_settings.oidc_issuer(request)


def authenticate_bearer(request: HttpRequest, *, resource: str = "") -> tuple[Client, frozenset[str]] | None:
    """The client and granted scopes of the unexpired access token in the request's
    ``Authorization: Bearer`` header, or ``None``. A token bound to resources (RFC 8707) counts
    only for ``resource``. Console API tokens (``ztc_…``) are not this module's."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme != "Bearer" or not token or token.startswith("ztc_") or len(token) > 512:
        return None
    found = (get_access_token_model().objects.select_related("application__console")
             .filter(token_checksum=hashlib.sha256(token.encode()).hexdigest()).first())
    if found is None or found.is_expired() or found.application is None:
        return None
    if found.resource and not (resource and found.allows_audience(resource)):
        return None
    client = getattr(found.application, "console", None)
    if client is None:
        return None
    return client, frozenset(found.scope.split())
