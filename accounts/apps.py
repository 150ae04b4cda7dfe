from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and identity"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (sign-in events feed the audit trail)
        from accounts.roles import CONSOLE_READERS, EVERYONE, PEOPLE_READERS
        from console.core.navigation import NavItem, register

        register(
            NavItem("Access", "App Launcher", "core:launcher", EVERYONE, order=90),
            NavItem("Directory", "Users", "accounts:user-list", PEOPLE_READERS, order=10),
            NavItem("Directory", "Groups", "accounts:group-list", PEOPLE_READERS, order=20),
            NavItem(
                "Settings", "Identity providers", "accounts:idp-list", CONSOLE_READERS, order=10
            ),
        )
