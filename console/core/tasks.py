"""Thin Celery entry points for the console's own housekeeping."""

from __future__ import annotations

import os
import socket

from celery import shared_task

from console.core import services


def _hostname(task) -> str:
    return getattr(task.request, "hostname", None) or socket.gethostname()


@shared_task(bind=True, acks_late=True, soft_time_limit=20, time_limit=30, ignore_result=True)
def heartbeat(self) -> None:
    """Sent by the beat scheduler (which records that it sent it); run by any worker."""
    services.heartbeat_record(key=f"worker:{_hostname(self)}", detail={"pid": os.getpid()})


@shared_task(bind=True, acks_late=True, soft_time_limit=20, time_limit=30, ignore_result=True)
def worker_check_run(self, check_id: int) -> None:
    services.worker_check_complete(check_id=check_id, hostname=_hostname(self), pid=os.getpid())
