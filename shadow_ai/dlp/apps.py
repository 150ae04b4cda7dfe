from django.apps import AppConfig


class DlpConfig(AppConfig):
    name = "shadow_ai.dlp"
    label = "dlp"
    verbose_name = "DLP profiles"

    def ready(self) -> None:
        from accounts.roles import CONSOLE_READERS
        from console.core.navigation import NavItem, register

        register(NavItem("Shadow AI", "DLP profiles", "dlp:profile-list", CONSOLE_READERS, order=35))
