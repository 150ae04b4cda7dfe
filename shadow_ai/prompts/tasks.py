from celery import shared_task

from shadow_ai.prompts import services


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360, ignore_result=True)
def prune_prompt_log() -> None:
    """Delete prompt-log entries older than PROMPT_LOG_RETENTION_DAYS (idempotent)."""
    services.prompt_log_prune()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def jailbreak_signal(audit_id: int) -> None:
    """Run the risk behaviours over one jailbreak-attempt audit event and rescore its person
    (idempotent: a risk event is stored once per behaviour and audit event)."""
    services.jailbreak_signal_detect(audit_id)
