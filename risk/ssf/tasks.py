"""Thin Celery entry points for SSF delivery."""

from __future__ import annotations

from celery import shared_task

from risk.ssf import delivery


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300, ignore_result=True)
def deliver_stream(stream_pk: int) -> None:
    """Push a stream's due events; idempotent (delivered rows are done, a second run at the
    same time returns at once)."""

    delivery.deliver_stream(stream_pk)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def sweep() -> None:
    """Beat: re-queue streams whose due events nobody is delivering."""

    delivery.sweep()
