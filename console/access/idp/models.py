"""What the provider keeps beside django-oauth-toolkit's own tables (``oauth2_provider``):
which console object each OAuth client belongs to, what each sign-in proved, and the keys that
sign ID tokens."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from console.core.fields import EncryptedTextField
from console.core.names import case_insensitive_unique


class Client(models.Model):
    """An OAuth client of the console and the console object it belongs to. The credentials,
    redirect URIs and grant type live in django-oauth-toolkit's ``Application`` (``oauth``);
    this row says what the client is for, so every kind is configured in one place.

    Kinds to come: clients registered dynamically by MCP clients (RFC 7591, with RFC 8707
    resource indicators) and the device client's device authorization grant (RFC 8628) add a
    kind here and their grant type on ``oauth``; nothing else changes."""

    class Kind(models.TextChoices):
        SAAS = "saas", "SaaS application (OpenID Connect sign-in)"
        MACHINE = "machine", "Machine (client credentials)"

    oauth = models.OneToOneField("oauth2_provider.Application", on_delete=models.CASCADE, related_name="console")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=120)
    # A SaaS client signs people in to this Access application, under its policies.
    application = models.OneToOneField(
        "access.Application", null=True, blank=True, on_delete=models.CASCADE, related_name="oidc_client",
    )
    # What a machine client may ask for (client credentials): a subset of the registered scopes.
    scopes = models.JSONField(default=list, blank=True)
    require_pkce = models.BooleanField(
        default=True, help_text="Refuse authorization requests without PKCE (always on for public clients).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by_email = models.CharField(max_length=254, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="saas") | models.Q(application__isnull=False),
                name="idp_saas_client_has_application",
            ),
            case_insensitive_unique("idp_client_name_ci_unique", "kind"),
        ]

    def __str__(self) -> str:
        return self.name


class SignIn(models.Model):
    """One sign-in to a SaaS application: the Access session it opened and what the person
    proved, kept from the authorization request (in the browser) to the token request (from
    the application's server), where the ID token is made."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="sign_ins")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    grant = models.OneToOneField(
        "oauth2_provider.Grant", null=True, blank=True, on_delete=models.SET_NULL, related_name="console_sign_in",
    )
    access_session_id = models.UUIDField(null=True, blank=True)
    identity_provider = models.CharField(max_length=60, blank=True)
    amr = models.JSONField(default=list)
    auth_time = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} → {self.client}"


class ProviderKey(models.Model):
    """RSA keys that sign ID tokens (RS256, which every OpenID relying party verifies). The
    newest active key signs; a retired key stays in the JWKS for ``ROTATION_OVERLAP`` so tokens
    it signed still verify. The private key is encrypted at rest."""

    ROTATION_OVERLAP = timedelta(days=2)

    kid = models.CharField(max_length=64, unique=True)
    private_pem = EncryptedTextField()
    public_jwk = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.kid

    @property
    def published(self) -> bool:
        return self.retired_at is None or self.retired_at + self.ROTATION_OVERLAP > timezone.now()
