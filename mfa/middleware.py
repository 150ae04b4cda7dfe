"""Console MFA: a signed-in person whose role must pass MFA (``mfa.console``) and whose session
has not verified yet may only verify, enroll a first authenticator, or sign out. Whatever the
way in (password, an identity provider, a reused session), the next page asks for MFA."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts.onboarding.services.gate import GATE_KEY
from mfa import console, selectors, services


@cache
def _paths() -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    verify = frozenset({
        reverse("mfa:verify"), reverse("mfa:webauthn-verify-options"), reverse("mfa:webauthn-verify-complete"),
        reverse("accounts:logout"),
    })
    enroll = frozenset({
        reverse("mfa:devices"), reverse("mfa:totp-setup"), reverse("mfa:webauthn-register-options"),
        reverse("mfa:webauthn-register-complete"),
    })
    # Not session pages: static files and the machine APIs (bearer tokens, never the session).
    prefixes = (settings.STATIC_URL, "/api/", "/healthz")
    return verify, enroll, prefixes


class ConsoleMfaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self._refuse(request)
        return refused if refused is not None else self.get_response(request)

    def _refuse(self, request: HttpRequest) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.role not in console.CONSOLE_MFA_ROLES:
            return None
        session = request.session
        if services.session_verified(request.session) or session.get(GATE_KEY):
            return None  # verified; or held at the onboarding gate, which confines more
        verify, enroll, prefixes = _paths()
        path = request.path
        if path in verify or path.startswith(prefixes):
            return None
        if not console.console_mfa_required(user):
            return None
        has_authenticator = bool(selectors.methods_of(user))
        if not has_authenticator:
            if path in enroll:
                return None
            if request.method == "GET" and not getattr(request, "htmx", False):
                messages.info(request, "Your role needs MFA to use the console: set up an authenticator first.")
            return console.redirect_to(request, reverse("mfa:devices"))
        next_url = request.get_full_path() if request.method == "GET" else reverse("console:home")
        return console.redirect_to(request, console.verify_url(next_url))
