"""Reads for Access. ``get_*_for`` helpers apply the role check."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from console.access.models import (
    AccessLogEntry,
    AccessSession,
    ApiToken,
    Application,
    ApplicationPolicy,
    Device,
    Policy,
    ServiceToken,
)
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS, EVERYONE


def _get(model, viewer: User, pk: int):
    return get_for_role(model._default_manager.all(), viewer, pk, model._meta.verbose_name, CONSOLE_READERS)


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


def get_api_token_for(viewer: User, pk: int) -> ApiToken:
    return _get(ApiToken, viewer, pk)


def get_launchable_application_for(viewer: User, pk: int) -> Application:
    """An application anyone signed in may try to open (the decision says whether they may)."""
    return get_for_role(Application.objects.defer("logo"), viewer, pk, "application", EVERYONE)


def get_application_logo_for(viewer: User, pk: int) -> Application:
    """Only the logo of an application (tiles show it to everyone)."""
    return get_for_role(Application.objects.only("logo", "logo_type", "updated_at"), viewer, pk, "application",
                        EVERYONE)


def applications_by_name() -> QuerySet[Application]:
    return Application.objects.defer("logo").order_by("name")


def applications_using(policy: Policy) -> QuerySet[Application]:
    return Application.objects.filter(attachments__policy=policy).defer("logo").order_by("name")


def attachments_of(app: Application) -> list[ApplicationPolicy]:
    """The application's policies in evaluation order."""
    return list(ApplicationPolicy.objects.filter(application=app).select_related("policy").order_by("position"))


def attached_policy_ids(app: Application) -> list[int]:
    return list(ApplicationPolicy.objects.filter(application=app).order_by("position")
                .values_list("policy_id", flat=True))


def policies_except(policy_ids: Iterable[int]) -> QuerySet[Policy]:
    return Policy.objects.exclude(pk__in=list(policy_ids)).order_by("name")


def service_tokens() -> QuerySet[ServiceToken]:
    return ServiceToken.objects.all()


def service_token_names() -> dict[str, str]:
    """Service token id (as text, as rules store it) → name."""
    return {str(pk): name for pk, name in ServiceToken.objects.values_list("pk", "name")}


def api_tokens() -> QuerySet[ApiToken]:
    return ApiToken.objects.all()


def devices_for_list() -> QuerySet[Device]:
    return Device.objects.select_related("user")


def access_log() -> QuerySet[AccessLogEntry]:
    return AccessLogEntry.objects.all()


def outcome_counts_since(since: datetime, outcomes: Iterable[str]) -> dict[str, int]:
    """How many decisions of each outcome were logged since ``since``."""
    recent = AccessLogEntry.objects.filter(at__gte=since)
    return {outcome: recent.filter(outcome=outcome).count() for outcome in outcomes}


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


def open_session_count(user: User) -> int:
    return AccessSession.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()).count()


def devices_of(user: User) -> list[Device]:
    return list(Device.objects.filter(user=user).order_by("name"))


def application_by_aud(aud: str) -> Application | None:
    return Application.objects.filter(aud=aud).defer("logo").first()


def audiences_for_host(hostname: str) -> list[str]:
    """The ``aud`` tags of the applications on a hostname (any case)."""
    return list(Application.objects.filter(domain__iexact=hostname).values_list("aud", flat=True))


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
