"""The publishing API: what the rest of the console calls to share a signal.

Call these inside your own ``transaction.atomic`` block, next to the change they describe.
Each writes one outbox row (one Security Event Token) for every stream that is not disabled,
has requested the event type and covers the person (its subjects), and returns how many it
wrote. Nothing is sent before your transaction commits; if it rolls back, nothing is sent.
Push streams are delivered by a Celery worker right after the commit (with retries); poll
streams hand the events out when their receiver polls. Bad arguments raise
``ValidationFailed`` naming the argument, whether or not any stream exists::

    from risk.ssf import publish

    with transaction.atomic():
        ...  # store the new score
        publish.user_risk_changed(user=user, previous="low", current="high", initiating_entity="policy",
                                  reason_admin="Impossible travel: Berlin → Sydney in 2 h")

Levels are ``"low"``, ``"medium"``, ``"high"`` and ``"unscored"`` (sent as ``low``, see
``events.LEVELS``); initiating entities are ``"admin"``, ``"user"``, ``"policy"`` and
``"system"`` (CAEP 1.0)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts.models import User
from risk.ssf import delivery, events
from risk.ssf.models import Stream

Builder = Callable[[dict[str, str], str], dict[str, Any]]
_PLACEHOLDER = {"format": "email", "email": "check@example.invalid"}


def _matches(stream: Stream, keys: set[str]) -> bool:
    rows = [(s.key, s.included) for s in stream.subjects.all()]
    if any(key in keys and not included for key, included in rows):
        return False
    if stream.subjects_default == Stream.Subjects.ALL:
        return True
    return any(included and (key in keys or key == "complex:*") for key, included in rows)


def _publish(event_type: str, user: Any, build: Builder, at: datetime, *, txn: str | None = None) -> int:
    build(_PLACEHOLDER, events.SHAPE_SSF)  # check the arguments even when no stream listens
    streams = [s for s in Stream.objects.exclude(status=Stream.Status.DISABLED).prefetch_related("subjects")
               if event_type in s.events_delivered]
    txn = txn or secrets.token_hex(8)
    written = 0
    for stream in streams:
        if not _matches(stream, events.user_keys(email=user.email, user_id=user.pk, issuer=stream.issuer)):
            continue
        subject = events.user_subject(email=user.email, user_id=user.pk, issuer=stream.issuer,
                                      subject_format=stream.subject_format)
        delivery.enqueue(stream, event_type=event_type, event=build(subject, stream.event_subject), sub_id=subject,
                         subject_label=user.email, txn=txn, at=at)
        written += 1
    return written


def user_risk_changed(*, user: Any, previous: str, current: str, initiating_entity: str, reason_admin: str,
                      reason_user: str = "", at: datetime | None = None) -> int:
    """A person's risk level changed (a rise, a fall or a reset): Okta's ``user-risk-change``
    for the streams that asked for it and CAEP 1.0 ``risk-level-change`` for those that asked
    for that, sharing one ``txn``. ``reason_admin`` is required (receivers log it)."""
    at = at or timezone.now()
    txn = secrets.token_hex(8)
    written = _publish(events.USER_RISK_CHANGE, user, lambda subject, shape: events.user_risk_change(
        previous=previous, current=current, initiating_entity=initiating_entity, reason_admin=reason_admin,
        reason_user=reason_user, at=at, subject=subject, shape=shape), at, txn=txn)
    return written + _publish(events.RISK_LEVEL_CHANGE, user, lambda subject, shape: events.risk_level_change(
        previous=previous, current=current, initiating_entity=initiating_entity, reason_admin=reason_admin,
        at=at), at, txn=txn)


def session_revoked(*, user: Any, reason: str, initiating_entity: str, at: datetime | None = None) -> int:
    """The person's sessions were revoked (CAEP ``session-revoked``); ``reason`` goes out as
    ``reason_admin``."""
    at = at or timezone.now()
    return _publish(events.SESSION_REVOKED, user, lambda subject, shape: events.session_revoked(
        reason=reason, initiating_entity=initiating_entity, at=at, subject=subject, shape=shape), at)


def credential_changed(*, user: Any, credential_type: str, change_type: str, friendly_name: str = "",
                       initiating_entity: str, reason_admin: str = "", at: datetime | None = None) -> int:
    """An authenticator was created, updated, revoked or deleted (CAEP ``credential-change``).
    ``credential_type`` is a CAEP name: ``app`` (TOTP), ``fido2-roaming`` (security key),
    ``fido2-platform`` (biometrics), ``password`` …; ``change_type`` is ``create``,
    ``update``, ``revoke`` or ``delete``. ``reason_admin`` defaults to a sentence saying what
    changed (the CAEP interoperability profile requires one)."""
    at = at or timezone.now()
    return _publish(events.CREDENTIAL_CHANGE, user, lambda subject, shape: events.credential_change(
        credential_type=credential_type, change_type=change_type, friendly_name=friendly_name,
        initiating_entity=initiating_entity, reason_admin=reason_admin, at=at, subject=subject, shape=shape), at)


def sessions_revoked_for(*, user_ids: Iterable[int], reason: str, initiating_entity: str) -> int:
    """``session_revoked`` once per person, for a batch of revoked sessions (what Access calls).
    Costs one query when no stream asks for the event."""

    ids = {i for i in user_ids if i is not None}
    if not ids:
        return 0
    wanted = [s for s in Stream.objects.exclude(status=Stream.Status.DISABLED).only("events_delivered")
              if events.SESSION_REVOKED in s.events_delivered]
    if not wanted:
        return 0
    return sum(session_revoked(user=user, reason=reason, initiating_entity=initiating_entity)
               for user in User.objects.filter(pk__in=ids))
