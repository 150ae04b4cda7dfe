"""What stands between a person and the console: sign-in lockouts and console sessions."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services.rights import check_rank
from console.audit.services import audit_record
from console.core.permissions import require_role
from console.core.roles import ADMINS


@transaction.atomic
def user_unlock(*, actor: User, user: User) -> int:
    """Clear django-axes lockouts for the user's e-mail; returns how many records were cleared."""
    require_role(actor, ADMINS, "clear sign-in lockouts")
    check_rank(actor, target_role=user.role, what="clear the sign-in lockout of")

    attempts = AccessAttempt.objects.filter(username=user.email)
    # So that a new lockout after this one is recorded as a lockout again.
    cache.delete_many([f"lockout-audited:{user.email}:{a.ip_address}" for a in attempts])
    cleared, _ = attempts.delete()
    if cleared:
        audit_record(actor=actor, action="user.unlocked", obj=user, changes={"lockouts_cleared": cleared})
    return cleared


def console_sessions_end(*, user: User) -> int:
    """Sign the person out of the console everywhere (their browser sessions), e.g. when their
    account is confirmed compromised. Returns how many sessions ended. Callers audit the reason."""

    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=2000):
        if str(session.get_decoded().get(SESSION_KEY, "")) == str(user.pk):
            ended.append(session.pk)
    if ended:
        Session.objects.filter(pk__in=ended).delete()
    return len(ended)
