from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS


class AccessConfig(AppConfig):
    name = "console.access"
    label = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        register(
            NavItem("Access", "Applications", "access:app-list", CONSOLE_READERS, order=10),
            NavItem("Access", "Policies", "access:policy-list", CONSOLE_READERS, order=20),
            NavItem("Access", "Policy tester", "access:tester", CONSOLE_READERS, order=30),
            NavItem("Access", "Sessions", "access:session-list", CONSOLE_READERS, order=40),
            NavItem("Access", "Service tokens", "access:token-list", CONSOLE_READERS, order=50),
            NavItem("Logs", "Access authentication", "access:log-list", CONSOLE_READERS, order=20),
            NavItem("Directory", "Devices", "access:device-list", CONSOLE_READERS, order=30),
            NavItem("Settings", "API tokens", "access:apitoken-list", CONSOLE_READERS, order=20),
        )
