"""Background jobs that show their progress and survive the death of their worker.

Two abstract models and one lease:

* ``Leased``: a row that one worker at a time works on. The worker holds a lease
  (``lease_owner``, ``lease_expires_at``) of ``JOB_LEASE_SECONDS`` that a ``LeaseHeartbeat``
  renews every third of that from a thread of its own, whatever the job is doing (a slow
  chunk, a vendor's rate-limit wait). A worker that dies stops renewing; once its lease has run
  out another worker takes the row over and resumes from the job's checkpoint. A live lease is
  never taken.
* ``JobRun``: a ``Leased`` run with a status, timestamps, progress and a message, which a page
  polls (``render_poll``).

The API is ``claim()`` / ``renew()`` / ``release()`` on the model, the heartbeat, and
``stalled()`` / ``requeue()`` for the periodic sweep that hands abandoned rows to a new worker.
Every write is a conditional update on the owner, so a worker whose lease was taken over cannot
write over the one that has it now. Works the same on PostgreSQL and SQLite (where
``skip_locked`` is ignored)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django_htmx.http import HttpResponseStopPolling

log = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
# Queued rows nobody picked up for this long are sent to a worker again by the stall sweeps.
UNCLAIMED_AFTER = timedelta(minutes=3)
# The owner a job holds while it waits on purpose (a back-off before retrying): a live lease
# like any other, but nobody "took over" from it when it runs out.
WAITING = "waiting"


class LeaseLost(Exception):
    """The job's lease is no longer ours (it ran out and another worker took the job over):
    stop at once without writing anything more."""


def lease_seconds() -> float:
    return float(settings.JOB_LEASE_SECONDS)


def lease_until(now: datetime | None = None, extra: float = 0.0) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=lease_seconds() + extra)


def new_owner() -> str:
    """A lease owner that names the worker (for the run's messages) and is unique per claim."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:10]}"


def owner_worker(owner: str) -> str:
    """The ``host:pid`` part of an owner made by ``new_owner`` (or the owner itself)."""
    return owner.rsplit(":", 1)[0] if owner.count(":") >= 2 else owner


@dataclass(frozen=True)
class Claim:
    """A row whose lease we now hold. ``taken_over_from`` is the owner whose lease ran out, if
    the row was taken over (its checkpoint is where this worker resumes)."""

    obj: Any
    owner: str
    taken_over_from: str = ""


class Leased(models.Model):
    """A row worked on by one worker at a time, under a lease (see the module's docstring)."""

    RUNNING_STATUS: ClassVar[str] = RUNNING
    ACTIVE_STATUSES: ClassVar[tuple[str, ...]] = (QUEUED, RUNNING)
    CREATED_FIELD: ClassVar[str] = "created_at"

    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def lease_is_live(self, now: datetime | None = None) -> bool:
        """Someone holds the lease and it has not run out (an empty owner is nobody's)."""
        return bool(self.lease_owner) and self.lease_expires_at is not None and \
            self.lease_expires_at > (now or timezone.now())

    # --- claim / renew / release ------------------------------------------------------------

    @classmethod
    def claim(
        cls, pk: Any, *, owner: str | None = None, related: tuple[str, ...] = (),
        prepare: Callable[[Self, Claim, datetime], list[str] | None] | None = None,
    ) -> Claim | float | None:
        """Take the row's lease. Returns a ``Claim``; or the seconds until the current holder's
        lease runs out when someone else holds a live one (or is writing the row right now);
        or ``None`` when there is nothing to do (gone, finished, or ``prepare`` ended it).

        ``prepare(obj, claim, now)`` runs in the claiming transaction with the row locked and
        the lease fields already set: it sets up (or resumes) the job's own fields and returns
        the extra field names to save, or ``None`` to give up the claim (it then saves what it
        changed itself, e.g. a cancelled status)."""
        owner = owner or new_owner()
        now = timezone.now()
        with transaction.atomic():
            query = cls.objects.select_for_update(skip_locked=True, of=("self",) if related else ())
            obj = query.select_related(*related).filter(pk=pk).first() if related else query.filter(pk=pk).first()
            if obj is None:
                # Gone, or locked by its holder committing a chunk this very moment.
                return 1.0 if cls.objects.filter(pk=pk, status__in=cls.ACTIVE_STATUSES).exists() else None
            if obj.status not in cls.ACTIVE_STATUSES:
                return None
            # Only a running row's lease is anyone's (a queued row's expiry is the sweep's hold).
            if obj.status == cls.RUNNING_STATUS and obj.lease_owner != owner and obj.lease_is_live(now):
                return max(1.0, (obj.lease_expires_at - now).total_seconds())
            previous = obj.lease_owner
            claim = Claim(obj, owner, previous if previous not in ("", WAITING, owner) else "")
            obj.status, obj.lease_owner, obj.lease_expires_at = cls.RUNNING_STATUS, owner, lease_until(now)
            fields = ["status", "lease_owner", "lease_expires_at"]
            if hasattr(obj, "started_at") and obj.started_at is None:
                obj.started_at = now
                fields.append("started_at")
            if prepare is not None:
                extra = prepare(obj, claim, now)
                if extra is None:
                    return None
                fields += [f for f in extra if f not in fields]
            obj.save(update_fields=fields)
        return claim

    @classmethod
    def owned(cls, pk: Any, owner: str) -> models.QuerySet:
        """The row, if we still hold its lease (for conditional updates: 0 rows means lost)."""
        return cls.objects.filter(pk=pk, lease_owner=owner, status=cls.RUNNING_STATUS)

    @classmethod
    def renew(cls, pk: Any, owner: str, *, extra: float = 0.0) -> bool:
        """Push our lease out to ``JOB_LEASE_SECONDS`` (plus ``extra``) from now; False if it is
        no longer ours."""
        return bool(cls.owned(pk, owner).update(lease_expires_at=lease_until(extra=extra)))

    @classmethod
    def release(cls, pk: Any, owner: str, *, holder: str | None = None, until: datetime | None = None,
                **fields: Any) -> bool:
        """Give the lease up, writing ``fields`` (a final status, a message) in the same
        conditional update; False (and nothing written) if the lease was no longer ours. The
        owner is kept by default, so the row says which worker finished it; ``holder`` and
        ``until`` hand the row on (``""``: to whoever comes next; ``WAITING`` until ``until``
        for a back-off)."""
        values: dict[str, Any] = {"lease_expires_at": until, **fields}
        if holder is not None:
            values["lease_owner"] = holder
        return bool(cls.objects.filter(pk=pk, lease_owner=owner, status__in=cls.ACTIVE_STATUSES).update(**values))

    # --- the stall sweep ----------------------------------------------------------------------

    @classmethod
    def stalled(cls, *, now: datetime, unclaimed_after: timedelta) -> Q:
        """Rows a new worker should be sent to: running ones whose lease ran out (their worker
        died), and queued ones nobody picked up for ``unclaimed_after`` (their job was lost, or
        waits behind a backlog: a second job for them then does nothing). A live lease never
        matches."""
        running = Q(status=cls.RUNNING_STATUS)
        expired = running & ~Q(lease_owner="") & Q(lease_expires_at__lt=now)
        leaseless = running & (Q(lease_owner="") | Q(lease_expires_at__isnull=True)) & Q(
            **{f"{cls.CREATED_FIELD}__lt": now - unclaimed_after})
        # A queued row's expiry (if any) is when the sweep may send it again.
        unclaimed = Q(status=QUEUED) & (
            Q(lease_expires_at__isnull=True, **{f"{cls.CREATED_FIELD}__lt": now - unclaimed_after})
            | Q(lease_expires_at__lt=now))
        return expired | leaseless | unclaimed

    @classmethod
    def requeue(cls, pk: Any, *, now: datetime, unclaimed_after: timedelta, **fields: Any) -> bool:
        """Mark a stalled row queued for a new worker, unless it stopped being stalled meanwhile
        (another sweep, a worker that claimed it). It is not sent again for ``unclaimed_after``.
        The dead owner is kept, so the worker that takes the row over can say whose it was."""
        return bool(cls.objects.filter(cls.stalled(now=now, unclaimed_after=unclaimed_after), pk=pk).update(
            status=QUEUED, lease_expires_at=now + unclaimed_after, **fields))


class JobRun(Leased):
    """A long job a person can watch: status, when it was asked for, started and finished,
    progress and a message. Subclasses redeclare ``status`` with their own choices (which keep
    ``queued`` and ``running``), name their progress counters in ``PROGRESS_FIELDS`` and add
    their checkpoint (the fields a worker resumes from)."""

    PROGRESS_FIELDS: ClassVar[tuple[str, str]]

    status = models.CharField(max_length=12, default=QUEUED, db_index=True)
    requested_by_email = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=600, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return not self.is_active

    @property
    def progress(self) -> tuple[int, int]:
        """(done, total) in the job's own unit (chunks, days, steps)."""
        done, total = self.PROGRESS_FIELDS
        return getattr(self, done), getattr(self, total)

    @property
    def percent(self) -> int:
        if self.is_finished and self.status not in ("failed", "cancelled"):
            return 100
        done, total = self.progress
        return min(100, int(100 * done / total)) if total else 0


class LeaseHeartbeat:
    """Renews a lease every ``JOB_LEASE_SECONDS / 3`` from a daemon thread with its own database
    connection (closed when the thread ends), so the lease outlives any slow step of a live
    worker and runs out within ``JOB_LEASE_SECONDS`` of its death.

    Use it around the work: ``with LeaseHeartbeat(Model, pk, owner) as beat: ... beat.check()``
    at each checkpoint. When a renewal finds the lease gone, ``lost`` turns true and ``check()``
    raises ``LeaseLost``; the job's own conditional writes refuse too."""

    def __init__(self, model: type[Leased], pk: Any, owner: str, *, interval: float | None = None) -> None:
        self.model, self.pk, self.owner = model, pk, owner
        self.interval = interval if interval is not None else lease_seconds() / 3
        self._stop = threading.Event()
        self._lost = threading.Event()
        self.renewals = 0
        self._thread = threading.Thread(target=self._run, name=f"lease-{model.__name__}-{pk}", daemon=True)

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.interval))

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def check(self) -> None:
        if self._lost.is_set():
            raise LeaseLost

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    renewed = self.model.renew(self.pk, self.owner)
                except Exception:  # a database hiccup: try again at the next beat
                    log.warning("lease of %s %s: renewal failed", self.model.__name__, self.pk, exc_info=True)
                    continue
                if not renewed:
                    log.warning("lease of %s %s: no longer held by %s", self.model.__name__, self.pk, self.owner)
                    self._lost.set()
                    return
                self.renewals += 1
        finally:
            connections.close_all()  # this thread's own connections only


def render_poll(request: HttpRequest, template: str, context: dict[str, Any], *, job: JobRun) -> HttpResponse:
    """A job's progress fragment for htmx polling: the fragment polls itself while the job is
    active (``templates/components/job_poll.html``), and the answer that shows it finished
    carries 286, which tells htmx to stop polling (the finished fragment still replaces the
    running one)."""
    response = render(request, template, context)
    if job.is_finished and getattr(request, "htmx", False):
        response.status_code = HttpResponseStopPolling.status_code
    return response
