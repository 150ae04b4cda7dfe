from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS


class PromptsConfig(AppConfig):
    name = "shadow_ai.prompts"
    label = "prompts"
    verbose_name = "AI prompt protection"

    def ready(self) -> None:
        # Imported here: these modules import models, which load only once the app registry is ready.
        from shadow_ai.gateway import inspection
        from shadow_ai.prompts import capture

        register(NavItem("Shadow AI", "AI prompt log", "prompts:log", CONSOLE_READERS, order=36))
        # The web gateway's inspected requests: jailbreak attempts and captured prompts.
        inspection.register(capture.sink, start=capture.writer.start, stop=capture.writer.stop)
