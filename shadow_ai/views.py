from __future__ import annotations

import json
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.selectors import active_emails, active_people, group_names
from console.access import facts
from console.audit.selectors import audit_events_for_object
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.listing import build_listing
from console.core.permissions import public, roles_required
from console.core.redirects import safe_next
from console.core.roles import ADMINS, CONSOLE_READERS
from shadow_ai import scoring, selectors, services
from shadow_ai.casb import selectors as casb_selectors
from shadow_ai.filters import LibraryFilter, PolicyFilter
from shadow_ai.forms import (
    ApplicationForm,
    BulkStatusForm,
    ConditionFormSet,
    EvidenceForm,
    GatewayPolicyForm,
    StatusForm,
    TesterForm,
    condition_rows,
    conditions_from_formset,
    evidence_choices,
)
from shadow_ai.gateway import engine, runtime, shadowing
from shadow_ai.gateway import services as gateway_services
from shadow_ai.gateway.api import read_block_page_token
from shadow_ai.gateway.conditions import CONDITION_LABELS, VALUE_HELP
from shadow_ai.models import Application, GatewayPolicy, Status
from shadow_ai.usage.views import app_usage_context

STATUS_CHANGED = "shadow_ai.application.status_changed"  # the audit action of an approval status change

# --- Library ----------------------------------------------------------------------------------


LIBRARY_SORTS = {"name": "name", "vendor": "vendor", "category": "category", "status": "status",
                 "saas": "saas_sort", "genai": "genai_sort", "updated": "updated_at", "last_seen": "last_seen_sort"}


@roles_required(CONSOLE_READERS)
def library(request: HttpRequest) -> HttpResponse:
    applications = selectors.applications_for_list().annotate(discovered=casb_selectors.discovered_exists())
    listing = build_listing(request, applications, sorts=LIBRARY_SORTS, default_sort="name",
                            filterset_class=LibraryFilter)
    template = "shadow_ai/library.html#results" if request.htmx else "shadow_ai/library.html"
    return render(request, template, {
        "listing": listing, "can_write": request.user.role in ADMINS, "statuses": Status.choices,
        "saas_total": len([f for f in scoring.SAAS.fields if f.scored]),
        "genai_total": len([f for f in scoring.GEN_AI.fields if f.scored]),
        "library_empty": selectors.library_empty(),
    })


@roles_required(ADMINS)
@require_POST
def bulk_status(request: HttpRequest) -> HttpResponse:
    form = BulkStatusForm(request.POST)
    back = safe_next(request, request.POST.get("next"), "shadow_ai:library", within="/shadow-ai/library/")
    if not form.is_valid():
        errors = "; ".join(f"{form.fields[f].label or f}: {' '.join(e)}" for f, e in form.errors.items())
        messages.error(request, f"Nothing changed. {errors}")
        return redirect(back)
    try:
        count = services.applications_set_status(
            actor=request.user, application_ids=form.cleaned_data["applications"],
            status=form.cleaned_data["status"], reason=form.cleaned_data["reason"],
        )
    except ConsoleError as exc:
        messages.error(request, f"Nothing changed. {exc.message}")
    else:
        label = Status(form.cleaned_data["status"]).label
        picked = len(form.cleaned_data["applications"])
        messages.success(request, f"{count} of {picked} application(s) set to {label}"
                         + ("." if count == picked else "; the others already were."))
    return redirect(back)


@roles_required(CONSOLE_READERS)
def app_detail(request: HttpRequest, library_app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, library_app_id)
    usage = app_usage_context(request, app)
    if request.htmx and request.headers.get("HX-Target") == "results":
        return render(request, "shadow_ai/app_detail.html#results", {"app": app, **usage})
    history = audit_events_for_object("shadow_ai.application", str(app.pk), limit=50)
    return render(request, "shadow_ai/app_detail.html", {
        **usage,
        "app": app, "hostnames": list(app.hostnames.all()), "rubrics": selectors.score_views(app),
        "status_form": StatusForm(initial={"status": app.status}),
        # Its own query: score and hostname edits must not push the status changes out of the last 50.
        "status_history": audit_events_for_object("shadow_ai.application", str(app.pk), limit=50,
                                                  actions=[STATUS_CHANGED]),
        "history": history, "policies": services.policies_naming(app),
        "evidence_choices": {key: evidence_choices(field) for key, field in scoring.FIELDS.items()},
        "can_write": request.user.role in ADMINS, "discoveries": casb_selectors.discoveries_of_application(app.pk),
    })


@roles_required(ADMINS)
@require_POST
def app_status(request: HttpRequest, library_app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, library_app_id)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick a status and say why; the reason is kept in the audit trail.")
        return redirect("shadow_ai:app-detail", library_app_id=app.pk)
    try:
        changed = services.application_set_status(actor=request.user, application=app, **form.cleaned_data)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        label = Status(form.cleaned_data["status"]).label
        if changed:
            messages.success(request, f"{app.name} is now {label}.")
        else:
            messages.info(request, f"{app.name} already was {label}; nothing changed.")
    return redirect("shadow_ai:app-detail", library_app_id=app.pk)


@roles_required(ADMINS)
@require_POST
def app_evidence(request: HttpRequest, library_app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, library_app_id)
    form = EvidenceForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(" ".join(e) for e in form.errors.values())
        messages.error(request, f"Nothing changed: {problems}")
        return redirect("shadow_ai:app-detail", library_app_id=app.pk)
    data = form.cleaned_data
    field = scoring.FIELDS[data["field"]]
    try:
        if data["clear"]:
            if services.evidence_override_clear(actor=request.user, application=app, field=data["field"],
                                                note=data["note"]):
                messages.success(request, f"{field.label}: back to the shipped value.")
        else:
            services.evidence_override_set(actor=request.user, application=app, field=data["field"],
                                           value=data["value"], note=data["note"])
            messages.success(request, f"{field.label} is now {field.display(data['value'])} for {app.name}.")
    except ConsoleError as exc:
        messages.error(request, exc.message)
    return redirect(f"/shadow-ai/library/{app.pk}/#evidence-{data['field']}")


def _app_editor(request: HttpRequest, app: Application | None) -> HttpResponse:
    initial = {}
    if app is not None:
        initial = {f: getattr(app, f) for f in ("name", "vendor", "category", "is_gen_ai", "url", "description")}
        initial["hostnames"] = "\n".join(h.hostname for h in app.hostnames.all())
    if app is None:  # "Add as custom application" from the dashboards' unmatched hosts
        initial = {"hostnames": (request.GET.get("hostname") or "")[:253],
                   "name": (request.GET.get("name") or "")[:120]}
    form = ApplicationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if app is None:
                saved = services.application_create(actor=request.user, **form.cleaned_data)
            else:
                saved = services.application_update(actor=request.user, application=app, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"{saved.name} was saved." + (" Its status is Unreviewed until you set it."
                                                                     if app is None else ""))
            return redirect("shadow_ai:app-detail", library_app_id=saved.pk)
    return render(request, "shadow_ai/app_form.html", {"form": form, "app": app})


@roles_required(ADMINS)
def app_create(request: HttpRequest) -> HttpResponse:
    return _app_editor(request, None)


@roles_required(ADMINS)
def app_edit(request: HttpRequest, library_app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, library_app_id)
    if not app.is_custom:
        messages.error(request, f"{app.name} comes with the library and is kept up to date by it; set its status "
                       "or override its evidence instead.")
        return redirect("shadow_ai:app-detail", library_app_id=app.pk)
    return _app_editor(request, app)


@roles_required(ADMINS)
@require_POST
def app_delete(request: HttpRequest, library_app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, library_app_id)
    try:
        services.application_delete(actor=request.user, application=app)
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect("shadow_ai:app-detail", library_app_id=app.pk)
    messages.success(request, f"{app.name} was removed from the library.")
    return redirect("shadow_ai:library")


# --- Gateway policies -------------------------------------------------------------------------


POLICY_SORTS = {"position": "position", "name": "name", "action": "action", "updated": "updated_at"}


def describe(policy: GatewayPolicy, *, snapshot: Any = None, names: dict[int, str] | None = None,
             dlp: dict[int, Any] | None = None) -> list[tuple[str, bool]]:
    """(label, valid) for each stored condition, as the engine describes it. A list passes the
    library snapshot, group names and DLP profiles it read once for all its policies."""
    snapshot = snapshot if snapshot is not None else selectors.library_snapshot()
    names = names if names is not None else runtime.group_names_for([policy])
    try:
        compiled = runtime.compile_stored(policy, snapshot, names, dlp)
    except engine.PolicyError as exc:
        return [(f"Invalid: {exc}", False)]
    return [(c.label, True) for c in compiled.conditions]


@roles_required(CONSOLE_READERS)
def policy_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.gateway_policies(), sorts=POLICY_SORTS, default_sort="position",
                            filterset_class=PolicyFilter, per_page=100)
    policies = list(listing.page.object_list)
    snapshot, names = selectors.library_snapshot(), runtime.group_names_for(policies)
    dlp = runtime.dlp_profiles_for(policies)
    rows = [{"policy": p, "conditions": describe(p, snapshot=snapshot, names=names, dlp=dlp)} for p in policies]
    reorderable = (request.user.role in ADMINS and listing.sort == "position" and not listing.is_filtered
                   and not listing.page.has_other_pages())
    template = "shadow_ai/policy_list.html#results" if request.htmx else "shadow_ai/policy_list.html"
    return render(request, template, {"listing": listing, "rows": rows, "can_write": request.user.role in ADMINS,
                                      "reorderable": reorderable})


@roles_required(CONSOLE_READERS)
def policy_detail(request: HttpRequest, gateway_policy_id: int) -> HttpResponse:
    policy = selectors.get_gateway_policy_for(request.user, gateway_policy_id)
    return render(request, "shadow_ai/policy_detail.html", {
        "policy": policy, "conditions": describe(policy), "shadowed": shadowing.warning(policy),
        "capture_groups": runtime.group_names_for([policy]),
        "history": audit_events_for_object("shadow_ai.gatewaypolicy", str(policy.pk)),
        "can_write": request.user.role in ADMINS,
    })


def _policy_editor(request: HttpRequest, policy: GatewayPolicy | None) -> HttpResponse:
    if policy is not None:
        groups = group_names(policy.capture_groups or [])
        initial = {f: getattr(policy, f) for f in ("name", "description", "action", "enabled", "block_message",
                                                      "capture_prompts")}
        initial.update({f"isolate_block_{c}": on for c, on in policy.isolation.items()})
        initial["target"] = policy.target_id
        initial["capture_groups"] = "\n".join(groups.get(g, "") for g in policy.capture_groups or [])
        rows = condition_rows(policy.conditions)
    else:
        initial = {"action": "block", "enabled": True}
        rows = [{"type": "status", "operator": "in", "statuses": ["unapproved"]}]
    form = GatewayPolicyForm(request.POST or None, initial=initial)
    # Rows are compared with nothing on a POST: a row left as it was must still count.
    formset = ConditionFormSet(request.POST, prefix="conditions") if request.method == "POST" else \
        ConditionFormSet(initial=rows, prefix="conditions")
    if request.method == "POST":
        form_ok, formset_ok = form.is_valid(), formset.is_valid()
        if form_ok and formset_ok:
            try:
                conditions = conditions_from_formset(formset)
                kwargs = form.service_kwargs()
                if policy is None:
                    saved = gateway_services.gateway_policy_create(actor=request.user, conditions=conditions,
                                                                   **kwargs)
                else:
                    saved = gateway_services.gateway_policy_update(actor=request.user, policy=policy,
                                                                   conditions=conditions, **kwargs)
            except ConsoleError as exc:
                add_service_error(form, exc)
            except django_forms.ValidationError as exc:
                form.add_error(None, exc.messages[0] if exc.messages else "Some conditions need fixing.")
            else:
                if shadowing.shadowing_policy(saved) is not None:  # the page it lands on says why
                    messages.warning(request, f"Gateway policy {saved.name} was saved, but it can never match: "
                                     "an earlier policy decides first.")
                else:
                    messages.success(request, f"Gateway policy {saved.name} was saved; the gateway applies it at "
                                     "its next request.")
                return redirect("shadow_ai:policy-detail", gateway_policy_id=saved.pk)
    return render(request, "shadow_ai/policy_form.html", {
        "form": form, "formset": formset, "policy": policy, "creating": policy is None,
        "condition_labels": CONDITION_LABELS, "value_help": VALUE_HELP,
        "application_names": selectors.application_names(),
    })


@roles_required(ADMINS)
def policy_create(request: HttpRequest) -> HttpResponse:
    return _policy_editor(request, None)


@roles_required(ADMINS)
def policy_edit(request: HttpRequest, gateway_policy_id: int) -> HttpResponse:
    return _policy_editor(request, selectors.get_gateway_policy_for(request.user, gateway_policy_id))


@roles_required(ADMINS)
@require_POST
def policy_delete(request: HttpRequest, gateway_policy_id: int) -> HttpResponse:
    policy = selectors.get_gateway_policy_for(request.user, gateway_policy_id)
    gateway_services.gateway_policy_delete(actor=request.user, policy=policy)
    messages.success(request, f"Gateway policy {policy.name} was deleted.")
    return redirect("shadow_ai:policy-list")


@roles_required(ADMINS)
@require_POST
def policy_toggle(request: HttpRequest, gateway_policy_id: int) -> HttpResponse:
    policy = selectors.get_gateway_policy_for(request.user, gateway_policy_id)
    enabled = request.POST.get("enabled") == "true"
    if gateway_services.gateway_policy_set_enabled(actor=request.user, policy=policy, enabled=enabled):
        messages.success(request, f"{policy.name} is {'enabled' if enabled else 'disabled'}.")
    return redirect(safe_next(request, request.POST.get("next"), "shadow_ai:policy-list", within="/shadow-ai/"))


@roles_required(ADMINS)
@require_POST
def policy_move(request: HttpRequest, gateway_policy_id: int) -> HttpResponse:
    policy = selectors.get_gateway_policy_for(request.user, gateway_policy_id)
    try:
        if gateway_services.gateway_policy_move(actor=request.user, policy=policy,
                                                direction=request.POST.get("direction", "")):
            messages.success(request, "Policy order saved.")
    except ConsoleError as exc:
        messages.error(request, exc.message)
    return redirect("shadow_ai:policy-list")


@roles_required(ADMINS)
@require_POST
def policy_order(request: HttpRequest) -> HttpResponse:
    """The drag-and-drop order, as JSON ``{"order": [ids]}``."""
    try:
        ids = json.loads(request.body or b"{}").get("order")
        if not isinstance(ids, list):
            raise ValueError
    except (ValueError, AttributeError):
        return JsonResponse({"ok": False, "error": "Send {\"order\": [policy ids]}."}, status=400)
    try:
        changed = gateway_services.gateway_policies_reorder(actor=request.user, policy_ids=ids)
    except ConsoleError as exc:
        return JsonResponse({"ok": False, "error": exc.message}, status=409)
    if changed:
        messages.success(request, "Policy order saved.")
    return JsonResponse({"ok": True, "changed": changed})


# --- Policy tester ----------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def tester(request: HttpRequest) -> HttpResponse:
    """A request body (for DLP profile conditions) comes only by POST, so it stays out of URLs and
    access logs; it is scanned in memory and neither stored nor logged."""
    if request.method == "POST":
        data = request.POST
    else:
        data = request.GET.copy()
        data.pop("body", None)
    form = TesterForm(data or None)
    result, problem = None, ""
    if data and form.is_valid():
        cleaned = form.cleaned_data
        try:
            if cleaned["email"] is not None:
                outcome = runtime.evaluate(hostname=cleaned["destination"], user=cleaned["email"],
                                           device_id=cleaned["device_id"], explain=True, body=cleaned["body"])
                body = cleaned["body"]
                result = {"single": True, "user": cleaned["email"], "outcome": outcome,
                          "dlp": outcome.decision.dlp, "topics": outcome.request.topics.of(body) if body else None}
            else:
                result = _everyone(cleaned["destination"], cleaned["body"])
        except engine.PolicyError as exc:
            problem = f"A stored policy cannot be evaluated ({exc}); the gateway blocks every request until it is " \
                "fixed."
    return render(request, "shadow_ai/tester.html", {
        "form": form, "result": result, "problem": problem, "people_emails": active_emails(),
    })


def _everyone(hostname: str, body: str = "") -> dict:
    """Every active person's action for one destination (no device: posture conditions fail).
    The body is scanned at most once: the requests share one DLP memo."""
    snapshot = selectors.library_snapshot()
    policies = runtime.compiled_policies()
    app = snapshot.matcher.match(hostname)
    users = active_people()
    groups = facts.groups_by_user(u.pk for u in users)
    buckets: dict[str, list[User]] = {a.value: [] for a in engine.Action}
    scan = engine.DlpScan()
    topics = engine.TopicScan()
    for user in users:
        context = facts.user_context(user, groups=groups.get(user.pk, frozenset()))
        request = engine.GatewayRequest(hostname=hostname, app=app, user=engine.UserFacts(
            email=user.email, groups=context.groups, risk_level=context.risk_level), body=body, dlp=scan, topics=topics)
        buckets[engine.evaluate(policies, request).action.value].append(user)
    total = len(users) or 1
    return {
        "single": False, "total": len(users), "app": app, "hostname": hostname, "dlp": scan.outcome(body),
        "topics": topics.of(body) if body else None,
        "buckets": [{"action": a.value, "label": dict(GatewayPolicy.Action.choices)[a.value],
                     "users": buckets[a.value], "pct": round(100 * len(buckets[a.value]) / total, 1)}
                    for a in engine.Action],
    }


# --- Block page -------------------------------------------------------------------------------


@public
def blocked(request: HttpRequest) -> HttpResponse:
    """Where a gateway sends a person it blocked: what, why and where to go instead. Its content
    comes from a token the evaluate API signed, so the page cannot be made to say anything else."""
    payload = read_block_page_token(request.GET.get("t", "")) if request.GET.get("t") else None
    response = render(request, "shadow_ai/blocked.html", {"info": payload}, status=200 if payload else 400)
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
