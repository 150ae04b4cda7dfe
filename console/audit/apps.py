from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "console.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from accounts.roles import CONSOLE_READERS
        from console.core.navigation import NavItem, register

        register(NavItem("Logs", "Audit trail", "audit:list", CONSOLE_READERS, order=10))
