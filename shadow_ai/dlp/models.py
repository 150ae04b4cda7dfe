"""DLP profiles and their entries. A predefined profile (``key`` set) mirrors a profile of the
engine: its entries point at engine entries by ``predefined_key`` and only their on/off switch
and the profile's two settings can change. A custom profile holds regex and wordlist entries
that admins write; the engine compiles them (``services.compiled_profiles``)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from console.core.names import case_insensitive_unique
from shadow_ai.dlp.engine import MAX_MATCH_COUNT, Confidence


class DlpProfile(models.Model):
    class Kind(models.TextChoices):
        PREDEFINED = "predefined", "Predefined"
        CUSTOM = "custom", "Custom"

    class Threshold(models.TextChoices):
        LOW = Confidence.LOW.value, "Low"
        MEDIUM = Confidence.MEDIUM.value, "Medium"
        HIGH = Confidence.HIGH.value, "High"

    key = models.CharField(max_length=64, null=True, blank=True, unique=True,
                           help_text="The engine's key of a predefined profile; empty for custom profiles")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.CUSTOM, db_index=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.CharField(max_length=500, blank=True)
    match_count = models.PositiveSmallIntegerField(
        default=0, help_text=f"Triggers on more than this many matches (0 to {MAX_MATCH_COUNT})")
    confidence = models.CharField(max_length=8, choices=Threshold.choices, default=Threshold.LOW)
    created_by_email = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(match_count__lte=MAX_MATCH_COUNT), name="dlp_profile_match_count_max"),
            models.CheckConstraint(
                condition=Q(kind="custom", key__isnull=True) | Q(kind="predefined", key__isnull=False),
                name="dlp_profile_key_iff_predefined"),
            case_insensitive_unique("dlp_profile_name_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_predefined(self) -> bool:
        return self.kind == self.Kind.PREDEFINED


class DlpEntry(models.Model):
    class Kind(models.TextChoices):
        PREDEFINED = "predefined", "Predefined"
        REGEX = "regex", "Regular expression"
        WORDLIST = "wordlist", "Wordlist"

    profile = models.ForeignKey(DlpProfile, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    predefined_key = models.CharField(max_length=64, blank=True, help_text="The engine's entry key")
    name = models.CharField(max_length=120)
    pattern = models.TextField(blank=True, help_text="RE2 pattern of a regex entry")
    words = models.TextField(blank=True, help_text="Terms of a wordlist entry, one a line")
    case_sensitive = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "predefined_key"], condition=~Q(predefined_key=""),
                                    name="dlp_entry_predefined_once"),
            models.UniqueConstraint(fields=["profile", "name"], name="dlp_entry_name_unique"),
            case_insensitive_unique("dlp_entry_name_ci_unique", "profile"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_predefined(self) -> bool:
        return self.kind == self.Kind.PREDEFINED

    @property
    def term_count(self) -> int:
        return sum(1 for line in self.words.splitlines() if line.strip())
