from django.conf import settings

SCHEDULE = {
    "risk-rescore": {
        "task": "risk.tasks.scheduled_rescore",
        "schedule": float(settings.RISK_RESCORE_MINUTES * 60),
    },
    "risk-import-access-decisions": {
        "task": "risk.tasks.import_access_decisions",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    },
    "risk-prune-telemetry": {
        "task": "risk.tasks.prune_telemetry",
        "schedule": 6 * 3600.0,
    },
    "risk-sweep-detection": {
        "task": "risk.tasks.sweep_detection",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    "risk-expire-stale-batches": {
        "task": "risk.tasks.expire_stale_batches",
        "schedule": 600.0,
        "options": {"expires": 600.0},
    },
    # Takes over batches and rescores whose worker's lease ran out (JOB_LEASE_SECONDS): a dead
    # worker's job goes on within about a lease and this interval.
    "risk-requeue-stalled": {
        "task": "risk.tasks.requeue_stalled",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    },
}
