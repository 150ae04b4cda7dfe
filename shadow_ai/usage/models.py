"""Rollups of Gateway HTTP logs (``risk.GatewayHttpEvent``): one row per day and application,
person, device, country or unmatched host. A day's rows are rebuilt together from that day's
logs, so rebuilding a day always gives the same numbers.

Approval status is not stored here: dashboards join the application's current status, so a
status change shows at once. Whether an application is generative AI is stored in the person
and device rollups (``ai_*`` columns); changing it marks the application's days for a rebuild."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from console.core.jobs import JobRun


class UsageAppDay(models.Model):
    """One application on one day."""

    pk = models.CompositePrimaryKey("day", "application")
    day = models.DateField()
    application = models.ForeignKey("shadow_ai.Application", on_delete=models.CASCADE, related_name="+",
                                    db_index=False)
    requests = models.BigIntegerField()
    bytes_up = models.BigIntegerField()
    bytes_down = models.BigIntegerField()
    users = models.IntegerField(help_text="Distinct people that day")
    devices = models.IntegerField(help_text="Distinct devices that day")
    blocked = models.BigIntegerField(help_text="Requests the gateway blocked")
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["application", "day"], name="shadow_ai_usage_app_day_idx")]

    def __str__(self) -> str:
        return f"{self.application_id} on {self.day}"


class UsageAppPersonDay(models.Model):
    """One person's use of one application on one day (people without an e-mail or a known
    device are counted in the application's requests, not here)."""

    pk = models.CompositePrimaryKey("day", "application", "person")
    application = models.ForeignKey("shadow_ai.Application", on_delete=models.CASCADE, related_name="+",
                                    db_index=False)
    day = models.DateField()
    person = models.CharField(max_length=254)
    user_id = models.BigIntegerField(null=True)
    requests = models.BigIntegerField()
    bytes_up = models.BigIntegerField()
    bytes_down = models.BigIntegerField()
    last_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Covers "who used these applications on these days" without reading the table.
            models.Index(fields=["application", "day", "person"], name="shadow_ai_usage_ap_app_idx"),
            models.Index(fields=["person", "day"], name="shadow_ai_usage_ap_person_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person} on {self.application_id}, {self.day}"


class UsagePersonDay(models.Model):
    """One person on one day, over every library application (``ai_*``: generative AI only)."""

    pk = models.CompositePrimaryKey("day", "person")
    day = models.DateField()
    person = models.CharField(max_length=254)
    user_id = models.BigIntegerField(null=True)
    requests = models.BigIntegerField()
    bytes_up = models.BigIntegerField()
    bytes_down = models.BigIntegerField()
    apps = models.IntegerField()
    ai_requests = models.BigIntegerField()
    ai_bytes_up = models.BigIntegerField()
    ai_bytes_down = models.BigIntegerField()
    ai_apps = models.IntegerField()
    last_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.person} on {self.day}"


class UsageDeviceDay(models.Model):
    """One device (the gateway's DeviceID, else its name) on one day, over library applications."""

    pk = models.CompositePrimaryKey("day", "device")
    day = models.DateField()
    device = models.CharField(max_length=120)
    device_name = models.CharField(max_length=120)
    person = models.CharField(max_length=254, help_text="Who used it (one of them, when shared)")
    requests = models.BigIntegerField()
    bytes_up = models.BigIntegerField()
    bytes_down = models.BigIntegerField()
    ai_requests = models.BigIntegerField()
    ai_bytes_up = models.BigIntegerField()
    ai_bytes_down = models.BigIntegerField()
    last_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.device} on {self.day}"


class UsageCountryDay(models.Model):
    """One application from one source country on one day (``""``: the log had no country)."""

    pk = models.CompositePrimaryKey("day", "application", "country")
    day = models.DateField()
    application = models.ForeignKey("shadow_ai.Application", on_delete=models.CASCADE, related_name="+",
                                    db_index=False)
    country = models.CharField(max_length=2)
    requests = models.BigIntegerField()
    bytes_up = models.BigIntegerField()
    bytes_down = models.BigIntegerField()
    users = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["application", "day"], name="shadow_ai_usage_cty_app_idx")]

    def __str__(self) -> str:
        return f"{self.application_id} from {self.country or '?'} on {self.day}"


class UsageHostDay(models.Model):
    """A hostname no library application covers, on one day: candidates for custom applications."""

    pk = models.CompositePrimaryKey("day", "host")
    day = models.DateField()
    host = models.CharField(max_length=255)
    gateway_name = models.CharField(max_length=120, help_text="An application name the gateway sent, if any")
    requests = models.BigIntegerField()
    users = models.IntegerField()
    bytes_up = models.BigIntegerField()
    bytes_down = models.BigIntegerField()
    last_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.host} on {self.day}"


class UsageAppSeen(models.Model):
    """When an application was first and last used (by log time): newly seen applications are
    those first used within ``SHADOW_AI_USAGE_NEW_DAYS``."""

    application = models.OneToOneField("shadow_ai.Application", primary_key=True, on_delete=models.CASCADE,
                                       related_name="usage_seen")
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    discovered_at = models.DateTimeField(default=timezone.now, help_text="When a rollup first saw it")

    def __str__(self) -> str:
        return f"{self.application_id} first seen {self.first_at:%Y-%m-%d}"


class UsageDirtyDay(models.Model):
    """A day whose logs changed since it was last rolled up. Written in the transaction that
    stores the logs; ``version`` changes on every mark, so a run only clears the marks it saw."""

    day = models.DateField(primary_key=True)
    version = models.BigIntegerField()
    marked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.day} (dirty)"


class UsageRollupRun(JobRun):
    """One run of the usage rollup (scheduled, on demand, or a rebuild of every day). One runs at a
    time (an advisory lock); the worker running it holds its lease (``console.core.jobs``)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "New logs, on demand"
        REBUILD = "rebuild", "Rebuild of every day"

    PROGRESS_FIELDS = ("days_done", "days_total")

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    days_total = models.PositiveIntegerField(default=0)
    days_done = models.PositiveIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0.0, help_text="Time spent rolling up (without waiting)")
    first_day = models.DateField(null=True, blank=True)
    last_day = models.DateField(null=True, blank=True)
    new_applications = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Usage rollup {self.pk} ({self.status})"

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    @property
    def active(self) -> bool:
        return self.is_active
