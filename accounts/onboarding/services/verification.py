"""Identity verification over OpenID Connect: a flow remembered in the browser's session, the
provider's answer checked (state, code, ID token, claims), then what the verification was for:
onboarding, step-up and replacing lost authenticators for signed-in people, or account
recovery (``accounts.onboarding.recovery``).

Failed verifications are recorded (a ``VerificationRecord`` and the audit action
``identity.verification_failed`` naming the failed check) in their own transaction, so a refusal
never rolls its record back. Old records and outbox mail are pruned after their retention."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.models import IdentityProvider, User, normalize_email
from accounts.onboarding import claims as claim_rules
from accounts.onboarding import protocol, recovery
from accounts.onboarding.models import OnboardingCase, OutboxMessage, VerificationRecord
from accounts.onboarding.services.cases import clean_email
from accounts.onboarding.services.gate import CASE_KEY, GATE_KEY
from accounts.onboarding.services.providers import mapping_of, usable_provider
from accounts.services.people import user_create_onboarded
from console.access import policies
from console.access.services import facts_changed_later
from console.audit.services import audit_record
from console.core import ratelimit
from console.core.errors import Conflict, ExternalServiceError, PermissionRefused, ValidationFailed
from console.core.request_context import client_ip
from mfa.binding import session_hash
from mfa.services import authenticators_reset

Purpose = VerificationRecord.Purpose
Status = OnboardingCase.Status


FLOWS_KEY = "identity_verification_flows"


MAX_FLOWS = 5

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


def limit_attempts(request: HttpRequest, key: str = "") -> None:
    """Count a verification attempt from this address (and for ``key``, the person's e-mail);
    ``RateLimited``, audited, past either limit."""
    window = settings.VERIFICATION_ATTEMPT_WINDOW
    per_ip = ratelimit.hit("idv-ip", client_ip(request) or "unknown", limit=settings.VERIFICATION_ATTEMPTS_PER_IP,
                           window=window)
    per_key = not key or ratelimit.hit("idv-key", key, limit=settings.VERIFICATION_ATTEMPTS_PER_PERSON,
                                       window=window)
    if not (per_ip and per_key):
        audit_record(actor=None, action="identity.verification_rate_limited", object_type="accounts.user",
                     object_repr=key[:255], changes={"by": "address" if not per_ip else "person"})
        raise RateLimited("Too many verification attempts. Wait a few minutes and try again.")


def _facts_changed(user: User, reason: str) -> None:
    facts_changed_later(user.pk, reason)


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
    limit_attempts(request, normalize_email(email))
    idp = usable_provider(idp)
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
    limit_attempts(request)
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
    email = clean_email(email, "email")
    return verification_begin(request, purpose=Purpose.RECOVERY, idp=None, redirect_uri=redirect_uri, email=email)
