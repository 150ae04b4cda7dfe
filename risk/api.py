"""The telemetry ingest API: log shippers and EDR webhooks POST batches with their source's
bearer token.

``POST /api/v1/telemetry/<kind>`` takes NDJSON or a JSON array, gzip or plain. Small batches are
stored before the answer (200, with every rejected row's line and reason); large ones are
answered 202 with a status URL while a worker stores them. The same rows sent again are stored
once."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from accounts.models import User
from console.access.api import authenticate_api_token
from console.core import apijson, jsonbody, ratelimit
from console.core.api import error_answer, json_answer
from console.core.errors import ValidationFailed
from console.core.permissions import api_view
from console.core.request_context import client_ip
from risk import selectors
from risk.behaviours import REGISTRY
from risk.models import IngestBatch, Level, TelemetryKind, TelemetrySource, UserRisk
from risk.services import batches, configuration, investigations, sources

log = logging.getLogger(__name__)
FAILED_AUTH_PER_ADDRESS = 30  # per minute


def _headers(headers: dict[str, str]) -> dict[str, str]:
    """``Retry_After="60"`` sends ``Retry-After: 60``."""
    return {name.replace("_", "-"): value for name, value in headers.items()}


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    return json_answer(body, status, headers=_headers(headers))


def _error(status: int, message: str, field: str = "", **headers: str) -> HttpResponse:
    return error_answer(status, message, field, headers=_headers(headers))


def _wrong_method(request: HttpRequest, message: str) -> HttpResponse:
    return _error(405, f"{message[0].upper()}{message[1:]}.", "method")


def _methods(*methods: str):
    return apijson.allow_methods(methods, _wrong_method)


def _source(request: HttpRequest) -> tuple[TelemetrySource | None, HttpResponse | None]:
    address = client_ip(request) or "unknown"
    source = sources.authenticate_source(request.META.get("HTTP_AUTHORIZATION", ""))
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


RETRY_AFTER_SECONDS = "30"


def _outage_errors() -> tuple[type[BaseException], ...]:
    """What a database, Redis or broker outage raises (never a bad batch)."""

    return OperationalError, InterfaceError, BrokerError, RedisConnectionError, RedisTimeoutError


def _unavailable(message: str) -> HttpResponse:
    return _error(503, message, "", Retry_After=RETRY_AFTER_SECONDS)


@csrf_exempt
@api_view
@_methods("POST")
def ingest(request: HttpRequest, kind: str) -> HttpResponse:
    """Outages (database, Redis, broker) are a 503 with ``Retry-After`` and a JSON body, so
    senders retry the batch; sending it again never stores a row twice."""
    try:
        return _ingest(request, kind)
    except batches.IngestUnavailable as exc:
        return _unavailable(exc.message)
    except _outage_errors() as exc:
        log.warning("telemetry ingest answered 503: %s: %s", exc.__class__.__name__, exc)
        return _unavailable("The console cannot store telemetry right now (its database, cache or task queue "
                            "is unreachable). Send the batch again later.")


def _ingest(request: HttpRequest, kind: str) -> HttpResponse:
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
        batch = batches.ingest(source=source, body=body,
                               content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""))
    except batches.BatchTooLarge as exc:
        return _error(413, exc.message, exc.field or "body")
    except ValidationFailed as exc:
        return _error(400, exc.message, exc.field or "body")
    status = 202 if batch.status == IngestBatch.Status.QUEUED else 200
    return _json(batch_body(batch, request), status=status)


@api_view
@_methods("GET")
def batch_status(request: HttpRequest, batch_id: str) -> HttpResponse:
    source, problem = _source(request)
    if problem is not None:
        return problem
    batch = IngestBatch.objects.filter(pk=batch_id, source=source).defer("payload").first()
    if batch is None:
        return _error(404, "No batch with that id was sent with this token.", "batch")
    return _json(batch_body(batch, request))


# --- Scores, for SIEM and SOAR tools (API tokens with risk:read / risk:write) -----------------

PAGE_SIZE = 100
MAX_PAGE = 100_000  # 10 million people; far pages would only make the database count rows


def _token(request: HttpRequest, scope: str):
    token = authenticate_api_token(request, scope)
    if token is None:
        address = client_ip(request) or "unknown"
        if not ratelimit.hit("risk-api-auth", address, limit=FAILED_AUTH_PER_ADDRESS, window=60):
            return None, _error(429, "Too many requests with a bad token from this address; wait a minute.",
                                Retry_After="60")
        return None, _error(401, f"Send an API token with the {scope} scope as 'Authorization: Bearer ztc_…'.",
                            "Authorization", WWW_Authenticate='Bearer realm="risk"')
    return token, None


def _person(risk) -> dict[str, Any]:
    return {"user_id": risk.user_id, "email": risk.user.email, "name": risk.user.full_name,
            "risk_level": Level(risk.level).key, "level_since": risk.changed_at,
            "last_reset_time": risk.last_reset_at, "confirmed_compromised": risk.compromised_at is not None}


@api_view
@_methods("GET")
def behaviours(request: HttpRequest) -> HttpResponse:
    _, problem = _token(request, "risk:read")
    if problem is not None:
        return problem

    configs = configuration.ensure_configs()
    return _json({"behaviours": {
        key: {"name": b.name, "description": b.description, "enabled": configs[key].enabled,
              "risk_level": Level(configs[key].level).key, "parameters": configuration.params_of(configs[key])}
        for key, b in sorted(REGISTRY.items())
    }})


@api_view
@_methods("GET")
def scores(request: HttpRequest) -> HttpResponse:
    """Everyone with a score (or only ``?level=``), highest first, 100 per page (``?page=``)."""
    _, problem = _token(request, "risk:read")
    if problem is not None:
        return problem

    queryset = UserRisk.objects.select_related("user").order_by("-level", "-changed_at", "user_id")
    if "level" in request.GET:
        level = request.GET["level"]
        if level not in ("unscored", "low", "medium", "high"):
            return _error(400, "level must be one of unscored, low, medium, high.", "level")
        queryset = queryset.filter(level=Level.from_name(level))
    else:
        queryset = queryset.exclude(level=Level.UNSCORED)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 0
    if not 1 <= page <= MAX_PAGE:
        return _error(400, f"page must be a whole number from 1 to {MAX_PAGE}.", "page")
    rows = list(queryset[(page - 1) * PAGE_SIZE: page * PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    body = {"users": [_person(r) for r in rows[:PAGE_SIZE]], "page": page, "next": None}
    if more:
        query = request.GET.copy()
        query["page"] = str(page + 1)
        body["next"] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return _json(body)


@api_view
@_methods("GET")
def person(request: HttpRequest, user_id: int) -> HttpResponse:
    _, problem = _token(request, "risk:read")
    if problem is not None:
        return problem

    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return _error(404, "No person with that id.", "user_id")
    risk = UserRisk.objects.filter(pk=user.pk).select_related("user").first()
    body = _person(risk) if risk else {"user_id": user.pk, "email": user.email, "name": user.full_name,
                                       "risk_level": "unscored", "level_since": None, "last_reset_time": None,
                                       "confirmed_compromised": False}
    body["events"] = [
        {"id": e.pk, "behaviour": e.behaviour, "name": selectors.behaviour_name(e.behaviour),
         "risk_level": Level(e.level).key, "timestamp": e.at, "summary": e.summary, "event_details": e.details,
         "source": {"kind": e.source_kind, "id": e.source_id}}
        for e in selectors.contributing_events(user)[:100]
    ]
    body["history"] = [
        {"at": h.at, "previous": Level(h.previous).key, "current": Level(h.current).key, "cause": h.cause,
         "actor": h.actor_email, "reason": h.reason}
        for h in selectors.history(user)[:100]
    ]
    return _json(body)


@csrf_exempt
@api_view
@_methods("POST")
def reset(request: HttpRequest, user_id: int) -> HttpResponse:
    token, problem = _token(request, "risk:write")
    if problem is not None:
        return problem

    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return _error(404, "No person with that id.", "user_id")

    try:
        body = jsonbody.loads(request.read(16 * 1024) or b"{}")
    except jsonbody.BodyError as exc:
        return _error(400, f"{exc.message[0].upper()}{exc.message[1:]}.", exc.field or "body")
    if not isinstance(body, dict) or not isinstance(body.get("reason", ""), str):
        return _error(400, 'Send {"reason": "…"}.', "reason")
    try:
        investigations.risk_reset(actor=None, user=user, reason=body.get("reason", ""), via=f"API token {token.name}")
    except ValidationFailed as exc:
        return _error(400, exc.message, exc.field or "reason")
    return _json({"user_id": user.pk, "risk_level": "unscored", "reset": True})
