from django.apps import AppConfig

from console.access.signals import sessions_revoked
from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS
from mfa.signals import credential_changed


class SsfConfig(AppConfig):
    name = "risk.ssf"
    label = "ssf"
    verbose_name = "Shared Signals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: the receivers import models, which load only once the app registry is ready.
        from console.access.idp import scopes
        from risk.ssf.receivers import on_credential_changed, on_sessions_revoked
        from risk.ssf.selectors import SCOPE_MANAGE, SCOPE_READ

        register(
            NavItem("Risk", "Shared Signals streams", "ssf:stream-list", CONSOLE_READERS, order=80),
            NavItem("Risk", "Shared Signals outbox", "ssf:outbox", CONSOLE_READERS, order=81),
            NavItem("Risk", "Shared Signals keys", "ssf:keys", CONSOLE_READERS, order=82),
        )
        # Access tokens of the console's authorization server carry these (client credentials).
        scopes.register(SCOPE_MANAGE, "Manage Shared Signals streams (SSF receivers)")
        scopes.register(SCOPE_READ, "Read Shared Signals stream configuration and status")
        sessions_revoked.connect(on_sessions_revoked, dispatch_uid="ssf-sessions-revoked")
        credential_changed.connect(on_credential_changed, dispatch_uid="ssf-credential-changed")
