"""What a change of score sets off: Shared Signals events (queued in the same transaction, so
none is lost) and, once committed, Access deciding the person's open sessions again (revoked
when no longer allowed, marked when they now need a step-up)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from console.access import policies
from console.access.models import AccessSession
from console.access.services import user_facts_changed
from risk.models import Level, RiskLevelChange
from risk.scoring import Change

log = logging.getLogger(__name__)

INITIATOR = {
    RiskLevelChange.Cause.DETECTION: "policy",
    RiskLevelChange.Cause.RESCORE: "system",
    RiskLevelChange.Cause.CONFIGURATION: "admin",
    RiskLevelChange.Cause.RESET: "admin",
    RiskLevelChange.Cause.COMPROMISED: "admin",
}


def _publisher():
    """The Shared Signals publishing API, or ``None`` when no stream wants risk changes (one
    query, so a full rescore that changes many levels pays nothing when nobody listens)."""
    try:
        # Imported here: the transmitter is optional (see the except).
        from risk.ssf import events, publish
        from risk.ssf.models import Stream
    except ImportError:  # the Shared Signals transmitter is not installed
        return None
    wanted = Stream.objects.exclude(status=Stream.Status.DISABLED).values_list("events_delivered", flat=True)
    if not any(events.USER_RISK_CHANGE in (delivered or []) for delivered in wanted):
        return None
    return publish


def level_changed(
    changes: Sequence[Change], *, cause: str, actor_email: str = "", reason: str = "", at: datetime | None = None,
) -> None:
    if not changes:
        return
    at = at or timezone.now()
    publish = _publisher()
    if publish is not None:
        people = User.objects.in_bulk([c.user_id for c in changes])
        for change in changes:
            user = people.get(change.user_id)
            if user is None:
                continue
            publish.user_risk_changed(
                user=user, previous=Level(change.previous).key, current=Level(change.current).key,
                initiating_entity=INITIATOR.get(cause, "system"),
                reason_admin=reason or RiskLevelChange.Cause(cause).label, at=at,
            )
    user_ids = [c.user_id for c in changes]
    words = {c.user_id: f"risk score {Level(c.previous).label} → {Level(c.current).label}" for c in changes}
    transaction.on_commit(lambda: reevaluate_access(user_ids, words))


def reevaluate_access(user_ids: Sequence[int], reasons: dict[int, str]) -> int:
    """Every process forgets cached scores; each person with open sessions is decided again."""

    policies.bump_version()
    revoked = 0
    now = timezone.now()
    if connection.vendor == "postgresql":
        table = AccessSession._meta.db_table
        with connection.cursor() as cursor:
            # One array parameter rather than thousands of placeholders (a full rescore's chunk).
            cursor.execute(f"SELECT DISTINCT user_id FROM {table} WHERE user_id = ANY(%s) "  # noqa: S608
                           "AND revoked_at IS NULL AND expires_at > %s", [list(user_ids), now])
            with_sessions = [row[0] for row in cursor.fetchall()]
    else:
        with_sessions = list(AccessSession.objects.filter(user_id__in=list(user_ids), revoked_at__isnull=True,
                                                          expires_at__gt=now).values_list("user_id", flat=True)
                             .distinct())
    for user_id in sorted(with_sessions):
        try:
            revoked += user_facts_changed(user_id=user_id, reason=reasons.get(user_id, "risk score changed"))
        except Exception:  # one person's sessions must not stop the others'
            log.exception("re-evaluating the sessions of user %s failed", user_id)
    return revoked
