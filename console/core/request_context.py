"""Who is asking, from where: carried from the request to services without passing it around.

The middleware fills a context variable for the duration of a request; services (and the audit
trail in particular) read it. Celery tasks run with an empty context, which reads as "system"."""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class RequestContext:
    ip: str | None
    user_agent: str
    request_id: str


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "console_request_context", default=None
)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, trusting X-Forwarded-For only as far as TRUSTED_PROXY_COUNT says."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def current() -> RequestContext | None:
    return _current.get()


def activate(request: HttpRequest) -> contextvars.Token:
    context = RequestContext(
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        request_id=uuid.uuid4().hex,
    )
    return _current.set(context)


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)
