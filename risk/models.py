"""User risk scoring: telemetry, the behaviours it triggers, and each person's score.

Telemetry tables keep the fields the behaviours and dashboards read, under our own column
names; each row carries a stable ``event_key`` (the sender's id, or a hash of the row) so a
batch sent twice is stored once."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from console.core.jobs import JobRun, Leased
from console.core.names import case_insensitive_unique


class Level(models.IntegerChoices):
    """Risk levels, ordered so the score is a plain ``MAX``."""

    UNSCORED = 0, "Unscored"
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"

    @classmethod
    def from_name(cls, name: str) -> Level:
        return {"unscored": cls.UNSCORED, "low": cls.LOW, "medium": cls.MEDIUM, "high": cls.HIGH}[name.lower()]

    @property
    def key(self) -> str:
        return self.label.lower()


class TelemetryKind(models.TextChoices):
    ACCESS = "access_requests", "Access authentication logs"
    GATEWAY_HTTP = "gateway_http", "Gateway HTTP logs"
    GATEWAY_DNS = "gateway_dns", "Gateway DNS logs"
    CROWDSTRIKE = "crowdstrike_zta", "CrowdStrike Zero Trust Assessment"
    SENTINELONE = "sentinelone_threats", "SentinelOne threats"


class TelemetrySource(models.Model):
    """A sender of telemetry (a log shipper, an EDR webhook) with its own bearer token.
    Only a hash of the token is kept; it is shown once when the source is created."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=TelemetryKind.choices)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_email = models.CharField(max_length=254, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    events_accepted = models.BigIntegerField(default=0)
    events_rejected = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [case_insensitive_unique("risk_source_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IngestBatch(Leased):
    """One POSTed batch. Small batches are stored before the answer goes out; large ones are
    kept here (gzipped) and stored by a worker, and the sender polls the batch's status.
    The worker storing one holds its lease (``console.core.jobs``); a batch whose worker died is
    taken over from its checkpoint (``chunks_done``) once the lease runs out."""

    RUNNING_STATUS = "processing"
    ACTIVE_STATUSES = ("queued", "processing")
    CREATED_FIELD = "received_at"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(TelemetrySource, on_delete=models.CASCADE, related_name="batches")
    kind = models.CharField(max_length=32, choices=TelemetryKind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    payload = models.BinaryField(null=True, blank=True)
    content_type = models.CharField(max_length=60, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    rows_total = models.IntegerField(default=0)
    rows_stored = models.IntegerField(default=0)
    rows_duplicate = models.IntegerField(default=0)
    rows_rejected = models.IntegerField(default=0)
    rejected = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=300, blank=True)
    chunks_done = models.IntegerField(
        default=0, help_text="Parsed chunks whose rows and counters are committed: a worker that takes "
                             "the batch over after a crash resumes after them, so counters stay truthful")

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.kind} batch {self.id}"


class PendingDetection(models.Model):
    """Stored telemetry that the behaviours have not run over yet: written in the transaction that
    stores the rows (one row per stored chunk of up to 5,000 events), deleted in the transaction
    that records what detection found. A worker killed mid-detection, or a broker that could not
    take the job, leaves the row here for ``risk.tasks.sweep_detection`` to queue again."""

    source_kind = models.CharField(max_length=16)
    event_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True, db_index=True)
    requeues = models.PositiveIntegerField(
        default=0, help_text="Times the detection sweep queued it again: each wait before the next one is "
                             "twice the last, so rows waiting behind a backlog are not queued over and over")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{len(self.event_ids)} {self.source_kind} events awaiting detection"


class _Event(models.Model):
    event_key = models.CharField(max_length=64, unique=True)
    at = models.DateTimeField()
    email = models.CharField(max_length=254, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", db_constraint=False)
    source = models.ForeignKey(TelemetrySource, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", db_constraint=False)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class AuthEvent(_Event):
    """A sign-in (``access_requests``): from a sender, from the console's own sign-in, or from
    an Access decision that started a session."""

    class Origin(models.TextChoices):
        EXTERNAL = "external", "Sent by a log shipper"
        CONSOLE = "console", "Console sign-in"
        ACCESS = "access", "Access decision"

    origin = models.CharField(max_length=12, choices=Origin.choices, default=Origin.EXTERNAL)
    action = models.CharField(max_length=16, default="login")
    allowed = models.BooleanField()
    app_domain = models.CharField(max_length=255, blank=True)
    app_uid = models.CharField(max_length=64, blank=True)
    connection = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    city = models.CharField(max_length=120, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    ray_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="risk_auth_user_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.email} {'allowed' if self.allowed else 'denied'}"


class GatewayHttpEvent(_Event):
    """A request through the Gateway (``gateway_http``)."""

    device_id = models.CharField(max_length=120, blank=True)
    device_name = models.CharField(max_length=120, blank=True)
    host = models.CharField(max_length=255, blank=True, db_index=True)
    url = models.TextField(blank=True)
    http_method = models.CharField(max_length=12, blank=True)
    http_status = models.PositiveSmallIntegerField(default=0)
    action = models.CharField(max_length=32, blank=True)
    policy_name = models.CharField(max_length=200, blank=True)
    application_ids = models.JSONField(default=list, blank=True)
    application_names = models.JSONField(default=list, blank=True)
    category_ids = models.JSONField(default=list, blank=True)
    category_names = models.JSONField(default=list, blank=True)
    upload_dlp_profiles = models.JSONField(default=list, blank=True)
    download_dlp_profiles = models.JSONField(default=list, blank=True)
    dlp_match_count = models.PositiveSmallIntegerField(default=0)
    blocked_file_name = models.CharField(max_length=255, blank=True)
    blocked_file_reason = models.CharField(max_length=64, blank=True)
    blocked_file_hash = models.CharField(max_length=128, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    source_country = models.CharField(max_length=2, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    bytes_sent = models.BigIntegerField(default=0)
    bytes_received = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["user", "at"], name="risk_http_user_at_idx"),
            models.Index(fields=["at"], name="risk_http_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.email} {self.http_method} {self.host}"


class GatewayDnsEvent(_Event):
    """A DNS query through the Gateway (``gateway_dns``)."""

    device_id = models.CharField(max_length=120, blank=True)
    query_name = models.CharField(max_length=255)
    category_ids = models.JSONField(default=list, blank=True)
    category_names = models.JSONField(default=list, blank=True)
    resolver_decision = models.CharField(max_length=40, blank=True)
    policy_name = models.CharField(max_length=200, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    source_country = models.CharField(max_length=2, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="risk_dns_user_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.email} {self.query_name}"


class DeviceSignal(_Event):
    """What an EDR says about a device: a CrowdStrike Zero Trust Assessment or a SentinelOne
    threat."""

    class Provider(models.TextChoices):
        CROWDSTRIKE = "crowdstrike", "CrowdStrike"
        SENTINELONE = "sentinelone", "SentinelOne"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    device_id = models.CharField(max_length=120)
    device_name = models.CharField(max_length=120, blank=True)
    os_name = models.CharField(max_length=60, blank=True)
    os_version = models.CharField(max_length=60, blank=True)
    overall_score = models.PositiveSmallIntegerField(null=True, blank=True)
    os_score = models.PositiveSmallIntegerField(null=True, blank=True)
    sensor_config_score = models.PositiveSmallIntegerField(null=True, blank=True)
    threat_id = models.CharField(max_length=64, blank=True)
    threat_name = models.CharField(max_length=255, blank=True)
    classification = models.CharField(max_length=64, blank=True)
    confidence_level = models.CharField(max_length=32, blank=True)
    mitigation_status = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="risk_device_user_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_provider_display()} {self.device_id}"


class BehaviourConfig(models.Model):
    """How this organization uses one behaviour. Rows are created from the behaviour registry
    on first use, so a new behaviour needs no migration."""

    key = models.CharField(max_length=48, unique=True)
    enabled = models.BooleanField(default=False)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    params = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_email = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class RiskSettings(models.Model):
    """Organization-wide scoring settings (one row)."""

    lookback_days = models.PositiveIntegerField(
        default=90, help_text="Events older than this stop counting. 0 counts everything since the last reset.",
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_email = models.CharField(max_length=254, blank=True)
    access_log_cursor = models.BigIntegerField(
        default=0, help_text="The last Access authentication log entry read as a sign-in",
    )

    def __str__(self) -> str:
        return "Risk settings"


class RiskEvent(models.Model):
    """One time a behaviour was triggered: who, when, why, and the telemetry row behind it."""

    class SourceKind(models.TextChoices):
        AUTH = "auth", "Access authentication log"
        GATEWAY_HTTP = "gateway_http", "Gateway HTTP log"
        GATEWAY_DNS = "gateway_dns", "Gateway DNS log"
        DEVICE = "device", "EDR signal"
        AUDIT = "audit", "Audit trail"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="risk_events")
    behaviour = models.CharField(max_length=48, db_index=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices, help_text="The level when it was triggered")
    at = models.DateTimeField()
    detected_at = models.DateTimeField(default=timezone.now)
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    source_id = models.BigIntegerField()
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=160, unique=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="risk_event_user_at_idx")]

    def __str__(self) -> str:
        return f"{self.behaviour} for {self.user_id} at {self.at:%Y-%m-%d %H:%M}"


class UserRisk(models.Model):
    """A person's current score. No row (or level 0) means Unscored."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="risk")
    # Not indexed: a rescore rewrites many levels, and without an index on it PostgreSQL can
    # update the rows in place (HOT, helped by the fill factor the migration sets); lists of
    # scored people read the whole (small) table anyway.
    level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.UNSCORED)
    changed_at = models.DateTimeField(default=timezone.now)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_reset_at = models.DateTimeField(null=True, blank=True)
    compromised_at = models.DateTimeField(null=True, blank=True)
    compromised_by_email = models.CharField(max_length=254, blank=True)
    compromised_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-level", "-changed_at"]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.get_level_display()}"


class RiskLevelChange(models.Model):
    """The history of a person's score: every change, and every reset (kept for good)."""

    class Cause(models.TextChoices):
        DETECTION = "detection", "A behaviour was triggered"
        RESCORE = "rescore", "Rescore"
        RESET = "reset", "Reset by an investigator"
        COMPROMISED = "compromised", "Marked confirmed compromised"
        CONFIGURATION = "configuration", "Behaviour settings changed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="risk_changes")
    at = models.DateTimeField(default=timezone.now)
    previous = models.PositiveSmallIntegerField(choices=Level.choices)
    current = models.PositiveSmallIntegerField(choices=Level.choices)
    cause = models.CharField(max_length=16, choices=Cause.choices)
    actor_email = models.CharField(max_length=254, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="risk_change_user_at_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.previous} → {self.current}"


class RescoreRun(JobRun):
    """A full rescore, run by a worker in chunks of people (by user id) so its page can show
    progress. The worker holds the run's lease (``console.core.jobs``); each chunk's changes,
    counters and checkpoint (``scored_through``) commit together, so a worker that takes the run
    over after a crash resumes after the last committed chunk and nobody is counted twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    PROGRESS_FIELDS = ("chunks_done", "chunks_total")

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    users_scored = models.PositiveIntegerField(default=0)
    users_changed = models.PositiveIntegerField(default=0)
    scored_through = models.BigIntegerField(
        null=True, blank=True, help_text="Checkpoint: people up to this user id were rescored by committed chunks "
                                         "(empty until a worker starts the run)")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Rescore {self.pk} ({self.status})"
