"""The telemetry ingest API: log shippers and EDR webhooks POST batches with their source's
bearer token.

``POST /api/v1/telemetry/<kind>`` takes NDJSON or a JSON array, gzip or plain. Small batches are
stored before the answer (200, with every rejected row's line and reason); large ones are
answered 202 with a status URL while a worker stores them. The same rows sent again are stored
once."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from console.core import ratelimit
from console.core.errors import ValidationFailed
from console.core.permissions import api_view
from console.core.request_context import client_ip
from risk import services
from risk.models import IngestBatch, TelemetryKind, TelemetrySource

log = logging.getLogger(__name__)
FAILED_AUTH_PER_ADDRESS = 30  # per minute


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(json.dumps(body, default=str), content_type="application/json", status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _error(status: int, message: str, field: str = "", **headers: str) -> HttpResponse:
    return _json({"error": message, "field": field}, status=status, **headers)


def _source(request: HttpRequest) -> tuple[TelemetrySource | None, HttpResponse | None]:
    address = client_ip(request) or "unknown"
    source = services.authenticate_source(request.META.get("HTTP_AUTHORIZATION", ""))
    if source is None:
        if not ratelimit.hit("telemetry-auth", address, limit=FAILED_AUTH_PER_ADDRESS, window=60):
            return None, _error(429, "Too many requests with a bad token from this address; wait a minute.",
                                Retry_After="60")
        return None, _error(401, "Send the telemetry source's token as 'Authorization: Bearer zts_…'. "
                                 "The token is missing, wrong or revoked.", "Authorization",
                            WWW_Authenticate='Bearer realm="telemetry"')
    return source, None


def batch_body(batch: IngestBatch, request: HttpRequest) -> dict[str, Any]:
    return {
        "batch": str(batch.pk),
        "kind": batch.kind,
        "status": batch.status,
        "received": batch.rows_total,
        "stored": batch.rows_stored,
        "duplicates": batch.rows_duplicate,
        "rejected_count": batch.rows_rejected,
        "rejected": batch.rejected,
        "message": batch.message,
        "status_url": request.build_absolute_uri(reverse("risk-api:telemetry-batch", args=[batch.pk])),
    }


@csrf_exempt
@require_POST
@api_view
def ingest(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in TelemetryKind.values:
        return _error(404, f"Unknown telemetry kind {kind!r}; use one of {', '.join(TelemetryKind.values)}.",
                      "kind")
    source, problem = _source(request)
    if problem is not None:
        return problem
    if source.kind != kind:
        return _error(403, f"This token belongs to a {source.get_kind_display()} source; send to "
                           f"/api/v1/telemetry/{source.kind}.", "kind")
    limit = settings.RISK_INGEST_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _error(413, f"The batch is larger than {limit} bytes; split it.", "body")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, f"The batch is larger than {limit} bytes; split it.", "body")
    if not body.strip():
        return _error(400, "The body is empty; send NDJSON or a JSON array.", "body")
    try:
        batch = services.ingest(source=source, body=body,
                                content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""))
    except ValidationFailed as exc:
        return _error(400, exc.message, exc.field or "body")
    status = 202 if batch.status == IngestBatch.Status.QUEUED else 200
    return _json(batch_body(batch, request), status=status)


@require_GET
@api_view
def batch_status(request: HttpRequest, batch_id: str) -> HttpResponse:
    source, problem = _source(request)
    if problem is not None:
        return problem
    batch = IngestBatch.objects.filter(pk=batch_id, source=source).defer("payload").first()
    if batch is None:
        return _error(404, "No batch with that id was sent with this token.", "batch")
    return _json(batch_body(batch, request))
