from django.apps import AppConfig
from django.db.models.signals import post_delete

from console.core.navigation import NavItem, register
from console.core.roles import CONSOLE_READERS


class IdpConfig(AppConfig):
    name = "console.access.idp"
    label = "idp"
    verbose_name = "OpenID provider"

    def ready(self) -> None:
        # Imported here: these modules import models, which load only once the app registry is ready.
        from console.access.idp.models import Client
        from console.access.idp.signals import remove_oauth_application

        register(NavItem("Settings", "OAuth clients", "idp:client-list", CONSOLE_READERS, order=25))
        post_delete.connect(remove_oauth_application, sender=Client, dispatch_uid="idp-client-oauth")
