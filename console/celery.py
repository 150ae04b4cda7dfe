"""The Celery application. Periodic schedules live next to their app in ``<app>/schedules.py``."""

from __future__ import annotations

import importlib
import importlib.util
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def collect_beat_schedule() -> dict:
    """Merge the ``SCHEDULE`` dict of every installed app's ``schedules`` module."""
    from django.conf import settings

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


@app.on_after_finalize.connect
def _install_schedules(sender: Celery, **kwargs) -> None:
    sender.conf.beat_schedule = collect_beat_schedule()
