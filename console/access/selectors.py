"""Reads for Access. ``get_*_for`` helpers apply the role check."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from console.access.models import AccessSession, Application, Device, Policy, ServiceToken
from console.core.roles import CONSOLE_READERS


def _get(model, viewer: User, pk: int):
    if viewer.role not in CONSOLE_READERS:
        raise PermissionDenied
    try:
        return model.objects.get(pk=pk)
    except model.DoesNotExist:
        raise Http404(f"No such {model._meta.verbose_name}") from None


def get_application_for(viewer: User, pk: int) -> Application:
    return _get(Application, viewer, pk)


def get_policy_for(viewer: User, pk: int) -> Policy:
    return _get(Policy, viewer, pk)


def get_service_token_for(viewer: User, pk: int) -> ServiceToken:
    return _get(ServiceToken, viewer, pk)


def get_device_for(viewer: User, pk: int) -> Device:
    return _get(Device, viewer, pk)


def get_session_for(viewer: User, pk) -> AccessSession:
    return _get(AccessSession, viewer, pk)


def applications_for_list() -> QuerySet[Application]:
    return Application.objects.annotate(
        policy_count=Count("attachments", distinct=True),
        active_sessions=Count(
            "sessions", filter=Q(sessions__revoked_at__isnull=True, sessions__expires_at__gt=timezone.now()),
            distinct=True,
        ),
    ).defer("logo")


def policies_for_list() -> QuerySet[Policy]:
    return Policy.objects.annotate(app_count=Count("attachments"))


def active_sessions() -> QuerySet[AccessSession]:
    return AccessSession.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).select_related(
        "user", "application", "service_token"
    )


def devices_of(user: User) -> list[Device]:
    return list(Device.objects.filter(user=user).order_by("name"))


def application_by_aud(aud: str) -> Application | None:
    return Application.objects.filter(aud=aud).defer("logo").first()


def application_for_host(hostname: str, path: str) -> Application | None:
    """The application for a hostname, preferring the longest path prefix that matches."""
    candidates = Application.objects.filter(domain=hostname.rstrip(".")).defer("logo")
    best = None
    for app in candidates:
        prefix = app.path.rstrip("/")
        if not prefix or path == prefix or path.startswith(prefix + "/"):
            if best is None or len(prefix) > len(best.path.rstrip("/")):
                best = app
    return best
