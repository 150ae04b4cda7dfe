"""The AI prompt log. What an investigator filters on (who, when, which application, topics,
action, conversation) is kept in clear; what was said (the prompt, the response, their topics'
reasons and the redacted DLP matches) is sealed to the organization's public key
(``sealing``), which the server cannot open."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PromptLogKey(models.Model):
    """A public key uploaded by an admin. One is active (new entries are sealed to it); older ones
    stay so their entries can be matched with the private key that opens them."""

    name = models.CharField(max_length=120)
    public_key = models.BinaryField(max_length=32)
    fingerprint = models.CharField(max_length=80, unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_email = models.CharField(max_length=254, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["active"], condition=Q(active=True),
                                               name="prompts_one_active_key")]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint[:19]})"


class PromptLogEntry(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    email = models.CharField(max_length=254, db_index=True)
    hostname = models.CharField(max_length=253)
    application_key = models.CharField(max_length=120, blank=True, db_index=True)
    application_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=20)
    policy_id = models.BigIntegerField(null=True, blank=True)
    policy_name = models.CharField(max_length=200, blank=True)
    conversation_id = models.CharField(max_length=200, blank=True, db_index=True)
    topics = models.JSONField(default=dict, blank=True, help_text="{topic key: confidence} of the prompt")
    response_topics = models.JSONField(default=dict, blank=True)
    dlp_match_count = models.PositiveIntegerField(default=0)
    key = models.ForeignKey(PromptLogKey, on_delete=models.PROTECT, related_name="entries")
    sealed = models.BinaryField(help_text="HPKE-sealed JSON: prompt, response, topics, redacted DLP matches")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["application_key", "at"], name="prompts_app_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.email} → {self.application_name or self.hostname}"
