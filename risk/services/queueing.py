"""Queueing risk jobs: a task is queued without trusting the broker (what it would do is recorded in
the database first), a rescore is started, and the stall sweep sends abandoned batches and
rescores to a worker again."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console.core import jobs
from risk.models import IngestBatch, RescoreRun

log = logging.getLogger(__name__)


def publish(task_name: str, *args: Any) -> bool:
    """Queue a task; a broker that cannot take it is logged, not raised: what the task would do
    is recorded in the database and a sweep queues it again."""
    # tasks.py imports this module: imported on use to break the cycle.
    from risk import tasks

    try:
        getattr(tasks, task_name).delay(*args)
    except Exception as exc:  # noqa: BLE001 - kombu, redis and socket errors alike; the sweep retries
        log.warning("could not queue %s%r (the sweep will): %s: %s", task_name, args, exc.__class__.__name__, exc)
        return False
    return True


def start_rescore(*, requested_by: str, cause: str) -> RescoreRun:
    """Record a full rescore and queue it once the caller's transaction commits (the caller has
    checked who asks and audited why)."""
    # tasks.py imports this module: imported on use to break the cycle.
    from risk.tasks import rescore

    run = RescoreRun.objects.create(requested_by_email=requested_by, message=cause)

    transaction.on_commit(lambda: rescore.delay(run.pk))
    return run


def requeue_stalled(unclaimed_after: timedelta = jobs.UNCLAIMED_AFTER) -> int:
    """The stall sweep (every 10 s): send to a new worker the batches and rescores whose
    worker's lease ran out (it died; the new worker resumes from the checkpoint), and the queued
    ones nobody picked up for ``unclaimed_after`` (their job was lost with a broker or a worker).
    A live lease is never touched, however long its job runs."""
    now = timezone.now()
    count = 0
    batches = IngestBatch.stalled(now=now, unclaimed_after=unclaimed_after) & Q(payload__isnull=False)
    for batch_id in IngestBatch.objects.filter(batches).values_list("pk", flat=True):
        if IngestBatch.requeue(batch_id, now=now, unclaimed_after=unclaimed_after) and publish(
                "process_batch", str(batch_id)):
            count += 1
    for run_id in RescoreRun.objects.filter(RescoreRun.stalled(now=now, unclaimed_after=unclaimed_after)).values_list(
            "pk", flat=True):
        if RescoreRun.requeue(run_id, now=now, unclaimed_after=unclaimed_after) and publish("rescore", run_id):
            count += 1
    if count:
        log.warning("stall sweep: sent %d abandoned batch(es) and rescore(s) to a worker again", count)
    return count
