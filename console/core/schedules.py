from django.conf import settings

SCHEDULE = {
    "console-heartbeat": {
        "task": "console.core.tasks.heartbeat",
        "schedule": float(settings.HEARTBEAT_INTERVAL),
        "options": {"expires": float(settings.HEARTBEAT_INTERVAL)},
    },
}
