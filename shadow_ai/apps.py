from django.apps import AppConfig

from console.access import openapi
from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS, EVERYONE


class ShadowAiConfig(AppConfig):
    name = "shadow_ai"
    label = "shadow_ai"
    verbose_name = "Shadow AI"

    def ready(self) -> None:
        # Imported here: these modules import models, which load only once the app registry is ready.
        from risk.ingest.storage import stored_rows
        from shadow_ai.openapi import GATEWAY_PATHS, GATEWAY_SCHEMAS
        from shadow_ai.usage.services import on_rows_stored

        register(
            NavItem("Shadow AI", "Shadow AI dashboard", "shadow_ai:dashboard", CONSOLE_READERS, order=5),
            NavItem("Shadow AI", "Shadow IT dashboard", "shadow_ai:dashboard-all", CONSOLE_READERS, order=6),
            NavItem("Shadow AI", "Application library", "shadow_ai:library", CONSOLE_READERS, order=10),
            NavItem("Shadow AI", "Gateway policies", "shadow_ai:policy-list", CONSOLE_READERS, order=20),
            NavItem("Shadow AI", "Gateway policy tester", "shadow_ai:tester", CONSOLE_READERS, order=30),
            NavItem("Shadow AI", "Web gateway", "shadow_ai:gateway-admin", CONSOLE_READERS, order=40),
            NavItem("Access", "My web gateway", "shadow_ai:gateway-mine", EVERYONE, order=96),
        )
        openapi.extend(paths=GATEWAY_PATHS, schemas=GATEWAY_SCHEMAS)
        # Stored Gateway HTTP logs mark their days for the usage rollup, in the same transaction.
        stored_rows.connect(on_rows_stored, dispatch_uid="shadow-ai-usage-dirty-days")
