"""Our own features feed risk through the audit trail: a sign-in, a cloned security key, an MFA
lockout or a failed identity verification is already an audit event, and a worker turns it into
telemetry once the event is committed."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from console.audit.models import AuditEvent
from risk.tasks import audit_signal

log = logging.getLogger(__name__)
WATCHED = frozenset({"auth.login", "auth.login_failed", "mfa.clone_suspected", "mfa.locked_out",
                     "identity.verification_failed"})


@receiver(post_save, sender=AuditEvent, dispatch_uid="risk-audit-signal")
def _audit_event(sender: Any, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    if created and instance.action in WATCHED:
        pk = instance.pk
        transaction.on_commit(lambda: _queue(audit_signal, pk))


def _queue(task: Any, *args: Any) -> None:
    try:
        task.delay(*args)
    except Exception:  # a sign-in must not fail because the broker is unreachable
        log.exception("could not queue %s%r for risk scoring", task.name, args)
