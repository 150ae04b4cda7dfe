"""HR's side of onboarding: open a case and e-mail the new hire a single-use, expiring invitation;
resend, cancel, and expire unused invitations."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.models import Group, IdentityProvider, User, normalize_email
from accounts.onboarding.models import OnboardingCase
from accounts.onboarding.services.providers import usable_provider
from accounts.services.rights import rights_check
from console.audit.services import audit_record
from console.core.errors import Conflict, NotFound, ValidationFailed
from console.core.permissions import require_role
from console.core.roles import PEOPLE_WRITERS, Role

log = logging.getLogger(__name__)

Status = OnboardingCase.Status


def hash_token(token: str) -> str:
    """What an invitation token is stored as; the token itself is only in the e-mail."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def clean_email(value: str, field: str) -> str:
    """``value`` as a normalized e-mail address, or ``ValidationFailed`` naming ``field``."""
    email = normalize_email(value)
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(f"{email or 'An empty value'} is not a valid e-mail address.", field=field)
    return email


def _invitation_link(link_base: str, token: str) -> str:
    return f"{link_base.rstrip('/')}/{token}/"


def _send_invitation(case_id: int, token: str, link_base: str) -> None:
    """Runs after commit; a mail failure is recorded for HR, the case stays as it is."""
    case = OnboardingCase.objects.select_related("provider").get(pk=case_id)
    link = _invitation_link(link_base, token)
    body = (
        f"Hello {case.legal_name},\n\n"
        f"Welcome! Your work account {case.work_email} is ready to be set up for your start on "
        f"{case.start_date:%A %d %B %Y}.\n\n"
        f"Open this link to prove who you are with {case.provider.name if case.provider else 'our identity provider'} "
        "(you will need a government ID and your phone's camera; the photos stay with the provider) "
        "and to enroll the authenticator you will sign in with:\n\n"
        f"{link}\n\n"
        f"The link works once and expires on {timezone.localtime(case.invitation_expires_at):%Y-%m-%d %H:%M %Z}.\n"
        "If you did not expect this e-mail, ignore it.\n"
    )
    message = EmailMessage(
        subject="Set up your work account", body=body, from_email=settings.DEFAULT_FROM_EMAIL,
        to=[case.personal_email],
    )
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - any mail failure is reported to HR the same way
        log.warning("Invitation e-mail for case %s failed: %s", case_id, exc)
        audit_record(actor=None, action="onboarding.invitation_send_failed", obj=case,
                     changes={"to": case.personal_email, "error": exc.__class__.__name__})
        return
    audit_record(actor=None, action="onboarding.invitation_sent", obj=case, changes={"to": case.personal_email})


@transaction.atomic
def case_create(
    *,
    actor: User,
    legal_name: str,
    personal_email: str,
    work_email: str,
    start_date: date,
    manager: User | None = None,
    groups: list[Group] | None = None,
    provider: IdentityProvider | None = None,
    link_base: str,
    date_of_birth: date | None = None,
) -> OnboardingCase:
    """Open a case and e-mail the new hire a single-use, expiring invitation (after commit).
    ``link_base`` is the absolute URL the invitation token is appended to."""
    require_role(actor, PEOPLE_WRITERS, "invite new hires")
    legal_name = " ".join((legal_name or "").split())
    if not legal_name:
        raise ValidationFailed("The legal name is required.", field="legal_name")
    personal = clean_email(personal_email, "personal_email")
    work = clean_email(work_email, "work_email")
    if personal == work:
        raise ValidationFailed("The personal e-mail must differ from the work e-mail.", field="personal_email")
    if User.objects.filter(email__iexact=work).exists():
        raise Conflict(f"An account with the e-mail {work} already exists.", field="work_email")
    if OnboardingCase.objects.filter(work_email__iexact=work, status__in=OnboardingCase.OPEN).exists():
        raise Conflict(f"{work} already has an open onboarding case.", field="work_email")
    if start_date is None:
        raise ValidationFailed("The start date is required.", field="start_date")
    if start_date < timezone.localdate():
        raise ValidationFailed("The start date is in the past.", field="start_date")
    if start_date > timezone.localdate() + timedelta(days=366):
        raise ValidationFailed("The start date is more than a year away.", field="start_date")
    if manager is not None and not manager.is_active:
        raise ValidationFailed(f"{manager.email} is deactivated.", field="manager")
    if date_of_birth is not None and not (date(1900, 1, 1) <= date_of_birth <= timezone.localdate()):
        raise ValidationFailed("The date of birth is not plausible.", field="date_of_birth")

    for group in groups or []:
        # The new hire will be an Employee; granting the case's groups is the creator's decision.
        rights_check(actor, current_role=Role.EMPLOYEE, group=group)
    try:
        provider = usable_provider(provider)
    except NotFound as exc:
        raise ValidationFailed(exc.message, field="provider")
    token, token_hash = _new_token()
    now = timezone.now()
    case = OnboardingCase.objects.create(
        legal_name=legal_name, personal_email=personal, work_email=work, start_date=start_date,
        manager=manager, provider=provider, created_by=actor, invitation_token_hash=token_hash,
        date_of_birth=date_of_birth,
        invitation_sent_at=now, invitation_expires_at=now + timedelta(hours=settings.ONBOARDING_INVITATION_HOURS),
    )
    case.groups.set(groups or [])
    audit_record(actor=actor, action="onboarding.case.created", obj=case, changes={
        "legal_name": legal_name, "personal_email": personal, "work_email": work,
        "start_date": start_date.isoformat(), "manager": manager.email if manager else None,
        "groups": sorted(g.name for g in groups or []), "provider": provider.name,
        # Whether, not which: a date of birth stays off the audit trail.
        "date_of_birth": "recorded" if date_of_birth else None,
    })
    transaction.on_commit(lambda: _send_invitation(case.pk, token, link_base))
    return case


@transaction.atomic
def case_resend(*, actor: User, case: OnboardingCase, link_base: str) -> OnboardingCase:
    """A new link replaces the old one (which stops working) and the case is invited again."""
    require_role(actor, PEOPLE_WRITERS, "resend invitations")
    case = OnboardingCase.objects.select_for_update().get(pk=case.pk)
    if not case.can_resend:
        raise Conflict(f"A {case.get_status_display().lower()} case cannot be invited again.")
    if User.objects.filter(email__iexact=case.work_email).exists():
        raise Conflict(f"An account with the e-mail {case.work_email} exists now; cancel this case.")
    token, token_hash = _new_token()
    old_status = case.status
    now = timezone.now()
    case.invitation_token_hash = token_hash
    case.invitation_sent_at = now
    case.invitation_expires_at = now + timedelta(hours=settings.ONBOARDING_INVITATION_HOURS)
    case.invitation_used_at = None
    case.invitations_sent += 1
    case.status = Status.INVITED
    case.save(update_fields=["invitation_token_hash", "invitation_sent_at", "invitation_expires_at",
                             "invitation_used_at", "invitations_sent", "status", "updated_at"])
    audit_record(actor=actor, action="onboarding.case.resent", obj=case,
                 changes={"status": {"old": old_status, "new": case.status}, "invitations_sent": case.invitations_sent})
    transaction.on_commit(lambda: _send_invitation(case.pk, token, link_base))
    return case


@transaction.atomic
def case_cancel(*, actor: User, case: OnboardingCase) -> OnboardingCase:
    require_role(actor, PEOPLE_WRITERS, "cancel onboarding cases")
    case = OnboardingCase.objects.select_for_update().get(pk=case.pk)
    if case.status == Status.CANCELLED:
        return case
    if not case.can_cancel:
        raise Conflict(f"An {case.get_status_display().lower()} case cannot be cancelled.")
    old = case.status
    case.status = Status.CANCELLED
    case.save(update_fields=["status", "updated_at"])
    audit_record(actor=actor, action="onboarding.case.cancelled", obj=case,
                 changes={"status": {"old": old, "new": case.status}})
    return case


def cases_expire(now: Any = None) -> int:
    """Invitations past their expiry that nobody used: the case expires (HR can resend)."""
    now = now or timezone.now()
    expired = 0
    for case_id in OnboardingCase.objects.filter(
        status=Status.INVITED, invitation_expires_at__lt=now
    ).values_list("pk", flat=True):
        with transaction.atomic():
            case = OnboardingCase.objects.select_for_update().get(pk=case_id)
            if case.status != Status.INVITED or case.invitation_expires_at >= now:
                continue
            case.status = Status.EXPIRED
            case.save(update_fields=["status", "updated_at"])
            audit_record(actor=None, action="onboarding.case.expired", obj=case,
                         changes={"status": {"old": Status.INVITED, "new": Status.EXPIRED}})
            expired += 1
    return expired
