from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS


class PromptsConfig(AppConfig):
    name = "shadow_ai.prompts"
    label = "prompts"
    verbose_name = "AI prompt protection"

    def ready(self) -> None:
        register(NavItem("Shadow AI", "AI prompt log", "prompts:log", CONSOLE_READERS, order=36))
