from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS


class DlpConfig(AppConfig):
    name = "shadow_ai.dlp"
    label = "dlp"
    verbose_name = "DLP profiles"

    def ready(self) -> None:
        register(NavItem("Shadow AI", "DLP profiles", "dlp:profile-list", CONSOLE_READERS, order=35))
