from django.apps import AppConfig

from console.access import openapi
from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS
from risk.openapi import RISK_PATHS, RISK_SCHEMAS, TELEMETRY_SCHEME


class RiskConfig(AppConfig):
    name = "risk"
    verbose_name = "User risk"

    def ready(self) -> None:
        # Imported here: these modules import models, which load only once the app registry is ready.
        from console.access import facts
        from risk import signals  # noqa: F401  (connects our own features' signals)
        from risk.selectors import risk_facts

        register(
            NavItem("Risk", "Users at risk", "risk:user-list", CONSOLE_READERS, order=10),
            NavItem("Risk", "Risk behaviours", "risk:behaviour-list", CONSOLE_READERS, order=20),
            NavItem("Risk", "Telemetry sources", "risk:source-list", CONSOLE_READERS, order=30),
            NavItem("Logs", "Risk telemetry", "risk:telemetry", CONSOLE_READERS, order=40),
        )
        facts.register(risk_facts)
        openapi.extend(paths=RISK_PATHS, schemas=RISK_SCHEMAS)
        openapi.OPENAPI["components"]["securitySchemes"]["telemetrySource"] = TELEMETRY_SCHEME
