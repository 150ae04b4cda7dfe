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
        )
        facts.register(mfa_facts)
