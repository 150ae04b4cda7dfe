"""The WSGI application: the console, plus a short path for the hot machine APIs.

A proxy calls the decision API (and a secure web gateway the Gateway evaluate API) on every
request it forwards, so those endpoints skip the middleware a browser page needs (sessions, CSRF,
authentication, messages, htmx, lockouts, static files, CSP) and keep the ones that matter to an
API: HTTPS redirect and security headers (SecurityMiddleware) and the client address for logs
(RequestContextMiddleware). The views authenticate callers themselves with API tokens. URL
resolution, signals and error handling are Django's own."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import django
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

FAST_PATHS = frozenset({"/api/v1/access/decide", "/api/v1/gateway/evaluate", "/api/v1/access/forward-auth"})
# Envoy's ext_authz appends the original path to the forward-auth endpoint's.
FAST_PREFIXES = ("/api/v1/access/forward-auth/",)
FAST_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "console.core.middleware.RequestContextMiddleware",
)


class LeanHandler(WSGIHandler):
    """A Django WSGI handler whose middleware chain is ``FAST_MIDDLEWARE`` (sync only)."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(FAST_MIDDLEWARE):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler


class Dispatcher:
    def __init__(self, main: WSGIHandler, lean: WSGIHandler, fast_paths: frozenset[str] = FAST_PATHS) -> None:
        self.main, self.lean, self.fast_paths = main, lean, fast_paths

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in self.fast_paths or path.startswith(FAST_PREFIXES):
            return self.lean(environ, start_response)
        return self.main(environ, start_response)


def build_application(extra_fast_paths: Iterable[str] = ()) -> Dispatcher:
    django.setup(set_prefix=False)
    return Dispatcher(WSGIHandler(), LeanHandler(), FAST_PATHS | frozenset(extra_fast_paths))
