"""Usage discovery writes: marking days whose logs changed, running the rollup (scheduled, on
demand, or a rebuild of every day), re-attributing past usage when the library changes, and
pruning old rollups.

How a day gets rolled up again: storing Gateway HTTP logs marks each row's day dirty in the
same transaction (``mark_days``, from the ingest's ``stored_rows`` signal). A run reads the
marks with their versions, rebuilds each day in its own transaction and, in that transaction,
deletes the mark only if its version is still the one it read — a log stored meanwhile has
changed the version, so its day is rolled up again by the next run. A late log therefore always
updates the day it belongs to, and rebuilding a day twice gives the same numbers."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from console.audit.services import audit_record
from console.core import jobs
from console.core.permissions import require_role
from console.core.roles import ADMINS
from shadow_ai.models import Application, ApplicationHostname
from shadow_ai.selectors import hostname_matcher
from shadow_ai.usage import cache, dashboard, rollup, runners
from shadow_ai.usage.models import (
    UsageAppDay,
    UsageAppPersonDay,
    UsageCountryDay,
    UsageDeviceDay,
    UsageDirtyDay,
    UsageHostDay,
    UsagePersonDay,
    UsageRollupRun,
)

log = logging.getLogger(__name__)
LOCK_KEY = 4_711_802_517  # PostgreSQL advisory lock: one rollup at a time
ROLLUP_TABLES = (UsageAppDay, UsageAppPersonDay, UsagePersonDay, UsageDeviceDay, UsageCountryDay, UsageHostDay)


# --- Dirty days -------------------------------------------------------------------------------


def mark_days(days: Iterable[date]) -> int:
    """Mark days for the next rollup, in the caller's transaction. Every mark gets a new
    version, so a run that is rolling one of these days up right now will not clear it."""
    wanted = sorted(set(days))
    if not wanted:
        return 0
    now = timezone.now()
    UsageDirtyDay.objects.bulk_create(
        [UsageDirtyDay(day=day, version=secrets.randbits(62), marked_at=now) for day in wanted],
        update_conflicts=True, unique_fields=["day"], update_fields=["version", "marked_at"],
    )
    return len(wanted)


def mark_rows(ats: Iterable[datetime]) -> int:
    """Mark the days of newly stored log rows (their ``at``)."""
    return mark_days({rollup.day_of(at) for at in ats})


def on_rows_stored(sender: object, kind: str, rows: Sequence[tuple], **kwargs: object) -> None:
    """Receiver of ``risk.ingest.storage.stored_rows``: rows are (id, user_id, at)."""
    if kind == "gateway_http" and rows:
        mark_rows(at for _, _, at in rows)


def _days_with_usage(*, application_ids: Iterable[int] = (), hosts: Iterable[str] = ()) -> set[date]:
    days: set[date] = set()
    ids = list(application_ids)
    if ids:
        days |= set(UsageAppDay.objects.filter(application_id__in=ids).values_list("day", flat=True).distinct())
    match = Q()
    for host in hosts:
        match |= Q(host=host) | Q(host__endswith=f".{host}")
    if match:
        days |= set(UsageHostDay.objects.filter(match).values_list("day", flat=True).distinct())
    return days


def covering_applications(hosts: Iterable[str], *, exclude: int | None = None) -> set[int]:
    """Applications whose hostnames cover (are parents of) these hosts: their usage may move
    to an application that adds a more specific hostname."""
    suffixes = set()
    for host in hosts:
        labels = host.split(".")
        suffixes |= {".".join(labels[n:]) for n in range(1, len(labels) - 1)}
    if not suffixes:
        return set()
    found = ApplicationHostname.objects.filter(hostname__in=suffixes)
    if exclude is not None:
        found = found.exclude(application_id=exclude)
    return set(found.values_list("application_id", flat=True))


def reattribute(*, application_ids: Iterable[int] = (), hosts: Iterable[str] = ()) -> int:
    """The library changed what some logs belong to (hostnames added or removed, an application
    deleted, its generative-AI flag changed): mark the days whose rollups may change. Call in the
    transaction of the change, before an application is deleted."""
    return mark_days(_days_with_usage(application_ids=application_ids, hosts=hosts))


def reattribute_everything() -> int:
    """After a catalogue update: every day that has rollups is rolled up again."""
    days = set(UsageAppDay.objects.values_list("day", flat=True).distinct())
    days |= set(UsageHostDay.objects.values_list("day", flat=True).distinct())
    return mark_days(days)


# --- Runs -------------------------------------------------------------------------------------


def rollup_start(*, actor: User, rebuild: bool = False) -> UsageRollupRun:
    """An admin asks for a run now: the days with new logs, or (``rebuild``) every day that has
    logs. While one they asked for is queued or running, that one is returned."""
    # shadow_ai/tasks.py imports this module: imported on use to break the cycle.
    from shadow_ai.tasks import usage_rollup

    require_role(actor, ADMINS, "run the usage rollup")
    kind = UsageRollupRun.Kind.REBUILD if rebuild else UsageRollupRun.Kind.MANUAL
    active = UsageRollupRun.objects.filter(
        kind=kind, status__in=[UsageRollupRun.Status.QUEUED, UsageRollupRun.Status.RUNNING]).first()
    if active is not None:
        return active
    with transaction.atomic():
        run = UsageRollupRun.objects.create(kind=kind, requested_by_email=actor.email)
        audit_record(actor=actor, action="shadow_ai.usage.rollup_requested", obj=run,
                     object_repr=str(UsageRollupRun.Kind(kind).label),
                     changes={"kind": {"old": None, "new": str(kind)}})

        transaction.on_commit(lambda: usage_rollup.delay(run.pk))
    return run


@contextmanager
def _exclusive(*, wait: bool) -> Iterator[bool]:
    """One rollup at a time across every worker (a PostgreSQL advisory lock, released if the
    worker dies). SQLite has a single writer anyway."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            got = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def rollup_scheduled() -> UsageRollupRun | None:
    """The beat schedule's run: the dirty days, if any, unless a run is already going."""
    if not UsageDirtyDay.objects.exists():
        return None
    with _exclusive(wait=False) as got:
        if not got:
            return None
        run = UsageRollupRun.objects.create(kind=UsageRollupRun.Kind.SCHEDULED)
        return _execute(run)


def rollup_run(run_id: int) -> UsageRollupRun | None:
    """Run a queued (or interrupted) run; waits while another run holds the lock. Running it
    again after it finished does nothing."""
    run = UsageRollupRun.objects.filter(pk=run_id).first()
    if run is None or run.status in (UsageRollupRun.Status.DONE, UsageRollupRun.Status.FAILED):
        return run
    with _exclusive(wait=True):
        run.refresh_from_db()
        if run.status in (UsageRollupRun.Status.DONE, UsageRollupRun.Status.FAILED):
            return run
        return _execute(run)


def _days_for(run: UsageRollupRun) -> list[date]:
    days = set(UsageDirtyDay.objects.values_list("day", flat=True))
    if run.kind == UsageRollupRun.Kind.REBUILD:
        span = rollup.log_span()
        if span is not None:
            first, last = span
            days |= {first + timedelta(days=n) for n in range((last - first).days + 1)}
    oldest = rollup.today() - timedelta(days=settings.SHADOW_AI_USAGE_RETENTION_DAYS)
    return sorted((d for d in days if d >= oldest), reverse=True)  # today first: what people look at


def _execute(run: UsageRollupRun) -> UsageRollupRun:
    """Holding the lock: take the run's lease and roll up its days, newest first, one
    transaction per day (the lease renewed by a heartbeat meanwhile)."""
    # Whoever holds the lock is the only run going: runs left "running" died with their worker.
    UsageRollupRun.objects.filter(status=UsageRollupRun.Status.RUNNING).exclude(pk=run.pk).update(
        status=UsageRollupRun.Status.FAILED, finished_at=timezone.now(), lease_expires_at=None,
        message="Stopped: the worker running it went away. Later runs cover its days.")
    # Holding the lock, nobody else is rolling up: a lease still on this run is a dead worker's.
    UsageRollupRun.objects.filter(pk=run.pk, status=UsageRollupRun.Status.RUNNING).update(lease_expires_at=None)
    days = _days_for(run)
    marks = dict(UsageDirtyDay.objects.values_list("day", "version"))

    def prepare(current: UsageRollupRun, claim: jobs.Claim, now: datetime) -> list[str]:
        # The days still dirty are the checkpoint: a run taken over starts its count again.
        current.days_total, current.days_done, current.rows_read, current.seconds = len(days), 0, 0, 0.0
        current.new_applications = 0
        current.first_day, current.last_day = (days[-1], days[0]) if days else (None, None)
        return ["days_total", "days_done", "rows_read", "seconds", "new_applications", "first_day", "last_day"]

    claimed = UsageRollupRun.claim(run.pk, prepare=prepare)
    if not isinstance(claimed, jobs.Claim):
        return UsageRollupRun.objects.get(pk=run.pk)
    owner = claimed.owner

    matcher = hostname_matcher()
    by_name = rollup.name_index(Application.objects.values_list("pk", "name", "aliases"))
    new_apps = 0
    try:
        with jobs.LeaseHeartbeat(UsageRollupRun, run.pk, owner) as beat:
            for day in days:
                beat.check()
                started = time.perf_counter()
                with transaction.atomic():
                    result = rollup.rollup_day(day, matcher=matcher, by_name=by_name)
                    if day in marks:
                        UsageDirtyDay.objects.filter(day=day, version=marks[day]).delete()
                    elapsed = time.perf_counter() - started
                    if not UsageRollupRun.owned(run.pk, owner).update(
                            days_done=F("days_done") + 1, rows_read=F("rows_read") + result.rows,
                            seconds=F("seconds") + elapsed,
                            new_applications=F("new_applications") + len(result.new_applications)):
                        raise jobs.LeaseLost
                    new_apps += len(result.new_applications)
                    transaction.on_commit(cache.bump)
    except jobs.LeaseLost:
        log.warning("usage rollup %s: lease taken over by another worker; this one stops", run.pk)
        return UsageRollupRun.objects.get(pk=run.pk)
    except Exception as exc:
        UsageRollupRun.release(run.pk, owner, status=UsageRollupRun.Status.FAILED, finished_at=timezone.now(),
                               message=f"Failed: {exc}"[:300])
        log.exception("usage rollup %s failed", run.pk)
        raise
    run.refresh_from_db()
    message = (f"{run.days_done} day(s), {run.rows_read:,} log rows, {run.rows_per_second:,.0f} rows/s"
               + (f"; {new_apps} application(s) seen for the first time" if new_apps else "")
               if days else "Nothing new to roll up.")
    UsageRollupRun.release(run.pk, owner, status=UsageRollupRun.Status.DONE, finished_at=timezone.now(),
                           message=message[:300])
    run.refresh_from_db()
    if days:
        warm()
    return run


def warm() -> None:
    """Compute the dashboards' standard views into the cache after a run, so the people who
    open them next get them at once."""
    if not cache.enabled():
        return

    try:
        for scope in ("ai", "all"):
            for key in dashboard.WARM_RANGES:
                period = dashboard.resolve_range(key)
                runners.run_all([*dashboard.dashboard_queries(period, scope).values(),
                                 *dashboard.deferred_queries(period, scope).values()])
    except Exception:
        log.warning("could not warm the usage dashboards", exc_info=True)


def prune(now: datetime | None = None) -> int:
    """Forget rollups older than ``SHADOW_AI_USAGE_RETENTION_DAYS`` and runs older than 30 days."""
    oldest = rollup.today() - timedelta(days=settings.SHADOW_AI_USAGE_RETENTION_DAYS)
    removed = 0
    for model in ROLLUP_TABLES:
        removed += model.objects.filter(day__lt=oldest).delete()[0]
    UsageDirtyDay.objects.filter(day__lt=oldest).delete()
    UsageRollupRun.objects.filter(created_at__lt=(now or timezone.now()) - timedelta(days=30)).exclude(
        status__in=[UsageRollupRun.Status.QUEUED, UsageRollupRun.Status.RUNNING]).delete()
    if removed:
        transaction.on_commit(cache.bump)
    return removed


def requeue_stalled(older_than: timedelta = timedelta(minutes=15)) -> int:
    """Runs asked for on demand that no worker took (the embedded broker loses a killed
    worker's job): queue them again."""
    # shadow_ai/tasks.py imports this module: imported on use to break the cycle.
    from shadow_ai.tasks import usage_rollup

    cutoff = timezone.now() - older_than
    stalled = list(UsageRollupRun.objects.filter(status=UsageRollupRun.Status.QUEUED, created_at__lt=cutoff)
                   .exclude(kind=UsageRollupRun.Kind.SCHEDULED).values_list("pk", flat=True))
    for pk in stalled:
        usage_rollup.delay(pk)
    return len(stalled)
