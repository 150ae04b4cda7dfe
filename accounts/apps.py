from django.apps import AppConfig

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS, EVERYONE, PEOPLE_READERS


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and identity"

    def ready(self) -> None:
        # Imported here: it imports models, which load only once the app registry is ready.
        from accounts import signals  # noqa: F401  (sign-in events feed the audit trail)

        register(
            NavItem("Access", "App Launcher", "console:launcher", EVERYONE, order=90),
            NavItem("Directory", "Users", "accounts:user-list", PEOPLE_READERS, order=10),
            NavItem("Directory", "Groups", "accounts:group-list", PEOPLE_READERS, order=20),
            NavItem(
                "Settings", "Identity providers", "accounts:idp-list", CONSOLE_READERS, order=10
            ),
        )
