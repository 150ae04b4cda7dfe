"""CASB: integrations with SaaS and AI vendors, their scan runs, the findings the scans report
(one ``Finding`` per finding type and integration, one ``FindingInstance`` per affected asset)
and the third-party applications found through OAuth grants (``DiscoveredApp``, the "discovered
by CASB" mark the Shadow AI library shows)."""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from console.core.fields import EncryptedTextField
from console.core.jobs import JobRun
from console.core.names import case_insensitive_unique
from shadow_ai.casb.findings import FindingType, Severity, finding_type


class Integration(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"

    name = models.CharField(max_length=120, unique=True)
    vendor = models.CharField(max_length=32, db_index=True, help_text="Connector key")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    # A JSON object of the connector's secret fields, encrypted at rest; never rendered.
    credentials = EncryptedTextField(blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="The connector's non-secret settings")
    base_url = models.CharField(max_length=300, blank=True,
                                help_text="Outside production only: send every vendor request to this address")
    scan_interval_hours = models.PositiveSmallIntegerField(default=24)
    next_scan_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_scan_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    attention_message = models.CharField(max_length=600, blank=True)
    is_demo = models.BooleanField(default=False, help_text="Sample data: never scanned")
    dlp_profiles = models.ManyToManyField("dlp.DlpProfile", blank=True, related_name="casb_integrations",
                                          help_text="Profiles shared files and AI files are scanned with")
    credentials_set_at = models.DateTimeField(null=True, blank=True)
    created_by_email = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [case_insensitive_unique("casb_integration_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def connector(self):
        # Connectors import finding types, which the models import too: imported on use to break the cycle.
        from shadow_ai.casb.connectors import get

        return get(self.vendor)

    @property
    def vendor_label(self) -> str:
        try:
            return self.connector.label
        except ValueError:
            return self.vendor

    def secret_values(self) -> dict[str, str]:
        try:
            data = json.loads(self.credentials or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials)


class ScanRun(JobRun):
    """One scan of one integration, run by a worker step by step and page by page. The cursor,
    state and counters are checkpointed after every page, in the same transaction as the findings
    of that page: a run stopped anywhere is picked up by any worker from where it stopped. The
    worker holds the run's lease (``console.core.jobs``), renewed by a heartbeat."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        FIRST = "first", "First scan"
        MANUAL = "manual", "Scan now"
        SCHEDULED = "scheduled", "Scheduled"

    ACTIVE = ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    PROGRESS_FIELDS = ("step_index", "steps_total")

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.MANUAL)
    steps_total = models.PositiveSmallIntegerField(default=0)
    step_index = models.PositiveSmallIntegerField(default=0)
    step_label = models.CharField(max_length=120, blank=True)
    step_pages = models.PositiveIntegerField(default=0)
    cursor = models.TextField(blank=True)
    state = models.JSONField(default=dict, blank=True)
    pages = models.PositiveIntegerField(default=0)
    assets_scanned = models.PositiveIntegerField(default=0)
    observations = models.PositiveIntegerField(default=0)
    instances_new = models.PositiveIntegerField(default=0)
    instances_resolved = models.PositiveIntegerField(default=0)
    executions = models.PositiveSmallIntegerField(default=0)
    transient_failures = models.PositiveSmallIntegerField(default=0)
    messages = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["integration"], condition=Q(status__in=["queued", "running"]),
                                    name="casb_one_active_scan_per_integration"),
        ]

    def __str__(self) -> str:
        return f"Scan {self.pk} of {self.integration_id} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.steps_total:
            return 0
        # Within a step the number of pages is unknown: each page closes part of the gap.
        within = self.step_pages / (self.step_pages + 1)
        return min(99, int(100 * (self.step_index + within) / self.steps_total))

    @property
    def percent_step(self) -> int:
        """The percentage rounded down to the progress bar's steps of ten."""
        return self.percent // 10 * 10

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class Finding(models.Model):
    """One finding type reported by one integration; its instances are the affected assets."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        IGNORED = "ignored", "Ignored"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="findings")
    type_key = models.CharField(max_length=80)
    title = models.CharField(max_length=200)
    vendor = models.CharField(max_length=40)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, db_index=True)
    severity_changed = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.CharField(max_length=254, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    active_instances = models.PositiveIntegerField(default=0)
    hidden_instances = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-severity", "title"]
        constraints = [models.UniqueConstraint(fields=["integration", "type_key"], name="casb_finding_unique")]
        indexes = [models.Index(fields=["status", "resolved_at", "severity"], name="casb_finding_list_idx")]

    def __str__(self) -> str:
        return f"{self.title} ({self.integration})"

    @property
    def kind(self) -> FindingType | None:
        return finding_type(self.type_key)

    @property
    def remediation(self) -> str:
        kind = self.kind
        return kind.remediation if kind else ""

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class FindingInstance(models.Model):
    """One affected asset of a finding, keyed by the connector's stable asset key."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        HIDDEN = "hidden", "Hidden"

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="instances")
    key = models.CharField(max_length=255)
    asset = models.CharField(max_length=255)
    asset_kind = models.CharField(max_length=60, blank=True)
    owner = models.CharField(max_length=254, blank=True)
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.CharField(max_length=254, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    first_seen_run = models.BigIntegerField(null=True, blank=True, db_index=True)
    last_seen_run = models.BigIntegerField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    application = models.ForeignKey("shadow_ai.Application", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="casb_instances")

    class Meta:
        ordering = ["asset", "pk"]
        constraints = [models.UniqueConstraint(fields=["finding", "key"], name="casb_instance_unique")]
        indexes = [models.Index(fields=["finding", "resolved_at", "status"], name="casb_instance_list_idx")]

    def __str__(self) -> str:
        return f"{self.asset} ({self.finding.title})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class DiscoveredApp(models.Model):
    """A third-party application people authorized with OAuth, as one integration sees it, linked
    to the Shadow AI library application it is (matched by name or hostname, or added as a custom
    application when it is an AI application the library did not know)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="discovered_apps")
    external_id = models.CharField(max_length=255, help_text="The vendor's client or app id")
    name = models.CharField(max_length=255)
    publisher = models.CharField(max_length=255, blank=True)
    hostnames = models.JSONField(default=list, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    users = models.JSONField(default=list, blank=True)
    user_count = models.PositiveIntegerField(default=0)
    is_ai = models.BooleanField(default=False, db_index=True)
    match = models.CharField(max_length=16, blank=True, help_text="name, hostname, created or empty")
    application = models.ForeignKey("shadow_ai.Application", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="casb_discoveries")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_run = models.BigIntegerField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["integration", "external_id"], name="casb_discovered_unique")]

    def __str__(self) -> str:
        return self.name

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "external_id": self.external_id, "users": self.user_count}
