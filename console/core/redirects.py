"""Following a ``next`` (or "back") address a request brought: only to this console.

Every view that redirects to an address taken from the request goes through ``safe_next``, so
a link such as ``…?next=https://evil.example`` (or ``//evil.example``, ``/\\evil.example``) sends
the person back into the console, never to another site."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

MAX_LENGTH = 2000


def is_safe_next(request: HttpRequest, candidate: object, *, within: str = "") -> bool:
    """Whether ``candidate`` is an address on this console: a path, or an absolute URL on the
    request's own host (over HTTPS when the request is, and always in production), with no
    control characters; and, given ``within``, a path under that prefix."""
    if not isinstance(candidate, str) or not candidate or len(candidate) > MAX_LENGTH:
        return False
    if any(unicodedata.category(c)[0] == "C" for c in candidate):
        return False  # also refuses the tabs and newlines that URL parsers silently drop
    if not url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()},
        require_https=request.is_secure() or settings.PRODUCTION,
    ):
        return False
    return not within or candidate.startswith(within)


def safe_next(request: HttpRequest, candidate: object, default: str, *, within: str = "") -> str:
    """``candidate`` if ``is_safe_next``, else ``default`` (a path, or a URL name as for
    ``redirect``)."""
    return candidate if is_safe_next(request, candidate, within=within) else resolve_url(default)  # type: ignore[return-value]
