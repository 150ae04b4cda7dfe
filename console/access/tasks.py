from celery import shared_task

from console.access import logbuffer, services


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600, ignore_result=True)
def reevaluate_policy_sessions(policy_id: int) -> None:
    services.reevaluate_policy_sessions(policy_id=policy_id)


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def reevaluate_user_sessions(user_id: int, reason: str) -> None:
    services.user_facts_changed(user_id=user_id, reason=reason)


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def replay_access_log_spools() -> None:
    """Store Access log spools left on this machine by processes that died (see logbuffer)."""

    logbuffer.replay_orphans_quietly()
