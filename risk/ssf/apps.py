from django.apps import AppConfig


class SsfConfig(AppConfig):
    name = "risk.ssf"
    label = "ssf"
    verbose_name = "Shared Signals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.roles import CONSOLE_READERS
        from console.core.navigation import NavItem, register

        register(
            NavItem("Risk", "Shared Signals streams", "ssf:stream-list", CONSOLE_READERS, order=80),
            NavItem("Risk", "Shared Signals outbox", "ssf:outbox", CONSOLE_READERS, order=81),
            NavItem("Risk", "Shared Signals keys", "ssf:keys", CONSOLE_READERS, order=82),
        )
