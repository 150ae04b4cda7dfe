from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS, PEOPLE_READERS, PEOPLE_WRITERS


class OnboardingConfig(AppConfig):
    name = "accounts.onboarding"
    label = "onboarding"
    verbose_name = "Onboarding and identity verification"

    def ready(self) -> None:
        # Imported here: these modules import models, which load only once the app registry is ready.
        from accounts.onboarding.selectors import identity_facts
        from console.access import facts

        register(
            NavItem("Onboarding", "New hires", "onboarding:case-list", PEOPLE_READERS, order=10),
            NavItem("Onboarding", "Identity verifications", "onboarding:verification-list", PEOPLE_READERS,
                    order=20),
            NavItem("Onboarding", "Outbox", "onboarding:outbox", PEOPLE_WRITERS, order=30),
            NavItem("Onboarding", "Account recoveries", "onboarding:recovery-list", CONSOLE_READERS, order=25),
        )
        facts.register(identity_facts, per_session=True)
        user_logged_in.connect(_gate_on_sign_in, dispatch_uid="onboarding-gate-on-sign-in")


def _gate_on_sign_in(sender, request, user, **kwargs) -> None:
    """A verified but not yet activated new hire who signs in (say, with the workforce IdP) is
    still held at the onboarding portal until an authenticator is enrolled."""
    if request is None:
        return
    # Imported here: it imports models, and this module loads before they do.
    from accounts.onboarding.services.gate import gate_after_sign_in

    gate_after_sign_in(request, user)
