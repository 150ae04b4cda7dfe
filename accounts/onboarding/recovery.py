"""Account recovery after identity verification, and what guards it.

Passing a verification with an account's e-mail is not enough to take the account:

1. **The verified person must be the owner**: the verified name (and birthdate, when the
   provider gives one and a date of birth is on record) is compared with the directory and the
   person's HR onboarding case (``identity_check``). A mismatch is refused and recorded as a
   failed verification (``identity.verification_failed``, check ``name`` or ``birthdate``).
2. **Privileged accounts need a second admin** (Super Admin, Security Admin, HR: people who can
   change other people): the recovery becomes a pending ``RecoveryRequest`` that another admin
   approves or rejects in the console (``recovery_approve``, ``recovery_reject``): never the
   person, and only a Super Admin for a Super Admin. After approval the person verifies again
   (same provider subject, within ``RECOVERY_APPROVAL_HOURS``) to complete it.
3. **The owner is told** by e-mail (work address, and the personal address HR recorded) when a
   recovery starts, is decided, completes and is reported; each e-mail has a "This wasn't me"
   link (``recovery_report``) that freezes the account: sessions end, the authenticators
   enrolled since the recovery are removed, the old ones are restored, and recovery is blocked
   until an admin lifts the freeze.
4. **Old authenticators are suspended, not deleted**: kept encrypted on the request and unusable
   until the owner confirms their removal (from a session verified with the new authenticator,
   after ``RECOVERY_CONFIRM_WAIT_HOURS``) or an admin does (``recovery_old_remove``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.models import IdentityProvider, User
from accounts.onboarding import claims as claim_rules
from accounts.onboarding.models import OnboardingCase, RecoveryRequest, VerificationRecord
from accounts.services.sign_in import console_sessions_end
from console.access.services import end_sessions_of
from console.audit.services import audit_record
from console.core.errors import Conflict, NotFound, PermissionRefused, ValidationFailed, VerificationRequired
from console.core.permissions import require_role
from console.core.roles import ADMINS, CONSOLE_READERS, Role
from mfa.services import (
    authenticators_park,
    authenticators_remove_enrolled_since,
    authenticators_restore,
    recently_verified,
)

log = logging.getLogger(__name__)

# Roles whose recovery waits for a second admin: they can change other people.
PRIVILEGED = frozenset({Role.SUPER_ADMIN, Role.SECURITY_ADMIN, Role.HR})
WAITING_KEY = "recovery_waiting"  # the request this browser waits on (the waiting page reads it)
REPORT_SALT = "accounts.onboarding.recovery.report"
RStatus = RecoveryRequest.Status


# --- Reads --------------------------------------------------------------------------------------


def identity_check(user: User, identity: dict) -> claim_rules.ClaimCheck:
    """The verified person against the account's owner: the directory name or the legal name of
    any of their onboarding cases; the date of birth of the latest case that has one."""
    cases = list(OnboardingCase.objects.filter(user=user).order_by("-created_at"))
    names = [user.full_name, *(case.legal_name for case in cases)]
    birthdate = next((case.date_of_birth for case in cases if case.date_of_birth), None)
    return claim_rules.check_identity(identity, expected_names=names, expected_birthdate=birthdate)


def recovery_blocked(user: User) -> bool:
    """The owner reported a recovery and no admin has lifted the freeze yet."""
    return RecoveryRequest.objects.filter(user=user, reported_at__isnull=False, freeze_lifted_at__isnull=True).exists()


def recoveries_for_list() -> QuerySet[RecoveryRequest]:
    return RecoveryRequest.objects.select_related("user", "decided_by", "old_removed_by", "freeze_lifted_by",
                                                  "provider")


def get_recovery_for(viewer: User, recovery_id: int) -> RecoveryRequest:
    """One recovery for a console reader; refusals and a missing recovery are ``ConsoleError``s
    (the recovery page reports them as messages, not as error pages)."""
    require_role(viewer, CONSOLE_READERS, "see account recoveries")
    recovery = recoveries_for_list().filter(pk=recovery_id).first()
    if recovery is None:
        raise NotFound("No such account recovery.")
    return recovery


def waiting_recovery(recovery_id: int) -> RecoveryRequest | None:
    """The recovery this browser waits on (its id is in the browser's session), if it still exists."""
    return RecoveryRequest.objects.filter(pk=recovery_id).first()


def suspended_of(user: User) -> list[RecoveryRequest]:
    """The person's recoveries whose old authenticators still wait for removal."""
    return [r for r in RecoveryRequest.objects.filter(user=user, old_removed_at__isnull=True).exclude(parked="")
            .order_by("-requested_at")]


def confirm_after(recovery: RecoveryRequest) -> datetime:
    """When the owner may confirm the removal of the old authenticators themselves."""
    start = recovery.completed_at or recovery.recovered_at or recovery.requested_at
    return start + timedelta(hours=settings.RECOVERY_CONFIRM_WAIT_HOURS)


def waiting_message(recovery: RecoveryRequest) -> str:
    if recovery.status == RStatus.PENDING:
        return (f"Your identity is verified. Your account has the {Role(recovery.role).label} role, so a second admin "
                "must approve this recovery. You will get an e-mail when it is decided; then verify again to finish.")
    if recovery.status == RStatus.APPROVED:
        return "Your recovery was approved: verify again to finish it."
    if recovery.status == RStatus.REJECTED:
        return "Your recovery was rejected. Contact your IT team."
    return f"Your recovery is {recovery.get_status_display().lower()}."


# --- Mail ---------------------------------------------------------------------------------------


def report_token(recovery: RecoveryRequest) -> str:
    return signing.dumps(recovery.pk, salt=REPORT_SALT)


def _link(name: str, **kwargs) -> str:
    # The configured address, never the request's Host header: a forged Host must not put an
    # attacker's site in the owner's e-mail.
    return f"{settings.CONSOLE_URL.rstrip('/')}{reverse(name, kwargs=kwargs or None)}"


def _owner_addresses(user: User) -> list[str]:
    """The work address and the personal address HR recorded: whoever took the account may be
    reading the work mailbox."""
    addresses = [user.email]
    case = OnboardingCase.objects.filter(user=user).order_by("-created_at").first()
    if case is not None and case.personal_email.lower() != user.email.lower():
        addresses.append(case.personal_email)
    return addresses


_INTRO = {
    "started": "Someone proved their identity to recover your account {email} on {at}.",
    "pending": "Someone proved their identity to recover your account {email} on {at}. Because of your role, "
               "another admin must approve it before it can be completed.",
    "approved": "The recovery of your account {email} was approved by {by} on {at}. It can be completed within "
                "{hours} hours by verifying again.",
    "rejected": "The recovery of your account {email} was rejected by {by} on {at}.",
    "completed": "The recovery of your account {email} was completed on {at}: a new authenticator was enrolled. "
                 "Your old authenticators are suspended; you can remove them for good after {after} from "
                 "\"Authenticators before your recovery\" ({old_link}), or an admin will.",
    "reported": "You reported the recovery of your account {email} on {at}. Your account is frozen: its sessions "
                "ended, authenticators enrolled during the recovery were removed, your old ones are back, and "
                "recovery is blocked until your IT team lifts the freeze. Contact them now.",
}
_SUBJECTS = {
    "started": "Your account is being recovered", "pending": "Your account is being recovered",
    "approved": "Your account recovery was approved", "rejected": "Your account recovery was rejected",
    "completed": "Your account was recovered", "reported": "Your account is frozen",
}


def _send(recovery_id: int, kind: str) -> None:
    """Runs after commit; a mail failure is audited, nothing is rolled back."""
    recovery = RecoveryRequest.objects.select_related("user", "decided_by").get(pk=recovery_id)
    user = recovery.user
    at = timezone.localtime(timezone.now())
    intro = _INTRO[kind].format(
        email=user.email, at=f"{at:%Y-%m-%d %H:%M %Z}", by=recovery.decided_by.email if recovery.decided_by else "",
        hours=settings.RECOVERY_APPROVAL_HOURS,
        after=f"{timezone.localtime(confirm_after(recovery)):%Y-%m-%d %H:%M %Z}",
        old_link=_link("onboarding:recover-old"),
    )
    body = f"Hello {user.get_short_name()},\n\n{intro}\n\n"
    if kind != "reported":
        body += ("If this wasn't you, open this link at once: it freezes your account (ends its sessions, removes "
                 "what was enrolled during the recovery, restores your old authenticators and blocks recovery):\n\n"
                 f"{_link('onboarding:recover-report', token=report_token(recovery))}\n\n"
                 f"The link works for {settings.RECOVERY_REPORT_DAYS} days.\n")
    message = EmailMessage(subject=_SUBJECTS[kind], body=body, from_email=settings.DEFAULT_FROM_EMAIL,
                           to=_owner_addresses(user))
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - any mail failure is recorded the same way
        log.warning("Recovery e-mail %s for request %s failed: %s", kind, recovery_id, exc)
        audit_record(actor=None, action="identity.recovery_notice_failed", obj=user,
                     changes={"notice": kind, "error": exc.__class__.__name__})
        return
    audit_record(actor=None, action="identity.recovery_notice_sent", obj=user,
                 changes={"notice": kind, "to": message.to, "recovery": recovery_id})


def approvers_of(recovery: RecoveryRequest) -> list[User]:
    """The active admins who may decide this recovery (see ``_check_admin``)."""
    roles = [Role.SUPER_ADMIN] if Role.SUPER_ADMIN in (recovery.user.role, recovery.role) else list(ADMINS)
    return list(User.objects.filter(role__in=roles, is_active=True).exclude(pk=recovery.user_id).order_by("email"))


def _ask_approvers(recovery_id: int) -> None:
    """Runs after commit: the admins who may decide are told a recovery waits (no link to act
    from the e-mail: they decide in the console, signed in)."""
    recovery = RecoveryRequest.objects.select_related("user").get(pk=recovery_id)
    to = [admin.email for admin in approvers_of(recovery)]
    if not to:
        log.warning("Recovery %s waits for approval but no admin can approve it", recovery_id)
        return
    body = (f"{recovery.user.get_full_name()} <{recovery.user.email}> ({Role(recovery.role).label}) proved their "
            "identity to recover their account and waits for a second admin's approval.\n\n"
            "Before approving, make sure it is them out of band (a call to a number you already know, in person). "
            f"Decide on Onboarding → Account recoveries: {_link('onboarding:recovery-list')}?status=pending\n")
    message = EmailMessage(subject=f"Account recovery waiting for approval: {recovery.user.email}", body=body,
                           from_email=settings.DEFAULT_FROM_EMAIL, to=to)
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - any mail failure is recorded the same way
        log.warning("Approval request e-mail for recovery %s failed: %s", recovery_id, exc)


def _notify(recovery: RecoveryRequest, kind: str) -> None:
    recovery_id = recovery.pk
    transaction.on_commit(lambda: _send(recovery_id, kind))


# --- The person ---------------------------------------------------------------------------------


def _park(recovery: RecoveryRequest, user: User) -> None:
    parked, names = authenticators_park(user=user, reason=f"account recovery {recovery.pk}")
    recovery.parked, recovery.parked_names = parked, names


def recovery_verified(
    *, user: User, idp: IdentityProvider, record: VerificationRecord, subject: str
) -> RecoveryRequest:
    """Called in the callback's transaction once the verified person matched the owner. Returns
    the request: ``recovered`` (sign the person in to enroll), or ``pending`` (a privileged
    account waits for approval). Raises ``Conflict`` when an approved recovery was for another
    verified identity."""
    User.objects.select_for_update().filter(pk=user.pk).first()  # one recovery at a time per person
    now = timezone.now()
    privileged = user.role in PRIVILEGED
    if privileged:
        recovery = (RecoveryRequest.objects.filter(user=user, status=RStatus.APPROVED, approval_expires_at__gt=now)
                    .order_by("-decided_at").first())
        if recovery is None:
            pending = RecoveryRequest.objects.filter(user=user, status=RStatus.PENDING).first()
            if pending is not None:
                pending.verification = record
                pending.save(update_fields=["verification"])
                return pending
            pending = RecoveryRequest.objects.create(
                user=user, status=RStatus.PENDING, role=user.role, needs_approval=True, verification=record,
                provider=idp, subject=subject[:255],
            )
            audit_record(actor=None, action="identity.recovery_requested", obj=user,
                         changes={"recovery": pending.pk, "role": user.role, "needs_approval": True,
                                  "provider": idp.slug})
            _notify(pending, "pending")
            pending_id = pending.pk
            transaction.on_commit(lambda: _ask_approvers(pending_id))
            return pending
        if recovery.provider_id != idp.pk or (recovery.subject and recovery.subject != subject[:255]):
            raise Conflict("This recovery was approved for another verified identity. Verify with the same identity "
                           "provider account as the first time, or contact your IT team.")
    else:
        recovery = RecoveryRequest.objects.create(
            user=user, status=RStatus.RECOVERED, role=user.role, verification=record, provider=idp,
            subject=subject[:255],
        )
        audit_record(actor=None, action="identity.recovery_requested", obj=user,
                     changes={"recovery": recovery.pk, "role": user.role, "needs_approval": False,
                              "provider": idp.slug})
        _notify(recovery, "started")
    _park(recovery, user)
    recovery.status, recovery.recovered_at, recovery.verification = RStatus.RECOVERED, now, record
    recovery.save(update_fields=["status", "recovered_at", "verification", "parked", "parked_names"])
    audit_record(actor=None, action="identity.account_recovered", obj=user,
                 changes={"provider": idp.slug, "recovery": recovery.pk, "suspended": recovery.parked_names})
    return recovery


@transaction.atomic
def recovery_finish(*, user: User, recovery_id: int | None) -> RecoveryRequest | None:
    """The recovered person enrolled a new authenticator (``onboarding_finish``)."""
    recovery = None
    if recovery_id:
        recovery = RecoveryRequest.objects.select_for_update().filter(
            pk=recovery_id, user=user, status=RStatus.RECOVERED).first()
    audit_record(actor=user, action="identity.recovery_completed", obj=user,
                 changes={"recovery": recovery.pk if recovery else None})
    if recovery is not None:
        recovery.status, recovery.completed_at = RStatus.COMPLETED, timezone.now()
        recovery.save(update_fields=["status", "completed_at"])
        _notify(recovery, "completed")
    return recovery


def _remove_old(recovery: RecoveryRequest, *, actor: User, by: str) -> None:
    names = recovery.parked_names
    recovery.parked, recovery.old_removed_at, recovery.old_removed_by = "", timezone.now(), actor
    recovery.save(update_fields=["parked", "old_removed_at", "old_removed_by"])
    audit_record(actor=actor, action="identity.recovery_old_authenticators_removed", obj=recovery.user,
                 changes={"recovery": recovery.pk, "removed": names, "by": by})


@transaction.atomic
def recovery_old_confirm(request: HttpRequest, *, recovery_id: int) -> RecoveryRequest:
    """The owner confirms that the suspended authenticators can go: signed in, verified with an
    authenticator in this session within ``MFA_RECENT_SECONDS`` (every usable one was enrolled
    since the recovery: the old ones are suspended), after the waiting period."""

    user = request.user
    recovery = RecoveryRequest.objects.select_for_update().filter(pk=recovery_id, user=user).first()
    if recovery is None:
        raise NotFound("No such account recovery.")
    if not recovery.old_pending_removal:
        return recovery
    if recovery.status != RStatus.COMPLETED:
        raise Conflict("Finish the recovery first: enroll a new authenticator.")
    after = confirm_after(recovery)
    if timezone.now() < after:
        raise Conflict(f"You can remove them after {timezone.localtime(after):%Y-%m-%d %H:%M %Z}: the wait gives the "
                       "owner of the account time to report a recovery they did not make.")
    if not recently_verified(request.session):
        raise VerificationRequired("Verify with your new authenticator first.")
    _remove_old(recovery, actor=user, by="owner")
    return recovery


@transaction.atomic
def recovery_report(*, token: str) -> RecoveryRequest:
    """"This wasn't me" from the owner's e-mail: freeze the account. Idempotent."""

    recovery = report_target(token)
    recovery = RecoveryRequest.objects.select_for_update().get(pk=recovery.pk)
    if recovery.reported_at is not None:
        return recovery
    user = recovery.user
    old_status = recovery.status
    now = timezone.now()
    removed: list[str] = []
    restored = 0
    reason = f"the owner reported account recovery {recovery.pk}"
    if recovery.recovered_at is not None:
        removed = authenticators_remove_enrolled_since(user=user, since=recovery.recovered_at, reason=reason)
        if recovery.old_pending_removal:
            restored = authenticators_restore(user=user, parked=recovery.parked, reason=reason)
            recovery.parked = ""
    recovery.status, recovery.reported_at = RStatus.REPORTED, now
    recovery.save(update_fields=["status", "reported_at", "parked"])
    others = list(RecoveryRequest.objects.select_for_update().filter(
        user=user, status__in=[RStatus.PENDING, RStatus.APPROVED, RStatus.RECOVERED]).exclude(pk=recovery.pk))
    for other in others:
        other.status = RStatus.REPORTED
        other.save(update_fields=["status"])
    sessions = console_sessions_end(user=user)
    access_sessions = end_sessions_of(user, reason="the owner reported an account recovery they did not make")
    audit_record(actor=None, action="identity.recovery_reported", obj=user, changes={
        "recovery": recovery.pk, "status": {"old": old_status, "new": RStatus.REPORTED},
        "removed": removed, "restored": restored, "console_sessions_ended": sessions,
        "access_sessions_revoked": access_sessions, "also_closed": [o.pk for o in others],
    })
    _notify(recovery, "reported")
    return recovery


def report_target(token: str) -> RecoveryRequest:
    """The recovery a "This wasn't me" link is about, or a ``ConsoleError`` saying why not."""
    try:
        recovery_id = signing.loads(token or "", salt=REPORT_SALT,
                                    max_age=timedelta(days=settings.RECOVERY_REPORT_DAYS))
    except signing.SignatureExpired:
        raise Conflict("This link expired. If someone recovered your account without you, contact your IT team now.")
    except signing.BadSignature:
        raise NotFound("This link is not valid. If someone recovered your account without you, contact your IT "
                       "team now.")
    recovery = RecoveryRequest.objects.select_related("user").filter(pk=recovery_id).first()
    if recovery is None:
        raise NotFound("This recovery no longer exists. Contact your IT team.")
    return recovery


# --- Admins -------------------------------------------------------------------------------------


def _check_admin(actor: User, recovery: RecoveryRequest, what: str) -> None:
    """Another admin than the person; a Super Admin when the person is (or was, when the
    recovery started) a Super Admin."""
    require_role(actor, ADMINS, what)
    if actor.pk == recovery.user_id:
        raise PermissionRefused(f"You cannot {what} for your own account: another admin must.")
    if Role.SUPER_ADMIN in (recovery.user.role, recovery.role) and actor.role != Role.SUPER_ADMIN:
        raise PermissionRefused(f"Only another Super Admin can {what} for a Super Admin.")


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("Say why (for the audit trail).", field="reason")
    return reason[:500]


def _locked(recovery: RecoveryRequest) -> RecoveryRequest:
    return RecoveryRequest.objects.select_for_update().select_related("user").get(pk=recovery.pk)


def _decide(*, actor: User, recovery: RecoveryRequest, reason: str, approve: bool) -> RecoveryRequest:
    what = "approve account recoveries" if approve else "reject account recoveries"
    recovery = _locked(recovery)
    _check_admin(actor, recovery, what)
    reason = _reason(reason)
    if recovery.status != RStatus.PENDING:
        raise Conflict(f"This recovery is {recovery.get_status_display().lower()}: only a waiting one can be decided.")
    now = timezone.now()
    recovery.status = RStatus.APPROVED if approve else RStatus.REJECTED
    recovery.decided_by, recovery.decided_at, recovery.decision_reason = actor, now, reason
    recovery.approval_expires_at = now + timedelta(hours=settings.RECOVERY_APPROVAL_HOURS) if approve else None
    recovery.save(update_fields=["status", "decided_by", "decided_at", "decision_reason", "approval_expires_at"])
    audit_record(actor=actor, action="identity.recovery_approved" if approve else "identity.recovery_rejected",
                 obj=recovery.user, changes={"recovery": recovery.pk, "reason": reason, "role": recovery.role,
                                             "status": {"old": RStatus.PENDING, "new": recovery.status}})
    _notify(recovery, "approved" if approve else "rejected")
    return recovery


@transaction.atomic
def recovery_approve(*, actor: User, recovery: RecoveryRequest, reason: str) -> RecoveryRequest:
    """A second admin approves a privileged person's recovery; they then verify again to finish
    it within ``RECOVERY_APPROVAL_HOURS``."""
    return _decide(actor=actor, recovery=recovery, reason=reason, approve=True)


@transaction.atomic
def recovery_reject(*, actor: User, recovery: RecoveryRequest, reason: str) -> RecoveryRequest:
    return _decide(actor=actor, recovery=recovery, reason=reason, approve=False)


@transaction.atomic
def recovery_old_remove(*, actor: User, recovery: RecoveryRequest, reason: str) -> RecoveryRequest:
    """An admin confirms that the recovered person's suspended authenticators can go."""
    recovery = _locked(recovery)
    _check_admin(actor, recovery, "remove someone's old authenticators")
    reason = _reason(reason)
    if not recovery.old_pending_removal:
        raise Conflict("Nothing waits for removal on this recovery.")
    if recovery.status != RStatus.COMPLETED:
        raise Conflict("The person has not finished the recovery (no new authenticator yet).")
    _remove_old(recovery, actor=actor, by=f"admin: {reason}")
    return recovery


@transaction.atomic
def recovery_freeze_lift(*, actor: User, recovery: RecoveryRequest, reason: str) -> RecoveryRequest:
    """After talking with the owner, an admin allows account recovery again."""
    recovery = _locked(recovery)
    _check_admin(actor, recovery, "lift a recovery freeze")
    reason = _reason(reason)
    if not recovery.frozen:
        raise Conflict("This recovery did not freeze the account.")
    recovery.freeze_lifted_at, recovery.freeze_lifted_by, recovery.freeze_lift_reason = timezone.now(), actor, reason
    recovery.save(update_fields=["freeze_lifted_at", "freeze_lifted_by", "freeze_lift_reason"])
    audit_record(actor=actor, action="identity.recovery_freeze_lifted", obj=recovery.user,
                 changes={"recovery": recovery.pk, "reason": reason})
    return recovery
