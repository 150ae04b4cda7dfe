"""Role checks for views. Every view in the project carries exactly one of these decorators;
a test walks every URL and fails on a view without one.

The decorator records what it allows on the wrapped function (``console_access``), which is
also what the URL-walking test reads to know what to expect."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse

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
