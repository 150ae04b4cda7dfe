"""Reads for the provider. ``get_*_for`` helpers apply the role check."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from console.access.idp.models import Client
from console.access.models import Application
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS


def clients() -> QuerySet[Client]:
    return Client.objects.select_related("oauth", "application").order_by("kind", "name")


def get_client_for(viewer: User, pk: int) -> Client:
    return get_for_role(clients(), viewer, pk, "OAuth client", CONSOLE_READERS)


def client_for_application(application: Application) -> Client | None:
    return clients().filter(application=application).first()


def client_by_client_id(client_id: str) -> Client | None:
    return clients().filter(oauth__client_id=client_id).first()
