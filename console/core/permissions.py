"""Role checks, in one place.

Views: every view carries exactly one of the decorators below; a test walks every URL and fails
on a view without one. The decorator records what it allows on the wrapped function
(``console_access``), which is also what the URL-walking test reads to know what to expect.
A view fetches an object for a person only through ``get_for_role`` (each app's
``selectors.get_<thing>_for`` wraps it); a test fails on ``.objects.`` in any ``views.py``.

Services: every write that a role may not make starts with ``require_role``. The rule for a
missing actor: ``actor=None`` is refused, unless the caller says that no person acts
(``system=True``: a scheduled job, a management command, or an API view that has already
authenticated the calling token and names it in the audit row)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from console.core.errors import PermissionRefused

PUBLIC = "public"
API = "api"  # authenticated by an API token in the Authorization header, never by a session

View = Callable[..., HttpResponse]


def _to_login(request: HttpRequest) -> HttpResponse:
    response = redirect_to_login(request.get_full_path())
    if getattr(request, "htmx", False):
        # An htmx swap would paint the sign-in page into a fragment: send the browser instead.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = redirect_to_login(request.get_full_path())["Location"]
    return response


def roles_required(roles: Iterable[str]) -> Callable[[View], View]:
    """Allow signed-in, active users whose role is in ``roles``; others get 403, anonymous
    visitors are sent to sign in."""
    allowed = frozenset(str(role) for role in roles)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return _to_login(request)
            if user.role not in allowed:
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        wrapper.console_access = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorator


def api_view(view: View) -> View:
    """Mark a view that authenticates callers with an API token itself (``console.access.api``)."""
    view.console_access = API  # type: ignore[attr-defined]
    return view


def public(view: View) -> View:
    """Mark a view as reachable without signing in (sign-in pages, callbacks, liveness)."""
    view.console_access = PUBLIC  # type: ignore[attr-defined]
    return view


def get_for_role(queryset: QuerySet, viewer: Any, pk: int, noun: str, roles: Iterable[str]) -> Any:
    """One object of ``queryset`` for a viewer whose role is in ``roles``: PermissionDenied
    otherwise, and a 404 that names the ``noun`` when there is no such object."""
    if getattr(viewer, "role", None) not in set(roles):
        raise PermissionDenied
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise Http404(f"No such {noun}.")
    return found


def require_role(actor: Any, roles: Iterable[str], what: str, *, system: bool = False) -> None:
    """Refuse (``PermissionRefused``) unless ``actor``'s role is in ``roles``. ``what`` completes
    "Your role cannot {what}". ``actor=None`` passes only with ``system=True``: the caller states
    that no person acts (a job, a command, a token-authenticated API call); a person who is
    given is always checked, whatever ``system`` says."""
    if actor is None or getattr(actor, "is_anonymous", False):
        if actor is None and system:
            return
        raise PermissionRefused(f"Only a signed-in person whose role allows it can {what}.")
    if getattr(actor, "role", None) not in set(roles):
        label = getattr(actor, "role_label", None) or "none"
        raise PermissionRefused(f"Your role ({label}) cannot {what}.")
