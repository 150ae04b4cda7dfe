"""Thin Celery entry points: invitation expiry and the retention of verification records."""

from celery import shared_task

from accounts.onboarding.services import cases, verification


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def expire_invitations() -> int:
    return cases.cases_expire()


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600, ignore_result=True)
def prune_verification_records() -> dict:
    return verification.records_prune()
