"""What the web gateway keeps in the database: the organization's certificate authorities (the
gateway signs the certificates it shows browsers with them) and the people's proxy credentials.

Registered with the ``shadow_ai`` app by ``shadow_ai/models.py``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from console.core.fields import EncryptedTextField


class GatewayCA(models.Model):
    """One organization certificate authority. The gateway signs with the newest one whose
    ``signs_from`` has passed; browsers must trust every one that is not retired, so a rotation
    publishes the next CA ``GATEWAY_CA_OVERLAP_DAYS`` before it starts signing and keeps the old one
    trusted until then."""

    created_at = models.DateTimeField(default=timezone.now)
    created_by_email = models.EmailField(blank=True)
    subject = models.CharField(max_length=200)
    fingerprint_sha256 = models.CharField(max_length=95, unique=True, help_text="Of the DER certificate, AA:BB:…")
    spki_sha256 = models.CharField(max_length=64, help_text="base64 SHA-256 of the SubjectPublicKeyInfo")
    certificate_pem = models.TextField()
    private_key_pem = EncryptedTextField(help_text="PKCS#8 PEM, encrypted at rest")
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    signs_from = models.DateTimeField(help_text="When gateways start signing with it")
    retired_at = models.DateTimeField(null=True, blank=True, help_text="No longer trusted or used")

    class Meta:
        ordering = ["-signs_from", "-pk"]

    def __str__(self) -> str:
        return f"{self.subject} ({self.fingerprint_sha256[:11]}…)"


class GatewayCredential(models.Model):
    """A person's proxy credential (``ztg_<prefix>_<secret>``, the Basic password of the proxy
    login). Only a hash of the secret is stored; the person sees the secret once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gateway_credentials")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by_email = models.EmailField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="shadow_ai_gwcred_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
