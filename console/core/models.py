from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """Last sign of life of a background process. The beat scheduler sends a heartbeat task
    every ``HEARTBEAT_INTERVAL`` seconds; the worker that runs it records both the time the
    scheduler sent it (key ``beat``) and the time it ran (key ``worker:<hostname>``)."""

    key = models.CharField(max_length=200, primary_key=True)
    last_seen = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} @ {self.last_seen:%H:%M:%S}"


class WorkerCheck(models.Model):
    """A round trip requested from the health page: the web process queues a task, a worker
    runs it and records which process it was."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        DONE = "done", "Done"

    requested_at = models.DateTimeField(default=timezone.now)
    requested_by_id = models.BigIntegerField(null=True, blank=True)
    requested_from_pid = models.IntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    completed_at = models.DateTimeField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"worker check {self.pk} ({self.status})"

    @property
    def round_trip_ms(self) -> int | None:
        if self.completed_at is None:
            return None
        return int((self.completed_at - self.requested_at).total_seconds() * 1000)
