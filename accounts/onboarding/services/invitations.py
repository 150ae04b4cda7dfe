"""The new hire's invitation link: opened, used once to start verification, retried."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.onboarding.models import OnboardingCase, VerificationRecord
from accounts.onboarding.services.cases import hash_token
from accounts.onboarding.services.gate import CASE_KEY, case_of_browser
from accounts.onboarding.services.verification import limit_attempts, verification_begin
from console.audit.services import audit_record
from console.core.errors import Conflict, NotFound

Purpose = VerificationRecord.Purpose
Status = OnboardingCase.Status


def _expired_message(case: OnboardingCase) -> str:
    return (f"This invitation expired on {timezone.localtime(case.invitation_expires_at):%Y-%m-%d %H:%M}. "
            "Ask the person who invited you to send a new one.")


def invitation_open(*, token: str) -> OnboardingCase:
    """The case behind an invitation link that can still be used; otherwise a ``ConsoleError``
    whose message tells the person what to do. An expired link expires its case."""
    case = (OnboardingCase.objects.select_related("provider")
            .filter(invitation_token_hash=hash_token(token or "")).first())
    if case is None:
        raise NotFound("This invitation link is not valid. It may have been replaced by a newer one: "
                       "check your e-mail for the latest, or ask the person who invited you.")
    if case.status == Status.CANCELLED:
        raise Conflict("This invitation was withdrawn. If you think this is a mistake, contact the person "
                       "who invited you.")
    if case.invitation_used_at is not None or case.status not in (Status.INVITED, Status.EXPIRED):
        raise Conflict("This invitation link was already used. Each link works once: if you did not use it, "
                       "tell the person who invited you at once; they can send you a new one.")
    if case.status == Status.EXPIRED or timezone.now() >= case.invitation_expires_at:
        if case.status == Status.INVITED:
            with transaction.atomic():
                locked = OnboardingCase.objects.select_for_update().get(pk=case.pk)
                if locked.status == Status.INVITED:
                    locked.status = Status.EXPIRED
                    locked.save(update_fields=["status", "updated_at"])
                    audit_record(actor=None, action="onboarding.case.expired", obj=locked,
                                 changes={"status": {"old": Status.INVITED, "new": Status.EXPIRED}})
        raise Conflict(_expired_message(case))
    return case


def invitation_redeem(request: HttpRequest, *, token: str, redirect_uri: str) -> str:
    """Use the link (once): the case waits for verification and this browser is sent to the
    provider. Returns the provider's authorization URL."""
    limit_attempts(request)
    case = invitation_open(token=token)
    with transaction.atomic():
        case = OnboardingCase.objects.select_for_update(of=("self",)).select_related("provider").get(pk=case.pk)
        if case.invitation_used_at is not None or case.status != Status.INVITED:
            raise Conflict("This invitation link was already used. Each link works once: if you did not use it, "
                           "tell the person who invited you at once; they can send you a new one.")
        case.invitation_used_at = timezone.now()
        case.status = Status.PENDING
        case.save(update_fields=["invitation_used_at", "status", "updated_at"])
        audit_record(actor=None, action="onboarding.invitation_used", obj=case,
                     changes={"status": {"old": Status.INVITED, "new": Status.PENDING}})
    request.session[CASE_KEY] = case.pk
    return verification_begin(
        request, purpose=Purpose.ONBOARDING, idp=case.provider, redirect_uri=redirect_uri,
        email=case.work_email, case=case,
    )


def onboarding_retry(request: HttpRequest, *, redirect_uri: str) -> str:
    """Start verification again for the case this browser redeemed (after a protocol failure or
    a cancelled attempt at the provider)."""
    case = case_of_browser(request)
    if case is None:
        raise NotFound("This browser has no onboarding in progress. Open the link from your invitation e-mail.")
    if case.status != Status.PENDING:
        raise Conflict(f"Your onboarding is {case.get_status_display().lower()}; "
                       "contact the person who invited you.")
    limit_attempts(request, case.work_email)
    return verification_begin(request, purpose=Purpose.ONBOARDING, idp=case.provider, redirect_uri=redirect_uri,
                              email=case.work_email, case=case)
