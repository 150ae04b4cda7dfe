from __future__ import annotations

import os

from django.db import transaction
from django.utils import timezone

from console.core.models import Heartbeat, WorkerCheck


def heartbeat_record(*, key: str, detail: dict | None = None) -> None:
    Heartbeat.objects.update_or_create(
        key=key, defaults={"last_seen": timezone.now(), "detail": detail or {}}
    )


def heartbeat_forget(*, key: str) -> None:
    """A process that stops cleanly says so, rather than look dead to the health page."""
    Heartbeat.objects.filter(key=key).delete()


def worker_check_request(*, actor) -> WorkerCheck:
    """Queue a round trip to a worker; the task is sent once the row is committed."""
    # tasks.py imports this module: imported on use to break the cycle.
    from console.core.tasks import worker_check_run

    with transaction.atomic():
        check = WorkerCheck.objects.create(
            requested_by_id=actor.pk if actor else None, requested_from_pid=os.getpid()
        )
        transaction.on_commit(lambda: worker_check_run.delay(check.pk))
    return check


def worker_check_complete(*, check_id: int, hostname: str, pid: int) -> bool:
    """Idempotent: a redelivered task finds the check done and changes nothing."""
    updated = WorkerCheck.objects.filter(pk=check_id, status=WorkerCheck.Status.QUEUED).update(
        status=WorkerCheck.Status.DONE, completed_at=timezone.now(),
        worker_hostname=hostname, worker_pid=pid,
    )
    return bool(updated)
