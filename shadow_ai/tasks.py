"""Celery entry points of Shadow AI: thin, idempotent, primitive arguments."""

from __future__ import annotations

from celery import shared_task

from shadow_ai.usage import services


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3600, ignore_result=True)
def usage_rollup(run_id: int) -> None:
    """A run an admin asked for (new logs, or a rebuild of every day)."""

    services.rollup_run(run_id)


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3600, ignore_result=True)
def usage_rollup_scheduled() -> None:
    """The beat schedule's run over the days that received logs since the last run."""

    services.rollup_scheduled()


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600, ignore_result=True)
def usage_maintenance() -> None:
    """Daily: forget rollups past their retention; re-queue runs no worker took."""

    services.prune()
    services.requeue_stalled()
