"""The Celery application. Periodic schedules live next to their app in ``<app>/schedules.py``."""

from __future__ import annotations

import importlib
import importlib.util
import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def collect_beat_schedule() -> dict:
    """Merge the ``SCHEDULE`` dict of every installed app's ``schedules`` module."""

    schedule: dict = {}
    for app_name in settings.INSTALLED_APPS:
        module_name = f"{app_name}.schedules"
        try:
            found = importlib.util.find_spec(module_name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            continue
        schedule.update(importlib.import_module(module_name).SCHEDULE)
    return schedule


# Which queue each task goes to, by the setting that names the queue (empty: the default queue).
# Telemetry storing has its own queue so a 202 batch never waits behind a detection backlog.
ROUTES = {
    "risk.tasks.process_batch": "CELERY_INGEST_QUEUE",
    "risk.tasks.detect_pending": "CELERY_SCORING_QUEUE",
    "risk.tasks.detect_events": "CELERY_SCORING_QUEUE",
    "risk.tasks.sweep_detection": "CELERY_SCORING_QUEUE",
    "risk.tasks.audit_signal": "CELERY_SCORING_QUEUE",
    "risk.tasks.rescore": "CELERY_SCORING_QUEUE",
    "risk.tasks.scheduled_rescore": "CELERY_SCORING_QUEUE",
}


def route_task(name: str, args, kwargs, options, task=None, **kw) -> dict | None:
    """Celery's ``task_routes`` hook (``CELERY_TASK_ROUTES`` in settings)."""

    setting = ROUTES.get(name)
    queue = getattr(settings, setting, "") if setting else ""
    return {"queue": queue} if queue else None


@app.on_after_finalize.connect
def _install_schedules(sender: Celery, **kwargs) -> None:
    sender.conf.beat_schedule = collect_beat_schedule()
