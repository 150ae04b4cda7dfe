"""What this browser's session says about onboarding: the case an anonymous new hire works on,
and the gate that lets a newly verified person only enroll a first authenticator until
``onboarding_finish``."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.onboarding import recovery
from accounts.onboarding.models import OnboardingCase, VerificationRecord
from console.audit.services import audit_record
from console.core.errors import Conflict
from mfa.selectors import authenticators_of

Purpose = VerificationRecord.Purpose
Status = OnboardingCase.Status

CASE_KEY = "onboarding_case"  # the case an anonymous new hire's browser is working on
GATE_KEY = "onboarding_gate"  # signed in, but only to enroll a first authenticator


def case_of_browser(request: HttpRequest) -> OnboardingCase | None:
    case_id = request.session.get(CASE_KEY)
    if not case_id:
        return None
    return OnboardingCase.objects.select_related("provider").filter(pk=case_id).first()


def gate_of(request: HttpRequest) -> dict | None:
    return request.session.get(GATE_KEY)


def onboarding_finish(request: HttpRequest) -> OnboardingCase | None:
    """The first authenticator is enrolled: the case is activated and the person may go anywhere
    their role and policies allow."""

    gate = gate_of(request)
    if gate is None:
        return None
    user = request.user
    if not authenticators_of(user):
        raise Conflict("Enroll an authenticator first: you will need it to sign in.")
    case = None
    with transaction.atomic():
        if gate.get("case"):
            case = OnboardingCase.objects.select_for_update().filter(pk=gate["case"], user=user).first()
            if case is not None and case.status == Status.VERIFIED:
                case.status, case.activated_at = Status.ACTIVATED, timezone.now()
                case.save(update_fields=["status", "activated_at", "updated_at"])
                audit_record(actor=user, action="onboarding.case.activated", obj=case,
                             changes={"status": {"old": Status.VERIFIED, "new": Status.ACTIVATED},
                                      "account": user.email})
        else:
            recovery.recovery_finish(user=user, recovery_id=gate.get("recovery"))
    request.session.pop(GATE_KEY, None)
    return case


def gate_after_sign_in(request: HttpRequest, user: User) -> None:
    """Someone verified but not yet activated who signs in another way still only gets to enroll."""
    case = OnboardingCase.objects.filter(user=user, status=Status.VERIFIED).order_by("-verified_at").first()
    if case is not None and hasattr(request, "session"):
        request.session[GATE_KEY] = {"purpose": Purpose.ONBOARDING, "case": case.pk}
