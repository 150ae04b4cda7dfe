"""Every write of onboarding and identity verification.

HR's side: ``case_create``, ``case_resend``, ``case_cancel``. The new hire's side:
``invitation_redeem`` (the single-use link) → the provider → ``verification_complete`` (the
callback: token validated, claims checked) → ``onboarding_finish`` once an authenticator is
enrolled. The same verification also serves signed-in people (``verification_begin`` with the
purposes step-up and replacing lost authenticators) and people who cannot sign in any more
(account recovery).

Failed verifications are recorded (a ``VerificationRecord`` and the audit action
``identity.verification_failed`` naming the failed check) in their own transaction, so a refusal
never rolls its record back."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Group, IdentityProvider, User, normalize_email
from accounts.onboarding import claims as claim_rules
from accounts.onboarding import protocol, recovery
from accounts.onboarding.models import OnboardingCase, OutboxMessage, VerificationRecord
from accounts.services.people import user_create_onboarded
from accounts.services.rights import rights_check
from console.access import policies
from console.access.services import facts_changed_later
from console.audit.services import audit_record
from console.core import ratelimit
from console.core.errors import Conflict, ExternalServiceError, NotFound, PermissionRefused, ValidationFailed
from console.core.permissions import require_role
from console.core.request_context import client_ip
from console.core.roles import PEOPLE_WRITERS, Role
from mfa.binding import session_hash
from mfa.selectors import authenticators_of
from mfa.services import authenticators_reset

log = logging.getLogger(__name__)

FLOWS_KEY = "identity_verification_flows"
CASE_KEY = "onboarding_case"  # the case an anonymous new hire's browser is working on
GATE_KEY = "onboarding_gate"  # signed in, but only to enroll a first authenticator
MAX_FLOWS = 5
Purpose = VerificationRecord.Purpose
Status = OnboardingCase.Status

# The checks whose failure means the person did not pass verification (the case fails and HR
# sees why); protocol failures (state, nonce, signature...) leave the case pending for a retry.
PERSON_CHECKS = {claim_rules.VERIFIED, claim_rules.EMAIL, claim_rules.LEVEL, claim_rules.NAME,
                 claim_rules.BIRTHDATE, "account"}


class RateLimited(PermissionRefused):
    """Too many verification attempts."""


@dataclass
class Result:
    """What the callback tells the person: ``ok``, a message, and where to go next."""

    ok: bool
    purpose: str
    message: str
    next_url: str = ""
    check: str = ""
    case: OnboardingCase | None = None
    can_retry: bool = False


# --- Helpers ----------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, _hash(token)


def _limit(request: HttpRequest, key: str = "") -> None:
    window = settings.VERIFICATION_ATTEMPT_WINDOW
    per_ip = ratelimit.hit("idv-ip", client_ip(request) or "unknown", limit=settings.VERIFICATION_ATTEMPTS_PER_IP,
                           window=window)
    per_key = not key or ratelimit.hit("idv-key", key, limit=settings.VERIFICATION_ATTEMPTS_PER_PERSON,
                                       window=window)
    if not (per_ip and per_key):
        audit_record(actor=None, action="identity.verification_rate_limited", object_type="accounts.user",
                     object_repr=key[:255], changes={"by": "address" if not per_ip else "person"})
        raise RateLimited("Too many verification attempts. Wait a few minutes and try again.")


def development_providers_allowed() -> bool:
    return bool(settings.DEV_VERIFICATION_PROVIDER)


def verification_providers() -> list[IdentityProvider]:
    providers = IdentityProvider.objects.filter(
        kind=IdentityProvider.Kind.VERIFICATION, enabled=True
    ).exclude(authorization_endpoint="").order_by("name")
    if not development_providers_allowed():
        providers = providers.filter(development_only=False)
    return list(providers)


def default_provider() -> IdentityProvider:
    providers = verification_providers()
    if not providers:
        raise NotFound(
            "No identity verification provider is set up. An admin connects one under Settings → "
            "Identity providers (kind: Identity verification)."
        )
    return providers[0]


def _usable_provider(idp: IdentityProvider | None) -> IdentityProvider:
    if idp is None or not idp.enabled or idp.kind != IdentityProvider.Kind.VERIFICATION:
        return default_provider()
    if idp.development_only and not development_providers_allowed():
        raise PermissionRefused(f"{idp.name} is a development provider; it cannot be used here.")
    return idp


def mapping_of(idp: IdentityProvider) -> claim_rules.ClaimMapping:
    return claim_rules.ClaimMapping(
        email_claim=idp.email_claim or "email", verified_claim=idp.verified_claim,
        assurance_claim=idp.assurance_claim, levels=tuple(idp.assurance_levels.split()),
        min_level=idp.min_assurance_level,
    )


def _facts_changed(user: User, reason: str) -> None:
    facts_changed_later(user.pk, reason)


# --- HR: cases --------------------------------------------------------------------------------


def _clean_email(value: str, field: str) -> str:
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
    personal = _clean_email(personal_email, "personal_email")
    work = _clean_email(work_email, "work_email")
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
        provider = _usable_provider(provider)
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


def records_prune(now: Any = None) -> dict[str, int]:
    """Verification records and outbox messages older than their retention are deleted."""
    now = now or timezone.now()
    with transaction.atomic():
        records, _ = VerificationRecord.objects.filter(
            at__lt=now - timedelta(days=settings.VERIFICATION_RETENTION_DAYS)
        ).delete()
        messages, _ = OutboxMessage.objects.filter(
            sent_at__lt=now - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
        ).delete()
        if records or messages:
            audit_record(
                actor=None, action="identity.records_pruned", object_type="onboarding.verificationrecord",
                object_repr=f"{records} verification records, {messages} outbox messages",
                changes={"verification_records": records, "outbox_messages": messages,
                         "retention_days": settings.VERIFICATION_RETENTION_DAYS},
            )
            # Old verifications may have counted for "identity verified" (without a time limit).
            transaction.on_commit(policies.bump_version)
    return {"verification_records": records, "outbox_messages": messages}


# --- The new hire's link ----------------------------------------------------------------------


def _expired_message(case: OnboardingCase) -> str:
    return (f"This invitation expired on {timezone.localtime(case.invitation_expires_at):%Y-%m-%d %H:%M}. "
            "Ask the person who invited you to send a new one.")


def invitation_open(*, token: str) -> OnboardingCase:
    """The case behind an invitation link that can still be used; otherwise a ``ConsoleError``
    whose message tells the person what to do. An expired link expires its case."""
    case = OnboardingCase.objects.select_related("provider").filter(invitation_token_hash=_hash(token or "")).first()
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
    _limit(request)
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


def case_of_browser(request: HttpRequest) -> OnboardingCase | None:
    case_id = request.session.get(CASE_KEY)
    if not case_id:
        return None
    return OnboardingCase.objects.select_related("provider").filter(pk=case_id).first()


def onboarding_retry(request: HttpRequest, *, redirect_uri: str) -> str:
    """Start verification again for the case this browser redeemed (after a protocol failure or
    a cancelled attempt at the provider)."""
    case = case_of_browser(request)
    if case is None:
        raise NotFound("This browser has no onboarding in progress. Open the link from your invitation e-mail.")
    if case.status != Status.PENDING:
        raise Conflict(f"Your onboarding is {case.get_status_display().lower()}; "
                       "contact the person who invited you.")
    _limit(request, case.work_email)
    return verification_begin(request, purpose=Purpose.ONBOARDING, idp=case.provider, redirect_uri=redirect_uri,
                              email=case.work_email, case=case)


# --- Verification -----------------------------------------------------------------------------


def verification_begin(
    request: HttpRequest,
    *,
    purpose: str,
    idp: IdentityProvider | None,
    redirect_uri: str,
    email: str,
    case: OnboardingCase | None = None,
    user: User | None = None,
    next_url: str = "",
) -> str:
    """Remember a new flow (state, nonce, PKCE verifier) in this browser's session and return
    the URL that sends the person to the provider."""
    _limit(request, normalize_email(email))
    idp = _usable_provider(idp)
    auth = protocol.authorization_request(idp, redirect_uri=redirect_uri, login_hint=email)
    flows = dict(request.session.get(FLOWS_KEY, {}))
    now = time.time()
    flows = {s: f for s, f in flows.items() if now - f.get("started", 0) <= settings.VERIFICATION_FLOW_SECONDS}
    while len(flows) >= MAX_FLOWS:
        flows.pop(min(flows, key=lambda s: flows[s]["started"]))
    flows[auth.state] = {
        "idp": idp.pk, "nonce": auth.nonce, "verifier": auth.code_verifier, "purpose": purpose,
        "case": case.pk if case else None, "user": user.pk if user else None, "email": normalize_email(email),
        "next": next_url, "redirect_uri": redirect_uri, "started": now,
    }
    request.session[FLOWS_KEY] = flows
    audit_record(
        actor=user, action="identity.verification_started", obj=user or case,
        object_type="" if (user or case) else "accounts.user", object_repr="" if (user or case) else email,
        changes={"purpose": purpose, "provider": idp.slug},
    )
    return auth.url


def _take_flow(request: HttpRequest, state: str) -> dict | None:
    flows = dict(request.session.get(FLOWS_KEY, {}))
    flow = flows.pop(state, None) if state else None
    request.session[FLOWS_KEY] = flows
    return flow


_PROTOCOL_MESSAGES = {
    protocol.STATE: "This answer from the identity provider does not match a verification started in this "
                    "browser (it was already used, took too long, or was started elsewhere). Start the "
                    "verification again.",
    protocol.EXPIRY: "The identity provider's answer arrived too late (it had expired). Start the verification "
                     "again.",
}
_UNTRUSTED = ("The identity provider's answer could not be trusted ({check} check failed), so it was not "
              "accepted. Start the verification again; if this keeps happening, contact your IT team.")


def _failure(
    request: HttpRequest, flow: dict | None, *, idp: IdentityProvider | None, check: str, reason: str,
    user_message: str, subject: str = "", txn: str = "", mapped: Mapping[str, Any] | None = None, level: str = "",
) -> Result:
    """Record a refused verification in its own transaction and say what to do next."""
    flow = flow or {}
    purpose = flow.get("purpose", "")
    case = None
    user = None
    if flow.get("user"):
        user = User.objects.filter(pk=flow["user"]).first()
    elif purpose == Purpose.RECOVERY and flow.get("email"):
        user = User.objects.filter(email__iexact=flow["email"], is_active=True).first()
    person_failed = check in PERSON_CHECKS
    with transaction.atomic():
        if flow.get("case"):
            case = OnboardingCase.objects.select_for_update().filter(pk=flow["case"]).first()
        if purpose:
            VerificationRecord.objects.create(
                user=user, case=case, provider=idp, provider_name=idp.name if idp else "", purpose=purpose,
                outcome=VerificationRecord.Outcome.FAILED, failed_check=check, reason=reason[:300],
                email=flow.get("email", ""), subject=subject[:255], transaction_id=txn, assurance_level=level,
                claims=dict(mapped or {}),
            )
        audit_record(
            actor=user if user is not None and request.user.is_authenticated else None,
            action="identity.verification_failed", obj=user or case,
            object_type="" if (user or case) else "accounts.user",
            object_repr="" if (user or case) else flow.get("email", "unknown"),
            changes={"check": check, "reason": reason, "purpose": purpose, "provider": idp.slug if idp else ""},
        )
        if case is not None:
            case.failure_check, case.failure_reason, case.failed_at = check, reason[:300], timezone.now()
            fields = ["failure_check", "failure_reason", "failed_at", "updated_at"]
            if person_failed and case.status == Status.PENDING:
                case.status = Status.FAILED
                fields.append("status")
                audit_record(actor=None, action="onboarding.case.failed", obj=case,
                             changes={"status": {"old": Status.PENDING, "new": Status.FAILED}, "check": check,
                                      "reason": reason})
            case.save(update_fields=fields)
    if case is not None and person_failed:
        user_message += " The person who invited you has been told why; they can send you a new invitation."
    retry = case is not None and case.status == Status.PENDING
    return Result(False, purpose, user_message, check=check, case=case,
                  can_retry=retry or purpose != Purpose.ONBOARDING)


def verification_complete(
    request: HttpRequest,
    *,
    params: Mapping[str, str],
    exchange: Callable[..., dict[str, Any]] = protocol.exchange_code,
) -> Result:
    """The provider sent the browser back: check state, exchange the code (PKCE), validate the ID
    token, check its claims, then do what the verification was for."""
    _limit(request)
    flow = _take_flow(request, params.get("state", ""))
    if flow is None:
        return _failure(request, None, idp=None, check=protocol.STATE,
                        reason="No verification started in this browser has this state.",
                        user_message=_PROTOCOL_MESSAGES[protocol.STATE])
    idp = IdentityProvider.objects.filter(pk=flow["idp"], enabled=True).first()
    if time.time() - flow["started"] > settings.VERIFICATION_FLOW_SECONDS:
        return _failure(request, flow, idp=idp, check=protocol.STATE, reason="The verification took too long.",
                        user_message=_PROTOCOL_MESSAGES[protocol.STATE])
    if idp is None:
        return _failure(request, flow, idp=None, check=protocol.PROVIDER,
                        reason="The identity provider was disabled or removed during the verification.",
                        user_message="The identity provider is no longer available. Contact your IT team.")
    if params.get("error"):
        description = (params.get("error_description") or params["error"])[:200]
        return _failure(request, flow, idp=idp, check=protocol.PROVIDER,
                        reason=f"The provider answered {params['error'][:60]}: {description}",
                        user_message=f"The verification was not completed at the identity provider ({description}). "
                                     "Start it again when you are ready.")
    code = params.get("code", "")
    if not code:
        return _failure(request, flow, idp=idp, check=protocol.MALFORMED, reason="The answer has no code.",
                        user_message=_UNTRUSTED.format(check="token"))
    try:
        tokens = exchange(idp, code=code, code_verifier=flow["verifier"], redirect_uri=flow["redirect_uri"])
    except protocol.TokenRejected as exc:
        return _failure(request, flow, idp=idp, check=exc.check, reason=exc.reason,
                        user_message=_UNTRUSTED.format(check=exc.check))
    except ExternalServiceError as exc:
        return _failure(request, flow, idp=idp, check=protocol.PROVIDER, reason=exc.message,
                        user_message="The identity provider could not be reached. Try again in a few minutes.")
    return verification_accept_token(request, flow=flow, idp=idp, id_token=tokens["id_token"])


def verification_accept_token(request: HttpRequest, *, flow: dict, idp: IdentityProvider, id_token: str) -> Result:
    """Validate an ID token received for ``flow`` and act on it (the second half of the callback)."""
    try:
        token_claims = protocol.validate_id_token(idp, id_token, nonce=flow["nonce"])
    except protocol.TokenRejected as exc:
        message = _PROTOCOL_MESSAGES.get(exc.check) or _UNTRUSTED.format(check=exc.check)
        return _failure(request, flow, idp=idp, check=exc.check, reason=exc.reason, user_message=message)
    except ExternalServiceError as exc:
        return _failure(request, flow, idp=idp, check=protocol.PROVIDER, reason=exc.message,
                        user_message="The identity provider could not be reached. Try again in a few minutes.")
    txn = protocol.transaction_id(token_claims, id_token)
    subject = str(token_claims.get("sub", ""))
    checked = claim_rules.check_claims(token_claims, mapping_of(idp), expected_email=flow["email"])
    if not checked.ok:
        return _failure(request, flow, idp=idp, check=checked.failed_check, reason=checked.reason,
                        user_message=checked.user_message, subject=subject, txn=txn, mapped=checked.mapped,
                        level=checked.level)
    amr = token_claims.get("amr")
    evidence = {
        "subject": subject, "txn": txn, "level": checked.level, "mapped": dict(checked.mapped),
        "amr": [str(a)[:40] for a in amr][:10] if isinstance(amr, list) else [],
        # Who the person is, compared with the account's owner at recovery; never stored as such.
        "identity": {key: token_claims[key] for key in claim_rules.IDENTITY_CLAIMS if key in token_claims},
    }
    # The verification belongs to this browser's console session (Access step-up counts it only there).
    flow = dict(flow, binding=session_hash(request.session))
    handlers = {
        Purpose.ONBOARDING: _onboarding_verified, Purpose.STEP_UP: _signed_in_verified,
        Purpose.MFA_RESET: _signed_in_verified, Purpose.RECOVERY: _recovery_verified,
    }
    return handlers[flow["purpose"]](request, flow, idp, evidence)


def _record(*, user: User | None, case: OnboardingCase | None, idp: IdentityProvider, flow: dict,
            evidence: dict) -> VerificationRecord:
    return VerificationRecord.objects.create(
        user=user, case=case, provider=idp, provider_name=idp.name, purpose=flow["purpose"],
        outcome=VerificationRecord.Outcome.VERIFIED, email=flow["email"], subject=evidence["subject"][:255],
        transaction_id=evidence["txn"], assurance_level=evidence["level"], claims=evidence["mapped"],
        session_hash=flow.get("binding", ""),
    )


def _audit_verified(user: User, idp: IdentityProvider, flow: dict, evidence: dict, actor: User | None) -> None:
    audit_record(actor=actor, action="identity.verified", obj=user, changes={
        "purpose": flow["purpose"], "provider": idp.slug, "assurance_level": evidence["level"],
        "transaction_id": evidence["txn"],
    })


def _sign_in(request: HttpRequest, user: User, idp: IdentityProvider, evidence: dict) -> None:
    request.login_method = "identity_verification"  # type: ignore[attr-defined]
    request.oidc_provider_slug = idp.slug  # type: ignore[attr-defined]
    request.oidc_amr = evidence["amr"]  # type: ignore[attr-defined]
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")


def _onboarding_verified(request: HttpRequest, flow: dict, idp: IdentityProvider, evidence: dict) -> Result:
    try:
        with transaction.atomic():
            case = OnboardingCase.objects.select_for_update().get(pk=flow["case"])
            if case.status != Status.PENDING:
                raise Conflict(f"the case is {case.get_status_display().lower()}")
            if User.objects.filter(email__iexact=case.work_email).exists():
                raise ValidationFailed(f"An account with the e-mail {case.work_email} already exists.")
            user = _create_account(case)
            _record(user=user, case=case, idp=idp, flow=flow, evidence=evidence)
            case.status, case.verified_at, case.user = Status.VERIFIED, timezone.now(), user
            fields = ["status", "verified_at", "user", "updated_at"]
            birthdate = claim_rules.parse_birthdate(evidence.get("identity", {}).get("birthdate"))
            if case.date_of_birth is None and birthdate is not None and all(birthdate):
                # The reference a later account recovery compares the verified birthdate with.
                case.date_of_birth = date(*birthdate)  # type: ignore[arg-type]
                fields.append("date_of_birth")
            case.save(update_fields=fields)
            _audit_verified(user, idp, flow, evidence, actor=None)
            audit_record(actor=None, action="onboarding.case.verified", obj=case, changes={
                "status": {"old": Status.PENDING, "new": Status.VERIFIED}, "account": user.email,
                "assurance_level": evidence["level"], "provider": idp.name,
            })
            _facts_changed(user, "identity verified")
    except Conflict as exc:
        return _failure(request, flow, idp=idp, check="case", reason=f"Verified, but {exc.message}.",
                        user_message=f"Your identity was verified, but your onboarding cannot continue "
                                     f"({exc.message}). Contact the person who invited you.")
    except ValidationFailed as exc:
        return _failure(request, flow, idp=idp, check="account", reason=exc.message,
                        user_message="Your identity was verified, but an account with your work e-mail already "
                                     "exists.")
    _sign_in(request, user, idp, evidence)
    request.session.pop(CASE_KEY, None)
    request.session[GATE_KEY] = {"purpose": Purpose.ONBOARDING, "case": case.pk}
    return Result(True, flow["purpose"], "Your identity is verified. One more step: enroll an authenticator.",
                  next_url=reverse("onboarding:portal"), case=case)


def _create_account(case: OnboardingCase) -> User:
    return user_create_onboarded(
        email=case.work_email, full_name=case.legal_name, manager=case.manager if case.manager_id else None,
        groups=list(case.groups.all()), case_id=case.pk, granted_by=case.created_by,
    )


def _signed_in_verified(request: HttpRequest, flow: dict, idp: IdentityProvider, evidence: dict) -> Result:
    user = request.user
    if not user.is_authenticated or user.pk != flow["user"]:
        return _failure(request, flow, idp=idp, check="session",
                        reason="The browser was signed in as someone else when the answer came back.",
                        user_message="You are no longer signed in as the person who started this verification. "
                                     "Sign in and start again.")
    with transaction.atomic():
        _record(user=user, case=None, idp=idp, flow=flow, evidence=evidence)
        _audit_verified(user, idp, flow, evidence, actor=user)
        _facts_changed(user, "identity verified")
    if flow["purpose"] == Purpose.MFA_RESET:
        removed = authenticators_reset(user=user, reason="identity verified to replace lost authenticators")
        return Result(True, flow["purpose"],
                      f"Your identity is verified. {removed} old authenticator(s) were removed: enroll a new one now.",
                      next_url=reverse("mfa:devices"))
    return Result(True, flow["purpose"], "Your identity is verified.",
                  next_url=flow.get("next") or reverse("console:home"))


def _recovery_verified(request: HttpRequest, flow: dict, idp: IdentityProvider, evidence: dict) -> Result:
    """Recovery of an account by someone who cannot sign in. The verified person must be the
    account's owner (name, and birthdate when given); a privileged account waits for a second
    admin's approval; then the old authenticators are suspended and the person is signed in only
    to enroll a new one. See ``accounts.onboarding.recovery``."""

    user = User.objects.filter(email__iexact=flow["email"], is_active=True).first()
    if user is None:
        return _failure(request, flow, idp=idp, check="account", reason=f"No active account uses {flow['email']}.",
                        user_message=f"Your identity was verified, but no active account uses {flow['email']}. "
                                     "Contact your IT team.")
    if recovery.recovery_blocked(user):
        return _failure(request, flow, idp=idp, check="frozen",
                        reason="Recovery is blocked: the owner reported a recovery they did not make.",
                        user_message="This account cannot be recovered now: its owner reported a recovery they did "
                                     "not make. Contact your IT team.")
    checked = recovery.identity_check(user, evidence.get("identity", {}))
    if not checked.ok:
        return _failure(request, flow, idp=idp, check=checked.failed_check, reason=checked.reason,
                        user_message=checked.user_message, subject=evidence["subject"], txn=evidence["txn"],
                        mapped=evidence["mapped"], level=evidence["level"])
    try:
        with transaction.atomic():
            record = _record(user=user, case=None, idp=idp, flow=flow, evidence=evidence)
            _audit_verified(user, idp, flow, evidence, actor=None)
            _facts_changed(user, "identity verified for account recovery")
            outcome = recovery.recovery_verified(user=user, idp=idp, record=record, subject=evidence["subject"])
    except Conflict as exc:
        return _failure(request, flow, idp=idp, check="approval", reason=exc.message, user_message=exc.message)
    if outcome.status != outcome.Status.RECOVERED:
        request.session[recovery.WAITING_KEY] = outcome.pk
        return Result(True, flow["purpose"], recovery.waiting_message(outcome),
                      next_url=reverse("onboarding:recover-waiting"))
    _sign_in(request, user, idp, evidence)
    request.session[GATE_KEY] = {"purpose": Purpose.RECOVERY, "case": None, "recovery": outcome.pk}
    return Result(True, flow["purpose"], "Your identity is verified. Enroll a new authenticator to finish: your old "
                                         "ones are suspended.",
                  next_url=reverse("onboarding:portal"))


def recovery_begin(request: HttpRequest, *, email: str, redirect_uri: str) -> str:
    """Account recovery for someone who cannot sign in: whatever the e-mail, the person is sent to
    verify (so the page does not reveal who has an account); the answer must be for this e-mail."""
    email = _clean_email(email, "email")
    return verification_begin(request, purpose=Purpose.RECOVERY, idp=None, redirect_uri=redirect_uri, email=email)


# --- After verification -----------------------------------------------------------------------


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
