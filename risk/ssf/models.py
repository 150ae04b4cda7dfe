"""The Shared Signals transmitter's state: event streams, the subjects receivers added or
removed, the outbox of Security Event Tokens and the keys that sign them."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from console.core.fields import EncryptedTextField
from risk.ssf.events import label

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"


def _stream_id() -> str:
    return secrets.token_hex(16)


def _jti() -> str:
    return secrets.token_hex(16)


class Stream(models.Model):
    """An SSF event stream to one receiver. ``stream_id`` is the identifier receivers see;
    the primary key stays internal."""

    class Method(models.TextChoices):
        PUSH = PUSH, "Push (RFC 8935)"
        POLL = POLL, "Poll (RFC 8936)"

    class Status(models.TextChoices):
        ENABLED = "enabled", "Enabled"
        PAUSED = "paused", "Paused"
        DISABLED = "disabled", "Disabled"

    class Subjects(models.TextChoices):
        ALL = "ALL", "All people, except those removed"
        NONE = "NONE", "Only people added to the stream"

    class SubjectFormat(models.TextChoices):
        EMAIL = "email", "E-mail address"
        ISS_SUB = "iss_sub", "Issuer and subject"
        OPAQUE = "opaque", "Opaque id"

    class EventSubject(models.TextChoices):
        SSF = "ssf", "SSF 1.0 (complex subject with \"format\": \"complex\")"
        OKTA = "okta", "Okta compatible (subject.user, no format)"

    stream_id = models.CharField(max_length=64, unique=True, default=_stream_id)
    receiver = models.ForeignKey(
        "access.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="ssf_streams",
        help_text="The API token (scope ssf:stream) that may manage this stream through the SSF API.",
    )
    receiver_client = models.ForeignKey(
        "idp.Client", null=True, blank=True, on_delete=models.SET_NULL, related_name="ssf_streams",
        help_text="The OAuth client (client credentials, scopes ssf.manage / ssf.read) that manages this stream.",
    )
    description = models.CharField(max_length=300, blank=True)
    issuer = models.CharField(max_length=300)
    audience = models.JSONField(default=list)
    delivery_method = models.CharField(max_length=40, choices=Method.choices, default=Method.PUSH)
    endpoint_url = models.CharField(max_length=500, blank=True)
    authorization_header = EncryptedTextField(blank=True, default="")
    events_requested = models.JSONField(default=list)
    events_delivered = models.JSONField(default=list)
    subjects_default = models.CharField(max_length=8, choices=Subjects.choices, default=Subjects.ALL)
    subject_format = models.CharField(max_length=16, choices=SubjectFormat.choices, default=SubjectFormat.EMAIL)
    event_subject = models.CharField(
        max_length=8, choices=EventSubject.choices, default=EventSubject.SSF,
        help_text="How the subject member inside CAEP and Okta event bodies is written; sub_id is always SSF 1.0.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ENABLED)
    status_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_email = models.CharField(max_length=254, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"], name="ssf_stream_status_idx")]

    def __str__(self) -> str:
        return self.description or f"Stream {self.stream_id}"

    @property
    def owner(self):
        """Whoever manages the stream through the SSF API: an API token or an OAuth client."""
        return self.receiver or self.receiver_client

    @property
    def is_push(self) -> bool:
        return self.delivery_method == PUSH

    @property
    def audience_label(self) -> str:
        return ", ".join(self.audience)

    @property
    def event_labels(self) -> list[str]:
        return [label(e) for e in self.events_delivered]


class StreamSubject(models.Model):
    """A subject a receiver added (``included``) or removed (not ``included``). Under ALL only
    removals matter; under NONE only additions do."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="subjects")
    key = models.CharField(max_length=600, help_text="A canonical form, for matching")
    subject = models.JSONField()
    included = models.BooleanField(default=True)
    verified = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["stream", "key"], name="ssf_subject_unique")]

    def __str__(self) -> str:
        return self.key


class Delivery(models.Model):
    """One Security Event Token for one stream: the outbox row. Claims are stored unsigned and
    signed with the current key at each attempt, so rotating keys never strands an event."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        DROPPED = "dropped", "Dropped"

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="deliveries")
    jti = models.CharField(max_length=64, unique=True, default=_jti)
    event_type = models.CharField(max_length=200)
    subject_label = models.CharField(max_length=300, blank=True)
    claims = models.JSONField()
    control = models.BooleanField(
        default=False, help_text="Stream-updated events go out even while the stream is paused or disabled."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["stream", "status", "id"], name="ssf_delivery_queue_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="ssf_delivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.jti} ({self.status})"

    @property
    def event_label(self) -> str:
        return label(self.event_type)


class SigningKey(models.Model):
    """An RSA key that signs SETs (RS256). The newest active one signs; retired keys stay in
    the JWKS for ``SSF_KEY_RETENTION_DAYS`` so receivers can still check what they hold."""

    kid = models.CharField(max_length=64, unique=True)
    private_pem = EncryptedTextField()
    public_jwk = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by_email = models.CharField(max_length=254, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.kid

    @property
    def published(self) -> bool:
        if self.retired_at is None:
            return True
        return self.retired_at > timezone.now() - timedelta(days=settings.SSF_KEY_RETENTION_DAYS)

    @property
    def state(self) -> str:
        if self.retired_at is None:
            return "signing"
        return "published" if self.published else "withdrawn"
