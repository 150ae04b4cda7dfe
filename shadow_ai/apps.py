from django.apps import AppConfig


class ShadowAiConfig(AppConfig):
    name = "shadow_ai"
    label = "shadow_ai"
    verbose_name = "Shadow AI"

    def ready(self) -> None:
        from accounts.roles import CONSOLE_READERS
        from console.access import openapi
        from console.core.navigation import NavItem, register
        from shadow_ai.openapi import GATEWAY_PATHS, GATEWAY_SCHEMAS

        register(
            NavItem("Shadow AI", "Application library", "shadow_ai:library", CONSOLE_READERS, order=10),
            NavItem("Shadow AI", "Gateway policies", "shadow_ai:policy-list", CONSOLE_READERS, order=20),
            NavItem("Shadow AI", "Gateway policy tester", "shadow_ai:tester", CONSOLE_READERS, order=30),
        )
        openapi.extend(paths=GATEWAY_PATHS, schemas=GATEWAY_SCHEMAS)
