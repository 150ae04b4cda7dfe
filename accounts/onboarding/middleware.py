"""While a person is signed in only to finish onboarding (or an account recovery), they may
enroll their first authenticator and nothing else: every other page sends them back to the
onboarding portal."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.onboarding.services.gate import GATE_KEY
from mfa.selectors import authenticators_of


@cache
def _allowed() -> tuple[tuple[str, ...], str, str]:
    exact = (
        reverse("onboarding:portal"), reverse("onboarding:finish"), reverse("mfa:totp-setup"),
        reverse("mfa:webauthn-register-options"), reverse("mfa:webauthn-register-complete"),
        reverse("accounts:logout"),
    )
    return exact, reverse("mfa:devices"), settings.STATIC_URL


class OnboardingGateMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.get(GATE_KEY) and request.user.is_authenticated:
            refused = self._refuse(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _refuse(self, request: HttpRequest) -> HttpResponse | None:
        exact, devices, static = _allowed()
        path = request.path
        if path in exact or path.startswith(static):
            return None
        if path == devices:
            # The devices page (where enrollment with a security key happens) until one is enrolled.
            if not authenticators_of(request.user):
                return None
        portal = reverse("onboarding:portal")
        if getattr(request, "htmx", False):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = portal
            return response
        return HttpResponseRedirect(portal)
