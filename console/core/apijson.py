"""What every JSON answer of the HTTP APIs is built with, so the answers match the OpenAPI
document: date-times in RFC 3339 (``2026-12-07T16:03:26Z``), and a 405 with an ``Allow`` header
and a JSON body (in each API's own error shape) for a method the endpoint does not declare."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]
Refusal = Callable[[HttpRequest, str], HttpResponse]


def rfc3339(value: dt.datetime) -> str:
    """``2026-12-07T16:03:26.123456Z``: UTC, a ``T`` between date and time, ``Z`` for the offset.
    Naive values are taken as UTC (the console stores aware UTC datetimes; USE_TZ is on)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)  # UUIDs, Decimals, enum members: their text


def dumps(body: Any) -> str:
    """JSON text of an API answer (the C encoder; datetimes in RFC 3339)."""
    return json.dumps(body, default=_default, separators=(",", ":"))


def json_response(body: Any, status: int = 200, *, headers: dict[str, str] | None = None) -> HttpResponse:
    """An ``application/json`` answer; ``body=None`` sends no body (204 and the like)."""
    if body is None:
        response = HttpResponse(status=status)
    else:
        response = HttpResponse(dumps(body), content_type="application/json", status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def allow_methods(methods: Iterable[str], refuse: Refusal) -> Callable[[View], View]:
    """Answer any method but ``methods`` with ``refuse(request, message)`` turned into a 405
    carrying ``Allow`` (RFC 9110 §15.5.6), before the view (and its authentication) runs."""
    allowed = tuple(method.upper() for method in methods)
    allow = ", ".join(allowed)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                response = refuse(request, f"method {request.method} is not allowed here; use {allow}")
                response.status_code = 405
                response["Allow"] = allow
                return response
            return view(request, *args, **kwargs)

        wrapper.allowed_methods = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorator
