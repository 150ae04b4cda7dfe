"""Risk scoring pages: users at risk, a person's risk, behaviours, telemetry sources and the
telemetry itself. Auditors read everything; admins change things."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.selectors import get_user_for
from console.access.selectors import open_session_count
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.jobs import render_poll
from console.core.listing import build_listing
from console.core.permissions import roles_required
from console.core.roles import ADMINS, CONSOLE_READERS
from risk import charts, selectors
from risk.behaviours import REGISTRY
from risk.filters import SourceFilter, UserRiskFilter, telemetry_filter_for
from risk.forms import BehaviourForm, ReasonForm, SettingsForm, SourceForm
from risk.models import (
    AuthEvent,
    DeviceSignal,
    GatewayDnsEvent,
    GatewayHttpEvent,
    Level,
    RiskEvent,
)
from risk.services import configuration, investigations, scores, sources

# --- Users at risk ----------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def index(request: HttpRequest) -> HttpResponse:
    """``/risk/``: the area's front page is the list of people at risk."""
    return redirect("risk:user-list")


USER_SORTS = {"level": "level", "person": "user__email", "changed": "changed_at", "events": "events",
              "last_event": "last_event"}


@roles_required(CONSOLE_READERS)
def user_list(request: HttpRequest) -> HttpResponse:
    queryset = selectors.users_at_risk()
    if not request.GET.get("level") and not request.GET.get("all"):
        queryset = queryset.exclude(level=Level.UNSCORED, compromised_at__isnull=True)
    listing = build_listing(request, queryset, sorts=USER_SORTS, default_sort="-level", filterset_class=UserRiskFilter)
    counts = selectors.level_counts()
    context = {
        "listing": listing,
        "counts": [(Level(v), counts.get(int(v), 0)) for v in (Level.HIGH, Level.MEDIUM, Level.LOW)],
        "rescore": selectors.latest_rescore(),
        "can_write": request.user.role in ADMINS,
        "enabled": selectors.enabled_behaviour_count(),
    }
    template = "risk/user_list.html#results" if request.htmx else "risk/user_list.html"
    return render(request, template, context)


@roles_required(CONSOLE_READERS)
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_user_for(request.user, user_id)
    risk = selectors.risk_of(person)
    events = list(selectors.contributing_events(person)[:200])
    history = list(selectors.history(person)[:100])
    for event in events:
        event.name = selectors.behaviour_name(event.behaviour)
        event.log_url = (reverse("risk:telemetry-row", args=[event.source_kind, event.source_id])
                         if event.source_kind != RiskEvent.SourceKind.AUDIT
                         else f"{reverse('audit:list')}?q={event.source_id}")
    return render(request, "risk/user_detail.html", {
        "person": person, "risk": risk, "level": Level(risk.level if risk else 0), "events": events,
        "history": history, "figure": charts.timeline(person),
        "reset_form": ReasonForm(prefix="reset"), "compromise_form": ReasonForm(prefix="compromise"),
        "can_write": request.user.role in ADMINS, "open_sessions": open_session_count(person),
    })


@roles_required(ADMINS)
@require_POST
def user_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    return _investigate(request, user_id, investigations.risk_reset, "reset",
                        "The score was reset; access comes back as policy allows.")


@roles_required(ADMINS)
@require_POST
def user_compromised(request: HttpRequest, user_id: int) -> HttpResponse:
    return _investigate(request, user_id, investigations.risk_mark_compromised, "compromise",
                        "Marked confirmed compromised: the score is High and every session was revoked.")


def _investigate(request: HttpRequest, user_id: int, action, prefix: str, done: str) -> HttpResponse:
    person = get_user_for(request.user, user_id)
    form = ReasonForm(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            action(actor=request.user, user=person, reason=form.cleaned_data["reason"])
        except ConsoleError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, done)
    else:
        messages.error(request, "Say why: a reason is required and kept in the person's risk history.")
    return redirect("risk:user-detail", user_id=person.pk)


@roles_required(ADMINS)
@require_POST
def rescore_start(request: HttpRequest) -> HttpResponse:
    run = scores.rescore_start(actor=request.user)
    messages.success(request, "A full rescore started; its progress shows below.")
    return redirect(f"{reverse('risk:user-list')}?rescore={run.pk}")


@roles_required(CONSOLE_READERS)
def rescore_status(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.get_rescore_for(request.user, run_id)
    return render_poll(request, "risk/_rescore.html", {"rescore": run}, job=run)


# --- Behaviours -------------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def behaviour_list(request: HttpRequest) -> HttpResponse:
    configs = configuration.ensure_configs()
    rows = []
    q = request.GET.get("q", "").strip().lower()
    state = request.GET.get("state", "")
    for key, behaviour in sorted(REGISTRY.items(), key=lambda kv: kv[1].name):
        config = configs[key]
        if q and q not in behaviour.name.lower() and q not in behaviour.description.lower():
            continue
        if state in ("on", "off") and config.enabled != (state == "on"):
            continue
        params = configuration.params_of(config)
        rows.append({"key": key, "behaviour": behaviour, "config": config, "level": Level(config.level),
                     "params": [(p, params[p.name]) for p in behaviour.params]})
    return render(request, "risk/behaviour_list.html", {
        "rows": rows, "q": q, "state": state, "settings": configuration.risk_settings(),
        "can_write": request.user.role in ADMINS,
    })


@roles_required(CONSOLE_READERS)
def behaviour_edit(request: HttpRequest, key: str) -> HttpResponse:
    behaviour = REGISTRY.get(key)
    if behaviour is None:
        raise Http404("No such behaviour.")
    config = configuration.ensure_configs()[key]
    params = configuration.params_of(config)
    initial = {"enabled": config.enabled, "level": str(config.level)}
    for p in behaviour.params:
        initial[f"param_{p.name}"] = ", ".join(params[p.name]) if p.kind == "list" else params[p.name]
    can_write = request.user.role in ADMINS
    form = BehaviourForm(request.POST or None, initial=initial, behaviour=behaviour)
    if request.method == "POST":
        if not can_write:
            return HttpResponse("Your role cannot change risk behaviours.", status=403)
        if form.is_valid():
            values = {p.name: form.cleaned_data[f"param_{p.name}"] for p in behaviour.params}
            try:
                configuration.behaviour_update(actor=request.user, key=key, enabled=form.cleaned_data["enabled"],
                                               level=form.cleaned_data["level"], params=values)
            except ConsoleError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"{behaviour.name} saved. Everyone is being rescored.")
                return redirect("risk:behaviour-list")
    return render(request, "risk/behaviour_form.html", {"behaviour": behaviour, "config": config, "form": form,
                                                        "can_write": can_write})


@roles_required(ADMINS)
@require_POST
def settings_update(request: HttpRequest) -> HttpResponse:
    form = SettingsForm(request.POST)
    if form.is_valid():
        try:
            configuration.settings_update(actor=request.user, lookback_days=form.cleaned_data["lookback_days"])
        except ConsoleError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Settings saved. Everyone is being rescored.")
    else:
        messages.error(request, "Look-back: give a whole number of days between 0 and 3650.")
    return redirect("risk:behaviour-list")


# --- Telemetry sources ------------------------------------------------------------------------


SOURCE_SORTS = {"name": "name", "kind": "kind", "used": "last_used_at", "accepted": "events_accepted",
                "created": "created_at"}


@roles_required(CONSOLE_READERS)
def source_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.telemetry_sources(), sorts=SOURCE_SORTS, default_sort="name",
                            filterset_class=SourceFilter)
    template = "risk/source_list.html#results" if request.htmx else "risk/source_list.html"
    return render(request, template, {"listing": listing, "can_write": request.user.role in ADMINS})


@roles_required(ADMINS)
def source_create(request: HttpRequest) -> HttpResponse:
    form = SourceForm(request.POST or None)
    source = token = None
    if request.method == "POST" and form.is_valid():
        try:
            source, token = sources.telemetry_source_create(actor=request.user, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
    if source is not None:
        url = request.build_absolute_uri(reverse("risk-api:telemetry-ingest", args=[source.kind]))
        response = render(request, "risk/source_created.html", {"source": source, "token": token, "url": url})
    else:
        response = render(request, "risk/source_form.html", {"form": form})
    response["Cache-Control"] = "no-store"
    return response


@roles_required(CONSOLE_READERS)
def source_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    source = selectors.get_source_for(request.user, source_id)
    listing = build_listing(request, selectors.batches_of(source),
                            sorts={"received": "received_at", "rejected": "rows_rejected", "stored": "rows_stored"},
                            default_sort="-received")
    url = request.build_absolute_uri(reverse("risk-api:telemetry-ingest", args=[source.kind]))
    template = "risk/source_detail.html#results" if request.htmx else "risk/source_detail.html"
    return render(request, template, {"source": source, "listing": listing, "url": url,
                                      "can_write": request.user.role in ADMINS})


@roles_required(ADMINS)
@require_POST
def source_revoke(request: HttpRequest, source_id: int) -> HttpResponse:
    source = selectors.get_source_for(request.user, source_id)
    sources.telemetry_source_revoke(actor=request.user, source=source)
    messages.success(request, f"{source.name} was revoked; its token is refused from now on.")
    return redirect("risk:source-detail", source_id=source.pk)


# --- Telemetry --------------------------------------------------------------------------------

TELEMETRY = {
    "auth": (AuthEvent, "Access authentication", ["at", "email", "allowed", "origin", "ip", "country", "city",
                                                  "app_domain"]),
    "gateway_http": (GatewayHttpEvent, "Gateway HTTP", ["at", "email", "http_method", "host", "action",
                                                        "category_names", "dlp_match_count", "blocked_file_reason"]),
    "gateway_dns": (GatewayDnsEvent, "Gateway DNS", ["at", "email", "query_name", "category_names",
                                                     "resolver_decision"]),
    "device": (DeviceSignal, "EDR signals", ["at", "email", "provider", "device_id", "overall_score", "os_score",
                                             "sensor_config_score", "threat_name"]),
}


@roles_required(CONSOLE_READERS)
def telemetry(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "auth")
    if kind not in TELEMETRY:
        kind = "auth"
    model, title, columns = TELEMETRY[kind]

    listing = build_listing(request, selectors.telemetry_rows(model), sorts={"at": "at", "email": "email"},
                            default_sort="-at", filterset_class=telemetry_filter_for(model))
    rows = [{"pk": obj.pk, "cells": [getattr(obj, c) for c in columns]} for obj in listing.page.object_list]
    template = "risk/telemetry.html#results" if request.htmx else "risk/telemetry.html"
    return render(request, template, {
        "listing": listing, "kind": kind, "title": title, "rows": rows,
        "columns": [model._meta.get_field(c).verbose_name for c in columns],
        "kinds": [(k, v[1]) for k, v in TELEMETRY.items()],
    })


@roles_required(CONSOLE_READERS)
def telemetry_row(request: HttpRequest, kind: str, row_id: int) -> HttpResponse:
    if kind not in TELEMETRY:
        raise Http404("No such telemetry.")
    model, title, _ = TELEMETRY[kind]
    # A 404 as well when retention has pruned the row (see the telemetry retention in docs/risk.md).
    row = selectors.get_telemetry_row_for(request.user, model, row_id)
    fields = [(f.verbose_name, getattr(row, f.attname)) for f in model._meta.concrete_fields]
    triggered = selectors.events_from(kind, row.pk)
    for event in triggered:
        event.name = selectors.behaviour_name(event.behaviour)
    return render(request, "risk/telemetry_row.html", {"row": row, "kind": kind, "title": title, "fields": fields,
                                                       "triggered": triggered})
