from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS


class AuditConfig(AppConfig):
    name = "console.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        register(NavItem("Logs", "Audit trail", "audit:list", CONSOLE_READERS, order=10))
