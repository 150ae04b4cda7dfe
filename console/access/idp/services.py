"""Every write on the provider's clients and keys. Each checks the actor's role, runs in one
transaction and writes its audit row. Client secrets are returned once, to be shown once; only
their hash is stored (django-oauth-toolkit hashes ``client_secret`` when it saves)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import clear_expired, get_application_model

from accounts.models import User
from console.access.idp import keys, scopes
from console.access.idp.models import Client, ProviderKey, SignIn
from console.access.models import Application
from console.audit.services import audit_record
from console.core.errors import Conflict, ValidationFailed
from console.core.names import clean_name, require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS

OAuthApplication = get_application_model()
CLIENT_TYPES = (OAuthApplication.CLIENT_CONFIDENTIAL, OAuthApplication.CLIENT_PUBLIC)
MAX_URIS = 20


def _new_secret() -> str:
    return secrets.token_urlsafe(48)


def clean_uris(text: str, *, field: str, required: bool) -> list[str]:
    """One absolute URI per line (or space separated): exact addresses, no fragment, a scheme the
    provider allows (https; http too outside production, for development and loopback apps)."""
    uris = list(dict.fromkeys((text or "").split()))
    if required and not uris:
        raise ValidationFailed("Add at least one redirect URI, e.g. https://app.example.com/oidc/callback.",
                               field=field)
    if len(uris) > MAX_URIS:
        raise ValidationFailed(f"At most {MAX_URIS} addresses.", field=field)
    allowed = settings.OAUTH2_PROVIDER["ALLOWED_REDIRECT_URI_SCHEMES"]
    for number, uri in enumerate(uris, 1):
        parts = urlsplit(uri)
        where = f"Address {number} ({uri[:80]})"
        if parts.scheme not in allowed or not parts.netloc:
            raise ValidationFailed(f"{where} must be an absolute {' or '.join(allowed)} URL.", field=field)
        if parts.fragment or "#" in uri:
            raise ValidationFailed(f"{where} must not have a fragment (#…).", field=field)
        if "*" in uri:
            raise ValidationFailed(f"{where}: wildcards are not allowed; list each address.", field=field)
        if len(uri) > 500:
            raise ValidationFailed(f"{where} is longer than 500 characters.", field=field)
    return uris


# --- SaaS applications (OpenID Connect sign-in) -------------------------------------------------


@transaction.atomic
def saas_client_create(
    *, actor: User, application: Application, redirect_uris: str, post_logout_redirect_uris: str = "",
    client_type: str = OAuthApplication.CLIENT_CONFIDENTIAL, require_pkce: bool = True,
) -> tuple[Client, str]:
    """OpenID Connect credentials for a SaaS application. Returns the client and its secret
    (empty for a public client, which has none), to be shown once."""
    require_role(actor, ADMINS, "create OpenID Connect clients")
    application = Application.objects.select_for_update().get(pk=application.pk)
    if application.type != Application.Type.SAAS:
        raise ValidationFailed("Only SaaS applications sign people in with OpenID Connect.", field="type")
    if Client.objects.filter(application=application).exists():
        raise Conflict(f"{application.name} already has OpenID Connect credentials; rotate the secret instead.")
    if client_type not in CLIENT_TYPES:
        raise ValidationFailed("Choose confidential (a server holds the secret) or public.", field="client_type")
    uris = clean_uris(redirect_uris, field="redirect_uris", required=True)
    logout_uris = clean_uris(post_logout_redirect_uris, field="post_logout_redirect_uris", required=False)
    public = client_type == OAuthApplication.CLIENT_PUBLIC
    secret = "" if public else _new_secret()
    oauth = OAuthApplication.objects.create(
        name=application.name[:255], client_type=client_type,
        authorization_grant_type=OAuthApplication.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(uris), post_logout_redirect_uris=" ".join(logout_uris),
        client_secret=secret, skip_authorization=True, algorithm=keys.ALGORITHM,
    )
    client = Client.objects.create(
        oauth=oauth, kind=Client.Kind.SAAS, name=application.name, application=application,
        require_pkce=public or require_pkce, created_by_email=actor.email,
    )
    audit_record(actor=actor, action="idp.client.created", obj=client, changes={
        "application": application.name, "client_id": oauth.client_id, "client_type": client_type,
        "redirect_uris": uris, "post_logout_redirect_uris": logout_uris, "require_pkce": client.require_pkce,
    })
    return client, secret


@transaction.atomic
def saas_client_update(
    *, actor: User, client: Client, redirect_uris: str, post_logout_redirect_uris: str = "", require_pkce: bool = True,
) -> Client:
    require_role(actor, ADMINS, "change OpenID Connect clients")
    client = Client.objects.select_for_update().select_related("oauth").get(pk=client.pk)
    uris = clean_uris(redirect_uris, field="redirect_uris", required=True)
    logout_uris = clean_uris(post_logout_redirect_uris, field="post_logout_redirect_uris", required=False)
    oauth = client.oauth
    require_pkce = require_pkce or oauth.client_type == OAuthApplication.CLIENT_PUBLIC
    before = {"redirect_uris": oauth.redirect_uris.split(), "post_logout_redirect_uris":
              oauth.post_logout_redirect_uris.split(), "require_pkce": client.require_pkce}
    after = {"redirect_uris": uris, "post_logout_redirect_uris": logout_uris, "require_pkce": require_pkce}
    changes = {k: {"old": before[k], "new": after[k]} for k in before if before[k] != after[k]}
    if not changes:
        return client
    oauth.redirect_uris, oauth.post_logout_redirect_uris = " ".join(uris), " ".join(logout_uris)
    oauth.save(update_fields=["redirect_uris", "post_logout_redirect_uris", "updated"])
    client.require_pkce = require_pkce
    client.save(update_fields=["require_pkce"])
    audit_record(actor=actor, action="idp.client.updated", obj=client, changes=changes)
    return client


# --- Machine clients (client credentials) ------------------------------------------------------


@transaction.atomic
def machine_client_create(*, actor: User, name: str, scopes: Sequence[str]) -> tuple[Client, str]:
    """A client that gets access tokens with its own credentials (OAuth client credentials), for
    the registered scopes it is given. Returns the client and its secret, to be shown once."""
    require_role(actor, ADMINS, "create OAuth clients")
    name = clean_name(name)
    require_free_name(Client.objects.filter(kind=Client.Kind.MACHINE), name,
                      f"An OAuth client named {name} already exists.")
    known = _known_scopes()
    chosen = sorted(set(scopes))
    if not chosen or any(s not in known for s in chosen):
        raise ValidationFailed(f"Pick at least one of: {', '.join(known)}.", field="scopes")
    secret = _new_secret()
    oauth = OAuthApplication.objects.create(
        name=name, client_type=OAuthApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=OAuthApplication.GRANT_CLIENT_CREDENTIALS, client_secret=secret,
    )
    client = Client.objects.create(oauth=oauth, kind=Client.Kind.MACHINE, name=name, scopes=chosen,
                                   created_by_email=actor.email)
    audit_record(actor=actor, action="idp.client.created", obj=client,
                 changes={"name": name, "client_id": oauth.client_id, "scopes": chosen})
    return client, secret


def _known_scopes() -> list[str]:
    return list(scopes.machine_scopes())


# --- Both ---------------------------------------------------------------------------------------


@transaction.atomic
def client_secret_rotate(*, actor: User, client: Client) -> str:
    """A new secret for a confidential client; the old one stops working at once. Tokens already
    issued stay valid until they expire."""
    require_role(actor, ADMINS, "rotate OAuth client secrets")
    client = Client.objects.select_for_update().select_related("oauth").get(pk=client.pk)
    if client.oauth.client_type != OAuthApplication.CLIENT_CONFIDENTIAL:
        raise ValidationFailed("A public client has no secret to rotate.")
    secret = _new_secret()
    client.oauth.client_secret = secret
    client.oauth.save(update_fields=["client_secret", "updated"])
    client.secret_rotated_at = timezone.now()
    client.save(update_fields=["secret_rotated_at"])
    audit_record(actor=actor, action="idp.client.secret_rotated", obj=client,
                 changes={"client_id": client.oauth.client_id})
    return secret


@transaction.atomic
def client_delete(*, actor: User, client: Client) -> None:
    """Remove the client and every token and grant it holds (django-oauth-toolkit cascades)."""
    require_role(actor, ADMINS, "delete OAuth clients")
    client = Client.objects.select_related("oauth").get(pk=client.pk)
    audit_record(actor=actor, action="idp.client.deleted", obj=client,
                 changes={"name": client.name, "client_id": client.oauth.client_id})
    client.oauth.delete()  # the Client row goes with it (CASCADE)


@transaction.atomic
def provider_key_rotate(*, actor: User) -> ProviderKey:
    require_role(actor, ADMINS, "rotate the ID token signing key")
    key = keys.rotate()
    audit_record(actor=actor, action="idp.key.rotated", obj=key, changes={"kid": key.kid})
    return key


def expired_clear() -> None:
    """django-oauth-toolkit's expired grants, tokens and ID tokens, and the sign-in records that
    outlived their code by a day (the ID token was made from them long ago)."""
    clear_expired()
    SignIn.objects.filter(grant__isnull=True, created_at__lt=timezone.now() - timedelta(days=1)).delete()
