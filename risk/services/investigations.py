"""What investigators do to a person's risk: reset it, or mark the person confirmed compromised."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services.rights import check_rank
from accounts.services.sign_in import console_sessions_end
from console.access.services import sessions_revoke_for_user
from console.audit.services import audit_record
from console.core.errors import Conflict, PermissionRefused, ValidationFailed
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk import effects, scoring
from risk.models import Level, RiskLevelChange, UserRisk


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why (it is kept in the person's risk history).", field="reason")
    if len(reason) > 500:
        raise ValidationFailed("Keep the reason under 500 characters.", field="reason")
    if "\x00" in reason:
        raise ValidationFailed("The reason contains a NUL character.", field="reason")
    if not reason.isascii():
        try:
            reason.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed("The reason is not valid Unicode (it holds a lone surrogate).", field="reason")
    return reason


@transaction.atomic
def risk_reset(*, actor: User | None, user: User, reason: str, via: str = "") -> scoring.Change | None:
    """Forgive everything up to now: the person is Unscored until they trigger a behaviour
    again. History is kept; Access gives back what policy allows. ``actor`` is the admin, or
    ``None`` with ``via`` naming the API token of a SOAR tool (a system call: refused without it)."""
    require_role(actor, ADMINS, "reset risk scores", system=bool(via))
    if actor is not None:
        # A reset gives access back: like every action on a person, a Super Admin's is a Super Admin's.
        check_rank(actor, target_role=user.role, what="reset the risk score of")
    reason = _reason(reason)
    by = actor.email if actor is not None else via
    risk, _ = UserRisk.objects.select_for_update().get_or_create(user=user)
    now = timezone.now()
    previous = risk.level
    risk.last_reset_at, risk.level, risk.changed_at = now, Level.UNSCORED, now
    cleared = risk.compromised_at is not None
    risk.compromised_at, risk.compromised_by_email, risk.compromised_reason = None, "", ""
    risk.save(update_fields=["last_reset_at", "level", "changed_at", "compromised_at", "compromised_by_email",
                             "compromised_reason"])
    RiskLevelChange.objects.create(user=user, at=now, previous=previous, current=Level.UNSCORED,
                                   cause=RiskLevelChange.Cause.RESET, actor_email=by[:254], reason=reason)
    audit_record(actor=actor, action="risk.reset", obj=user,
                 changes={"level": {"old": Level(previous).label, "new": Level.UNSCORED.label}, "reason": reason,
                          **({"via": via} if actor is None else {}),
                          **({"confirmed_compromised": {"old": True, "new": False}} if cleared else {})})
    change = scoring.Change(user.pk, previous, int(Level.UNSCORED))

    effects.level_changed([change] if previous != Level.UNSCORED else [], cause=RiskLevelChange.Cause.RESET,
                          actor_email=by, reason=reason, at=now)
    return change


@transaction.atomic
def risk_mark_compromised(*, actor: User, user: User, reason: str) -> None:
    """Confirmed compromised: High until reset, every open Access session revoked and the
    person signed out of the console everywhere, now."""
    require_role(actor, ADMINS, "mark people compromised")
    reason = _reason(reason)
    if user.pk == actor.pk:
        raise PermissionRefused("Ask another admin to mark your own account compromised.")
    risk, _ = UserRisk.objects.select_for_update().get_or_create(user=user)
    if risk.compromised_at is not None:
        raise Conflict(f"{user.email} is already marked confirmed compromised.")
    now = timezone.now()
    previous = risk.level
    risk.compromised_at, risk.compromised_by_email, risk.compromised_reason = now, actor.email, reason
    risk.level, risk.changed_at = Level.HIGH, now
    risk.save(update_fields=["compromised_at", "compromised_by_email", "compromised_reason", "level", "changed_at"])
    RiskLevelChange.objects.create(user=user, at=now, previous=previous, current=Level.HIGH,
                                   cause=RiskLevelChange.Cause.COMPROMISED, actor_email=actor.email, reason=reason)
    audit_record(actor=actor, action="risk.compromised", obj=user,
                 changes={"level": {"old": Level(previous).label, "new": Level.HIGH.label}, "reason": reason})

    effects.level_changed(
        [scoring.Change(user.pk, previous, int(Level.HIGH))] if previous != Level.HIGH else [],
        cause=RiskLevelChange.Cause.COMPROMISED, actor_email=actor.email, reason=reason, at=now,
    )

    sessions_revoke_for_user(actor=actor, user=user)
    signed_out = console_sessions_end(user=user)
    if signed_out:
        audit_record(actor=actor, action="auth.sessions_ended", obj=user,
                     changes={"console_sessions": signed_out, "reason": "confirmed compromised"})
