from django.conf import settings

SCHEDULE = {
    "casb-dispatch-due-scans": {
        "task": "shadow_ai.casb.tasks.dispatch_due_scans",
        "schedule": float(settings.CASB_DISPATCH_SECONDS),
        "options": {"expires": float(settings.CASB_DISPATCH_SECONDS)},
    },
}
