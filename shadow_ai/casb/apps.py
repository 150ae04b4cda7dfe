from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS


class CasbConfig(AppConfig):
    name = "shadow_ai.casb"
    label = "casb"
    verbose_name = "CASB"

    def ready(self) -> None:
        register(
            NavItem("Shadow AI", "CASB integrations", "casb:integration-list", CONSOLE_READERS, order=40),
            NavItem("Shadow AI", "CASB findings", "casb:finding-list", CONSOLE_READERS, order=50),
            NavItem("Shadow AI", "Discovered apps", "casb:discovered-list", CONSOLE_READERS, order=60),
        )
