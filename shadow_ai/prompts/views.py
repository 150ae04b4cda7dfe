"""The AI prompt log pages: the list (metadata in clear), one entry (sealed content, opened in the
admin's browser with their private key, which is never sent), the export for the offline tool,
and the organization's public key."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.audit.selectors import audit_events_for_object
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.listing import build_listing
from console.core.permissions import roles_required
from console.core.roles import ADMINS, CONSOLE_READERS
from shadow_ai.prompts import sealing, selectors, services
from shadow_ai.prompts.filters import EntryFilter
from shadow_ai.prompts.forms import KeyForm
from shadow_ai.prompts.topics import TOPICS_BY_KEY

SORTS = {"at": "at", "email": "email", "application": "application_name", "action": "action",
         "dlp": "dlp_match_count"}
EXPORT_LIMIT = 5000


def _topic_badges(summary: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": TOPICS_BY_KEY[k].name, "confidence": v} for k, v in summary.items() if k in TOPICS_BY_KEY]


@roles_required(CONSOLE_READERS)
def log(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.entries_for_list(), sorts=SORTS, default_sort="-at",
                            filterset_class=EntryFilter)
    for entry in listing.page.object_list:
        entry.topic_badges = _topic_badges(entry.topics)
    template = "prompts/log.html#results" if request.htmx else "prompts/log.html"
    return render(request, template, {
        "listing": listing, "can_write": request.user.role in ADMINS, "none_yet": not selectors.any_entry(),
        "active_key": selectors.active_key(), "query": request.GET.urlencode(),
    })


@roles_required(CONSOLE_READERS)
def entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    found = selectors.get_entry_for(request.user, entry_id)
    return render(request, "prompts/entry.html", {
        "entry": found, "topic_badges": _topic_badges(found.topics),
        "response_badges": _topic_badges(found.response_topics), "sealed_hex": bytes(found.sealed).hex(),
        "can_decrypt": request.user.role in ADMINS, "suite": sealing.SUITE_NAME,
        "history": audit_events_for_object("prompts.promptlogentry", str(found.pk)),
    })


@roles_required(ADMINS)
@require_POST
def entry_viewed(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The browser reports that it opened an entry (the console cannot see that happen)."""
    found = selectors.get_entry_for(request.user, entry_id)
    services.prompt_log_viewed(actor=request.user, entry=found)
    return JsonResponse({"recorded": True})


@roles_required(ADMINS)
def export(request: HttpRequest) -> HttpResponse:
    """The filtered entries, sealed, as JSON for ``python -m shadow_ai.prompts.offline decrypt``."""
    listing = build_listing(request, selectors.entries_for_list(), sorts=SORTS, default_sort="-at",
                            filterset_class=EntryFilter)
    entries = list(listing.page.paginator.object_list[:EXPORT_LIMIT])
    body = services.prompt_log_export(actor=request.user, entries=entries)
    response = HttpResponse(json.dumps(body, indent=1), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="prompt-log-export.json"'
    response["Cache-Control"] = "no-store"
    return response


@roles_required(CONSOLE_READERS)
def key(request: HttpRequest) -> HttpResponse:
    can_write = request.user.role in ADMINS
    if request.method == "POST" and not can_write:
        raise PermissionDenied
    form = KeyForm(request.POST or None) if can_write else None
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            uploaded = services.prompt_key_upload(actor=request.user, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"New prompts are now sealed to {uploaded.name} ({uploaded.fingerprint}). "
                             "Keep the private key: entries sealed to it open only with it.")
            return redirect("prompts:key")
    return render(request, "prompts/key.html", {"form": form, "keys": selectors.keys(),
                                                "active_key": selectors.active_key(), "suite": sealing.SUITE_NAME})
