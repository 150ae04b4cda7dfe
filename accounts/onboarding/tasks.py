"""Thin Celery entry points: invitation expiry and the retention of verification records."""

from celery import shared_task

from accounts.onboarding import services


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def expire_invitations() -> int:
    return services.cases_expire()


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600, ignore_result=True)
def prune_verification_records() -> dict:
    return services.records_prune()
