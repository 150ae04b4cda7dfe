"""Celery entry points of risk scoring: thin, idempotent, primitive arguments.

Queues (``console.celery.route_task``): ``process_batch`` goes to the ingest queue
(``CELERY_INGEST_QUEUE``), detection and rescoring to the scoring queue
(``CELERY_SCORING_QUEUE``), so stored batches never wait behind a detection backlog."""

from __future__ import annotations

from celery import shared_task

from risk.services import batches, detection, queueing, scores


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600, ignore_result=True)
def process_batch(batch_id: str) -> None:
    batches.process_queued_batch(batch_id)


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300, ignore_result=True)
def detect_events(source_kind: str, event_ids: list[int]) -> None:
    detection.detect_and_score(source_kind, event_ids)


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300, ignore_result=True)
def detect_pending(pending_id: int) -> None:
    """Detection and scoring of one chunk of stored telemetry (a ``PendingDetection`` row)."""

    detection.detection_run(pending_id)


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def sweep_detection() -> None:
    """Queue detection again for stored telemetry whose job was lost (broker outage, killed worker)."""

    detection.detection_sweep()


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def expire_stale_batches() -> None:
    """End batch records nobody will finish (their request or worker failed), with the reason."""

    batches.batches_expire_stale()


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def audit_signal(audit_id: int) -> None:
    detection.record_audit_signal(audit_id)


@shared_task(acks_late=True, soft_time_limit=3000, time_limit=3600, ignore_result=True)
def rescore(run_id: int) -> None:
    scores.rescore_run(run_id)


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def scheduled_rescore() -> None:
    """The beat schedule's full rescore: look-back windows move on even when nothing is sent."""

    scores.rescore_scheduled()


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def import_access_decisions() -> None:
    detection.import_access_decisions()


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def requeue_stalled() -> None:
    """Send batches and rescores whose worker's lease ran out (it died) to a new worker, which
    resumes them from their checkpoint; and queued ones whose job was lost."""

    queueing.requeue_stalled()


@shared_task(acks_late=True, soft_time_limit=3000, time_limit=3600, ignore_result=True)
def prune_telemetry() -> None:
    batches.prune_telemetry()
