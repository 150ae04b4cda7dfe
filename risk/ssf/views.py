"""Console pages for the Shared Signals transmitter: streams, their subjects, the outbox and
the signing keys. Admins change; auditors read."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.audit.selectors import audit_events_for_object
from console.core import ratelimit
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.listing import build_listing
from console.core.permissions import roles_required
from console.core.redirects import safe_next
from console.core.roles import ADMINS, CONSOLE_READERS
from mfa.console import sensitive_action
from risk.ssf import events, keys, selectors, services
from risk.ssf.filters import DeliveryFilter, StreamFilter, SubjectFilter
from risk.ssf.forms import StatusForm, StreamForm, SubjectForm
from risk.ssf.models import Delivery, Stream


def _can_write(request: HttpRequest) -> bool:
    return request.user.role in ADMINS


# --- Streams ------------------------------------------------------------------------------------

STREAM_SORTS = {"created": "created_at", "description": "description", "status": "status",
                "pending": "pending", "failed": "failed", "delivered": "last_delivery_at"}


@roles_required(CONSOLE_READERS)
def stream_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.streams_with_stats(), sorts=STREAM_SORTS, default_sort="-created",
                            filterset_class=StreamFilter)
    template = "ssf/stream_list.html#results" if request.htmx else "ssf/stream_list.html"
    return render(request, template, {
        "listing": listing, "can_write": _can_write(request), "labels": events.LABELS,
        "well_known": f"{selectors.issuer_for(request)}/.well-known/ssf-configuration",
    })


def _form_values(form: StreamForm, *, editing: bool) -> dict:
    data = form.cleaned_data
    values = {
        "description": data["description"], "delivery_method": data["delivery_method"],
        "endpoint_url": data["endpoint_url"], "events_requested": list(data["events_requested"]),
        "audience": data["audience"] or None, "subjects_default": data["subjects_default"],
        "subject_format": data["subject_format"], "event_subject": data.get("event_subject") or None,
    }
    header = data["authorization_header"]
    if editing:
        if data.get("clear_authorization_header"):
            values["authorization_header"] = ""
        elif header:
            values["authorization_header"] = header
        values["receiver_token"] = data["receiver"]
    else:
        values["authorization_header"] = header
        values["receiver"] = data["receiver"]
    return values


@roles_required(ADMINS)
def stream_create(request: HttpRequest) -> HttpResponse:
    form = StreamForm(request.POST or None, initial={"subjects_default": settings.SSF_DEFAULT_SUBJECTS,
                                                      "delivery_method": Stream.Method.PUSH})
    if request.method == "POST" and form.is_valid():
        try:
            stream = services.stream_create(actor=request.user, issuer=selectors.issuer_for(request),
                                            **_form_values(form, editing=False))
        except ConsoleError as exc:
            add_service_error(form, _form_field(exc))
        else:
            messages.success(request, "The stream was created. Send a verification event to check the receiver.")
            return redirect("ssf:stream-detail", stream_pk=stream.pk)
    return render(request, "ssf/stream_form.html", {"form": form, "creating": True})


def _form_field(exc: ConsoleError) -> ConsoleError:
    """Service errors name API fields (``delivery.endpoint_url``); the form's are flat."""
    if exc.field and "." in exc.field:
        exc.field = exc.field.rsplit(".", 1)[-1]
    return exc


@roles_required(CONSOLE_READERS)
def stream_detail(request: HttpRequest, stream_pk: int) -> HttpResponse:
    stream = selectors.get_stream_for(request.user, stream_pk)
    return render(request, "ssf/stream_detail.html", {
        "stream": stream, "config": json.dumps(selectors.stream_config(stream), indent=2),
        "stats": selectors.stats(stream), "labels": events.LABELS,
        "recent": stream.deliveries.order_by("-id")[:10],
        "subject_count": stream.subjects.count(),
        "history": audit_events_for_object("ssf.stream", str(stream.pk)),
        "status_form": StatusForm(initial={"status": stream.status}),
        "can_write": _can_write(request),
    })


@roles_required(ADMINS)
def stream_edit(request: HttpRequest, stream_pk: int) -> HttpResponse:
    stream = selectors.get_stream_for(request.user, stream_pk)
    initial = {"description": stream.description, "delivery_method": stream.delivery_method,
               "endpoint_url": stream.endpoint_url, "audience": ", ".join(stream.audience),
               "events_requested": [e for e in stream.events_requested if e in events.SUPPORTED],
               "subjects_default": stream.subjects_default, "subject_format": stream.subject_format,
               "event_subject": stream.event_subject, "receiver": stream.receiver_id}
    form = StreamForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.stream_update(actor=request.user, stream=stream, **_form_values(form, editing=True))
        except ConsoleError as exc:
            add_service_error(form, _form_field(exc))
        else:
            messages.success(request, "Changes saved.")
            return redirect("ssf:stream-detail", stream_pk=stream.pk)
    return render(request, "ssf/stream_form.html", {"form": form, "stream": stream, "creating": False,
                                                    "has_header": bool(stream.authorization_header)})


@roles_required(ADMINS)
@require_POST
def stream_status(request: HttpRequest, stream_pk: int) -> HttpResponse:
    stream = selectors.get_stream_for(request.user, stream_pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick enabled, paused or disabled.")
        return redirect("ssf:stream-detail", stream_pk=stream.pk)
    try:
        services.stream_status_set(actor=request.user, stream=stream, status=form.cleaned_data["status"],
                                   reason=form.cleaned_data["reason"])
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, {
            "enabled": "The stream is enabled; held events are being delivered.",
            "paused": "The stream is paused: new events are held until it is enabled again.",
            "disabled": "The stream is disabled: pending events were dropped and new ones are not kept.",
        }[form.cleaned_data["status"]])
    return redirect("ssf:stream-detail", stream_pk=stream.pk)


@roles_required(ADMINS)
@require_POST
def stream_verify(request: HttpRequest, stream_pk: int) -> HttpResponse:
    stream = selectors.get_stream_for(request.user, stream_pk)
    if not ratelimit.once_per("ssf-verify", stream.stream_id, seconds=settings.SSF_MIN_VERIFICATION_INTERVAL):
        messages.error(request, f"One verification event every {settings.SSF_MIN_VERIFICATION_INTERVAL} seconds: "
                                "wait a moment.")
        return redirect("ssf:stream-detail", stream_pk=stream.pk)
    row = services.verification_request(actor=request.user, stream=stream, state=f"console-{request.user.pk}")
    messages.success(request, f"Verification event {row.jti} queued; follow it in the outbox.")
    return redirect("ssf:stream-detail", stream_pk=stream.pk)


@roles_required(ADMINS)
@require_POST
def stream_delete(request: HttpRequest, stream_pk: int) -> HttpResponse:
    stream = selectors.get_stream_for(request.user, stream_pk)
    services.stream_delete(actor=request.user, stream=stream)
    messages.success(request, f"{stream} was deleted; its receiver gets no more events.")
    return redirect("ssf:stream-list")


# --- Subjects -----------------------------------------------------------------------------------


def _subjects_page(request: HttpRequest, stream: Stream, form: SubjectForm, status: int = 200) -> HttpResponse:
    listing = build_listing(request, stream.subjects.all(), sorts={"key": "key", "created": "created_at"},
                            default_sort="key", filterset_class=SubjectFilter)
    template = "ssf/subject_list.html#results" if request.htmx else "ssf/subject_list.html"
    return render(request, template, {"stream": stream, "listing": listing, "form": form,
                                      "can_write": _can_write(request)}, status=status)


@roles_required(CONSOLE_READERS)
def subject_list(request: HttpRequest, stream_pk: int) -> HttpResponse:
    return _subjects_page(request, selectors.get_stream_for(request.user, stream_pk), SubjectForm())


@roles_required(ADMINS)
@require_POST
def subject_change(request: HttpRequest, stream_pk: int) -> HttpResponse:
    stream = selectors.get_stream_for(request.user, stream_pk)
    form = SubjectForm(request.POST)
    if form.is_valid():
        change = services.subject_add if form.cleaned_data["action"] == "add" else services.subject_remove
        try:
            change(actor=request.user, stream=stream, subject=form.subject())
        except ConsoleError as exc:
            field = "issuer" if exc.field == "subject.iss" else "value" if exc.field else None
            add_service_error(form, ConsoleError(exc.message, field=field))
        else:
            messages.success(request, "Subject saved.")
            return redirect("ssf:subject-list", stream_pk=stream.pk)
    return _subjects_page(request, stream, form, status=400)


@roles_required(ADMINS)
@require_POST
def subject_forget(request: HttpRequest, stream_pk: int, subject_id: int) -> HttpResponse:
    stream = selectors.get_stream_for(request.user, stream_pk)
    row = selectors.subject_of(stream, subject_id)
    if row is not None:
        services.subject_forget(actor=request.user, stream=stream, subject_row=row)
        messages.success(request, f"{row.key} no longer has its own entry on this stream.")
    return redirect("ssf:subject-list", stream_pk=stream.pk)


# --- Outbox -------------------------------------------------------------------------------------

DELIVERY_SORTS = {"created": "id", "status": "status", "attempts": "attempts", "next": "next_attempt_at",
                  "event": "event_type", "subject": "subject_label"}


@roles_required(CONSOLE_READERS)
def outbox(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.deliveries(), sorts=DELIVERY_SORTS, default_sort="-created",
                            filterset_class=DeliveryFilter)
    template = "ssf/outbox.html#results" if request.htmx else "ssf/outbox.html"
    rows = [(row, json.dumps(row.claims, indent=2)) for row in listing.page.object_list]
    return render(request, template, {"listing": listing, "rows": rows, "can_write": _can_write(request)})


@roles_required(ADMINS)
@require_POST
def delivery_retry(request: HttpRequest, delivery_id: int) -> HttpResponse:
    try:
        row = selectors.get_delivery_for(request.user, delivery_id)
    except Http404:
        row = None
    if row is None:
        messages.error(request, "That event no longer exists.")
    elif services.delivery_retry(actor=request.user, deliveries=[row]):
        messages.success(request, f"Event {row.jti} is queued again.")
    else:
        messages.info(request, "Only failed or dropped events can be retried.")
    return redirect(safe_next(request, request.POST.get("next"), "ssf:outbox"))


@roles_required(ADMINS)
@require_POST
def stream_retry_failed(request: HttpRequest, stream_pk: int) -> HttpResponse:
    stream = selectors.get_stream_for(request.user, stream_pk)
    count = services.delivery_retry(actor=request.user,
                                    deliveries=stream.deliveries.filter(status=Delivery.Status.FAILED))
    messages.success(request, f"{count} failed event(s) queued again.")
    return redirect("ssf:stream-detail", stream_pk=stream.pk)


# --- Keys ---------------------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def key_list(request: HttpRequest) -> HttpResponse:
    keys.current_key()
    listing = build_listing(request, selectors.signing_keys(), sorts={"created": "created_at", "kid": "kid"},
                            default_sort="-created")
    template = "ssf/keys.html#results" if request.htmx else "ssf/keys.html"
    return render(request, template, {
        "listing": listing, "can_write": _can_write(request), "retention": settings.SSF_KEY_RETENTION_DAYS,
        "jwks_url": f"{selectors.issuer_for(request)}/ssf/jwks.json",
    })


@roles_required(ADMINS)
@sensitive_action("rotate the signing key")
@require_POST
def key_rotate(request: HttpRequest) -> HttpResponse:
    key = keys.key_rotate(actor=request.user)
    messages.success(request, f"New signing key {key.kid[:12]}…; the previous one stays published for "
                              f"{settings.SSF_KEY_RETENTION_DAYS} days.")
    return redirect("ssf:keys")
