"""Running a scan: a worker takes the run's lease, walks the connector's steps page by page and
saves each page (findings upserted by their stable keys, cursor, counters) in one transaction.

Robustness, in short:

* **One worker at a time.** A run is worked on by whoever holds its lease (``lease_owner`` /
  ``lease_expires_at``, ``console.core.jobs``), taken with ``ScanRun.claim`` and renewed by a
  heartbeat thread every third of ``JOB_LEASE_SECONDS``, also while the connector waits out a
  vendor's rate limit; every page's transaction checks the lease is still ours before writing.
  Works the same on PostgreSQL and SQLite.
* **A worker that dies** (SIGKILL, a lost machine) stops renewing; its lease runs out after
  ``JOB_LEASE_SECONDS`` and the broker's redelivery (or the periodic dispatch) lets another
  worker take the lease over and resume from the last saved page. Re-reading a page twice is harmless: instances are
  upserted by (finding, key) and counters move in the page's own transaction.
* **Errors** follow the connector error classes: transient ones keep the checkpoint and retry
  with backoff (the worker is given back meanwhile); auth and configuration ones fail the run
  and mark the integration as needing attention.
* **Resolution.** Only a complete scan resolves what it no longer sees, and only for finding
  types its steps actually checked (a step skipped because a vendor feature is off leaves its
  findings as they were).
* **Long scans** give their worker back every ``CASB_SCAN_SLICE_SECONDS`` and continue in a new
  task, so one large tenant cannot hold a worker for hours."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from console.audit.services import audit_record
from console.core import jobs
from shadow_ai.casb import discovery
from shadow_ai.casb.connectors import context_for
from shadow_ai.casb.connectors.base import DlpCheck, Observation, Page, Skip, Step
from shadow_ai.casb.connectors.errors import ConnectorError
from shadow_ai.casb.findings import catalogue
from shadow_ai.casb.models import DiscoveredApp, Finding, FindingInstance, Integration, ScanRun
from shadow_ai.dlp.services import compiled_profiles

log = logging.getLogger(__name__)
MAX_MESSAGES = 200


@dataclass(frozen=True)
class Outcome:
    """What the task should do next: nothing (``finished``, ``gone``, ``lost``) or run again in
    ``retry_in`` seconds (``busy``: someone else holds the lease; ``retry``: a transient error;
    ``continue``: the slice of time is used up)."""

    status: str
    retry_in: float | None = None


def _message(run: ScanRun, text: str, level: str = "info", at: datetime | None = None) -> None:
    run.messages = [*run.messages, {"at": (at or timezone.now()).isoformat(), "level": level, "text": text[:600]}]
    run.messages = run.messages[-MAX_MESSAGES:]


# --- Lease --------------------------------------------------------------------------------------


def _prepare(run: ScanRun, claim: jobs.Claim, now: datetime) -> list[str] | None:
    integration = run.integration
    if integration.status == Integration.Status.PAUSED or integration.is_demo:
        run.status, run.finished_at, run.lease_owner, run.lease_expires_at = ScanRun.Status.CANCELLED, now, "", None
        run.message = "Cancelled: the integration was paused before the scan finished."
        _message(run, run.message, "warning", now)
        run.save(update_fields=["status", "finished_at", "lease_owner", "lease_expires_at", "message", "messages"])
        return None
    run.executions += 1
    if claim.taken_over_from:
        _message(run, f"The worker {jobs.owner_worker(claim.taken_over_from)} stopped renewing its lease; resumed at "
                      f"step {run.step_index + 1} of {run.steps_total or '?'} after page {run.step_pages} of that "
                      "step.", "warning", now)
    return ["executions", "messages"]


def claim(run_id: int, owner: str) -> ScanRun | float | None:
    """Take the run's lease: the run, seconds until the current holder's lease runs out, or None
    when there is nothing to do (finished, deleted, paused integration)."""
    claimed = ScanRun.claim(run_id, owner=owner, related=("integration",), prepare=_prepare)
    return claimed.obj if isinstance(claimed, jobs.Claim) else claimed


def _locked(run_id: int, owner: str) -> ScanRun:
    run = ScanRun.objects.select_for_update(of=("self",)).select_related("integration").get(pk=run_id)
    if run.lease_owner != owner or run.status != ScanRun.Status.RUNNING:
        raise jobs.LeaseLost
    return run


# --- Storing a page -----------------------------------------------------------------------------


def store(integration: Integration, run_id: int | None, observations: Iterable[Observation],
          now: datetime | None = None) -> set[int]:
    """Upsert one page's observations; returns the ids of the findings it touched."""
    now = now or timezone.now()
    kinds = catalogue()
    unique: dict[tuple[str, str], Observation] = {}
    for item in observations:
        if item.type_key not in kinds:
            log.warning("connector %s reported unknown finding type %s", integration.vendor, item.type_key)
            continue
        unique[(item.type_key, item.key)] = item  # a later report of the same asset wins
    if not unique:
        return set()
    types = sorted({t for t, _ in unique})
    existing = {f.type_key: f for f in Finding.objects.filter(integration=integration, type_key__in=types)}
    missing = [t for t in types if t not in existing]
    if missing:
        Finding.objects.bulk_create([
            Finding(integration=integration, type_key=t, title=kinds[t].title[:200], vendor=kinds[t].vendor,
                    severity=int(kinds[t].severity), first_seen_at=now, last_seen_at=now)
            for t in missing
        ], ignore_conflicts=True)
        existing = {f.type_key: f for f in Finding.objects.filter(integration=integration, type_key__in=types)}
    Finding.objects.filter(pk__in=[f.pk for f in existing.values()]).update(last_seen_at=now)
    apps = discovery.record(integration, [o.app for o in unique.values() if o.app is not None], run_id=run_id,
                            now=now)
    rows = [
        FindingInstance(
            finding=existing[o.type_key], key=o.key[:255], asset=(o.asset or o.key)[:255],
            asset_kind=o.asset_kind[:60], owner=o.owner[:254], details=dict(o.details),
            status=FindingInstance.Status.ACTIVE,
            first_seen_at=now, last_seen_at=now, first_seen_run=run_id, last_seen_run=run_id, resolved_at=None,
            application_id=apps.get(o.app.external_id) if o.app is not None else None,
        )
        for o in unique.values()
    ]
    FindingInstance.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["finding", "key"],
        update_fields=["asset", "asset_kind", "owner", "details", "last_seen_at", "last_seen_run", "resolved_at",
                       "application"],
    )
    touched = {f.pk for f in existing.values()}
    recount(touched, now=now)
    return touched


def recount(finding_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Refresh the instance counts of findings; a finding with no open instance is resolved."""
    now = now or timezone.now()
    ids = list(finding_ids)
    if not ids:
        return
    counts = Finding.objects.filter(pk__in=ids).annotate(
        open_active=Count("instances", filter=Q(instances__resolved_at__isnull=True,
                                                instances__status=FindingInstance.Status.ACTIVE)),
        open_hidden=Count("instances", filter=Q(instances__resolved_at__isnull=True,
                                                instances__status=FindingInstance.Status.HIDDEN)),
    )
    changed = []
    for finding in counts:
        resolved = finding.resolved_at
        if finding.open_active + finding.open_hidden == 0:
            resolved = resolved or now
        else:
            resolved = None
        values = (finding.open_active, finding.open_hidden, resolved)
        if values != (finding.active_instances, finding.hidden_instances, finding.resolved_at):
            finding.active_instances, finding.hidden_instances, finding.resolved_at = values
            changed.append(finding)
    Finding.objects.bulk_update(changed, ["active_instances", "hidden_instances", "resolved_at"])


# --- The run ------------------------------------------------------------------------------------


def dlp_check(integration: Integration) -> DlpCheck | None:
    """The integration's DLP profiles, compiled for its connector (None: contents are not scanned)."""

    ids = list(integration.dlp_profiles.values_list("pk", flat=True))
    profiles = compiled_profiles(ids) if ids else []
    return DlpCheck(tuple(profiles), settings.CASB_DLP_MAX_BYTES) if profiles else None


def _connector_state(run: ScanRun, state: dict[str, Any]) -> dict[str, Any]:
    """The connector's checkpointed state; a new run starts with what the integration's last
    finished scan left in ``carry`` as ``carried`` (a watermark such as "read up to here")."""
    if "connector" in state:
        return dict(state["connector"] or {})
    previous = (ScanRun.objects.filter(integration_id=run.integration_id, status=ScanRun.Status.SUCCEEDED)
                .exclude(pk=run.pk).order_by("-finished_at").values_list("state", flat=True).first())
    carry = ((previous or {}).get("connector") or {}).get("carry")
    return {"carried": carry} if carry else {}


def _backoff(failures: int) -> float:
    base = float(settings.CASB_RETRY_BASE_SECONDS)
    return min(float(settings.CASB_RETRY_MAX_SECONDS), base * 2 ** (failures - 1)) * (0.75 + random.random() / 2)


def execute(run_id: int, *, owner: str | None = None, sleep: Callable[[float], None] | None = None) -> Outcome:
    """Work on a scan run until it finishes, fails, must wait, or its time slice is used up."""
    owner = owner or jobs.new_owner()
    claimed = claim(run_id, owner)
    if claimed is None:
        return Outcome("gone")
    if isinstance(claimed, float):
        return Outcome("busy", retry_in=claimed)
    run = claimed
    integration = run.integration
    started = time.monotonic()
    beat = jobs.LeaseHeartbeat(ScanRun, run.pk, owner)
    try:
        with beat:
            connector = integration.connector
            state = dict(run.state or {})
            ctx = context_for(connector, credentials=integration.secret_values(), config=integration.config,
                              base_url=integration.base_url, state=_connector_state(run, state),
                              on_wait=lambda seconds: beat.check(), sleep=sleep,
                              dlp=dlp_check(integration))
            steps = connector.steps(ctx)
            if run.steps_total != len(steps):
                ScanRun.objects.filter(pk=run.pk).update(steps_total=len(steps))
                run.steps_total = len(steps)
            while run.step_index < len(steps):
                beat.check()
                step = steps[run.step_index]
                skipped = ""
                try:
                    page = step.fetch(ctx, run.cursor or None)
                except Skip as exc:
                    page, skipped = Page(), exc.message
                run = _save_page(run.pk, owner, step, steps, page, ctx.state, ctx.warnings, skipped)
                ctx.warnings.clear()
                if run.step_index < len(steps) and time.monotonic() - started > settings.CASB_SCAN_SLICE_SECONDS:
                    ScanRun.release(run.pk, owner, holder="")
                    return Outcome("continue", retry_in=0.0)
            _finish(run.pk, owner, steps, ctx.state)
            return Outcome("finished")
    except jobs.LeaseLost:
        return Outcome("lost")
    except ConnectorError as exc:
        return _connector_failed(run.pk, owner, exc)
    except SoftTimeLimitExceeded:
        ScanRun.release(run.pk, owner, holder="")
        return Outcome("continue", retry_in=0.0)
    except Exception as exc:
        log.exception("CASB scan %s failed unexpectedly", run_id)
        _fail(run.pk, owner, f"The scan stopped on an internal error ({exc.__class__.__name__}); it was logged.",
              attention=False)
        raise


def _save_page(run_id: int, owner: str, step: Step, steps: list[Step], page: Page, state: dict[str, Any],
               warnings: list[str], skipped: str) -> ScanRun:
    now = timezone.now()
    with transaction.atomic():
        run = _locked(run_id, owner)
        if not skipped:
            store(run.integration, run.pk, page.observations, now)
        saved = dict(run.state or {})
        saved["connector"] = state
        for text in warnings:
            _message(run, text, "warning", now)
        if skipped:
            saved["skipped_steps"] = sorted({*saved.get("skipped_steps", []), step.key})
            _message(run, f"{step.label}: skipped. {skipped}", "warning", now)
        if skipped or not page.next_cursor:
            run.step_index, run.cursor, run.step_pages = run.step_index + 1, "", 0
        else:
            run.cursor, run.step_pages = page.next_cursor, run.step_pages + 1
        run.step_label = steps[run.step_index].label if run.step_index < len(steps) else "Finishing"
        run.state = saved
        run.pages += 1
        run.assets_scanned += page.assets
        run.observations += 0 if skipped else len(page.observations)
        run.save(update_fields=["step_index", "cursor", "step_pages", "step_label", "state", "pages", "assets_scanned",
                                "observations", "messages"])
    return run


def _checked_types(steps: list[Step], run: ScanRun, state: dict[str, Any]) -> set[str]:
    skipped = set((run.state or {}).get("skipped_steps", []))
    checked = {t for step in steps if step.key not in skipped for t in step.types}
    return checked - set(state.get("unchecked", []))


def _finish(run_id: int, owner: str, steps: list[Step], state: dict[str, Any]) -> None:
    now = timezone.now()
    with transaction.atomic():
        run = _locked(run_id, owner)
        integration = Integration.objects.select_for_update().get(pk=run.integration_id)
        checked = _checked_types(steps, run, state)
        gone = FindingInstance.objects.filter(
            finding__integration=integration, finding__type_key__in=checked, resolved_at__isnull=True,
        ).exclude(last_seen_run=run.pk)
        resolved = gone.update(resolved_at=now)
        app_types = {t.key for t in integration.connector.finding_types if t.has_application}
        if app_types and app_types <= checked:
            DiscoveredApp.objects.filter(integration=integration, resolved_at__isnull=True).exclude(
                last_seen_run=run.pk).update(resolved_at=now)
        recount(Finding.objects.filter(integration=integration).values_list("pk", flat=True), now=now)
        run.instances_new = FindingInstance.objects.filter(finding__integration=integration,
                                                           first_seen_run=run.pk).count()
        run.instances_resolved = resolved
        run.status, run.finished_at, run.lease_owner, run.lease_expires_at = ScanRun.Status.SUCCEEDED, now, "", None
        run.step_index, run.step_label, run.cursor = run.steps_total, "Done", ""
        skipped = len((run.state or {}).get("skipped_steps", []))
        run.message = (f"Checked {run.assets_scanned} item(s): {run.observations} finding instance(s) reported, "
                       f"{run.instances_new} new, {resolved} resolved"
                       + (f"; {skipped} step(s) skipped (see the messages)." if skipped else "."))
        _message(run, run.message, "info", now)
        run.save(update_fields=["instances_new", "instances_resolved", "status", "finished_at", "lease_owner",
                                "lease_expires_at", "step_index", "step_label", "cursor", "message", "messages"])
        integration.last_scan_at = integration.last_success_at = now
        integration.next_scan_at = now + timedelta(hours=integration.scan_interval_hours)
        fields = ["last_scan_at", "last_success_at", "next_scan_at"]
        if integration.status == Integration.Status.NEEDS_ATTENTION:
            integration.status, integration.attention_message = Integration.Status.ACTIVE, ""
            fields += ["status", "attention_message"]
            audit_record(actor=None, action="casb.integration.recovered", obj=integration,
                         changes={"status": {"old": "needs_attention", "new": "active"}, "scan": run.pk})
        integration.save(update_fields=fields)


def _connector_failed(run_id: int, owner: str, exc: ConnectorError) -> Outcome:
    if not exc.retryable:
        _fail(run_id, owner, exc.message, attention=exc.needs_attention)
        return Outcome("failed")
    now = timezone.now()
    with transaction.atomic():
        try:
            run = _locked(run_id, owner)
        except jobs.LeaseLost:
            return Outcome("lost")
        failures = run.transient_failures + 1
        if failures < settings.CASB_SCAN_MAX_ATTEMPTS:
            delay = max(float(getattr(exc, "retry_after", None) or 0), _backoff(failures))
            run.transient_failures = failures
            # Hold the run for the delay, so a redelivered copy of the task waits too.
            run.lease_owner, run.lease_expires_at = jobs.WAITING, now + timedelta(seconds=delay)
            _message(run, f"{exc.message} Trying again in {int(delay)} s (attempt {failures + 1} of "
                          f"{settings.CASB_SCAN_MAX_ATTEMPTS}).", "warning", now)
            run.save(update_fields=["transient_failures", "lease_owner", "lease_expires_at", "messages"])
            return Outcome("retry", retry_in=delay)
    _fail(run_id, owner, f"Gave up after {failures} attempts: {exc.message}", attention=False)
    return Outcome("failed")


def _fail(run_id: int, owner: str, message: str, *, attention: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        run = ScanRun.objects.select_for_update(of=("self",)).select_related("integration").filter(pk=run_id).first()
        if run is None or run.lease_owner != owner or run.status not in ScanRun.ACTIVE:
            return
        run.status, run.finished_at, run.lease_owner, run.lease_expires_at = ScanRun.Status.FAILED, now, "", None
        run.message = message[:600]
        _message(run, message, "error", now)
        run.save(update_fields=["status", "finished_at", "lease_owner", "lease_expires_at", "message", "messages"])
        integration = Integration.objects.select_for_update().get(pk=run.integration_id)
        integration.last_scan_at = now
        integration.next_scan_at = now + timedelta(hours=integration.scan_interval_hours)
        fields = ["last_scan_at", "next_scan_at"]
        if attention:
            old = integration.status
            integration.status, integration.attention_message = Integration.Status.NEEDS_ATTENTION, message[:600]
            fields += ["status", "attention_message"]
            audit_record(actor=None, action="casb.integration.needs_attention", obj=integration,
                         changes={"status": {"old": old, "new": "needs_attention"}, "reason": message[:600],
                                  "scan": run.pk})
        integration.save(update_fields=fields)
