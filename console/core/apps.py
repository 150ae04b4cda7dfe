import os
import socket

from celery.signals import before_task_publish
from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS, PEOPLE_READERS


class CoreConfig(AppConfig):
    name = "console.core"
    label = "core"
    verbose_name = "Console core"

    def ready(self) -> None:
        register(
            NavItem("Overview", "Overview", "console:home", PEOPLE_READERS, order=10),
            NavItem("Settings", "System health", "console:health", CONSOLE_READERS, order=90),
        )
        before_task_publish.connect(_beat_heartbeat, sender="console.core.tasks.heartbeat")


def _beat_heartbeat(sender: str, **kwargs) -> None:
    """Runs in the process that publishes the heartbeat task, which is the beat scheduler:
    its row shows the scheduler is alive even when no worker picks the task up."""
    # Imported here: it imports models, and this module loads before they do.
    from console.core.services import heartbeat_record

    heartbeat_record(key="beat", detail={"hostname": socket.gethostname(), "pid": os.getpid()})
