from celery.schedules import crontab

SCHEDULE = {
    "onboarding-expire-invitations": {
        "task": "accounts.onboarding.tasks.expire_invitations",
        "schedule": crontab(minute=7),  # hourly
    },
    "identity-verification-retention": {
        "task": "accounts.onboarding.tasks.prune_verification_records",
        "schedule": crontab(hour=3, minute=17),  # daily
    },
}
