from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render

from console.audit import selectors
from console.audit.filters import AuditEventFilter
from console.audit.models import AuditEvent
from console.core.csv_export import stream_csv
from console.core.listing import build_listing, filter_errors
from console.core.permissions import roles_required
from console.core.roles import CONSOLE_READERS

SORTS = {"at": "at", "actor": "actor_email", "action": "action", "object": "object_type"}
CSV_COLUMNS = [
    "id", "at", "actor_email", "actor_role", "action", "object_type", "object_id",
    "object_repr", "changes", "ip", "user_agent", "request_id",
]


@roles_required(CONSOLE_READERS)
def audit_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(
        request, selectors.audit_events(), sorts=SORTS, default_sort="-at",
        filterset_class=AuditEventFilter, per_page=50,
    )
    template = "audit/audit_list.html#results" if request.htmx else "audit/audit_list.html"
    return render(request, template, {"listing": listing})


@roles_required(CONSOLE_READERS)
def audit_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.get_event_for(request.user, event_id)
    return render(request, "audit/audit_detail.html", {"event": event})


@roles_required(CONSOLE_READERS)
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered trail as CSV, streamed so a large export never sits in memory."""
    filterset = AuditEventFilter(request.GET, queryset=selectors.audit_events(), request=request)
    problems = filter_errors(filterset)
    if problems:  # an empty file would look like an empty trail
        return HttpResponseBadRequest(" ".join(problems), content_type="text/plain; charset=utf-8")
    queryset = filterset.qs

    def value(event: AuditEvent, column: str) -> object:
        raw = getattr(event, column)
        if column == "changes":
            return json.dumps(raw, sort_keys=True)
        return raw.isoformat() if column == "at" else raw

    rows = ([value(e, c) for c in CSV_COLUMNS] for e in queryset.order_by("at", "id").iterator(chunk_size=2000))
    return stream_csv(CSV_COLUMNS, rows, "audit-trail")
