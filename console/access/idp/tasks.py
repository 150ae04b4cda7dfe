from celery import shared_task

from console.access.idp import services


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600, ignore_result=True)
def clear_expired() -> None:
    """Delete expired grants and tokens, and sign-in records whose code is long gone (idempotent)."""
    services.expired_clear()
