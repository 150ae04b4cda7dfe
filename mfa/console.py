"""MFA for the console itself.

Who must pass MFA to use the console: every role that can change something (Super Admin,
Security Admin, HR), while the organization setting ``console_mfa_required`` is on (the default;
only a Super Admin changes it, audited). Employees follow their Access policies in the App
Launcher. Auditors change nothing, so MFA is recommended for them but not forced.

Two checks use it: ``mfa.middleware.ConsoleMfaMiddleware`` confines a signed-in person who needs
console MFA to the verify and enroll pages until this session has verified, and
``sensitive_action`` asks for a fresh verification (within ``CONSOLE_SENSITIVE_REVERIFY_SECONDS``)
before identity providers, API and service tokens, role changes, MFA removal and signing keys
change."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import User
from console.audit.services import audit_record
from console.core.errors import PermissionRefused
from console.core.request_context import client_ip
from console.core.roles import Role
from mfa import selectors, services
from mfa.models import OrganizationSettings

# The roles that can change something in the console.
CONSOLE_MFA_ROLES = frozenset({Role.SUPER_ADMIN, Role.SECURITY_ADMIN, Role.HR})


def console_mfa_required(user: User) -> bool:
    """Whether ``user`` must pass MFA to use the console (one query for the org setting)."""
    if not user.is_authenticated or user.role not in CONSOLE_MFA_ROLES:
        return False
    return OrganizationSettings.load().console_mfa_required


@transaction.atomic
def console_mfa_setting_update(*, actor: User, required: bool) -> OrganizationSettings:
    """Turn console MFA for privileged roles on or off. Only a Super Admin may; audited."""
    if actor.role != Role.SUPER_ADMIN:
        raise PermissionRefused("Only a Super Admin changes whether the console asks for MFA.")
    org = OrganizationSettings.load()
    org = OrganizationSettings.objects.select_for_update().get(pk=org.pk)
    if org.console_mfa_required == required:
        return org
    old, org.console_mfa_required = org.console_mfa_required, required
    org.save(update_fields=["console_mfa_required", "updated_at"])
    audit_record(actor=actor, action="mfa.console_mfa_updated", obj=org,
                 changes={"console_mfa_required": {"old": old, "new": required}})
    return org


def browser_session(request: HttpRequest, user: User | None = None) -> services.BrowserSession:
    """What the MFA services need of this request: the signed-in person (or ``user``, someone
    proving who they are before signing in), the session's data, the client address and the
    origin the page was served from."""
    return services.BrowserSession(
        user=request.user if user is None else user, session=request.session, ip=client_ip(request),
        origin=f"{request.scheme}://{request.get_host()}",
    )


def verify_url(next_url: str) -> str:
    return f"{reverse('mfa:verify')}?next={quote(next_url)}"


def redirect_to(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect that also works for an htmx request (which would otherwise swap the page in)."""
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def _back_to(request: HttpRequest) -> str:
    """Where to return after re-verifying: this page for a GET; for a form post (which cannot be
    replayed), the page the form was on when it is ours, else the home page."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        return referer
    return reverse("console:home")


def needs_reverification(request: HttpRequest) -> bool:
    """A sensitive action needs a verification of this session within the re-verify window, from
    anyone who has an authenticator or must have one for the console."""
    user = request.user
    if services.recently_verified(request.session, settings.CONSOLE_SENSITIVE_REVERIFY_SECONDS):
        return False
    return bool(selectors.methods_of(user)) or console_mfa_required(user)


def reverify_response(request: HttpRequest, what: str) -> HttpResponse:
    messages.info(request, f"Verify it is you again to {what}.")
    return redirect_to(request, verify_url(_back_to(request)))


def sensitive_action(what: str) -> Callable:
    """View decorator (inside the role check): a fresh MFA verification of this session is needed
    to ``what`` (e.g. "change identity providers")."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if needs_reverification(request):
                return reverify_response(request, what)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
