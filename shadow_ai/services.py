"""Every write to the application library: custom applications, approval status (one or many at a
time) and evidence overrides. Each checks the actor's role, runs in one transaction, writes its
audit row there, and tells the decision caches after commit (statuses, scores and hostnames are
what Gateway policies decide on)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from console.access import policies as access_policies
from console.audit.services import audit_record, diff
from console.core.errors import Conflict, NotFound, ValidationFailed
from console.core.names import clean_name, require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS
from shadow_ai import hostnames as hostname_rules
from shadow_ai import scoring
from shadow_ai.models import Application, ApplicationHostname, Category, EvidenceOverride, GatewayPolicy, Status
from shadow_ai.usage import cache as usage_cache
from shadow_ai.usage import services as usage

REASON_MAX = 500
APP_FIELDS = ("name", "vendor", "category", "is_gen_ai", "url", "description")
SCORE_FIELDS = ["saas_score", "genai_score", "saas_known", "genai_known"]


def _changed() -> None:
    transaction.on_commit(access_policies.bump_version)
    transaction.on_commit(usage_cache.bump)  # dashboards show names and statuses


def effective_evidence(shipped: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Shipped evidence with the organization's overrides on top (an override of None is unknown)."""
    return {**shipped, **overrides}


def overrides_of(application: Application) -> dict[str, Any]:
    return dict(EvidenceOverride.objects.filter(application=application).values_list("field", "value"))


def rescore(application: Application, evidence: Mapping[str, Any]) -> bool:
    """Set both stored scores from ``evidence``; True when either changed (not saved)."""
    results = scoring.scores_for(evidence, gen_ai=application.is_gen_ai)
    saas = results["saas"].score
    genai = results["gen_ai"].score if "gen_ai" in results else None
    known = (results["saas"].known, results["gen_ai"].known if "gen_ai" in results else 0)
    before = (application.saas_score, application.genai_score, application.saas_known, application.genai_known)
    application.saas_score, application.genai_score = saas, genai
    application.saas_known, application.genai_known = known
    return before != (saas, genai, *known)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why: a reason is required and is kept in the audit trail.", field="reason")
    if len(reason) > REASON_MAX:
        raise ValidationFailed(f"Keep the reason under {REASON_MAX} characters.", field="reason")
    return reason


# --- Custom applications ----------------------------------------------------------------------


def _clean_hostnames(values: Iterable[str], application: Application | None) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        if not (value or "").strip():
            continue
        try:
            host = hostname_rules.clean_for_library(value)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="hostnames") from None
        if host in cleaned:
            raise ValidationFailed(f"{host} is listed twice.", field="hostnames")
        for other in cleaned:
            if host.endswith("." + other) or other.endswith("." + host):
                raise ValidationFailed(f"{host} and {other} overlap: subdomains are always included, keep one.",
                                       field="hostnames")
        cleaned.append(host)
    if not cleaned:
        raise ValidationFailed("Add at least one hostname, e.g. chat.example.com.", field="hostnames")
    taken = ApplicationHostname.objects.filter(hostname__in=cleaned).select_related("application")
    if application is not None:
        taken = taken.exclude(application=application)
    clash = taken.first()
    if clash is not None:
        raise Conflict(f"{clash.hostname} already belongs to {clash.application.name}.", field="hostnames")
    return cleaned


def _clean_app(*, name: str, vendor: str, category: str, url: str, description: str,
               application: Application | None) -> dict[str, str]:
    name = clean_name(name)
    require_free_name(Application.objects, name, f"An application named {name} is already in the library.",
                      instance=application)
    if category not in Category.values:
        raise ValidationFailed(f"Unknown category {category!r}.", field="category")
    url = (url or "").strip()
    if url and not url.startswith(("https://", "http://")):
        raise ValidationFailed("The URL must start with https:// or http://.", field="url")
    return {"name": name, "vendor": (vendor or "").strip()[:120], "category": category, "url": url[:500],
            "description": (description or "").strip()[:300]}


def _new_key(name: str) -> str:
    base = f"custom-{slugify(name)[:60].strip('-') or 'app'}"
    key, n = base, 2
    while Application.objects.filter(key=key).exists():
        key, n = f"{base}-{n}", n + 1
    return key


def _host_list(application: Application) -> list[str]:
    return sorted(application.hostnames.values_list("hostname", flat=True))


@transaction.atomic
def application_create(
    *, actor: User, name: str, category: str, hostnames: Sequence[str], vendor: str = "", is_gen_ai: bool = False,
    url: str = "", description: str = "",
) -> Application:
    """Add a custom application to the library (status Unreviewed, no evidence yet)."""
    require_role(actor, ADMINS, "add applications")
    fields = _clean_app(name=name, vendor=vendor, category=category, url=url, description=description,
                        application=None)
    hosts = _clean_hostnames(hostnames, None)
    app = Application(key=_new_key(fields["name"]), source=Application.Source.CUSTOM, is_gen_ai=bool(is_gen_ai),
                      **fields)
    rescore(app, {})
    app.save()
    ApplicationHostname.objects.bulk_create([ApplicationHostname(application=app, hostname=h) for h in hosts])
    # Past logs of these hosts (unmatched, or counted for an application of a parent domain) move to it.
    usage.reattribute(hosts=hosts, application_ids=usage.covering_applications(hosts, exclude=app.pk))
    audit_record(actor=actor, action="shadow_ai.application.created", obj=app, changes={
        **{f: {"old": None, "new": getattr(app, f)} for f in APP_FIELDS}, "hostnames": {"old": None, "new": hosts},
    })
    _changed()
    return app


@transaction.atomic
def application_record_discovered(
    *, name: str, hostnames: Sequence[str], found_by: str, vendor: str = "", description: str = "",
) -> Application:
    """A generative AI application that a CASB scan found people using (an OAuth grant) and the
    library did not know: added as a custom, Unreviewed application so Gateway policies can act
    on it and admins can review it. A system action: the audit row says what found it."""
    fields = _clean_app(name=name, vendor=vendor, category=Category.ARTIFICIAL_INTELLIGENCE, url="",
                        description=description, application=None)
    hosts = _clean_hostnames(hostnames, None)
    app = Application(key=_new_key(fields["name"]), source=Application.Source.CUSTOM, is_gen_ai=True, **fields)
    rescore(app, {})
    app.save()
    ApplicationHostname.objects.bulk_create([ApplicationHostname(application=app, hostname=h) for h in hosts])
    audit_record(actor=None, action="shadow_ai.application.discovered", obj=app, changes={
        **{f: {"old": None, "new": getattr(app, f)} for f in APP_FIELDS}, "hostnames": {"old": None, "new": hosts},
        "found_by": found_by,
    })
    _changed()
    return app


def _custom_only(application: Application, what: str) -> None:
    if not application.is_custom:
        raise Conflict(f"{application.name} comes with the library and is kept up to date by it; you cannot {what} "
                       "it. Set its status or override its evidence instead.")


@transaction.atomic
def application_update(
    *, actor: User, application: Application, name: str, category: str, hostnames: Sequence[str], vendor: str = "",
    is_gen_ai: bool = False, url: str = "", description: str = "",
) -> Application:
    require_role(actor, ADMINS, "change applications")
    app = Application.objects.select_for_update().get(pk=application.pk)
    _custom_only(app, "edit")
    fields = _clean_app(name=name, vendor=vendor, category=category, url=url, description=description,
                        application=app)
    hosts = _clean_hostnames(hostnames, app)
    before = {f: getattr(app, f) for f in APP_FIELDS}
    old_hosts = _host_list(app)
    for key, value in fields.items():
        setattr(app, key, value)
    app.is_gen_ai = bool(is_gen_ai)
    changes = diff(before, {f: getattr(app, f) for f in APP_FIELDS})
    if sorted(hosts) != old_hosts:
        changes["hostnames"] = {"old": old_hosts, "new": sorted(hosts)}
    if not changes:
        return app
    rescore(app, effective_evidence(app.evidence, overrides_of(app)))
    app.updated_at = timezone.now()
    app.save()
    if "hostnames" in changes:
        ApplicationHostname.objects.filter(application=app).exclude(hostname__in=hosts).delete()
        added = [h for h in hosts if h not in old_hosts]
        ApplicationHostname.objects.bulk_create([ApplicationHostname(application=app, hostname=h) for h in added])
        usage.reattribute(hosts=added, application_ids={app.pk, *usage.covering_applications(added, exclude=app.pk)})
    elif "is_gen_ai" in changes:
        usage.reattribute(application_ids=[app.pk])  # person and device rollups count AI use apart
    audit_record(actor=actor, action="shadow_ai.application.updated", obj=app, changes=changes)
    _changed()
    return app


def policies_naming(application: Application) -> list[GatewayPolicy]:
    """Gateway policies that select this application or send people to it."""
    found = []
    for policy in GatewayPolicy.objects.all():
        if policy.target_id == application.pk or any(
            c.get("type") == "application" and application.key in (c.get("values") or []) for c in policy.conditions
        ):
            found.append(policy)
    return found


@transaction.atomic
def application_delete(*, actor: User, application: Application) -> None:
    require_role(actor, ADMINS, "delete applications")
    app = Application.objects.select_for_update().get(pk=application.pk)
    _custom_only(app, "delete")
    using = policies_naming(app)
    if using:
        raise Conflict(f"{app.name} is used by the Gateway policies {', '.join(p.name for p in using)}; "
                       "change them first.")
    audit_record(actor=actor, action="shadow_ai.application.deleted", obj=app,
                 changes={"name": {"old": app.name, "new": None}, "hostnames": {"old": _host_list(app), "new": None}})
    usage.reattribute(application_ids=[app.pk])  # its logs become unmatched hosts
    app.delete()
    _changed()


# --- Approval status --------------------------------------------------------------------------


def _parse_status(status: str) -> Status:
    try:
        return Status.parse(status)
    except ValueError:
        raise ValidationFailed(
            f"Unknown status {status!r}: use one of {', '.join(Status.values)}.", field="status"
        ) from None


def _apply_status(app: Application, status: Status, reason: str, actor: User, batch: str = "") -> bool:
    if app.status == status:
        return False
    old = app.status
    app.status, app.status_reason = status, reason
    app.status_changed_at, app.status_changed_by = timezone.now(), actor.email
    app.save(update_fields=["status", "status_reason", "status_changed_at", "status_changed_by"])
    changes: dict[str, Any] = {"status": {"old": old, "new": str(status)}, "reason": reason}
    if batch:
        changes["batch"] = batch
    audit_record(actor=actor, action="shadow_ai.application.status_changed", obj=app, changes=changes)
    return True


@transaction.atomic
def application_set_status(*, actor: User, application: Application, status: str, reason: str) -> bool:
    """Set the approval status with the reason (audited). False when it already had it."""
    require_role(actor, ADMINS, "change application status")
    wanted = _parse_status(status)
    reason = _reason(reason)
    app = Application.objects.select_for_update().get(pk=application.pk)
    changed = _apply_status(app, wanted, reason, actor)
    if changed:
        _changed()
    return changed


@transaction.atomic
def applications_set_status(*, actor: User, application_ids: Sequence[int], status: str, reason: str) -> int:
    """Bulk change: every listed application gets ``status`` with one reason, each change audited
    on its application with a shared batch id. Returns how many changed."""
    require_role(actor, ADMINS, "change application status")
    wanted = _parse_status(status)
    reason = _reason(reason)
    ids = sorted({int(i) for i in application_ids})
    if not ids:
        raise ValidationFailed("Pick at least one application.", field="applications")
    apps = list(Application.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    if len(apps) != len(ids):
        missing = sorted(set(ids) - {a.pk for a in apps})
        raise NotFound(f"Unknown application id(s): {', '.join(map(str, missing))}.")
    batch = uuid.uuid4().hex[:12]
    count = sum(_apply_status(app, wanted, reason, actor, batch) for app in apps)
    if count:
        _changed()
    return count


# --- Evidence ---------------------------------------------------------------------------------


def _evidence_field(application: Application, field: str) -> scoring.Field:
    found = scoring.FIELDS.get(field)
    if found is None:
        raise ValidationFailed(f"Unknown evidence field {field!r}.", field="field")
    if not application.is_gen_ai and found in scoring.GEN_AI.fields:
        raise ValidationFailed(f"{application.name} is not a generative AI application: the generative AI rubric "
                               "does not apply.", field="field")
    return found


@transaction.atomic
def evidence_override_set(
    *, actor: User, application: Application, field: str, value: Any, note: str
) -> EvidenceOverride:
    """Record the organization's value for one evidence field (None: unknown), with a note."""
    require_role(actor, ADMINS, "override evidence")
    app = Application.objects.select_for_update().get(pk=application.pk)
    spec = _evidence_field(app, field)
    try:
        value = spec.clean(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="value") from None
    note = _reason(note)
    overrides = overrides_of(app)
    before = effective_evidence(app.evidence, overrides).get(field)
    existing = EvidenceOverride.objects.filter(application=app, field=field).first()
    if existing is not None and existing.value == value and existing.note == note:
        return existing
    override, _ = EvidenceOverride.objects.update_or_create(
        application=app, field=field,
        defaults={"value": value, "note": note, "set_by": actor.email, "set_at": timezone.now()},
    )
    overrides[field] = value
    old_scores = (app.saas_score, app.genai_score)
    if rescore(app, effective_evidence(app.evidence, overrides)):
        app.save(update_fields=SCORE_FIELDS)
    audit_record(actor=actor, action="shadow_ai.evidence.overridden", obj=app, changes={
        field: {"old": spec.display(before), "new": spec.display(value)}, "note": note,
        "shipped": spec.display(app.evidence.get(field)),
        **_score_changes(old_scores, app),
    })
    _changed()
    return override


@transaction.atomic
def evidence_override_clear(*, actor: User, application: Application, field: str, note: str) -> bool:
    """Go back to the shipped value of one evidence field (with a note). False if not overridden."""
    require_role(actor, ADMINS, "override evidence")
    app = Application.objects.select_for_update().get(pk=application.pk)
    spec = scoring.FIELDS.get(field)
    if spec is None:
        raise ValidationFailed(f"Unknown evidence field {field!r}.", field="field")
    note = _reason(note)
    existing = EvidenceOverride.objects.filter(application=app, field=field).first()
    if existing is None:
        return False
    existing.delete()
    old_scores = (app.saas_score, app.genai_score)
    if rescore(app, effective_evidence(app.evidence, overrides_of(app))):
        app.save(update_fields=SCORE_FIELDS)
    audit_record(actor=actor, action="shadow_ai.evidence.override_removed", obj=app, changes={
        field: {"old": spec.display(existing.value), "new": spec.display(app.evidence.get(field))}, "note": note,
        **_score_changes(old_scores, app),
    })
    _changed()
    return True


def _score_changes(old: tuple, app: Application) -> dict[str, Any]:
    changes = {}
    for name, before, after in (("saas_score", old[0], app.saas_score), ("genai_score", old[1], app.genai_score)):
        if before != after:
            changes[name] = {"old": None if before is None else str(before),
                             "new": None if after is None else str(after)}
    return changes
