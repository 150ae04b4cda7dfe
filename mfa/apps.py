from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS, EVERYONE


class MfaConfig(AppConfig):
    name = "mfa"
    verbose_name = "Independent MFA"

    def ready(self) -> None:
        # Imported here: these modules import models, which load only once the app registry is ready.
        from console.access import facts
        from console.access.policies import register_requirement_hook
        from mfa.rules import requirement_selectors
        from mfa.selectors import mfa_facts

        register(
            NavItem("Access", "My MFA devices", "mfa:devices", EVERYONE, order=95),
            NavItem("MFA", "Enrolled authenticators", "mfa:admin-list", CONSOLE_READERS, order=10),
            NavItem("MFA", "Settings", "mfa:settings", CONSOLE_READERS, order=20),
        )
        facts.register(mfa_facts, per_session=True)
        register_requirement_hook(requirement_selectors)
