from django.conf import settings

SCHEDULE = {
    "shadow-ai-usage-rollup": {
        "task": "shadow_ai.tasks.usage_rollup_scheduled",
        "schedule": float(settings.SHADOW_AI_USAGE_ROLLUP_SECONDS),
        "options": {"expires": float(settings.SHADOW_AI_USAGE_ROLLUP_SECONDS)},
    },
    "shadow-ai-usage-maintenance": {
        "task": "shadow_ai.tasks.usage_maintenance",
        "schedule": 3600.0 * 6,
    },
}
