from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "mfa"
    verbose_name = "Independent MFA"

    def ready(self) -> None:
        from accounts.roles import CONSOLE_READERS, EVERYONE
        from console.access import facts
        from console.core.navigation import NavItem, register
        from mfa.selectors import mfa_facts

        register(
            NavItem("Access", "My MFA devices", "mfa:devices", EVERYONE, order=95),
            NavItem("MFA", "Enrolled authenticators", "mfa:admin-list", CONSOLE_READERS, order=10),
            NavItem("MFA", "Settings", "mfa:settings", CONSOLE_READERS, order=20),
        )
        facts.register(mfa_facts, per_session=True)
        from console.access.policies import register_requirement_hook
        from mfa.rules import requirement_selectors

        register_requirement_hook(requirement_selectors)
