"""Celery entry points of the CASB: thin, primitive arguments, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from shadow_ai.casb import scanner, services


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True,
             soft_time_limit=settings.CASB_SCAN_SLICE_SECONDS + 240, time_limit=settings.CASB_SCAN_SLICE_SECONDS + 300)
def run_scan(self, run_id: int) -> str:
    """Work on one scan run; come back later when it must wait (another worker's lease, a
    transient vendor error, the time slice used up)."""

    outcome = scanner.execute(run_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=max(0.0, outcome.retry_in), max_retries=None)
    return outcome.status


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=50, time_limit=60)
def dispatch_due_scans() -> None:
    """Beat: start the scans that are due and pick up runs left behind by a vanished worker."""

    services.scans_dispatch_due()
