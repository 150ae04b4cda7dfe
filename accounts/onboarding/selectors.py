"""Reads for onboarding and identity verification. ``get_*_for`` apply the role check."""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Count, Max, Q, QuerySet

from accounts.models import User
from accounts.onboarding.models import OnboardingCase, OutboxMessage, VerificationRecord
from accounts.selectors import sees_security_events
from console.access import hotcache
from console.access.facts import NO_SESSION, SessionScope
from console.audit.models import AuditEvent
from console.core.permissions import get_for_role
from console.core.roles import PEOPLE_READERS, PEOPLE_WRITERS


def cases_for_list() -> QuerySet[OnboardingCase]:
    return OnboardingCase.objects.select_related("manager", "provider", "user")


def case_counts() -> dict[str, int]:
    counts = dict(OnboardingCase.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {status: counts.get(status, 0) for status in OnboardingCase.Status.values}


def overview_counts(*, since: date) -> dict[str, int]:
    """For the Overview: cases still under way (invited, waiting for or past verification),
    failed cases, and new hires activated on or after the day ``since`` — one query."""
    return OnboardingCase.objects.aggregate(
        open=Count("id", filter=Q(status__in=OnboardingCase.OPEN)),
        failed=Count("id", filter=Q(status=OnboardingCase.Status.FAILED)),
        activated=Count("id", filter=Q(status=OnboardingCase.Status.ACTIVATED, activated_at__date__gte=since)),
    )


def get_case_for(viewer: User, case_id: int) -> OnboardingCase:
    return get_for_role(cases_for_list(), viewer, case_id, "onboarding case", PEOPLE_READERS)


def case_timeline(case: OnboardingCase) -> list[AuditEvent]:
    """Everything that happened to the case, oldest first (its audit events)."""
    return list(AuditEvent.objects.filter(object_type="onboarding.onboardingcase", object_id=str(case.pk))
                .order_by("at", "id"))


def case_verifications(case: OnboardingCase) -> list[VerificationRecord]:
    return list(case.verifications.select_related("provider").order_by("-at", "-id"))


def verifications_for_list(viewer: User | None = None) -> QuerySet[VerificationRecord]:
    """Every verification for admins and auditors; HR, who follows onboarding, sees only the
    onboarding ones (step-up, lost authenticators and recovery are security events)."""
    records = VerificationRecord.objects.select_related("user", "case")
    if viewer is not None and not sees_transactions(viewer):
        records = records.filter(purpose=VerificationRecord.Purpose.ONBOARDING)
    return records


def sees_transactions(viewer: User) -> bool:
    """Security events and the providers' transaction ids are for admins and auditors, not HR."""

    return sees_security_events(viewer)


def outbox_for_list() -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.all()


def get_message_for(viewer: User, message_id: int) -> OutboxMessage:
    return get_for_role(OutboxMessage.objects.all(), viewer, message_id, "message", PEOPLE_WRITERS)


def own_case(user: User, case_id: int) -> OnboardingCase | None:
    """The person's own onboarding case ``case_id`` (None when it is not theirs or is gone)."""
    return OnboardingCase.objects.filter(pk=case_id, user=user).select_related("provider").first()


def onboarding_case_of(user: User) -> OnboardingCase | None:
    return OnboardingCase.objects.filter(user=user).order_by("-created_at").first()


def latest_verified_at(user_id: int) -> datetime | None:
    return VerificationRecord.objects.filter(
        user_id=user_id, outcome=VerificationRecord.Outcome.VERIFIED
    ).aggregate(latest=Max("at"))["latest"]


def latest_verified_in_session(user_id: int, session_hash: str) -> datetime | None:
    """The last identity verification the person passed in the console session with this keyed
    hash (``mfa.binding``); one made in another browser does not count."""
    if not session_hash:
        return None
    return VerificationRecord.objects.filter(
        user_id=user_id, outcome=VerificationRecord.Outcome.VERIFIED, session_hash=session_hash,
    ).aggregate(latest=Max("at"))["latest"]


def identity_facts(user: User, scope: SessionScope = NO_SESSION) -> dict:
    """Access facts provider (per session): when the person last passed identity verification in
    the session the decision is about. Cached per process for the current Access version (a
    verification bumps it)."""

    if not (scope.any_session or scope.console_session_hash):
        return {"identity_verified_at": None}
    table = hotcache.table("identity_verified_at")
    key = (user.pk, "*" if scope.any_session else scope.console_session_hash)
    if key in table:
        return {"identity_verified_at": table[key]}
    if scope.any_session:
        latest = latest_verified_at(user.pk)
    else:
        latest = latest_verified_in_session(user.pk, scope.console_session_hash)
    table[key] = latest
    return {"identity_verified_at": latest}
