from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from console.core import request_context


class RequestContextMiddleware:
    """Makes the client's address and user agent available to services for the audit trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = request_context.activate(request)
        try:
            response = self.get_response(request)
        finally:
            request_context.deactivate(token)
        return response
