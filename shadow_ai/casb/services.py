"""Every write of the CASB: integrations (connect, change, rotate credentials, pause, resume,
delete), scans (start), findings (ignore, severity, hide instances) and the hand-off to Gateway
policies. Each checks the actor's role, runs in one transaction with its audit row, and queues
work after commit. Credentials are validated, tested against the vendor, then stored encrypted;
they are never returned, logged or written to the audit trail."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from console.audit.services import SECRET_MARK, audit_record, diff
from console.core import jobs, ratelimit
from console.core.errors import Conflict, ValidationFailed
from console.core.names import clean_name, require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS
from shadow_ai.casb import connectors, scanner
from shadow_ai.casb.connectors.base import Check, Connector
from shadow_ai.casb.connectors.errors import AuthError
from shadow_ai.casb.connectors.google_workspace.client import service_account
from shadow_ai.casb.findings import Severity
from shadow_ai.casb.models import Finding, FindingInstance, Integration, ScanRun
from shadow_ai.dlp.models import DlpProfile
from shadow_ai.gateway import services as gateway_services
from shadow_ai.models import Application, GatewayPolicy

REASON_MAX = 500
CONFIG_VALUE = re.compile(r"[A-Za-z0-9._@:+-]+")
SETTING_FIELDS = ("name", "config", "base_url", "scan_interval_hours")


class ConnectionProblem(ValidationFailed):
    """The vendor did not accept the connection; ``checks`` say what worked and what did not."""

    def __init__(self, message: str, checks: Sequence[Check]) -> None:
        super().__init__(message)
        self.checks = list(checks)


def _reason(reason: str, *, required: bool = True) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationFailed("Say why: the reason is kept in the audit trail.", field="reason")
    if len(reason) > REASON_MAX:
        raise ValidationFailed(f"Keep the reason under {REASON_MAX} characters.", field="reason")
    return reason


# --- Validating what an admin typed -----------------------------------------------------------


def clean_credentials(connector: Connector, values: Mapping[str, Any]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for spec in connector.credential_fields:
        value = str(values.get(spec.name) or "").strip()
        if spec.required and not value:
            raise ValidationFailed(f"{spec.label} is required.", field=spec.name)
        if len(value) > 20000:
            raise ValidationFailed(f"{spec.label} is too long.", field=spec.name)
        if value:
            cleaned[spec.name] = value
    if connector.key in ("google_workspace", "gemini"):
        try:
            service_account(cleaned.get("service_account_json", ""))
        except AuthError as exc:
            raise ValidationFailed(exc.message, field="service_account_json") from None
    if connector.key == "github" and "PRIVATE KEY" not in cleaned.get("private_key", ""):
        raise ValidationFailed("Paste the whole .pem file, from -----BEGIN to -----END.", field="private_key")
    return cleaned


def clean_config(connector: Connector, values: Mapping[str, Any]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for spec in connector.config_fields:
        value = str(values.get(spec.name) or "").strip() or spec.default
        if spec.required and not value:
            raise ValidationFailed(f"{spec.label} is required.", field=spec.name)
        if len(value) > 300:
            raise ValidationFailed(f"Keep {spec.label} under 300 characters.", field=spec.name)
        if value and not CONFIG_VALUE.fullmatch(value):
            # These values end up in vendor URLs: no slashes, spaces or query characters.
            raise ValidationFailed(f"{spec.label} may contain only letters, digits and . _ @ : + -",
                                   field=spec.name)
        if value:
            cleaned[spec.name] = value
    for name in ("app_id", "installation_id"):
        if connector.key == "github" and not cleaned.get(name, "").isdigit():
            raise ValidationFailed("A number, from the app's settings.", field=name)
    if connector.key in ("google_workspace", "gemini") and "@" not in cleaned.get("admin_email", ""):
        raise ValidationFailed("The e-mail address of an admin of the domain.", field="admin_email")
    return cleaned


def clean_base_url(value: str) -> str:
    value = (value or "").strip().rstrip("/")
    if not value:
        return ""
    if not settings.CASB_ALLOW_BASE_URL_OVERRIDE:
        raise ValidationFailed("A vendor address can only be set outside production.", field="base_url")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationFailed("Give a URL like http://127.0.0.1:8900 (no path needed).", field="base_url")
    return value


def clean_interval(hours: Any, connector: Connector) -> int:
    if hours in (None, ""):
        return connector.default_interval
    try:
        hours = int(hours)
    except (TypeError, ValueError):
        raise ValidationFailed("Scan every 1 to 24 hours.", field="scan_interval_hours") from None
    if not 1 <= hours <= 24:
        raise ValidationFailed("Scan every 1 to 24 hours.", field="scan_interval_hours")
    return hours


def _clean_name(name: str, integration: Integration | None) -> str:
    name = clean_name(name)
    require_free_name(Integration.objects, name, f"An integration named {name} already exists.",
                      instance=integration)
    return name


# --- Connection tests --------------------------------------------------------------------------


def connection_check(*, actor: User, vendor: str, credentials: Mapping[str, str], config: Mapping[str, str],
                     base_url: str = "") -> list[Check]:
    """Ask the vendor whether these credentials work, check by check (rate limited per admin:
    every test reaches out to the vendor with the credentials)."""
    require_role(actor, ADMINS, "test CASB connections")
    if not ratelimit.hit("casb-test", str(actor.pk), limit=settings.CASB_TEST_CONNECTION_LIMIT, window=60):
        raise ValidationFailed("Too many connection tests in a minute: wait a moment and try again.")
    connector = connectors.get(vendor)
    ctx = connectors.context_for(connector, credentials=credentials, config=config, base_url=base_url, max_retries=1,
                                 max_wait=5.0, timeout=min(settings.CASB_HTTP_TIMEOUT, 10.0))
    return connector.check(ctx)


def _require_working(checks: Sequence[Check]) -> None:
    failed = [c for c in checks if c.required and not c.ok]
    if failed:
        raise ConnectionProblem(f"{failed[0].name}: {failed[0].detail}", checks)


def integration_test(*, actor: User, integration: Integration) -> list[Check]:
    return connection_check(actor=actor, vendor=integration.vendor, credentials=integration.secret_values(),
                            config=integration.config, base_url=integration.base_url)


# --- Integrations ------------------------------------------------------------------------------


def _clean_dlp_profiles(ids: Iterable[Any]) -> list[DlpProfile]:
    try:
        wanted = sorted({int(i.pk if isinstance(i, DlpProfile) else i) for i in ids})
    except (TypeError, ValueError):
        raise ValidationFailed("Choose DLP profiles from the list.", field="dlp_profiles") from None
    profiles = list(DlpProfile.objects.filter(pk__in=wanted).order_by("name"))
    if len(profiles) != len(wanted):
        raise ValidationFailed("A chosen DLP profile no longer exists: reload the page and choose again.",
                               field="dlp_profiles")
    return profiles


def integration_create(
    *, actor: User, vendor: str, name: str, credentials: Mapping[str, Any], config: Mapping[str, Any],
    base_url: str = "", scan_interval_hours: Any = None, dlp_profiles: Iterable[Any] = (),
) -> tuple[Integration, list[Check]]:
    """Connect an integration: validate, test the connection (nothing is saved if the vendor
    refuses), store the credentials encrypted and start the first scan. ``dlp_profiles`` (ids)
    are the profiles its scans check shared and AI files with."""
    require_role(actor, ADMINS, "connect CASB integrations")
    profiles = _clean_dlp_profiles(dlp_profiles)
    try:
        connector = connectors.get(vendor)
    except ValueError:
        raise ValidationFailed(f"Unknown vendor {vendor!r}.", field="vendor") from None
    name = _clean_name(name, None)
    secrets = clean_credentials(connector, credentials)
    settings_ = clean_config(connector, config)
    base_url = clean_base_url(base_url)
    interval = clean_interval(scan_interval_hours, connector)
    checks = connection_check(actor=actor, vendor=vendor, credentials=secrets, config=settings_, base_url=base_url)
    _require_working(checks)
    with transaction.atomic():
        name = _clean_name(name, None)
        now = timezone.now()
        integration = Integration.objects.create(
            name=name, vendor=vendor, credentials=json.dumps(secrets), config=settings_, base_url=base_url,
            scan_interval_hours=interval, next_scan_at=now + timedelta(hours=interval), credentials_set_at=now,
            created_by_email=actor.email, created_at=now, updated_at=now,
        )
        integration.dlp_profiles.set(profiles)
        audit_record(actor=actor, action="casb.integration.created", obj=integration, changes={
            "name": {"old": None, "new": name}, "vendor": vendor, "config": settings_,
            "scan_interval_hours": interval, "credentials": {"old": None, "new": SECRET_MARK},
            **({"base_url": base_url} if base_url else {}),
            **({"dlp_profiles": {"old": None, "new": [p.name for p in profiles]}} if profiles else {}),
        })
        _start_scan(integration, ScanRun.Trigger.FIRST, actor)
    return integration, checks


def integration_update(
    *, actor: User, integration: Integration, name: str, config: Mapping[str, Any], base_url: str = "",
    scan_interval_hours: Any = None,
) -> Integration:
    """Change an integration's name, settings and schedule. Changed settings are tested first."""
    require_role(actor, ADMINS, "change CASB integrations")
    connector = integration.connector
    name = _clean_name(name, integration)
    settings_ = clean_config(connector, config)
    base_url = clean_base_url(base_url)
    interval = clean_interval(scan_interval_hours, connector)
    if not integration.is_demo and (settings_ != integration.config or base_url != integration.base_url):
        _require_working(connection_check(actor=actor, vendor=integration.vendor,
                                          credentials=integration.secret_values(), config=settings_,
                                          base_url=base_url))
    with transaction.atomic():
        current = Integration.objects.select_for_update().get(pk=integration.pk)
        before = {f: getattr(current, f) for f in SETTING_FIELDS}
        current.name, current.config, current.base_url = name, settings_, base_url
        current.scan_interval_hours = interval
        changes = diff(before, {f: getattr(current, f) for f in SETTING_FIELDS})
        if not changes:
            return current
        if "scan_interval_hours" in changes and current.next_scan_at:
            base = current.last_scan_at or timezone.now()
            current.next_scan_at = base + timedelta(hours=interval)
        current.updated_at = timezone.now()
        current.save()
        audit_record(actor=actor, action="casb.integration.updated", obj=current, changes=changes)
    return current


def integration_set_dlp_profiles(*, actor: User, integration: Integration, dlp_profiles: Iterable[Any]) -> bool:
    """Choose the DLP profiles the integration's scans check file contents with (ids or profiles;
    none: contents are not scanned). Audited old → new by profile name; returns whether anything
    changed. The next scan uses them."""
    require_role(actor, ADMINS, "change CASB integrations")
    profiles = _clean_dlp_profiles(dlp_profiles)
    with transaction.atomic():
        current = Integration.objects.select_for_update().get(pk=integration.pk)
        before = list(current.dlp_profiles.order_by("name").values_list("name", flat=True))
        after = [p.name for p in profiles]
        if before == after:
            return False
        current.dlp_profiles.set(profiles)
        current.updated_at = timezone.now()
        current.save(update_fields=["updated_at"])
        audit_record(actor=actor, action="casb.integration.dlp_profiles_changed", obj=current,
                     changes={"dlp_profiles": {"old": before, "new": after}})
    return True


def integration_rotate_credentials(*, actor: User, integration: Integration, credentials: Mapping[str, Any]
                                   ) -> tuple[Integration, list[Check]]:
    """Replace the credentials (tested first). An integration that needed attention is active
    again, and a scan starts to confirm it."""
    require_role(actor, ADMINS, "rotate CASB credentials")
    if integration.is_demo:
        raise Conflict("A demo integration has no credentials to rotate: connect a real one.")
    secrets = clean_credentials(integration.connector, credentials)
    checks = connection_check(actor=actor, vendor=integration.vendor, credentials=secrets, config=integration.config,
                              base_url=integration.base_url)
    _require_working(checks)
    with transaction.atomic():
        current = Integration.objects.select_for_update().get(pk=integration.pk)
        now = timezone.now()
        current.credentials, current.credentials_set_at, current.updated_at = json.dumps(secrets), now, now
        changes: dict[str, Any] = {"credentials": {"old": SECRET_MARK, "new": SECRET_MARK}}
        if current.status == Integration.Status.NEEDS_ATTENTION:
            current.status, current.attention_message = Integration.Status.ACTIVE, ""
            changes["status"] = {"old": "needs_attention", "new": "active"}
        current.save()
        audit_record(actor=actor, action="casb.integration.credentials_rotated", obj=current, changes=changes)
        if current.status == Integration.Status.ACTIVE:
            _start_scan(current, ScanRun.Trigger.MANUAL, actor)
    return current, checks


def _cancel_active_runs(integration: Integration, why: str) -> int:
    now = timezone.now()
    count = 0
    for run in ScanRun.objects.select_for_update().filter(integration=integration, status__in=ScanRun.ACTIVE):
        run.status, run.finished_at, run.lease_owner, run.lease_expires_at, run.message = (
            ScanRun.Status.CANCELLED, now, "", None, why)
        scanner._message(run, why, "warning", now)
        run.save(update_fields=["status", "finished_at", "lease_owner", "lease_expires_at", "message", "messages"])
        count += 1
    return count


@transaction.atomic
def integration_pause(*, actor: User, integration: Integration) -> bool:
    """Stop scanning (a running scan stops after its current page). False if already paused."""
    require_role(actor, ADMINS, "pause CASB integrations")
    current = Integration.objects.select_for_update().get(pk=integration.pk)
    if current.status == Integration.Status.PAUSED:
        return False
    old = current.status
    current.status, current.updated_at = Integration.Status.PAUSED, timezone.now()
    current.save(update_fields=["status", "updated_at"])
    cancelled = _cancel_active_runs(current, f"Cancelled: {actor.email} paused the integration.")
    audit_record(actor=actor, action="casb.integration.paused", obj=current,
                 changes={"status": {"old": old, "new": "paused"}, **({"scans_cancelled": cancelled} if cancelled
                                                                      else {})})
    return True


@transaction.atomic
def integration_resume(*, actor: User, integration: Integration) -> bool:
    """Scan again on schedule; the next scan is due now. False if it was not paused."""
    require_role(actor, ADMINS, "resume CASB integrations")
    current = Integration.objects.select_for_update().get(pk=integration.pk)
    if current.status != Integration.Status.PAUSED:
        return False
    current.status = Integration.Status.NEEDS_ATTENTION if current.attention_message else Integration.Status.ACTIVE
    current.next_scan_at = current.updated_at = timezone.now()
    current.save(update_fields=["status", "next_scan_at", "updated_at"])
    audit_record(actor=actor, action="casb.integration.resumed", obj=current,
                 changes={"status": {"old": "paused", "new": current.status}})
    return True


@transaction.atomic
def integration_delete(*, actor: User, integration: Integration) -> None:
    """Delete the integration, its credentials, findings, discovered apps and scan history."""
    require_role(actor, ADMINS, "delete CASB integrations")
    current = Integration.objects.select_for_update().get(pk=integration.pk)
    audit_record(actor=actor, action="casb.integration.deleted", obj=current, changes={
        "name": {"old": current.name, "new": None}, "vendor": current.vendor,
        "findings": current.findings.count(), "credentials": {"old": SECRET_MARK if current.credentials else None,
                                                              "new": None},
    })
    current.delete()


# --- Scans -------------------------------------------------------------------------------------


def queue_scan(run_id: int) -> None:
    """Hand a run to the workers: on ``CASB_QUEUE`` when set (a worker dedicated to vendor
    scans), otherwise on the default queue. Retries of the task stay on the same queue."""
    # tasks.py imports this module: imported on use to break the cycle.
    from shadow_ai.casb.tasks import run_scan

    if settings.CASB_QUEUE:
        run_scan.apply_async((run_id,), queue=settings.CASB_QUEUE)
    else:
        run_scan.delay(run_id)


def _start_scan(integration: Integration, trigger: str, actor: User | None) -> ScanRun:
    existing = ScanRun.objects.filter(integration=integration, status__in=ScanRun.ACTIVE).first()
    if existing is not None:
        return existing
    run = ScanRun.objects.create(integration=integration, trigger=trigger,
                                 requested_by_email=getattr(actor, "email", "") or "")
    transaction.on_commit(lambda: queue_scan(run.pk))
    return run


def scan_start(*, actor: User, integration: Integration) -> tuple[ScanRun, bool]:
    """Scan now; returns the run and whether it is new (one scan at a time per integration)."""
    require_role(actor, ADMINS, "start CASB scans")
    with transaction.atomic():
        current = Integration.objects.select_for_update().get(pk=integration.pk)
        if current.is_demo:
            raise Conflict("This is a demo integration with sample findings: connect a real one to scan.")
        if current.status == Integration.Status.PAUSED:
            raise Conflict(f"{current.name} is paused: resume it to scan.")
        existing = ScanRun.objects.filter(integration=current, status__in=ScanRun.ACTIVE).first()
        if existing is not None:
            return existing, False
        run = _start_scan(current, ScanRun.Trigger.MANUAL, actor)
        audit_record(actor=actor, action="casb.scan.requested", obj=current, changes={"scan": run.pk})
    return run, True


def scans_dispatch_due(*, now=None) -> list[int]:
    """The scheduler's job: a scan for every active integration that is due, and a new task for
    runs whose worker vanished (their lease ran out long ago, or they were never picked up)."""
    now = now or timezone.now()
    started = []
    due = Integration.objects.filter(status=Integration.Status.ACTIVE, is_demo=False, next_scan_at__lte=now)
    for integration_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            integration = Integration.objects.select_for_update(skip_locked=True).filter(
                pk=integration_id, status=Integration.Status.ACTIVE, next_scan_at__lte=now).first()
            if integration is None or ScanRun.objects.filter(integration=integration,
                                                             status__in=ScanRun.ACTIVE).exists():
                continue
            run = _start_scan(integration, ScanRun.Trigger.SCHEDULED, None)
            integration.next_scan_at = now + timedelta(hours=integration.scan_interval_hours)
            integration.save(update_fields=["next_scan_at"])
            started.append(run.pk)
    # Runs whose worker died (their lease ran out) or whose job was lost (queued, never picked
    # up): marked queued again and sent to a worker once, as the risk sweep does for its jobs.
    stalled = ScanRun.stalled(now=now, unclaimed_after=jobs.UNCLAIMED_AFTER)
    for run_id in ScanRun.objects.filter(stalled).values_list("pk", flat=True):
        if ScanRun.requeue(run_id, now=now, unclaimed_after=jobs.UNCLAIMED_AFTER):
            queue_scan(run_id)
    return started


# --- Findings ----------------------------------------------------------------------------------


@transaction.atomic
def finding_set_status(*, actor: User, finding: Finding, status: str, reason: str = "") -> bool:
    """Ignore a finding (scans go on; it stays ignored) or make it active again."""
    require_role(actor, ADMINS, "change CASB findings")
    if status not in Finding.Status.values:
        raise ValidationFailed("Choose Active or Ignored.", field="status")
    reason = _reason(reason, required=status == Finding.Status.IGNORED)
    current = Finding.objects.select_for_update().get(pk=finding.pk)
    if current.status == status:
        return False
    old = current.status
    current.status, current.status_reason = status, reason
    current.status_changed_at, current.status_changed_by = timezone.now(), actor.email
    current.save(update_fields=["status", "status_reason", "status_changed_at", "status_changed_by"])
    audit_record(actor=actor, action=f"casb.finding.{'ignored' if status == Finding.Status.IGNORED else 'activated'}",
                 obj=current, changes={"status": {"old": old, "new": status}, **({"reason": reason} if reason else {}),
                                       "integration": current.integration.name})
    return True


@transaction.atomic
def finding_set_severity(*, actor: User, finding: Finding, severity: Any, reason: str) -> bool:
    """Adjust a finding's severity for this integration (the default comes from its type)."""
    require_role(actor, ADMINS, "change CASB findings")
    try:
        wanted = Severity.parse(severity)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="severity") from None
    reason = _reason(reason)
    current = Finding.objects.select_for_update().get(pk=finding.pk)
    if current.severity == wanted:
        return False
    old = Severity(current.severity).label
    default = current.kind.severity if current.kind else wanted
    current.severity, current.severity_changed = int(wanted), wanted != default
    current.save(update_fields=["severity", "severity_changed"])
    audit_record(actor=actor, action="casb.finding.severity_changed", obj=current,
                 changes={"severity": {"old": old, "new": wanted.label}, "reason": reason})
    return True


@transaction.atomic
def instance_set_status(*, actor: User, instance: FindingInstance, status: str) -> bool:
    """Hide one affected asset (it stays hidden across scans) or show it again."""
    require_role(actor, ADMINS, "change CASB findings")
    if status not in FindingInstance.Status.values:
        raise ValidationFailed("Choose Active or Hidden.", field="status")
    current = FindingInstance.objects.select_for_update().select_related("finding").get(pk=instance.pk)
    if current.status == status:
        return False
    old = current.status
    current.status, current.status_changed_at, current.status_changed_by = status, timezone.now(), actor.email
    current.save(update_fields=["status", "status_changed_at", "status_changed_by"])
    scanner.recount([current.finding_id])
    verb = "hidden" if status == FindingInstance.Status.HIDDEN else "shown"
    audit_record(actor=actor, action=f"casb.instance.{verb}",
                 obj=current, changes={"status": {"old": old, "new": status}, "finding": current.finding.title,
                                       "asset": current.asset})
    return True


def applications_of(finding: Finding, instance: FindingInstance | None = None) -> list[Application]:
    """The library applications a Gateway block would name (open instances only)."""
    rows = FindingInstance.objects.filter(pk=instance.pk) if instance is not None else finding.instances.filter(
        resolved_at__isnull=True)
    ids = set(rows.exclude(application__isnull=True).values_list("application_id", flat=True))
    return list(Application.objects.filter(pk__in=ids).order_by("name"))


@transaction.atomic
def finding_block(*, actor: User, finding: Finding, instance: FindingInstance | None = None) -> GatewayPolicy:
    """One click from a finding to a Gateway HTTP policy that blocks the applications it names."""
    require_role(actor, ADMINS, "create Gateway policies")
    apps = applications_of(finding, instance)
    if not apps:
        raise ValidationFailed("None of this finding's applications is in the Shadow AI library, so there is "
                               "nothing the gateway could recognise. Add the application to the library first.")
    names = ", ".join(a.name for a in apps)
    name = f"Block {names}"
    if len(name) > 100:
        name = f"Block {apps[0].name} and {len(apps) - 1} more"
    name = f"{name} (CASB)"
    existing = GatewayPolicy.objects.filter(name__iexact=name).first()
    if existing is not None:
        raise Conflict(f"The Gateway policy “{existing.name}” already exists.")
    policy = gateway_services.gateway_policy_create(
        actor=actor, name=name, action=GatewayPolicy.Action.BLOCK,
        conditions=[{"type": "application", "operator": "in", "values": [a.key for a in apps]}],
        description=f"From the CASB finding “{finding.title}” of {finding.integration.name}."[:300],
        block_message=f"{names} is blocked: Security found it holding access to company data."[:500],
    )
    # An explicit block of named applications goes first: a broader allow or isolate policy
    # above it would otherwise decide these requests.
    order = list(GatewayPolicy.objects.exclude(pk=policy.pk).order_by("position", "pk").values_list("pk", flat=True))
    gateway_services.gateway_policies_reorder(actor=actor, policy_ids=[policy.pk, *order])
    audit_record(actor=actor, action="casb.finding.blocked", obj=finding, changes={
        "gateway_policy": policy.name, "applications": [a.name for a in apps],
        **({"asset": instance.asset} if instance is not None else {}),
    })
    return policy
