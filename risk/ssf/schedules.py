from django.conf import settings

SCHEDULE = {
    "ssf-delivery-sweep": {
        "task": "risk.ssf.tasks.sweep",
        "schedule": float(settings.SSF_SWEEP_SECONDS),
        "options": {"expires": float(settings.SSF_SWEEP_SECONDS)},
    },
}
