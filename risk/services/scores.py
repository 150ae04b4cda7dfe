"""Scores: scoring people again after detection, and full rescores run chunk by chunk under a lease."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from console.audit.services import audit_record
from console.core import jobs
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk import effects, scoring
from risk.models import RescoreRun, RiskLevelChange
from risk.services.configuration import risk_settings
from risk.services.queueing import start_rescore

log = logging.getLogger(__name__)


def score_users(
    user_ids: Iterable[int], *, cause: str, actor_email: str = "", reason: str = "",
) -> list[scoring.Change]:
    """Score these people again now; record and act on every change."""
    ids = sorted(set(user_ids))
    if not ids:
        return []
    lookback = risk_settings().lookback_days
    with transaction.atomic():
        # One scorer per person at a time, so each change is recorded once.
        scope = scoring.Scope(user_ids=tuple(ids))
        scoring.lock(scope)
        changes = scoring.record_changes(scope, lookback_days=lookback, cause=cause, actor_email=actor_email,
                                         reason=reason)
        _after_changes(changes, cause=cause, actor_email=actor_email, reason=reason)
    return changes


def _after_changes(changes: Sequence[scoring.Change], *, cause: str, actor_email: str = "", reason: str = "") -> None:
    """Within the caller's transaction, once the changes are stored: tell Shared Signals
    receivers, and once committed let Access decide each person's sessions again."""
    if not changes:
        return

    effects.level_changed(changes, cause=cause, actor_email=actor_email, reason=reason)


def rescore_start(*, actor: User) -> RescoreRun:
    require_role(actor, ADMINS, "rescore everyone")
    running = RescoreRun.objects.filter(status__in=[RescoreRun.Status.QUEUED, RescoreRun.Status.RUNNING]).first()
    if running is not None:
        return running
    with transaction.atomic():
        audit_record(actor=actor, action="risk.rescore.requested", object_type="risk.rescorerun",
                     object_repr="Full rescore")
        return start_rescore(requested_by=actor.email, cause=RiskLevelChange.Cause.RESCORE)


def _rescore_plan(run: RescoreRun, chunk_size: int, bounds: list[tuple[int, int]]) -> list[str]:
    """Set the claimed run up: a new run starts at the first person; a run taken over resumes
    after its checkpoint, keeping what the committed chunks counted (they are not gone over
    again, so ``users_changed`` counts each change once)."""
    if run.scored_through is None:
        # A fresh run, or one from before checkpoints: from the first person. users_changed is
        # kept: committed chunks changed those people, and going over them again finds nothing
        # left to change (it would undercount otherwise).
        run.chunks_done, run.users_scored, run.scored_through = 0, 0, 0
    bounds[:] = scoring.chunk_bounds(chunk_size, after=run.scored_through)
    run.chunks_total = run.chunks_done + len(bounds)
    return ["chunks_total", "chunks_done", "users_scored", "scored_through"]


def rescore_run(run_id: int, *, chunk_size: int | None = None) -> RescoreRun | None:
    """A full rescore, chunk by chunk (each chunk one statement and one short transaction).
    Running it again finds nothing left to change.

    The worker holds the run's lease (``JOB_LEASE_SECONDS``), renewed by a heartbeat however
    long a chunk takes. Another delivery of the task finds the live lease and does nothing; the
    stall sweep sends a run whose lease ran out to a new worker, which resumes after the last
    committed chunk. A worker that finds its lease gone (taken over after it looked dead) rolls
    back its chunk and stops, leaving the run's status and progress to the worker that has it
    now."""
    size = chunk_size or settings.RISK_RESCORE_CHUNK
    bounds: list[tuple[int, int]] = []
    claimed = RescoreRun.claim(run_id, prepare=lambda run, claim, now: _rescore_plan(run, size, bounds))
    if not isinstance(claimed, jobs.Claim):
        return RescoreRun.objects.filter(pk=run_id).first()
    run, lease = claimed.obj, claimed.owner
    if claimed.taken_over_from:
        log.warning("rescore %s: taken over from %s after its lease ran out; resuming after user %s",
                    run.pk, jobs.owner_worker(claimed.taken_over_from), run.scored_through)
    cause = run.message if run.message in RiskLevelChange.Cause.values else RiskLevelChange.Cause.RESCORE
    lookback = risk_settings().lookback_days
    try:
        with jobs.LeaseHeartbeat(RescoreRun, run.pk, lease) as beat:
            for low, high in bounds:
                beat.check()
                with transaction.atomic():
                    scope = scoring.Scope(low=low, high=high)
                    scored = scoring.lock(scope)
                    changes = scoring.record_changes(scope, lookback_days=lookback, cause=cause,
                                                     actor_email=run.requested_by_email)
                    _after_changes(changes, cause=cause, actor_email=run.requested_by_email)
                    # Progress and checkpoint commit with the chunk's changes, only while the
                    # lease is ours.
                    if not RescoreRun.owned(run.pk, lease).update(
                            chunks_done=F("chunks_done") + 1, users_scored=F("users_scored") + scored,
                            users_changed=F("users_changed") + len(changes), scored_through=high):
                        raise jobs.LeaseLost
    except jobs.LeaseLost:
        log.warning("rescore %s: lease taken over by another worker; this one stops", run.pk)
        run.refresh_from_db()
        return run
    except Exception as exc:
        RescoreRun.release(run.pk, lease, status=RescoreRun.Status.FAILED, finished_at=timezone.now(),
                           message=f"Failed: {exc}"[:300])
        raise
    RescoreRun.release(run.pk, lease, status=RescoreRun.Status.DONE, finished_at=timezone.now())
    run.refresh_from_db()
    return run


def rescore_scheduled() -> RescoreRun | None:
    """The periodic rescore (look-back windows move on even when nothing new arrives)."""
    if RescoreRun.objects.filter(status__in=[RescoreRun.Status.QUEUED, RescoreRun.Status.RUNNING]).exists():
        return None
    run = RescoreRun.objects.create(requested_by_email="", message=RiskLevelChange.Cause.RESCORE)
    return rescore_run(run.pk)
