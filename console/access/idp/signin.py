"""The Access side of signing in to a SaaS application: the authorization request of a signed-in
person is decided by the Access engine for the client's application, exactly as the App Launcher
and the decision API decide (``console.access.decisions.decide``: the same policies, MFA rules,
session and authentication log). What the person proved goes into the ID token's ``amr``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.http import HttpRequest
from django.urls import reverse

from console.access import decisions, engine
from console.access.api import issuer_for
from console.access.facts import SessionScope
from console.access.launcher import console_session_hash, identity_of
from console.access.models import AccessLogEntry, Application
from console.core.request_context import client_ip
from mfa.selectors import LatestVerifications

# The console's MFA methods as RFC 8176 authentication method references.
AMR_OF_METHOD = {
    "totp": ("otp",),
    "backup_code": ("otp",),
    "security_key": ("hwk",),
    "biometrics": ("hwk", "user"),
}


@dataclass
class Gate:
    """What the authorization endpoint does with the request: ``allow`` (issue the code,
    carrying ``sign_in``), ``step_up`` (send the browser to ``step_up_url`` and back) or
    ``deny`` (refuse, saying ``reason``)."""

    action: str
    reason: str = ""
    step_up_url: str = ""
    sign_in: dict[str, Any] = field(default_factory=dict)


def amr_for(request: HttpRequest, sign_in_amr: list[str]) -> list[str]:
    """How the person authenticated in this browser: the sign-in's own references (``pwd`` for a
    password, what the identity provider said) and the MFA methods verified in this console
    session, with ``mfa`` once there is a second factor."""
    verified = LatestVerifications(request.user.pk, SessionScope(console_session_hash(request)))
    amr = set(sign_in_amr)
    for method in verified:
        amr.update(AMR_OF_METHOD.get(method, ()))
    if any(method in AMR_OF_METHOD for method in verified):
        amr.add("mfa")
    return sorted(amr)


def _step_up_url(request: HttpRequest, challenge: tuple[engine.StepUp, ...]) -> str:
    back = quote(request.get_full_path(), safe="")
    for step in challenge:
        if step.kind == "mfa":
            return f"{reverse('mfa:verify')}?methods={','.join(step.methods)}&next={back}"
    return f"{reverse('onboarding:verify')}?next={back}"


def decide(request: HttpRequest, application: Application) -> Gate:
    """Decide the signed-in person's sign-in to ``application`` (logged like every decision)."""
    idp, sign_in_amr = identity_of(request)
    outcome = decisions.decide(
        application=application, source=AccessLogEntry.Source.OIDC, issuer=issuer_for(request),
        user=request.user, ip=client_ip(request), identity_provider=idp, auth_methods=sign_in_amr,
        console_session_hash=console_session_hash(request),
    )
    result = outcome.decision.outcome
    if result == engine.Outcome.CHALLENGE:
        return Gate("step_up", reason=outcome.decision.reason,
                    step_up_url=_step_up_url(request, outcome.decision.challenge))
    if result not in (engine.Outcome.ALLOW, engine.Outcome.BYPASS):
        reason = f"{outcome.problem.capitalize()}." if outcome.problem else outcome.decision.reason
        return Gate("deny", reason=reason)
    last_login = request.user.last_login
    return Gate("allow", sign_in={
        "access_session_id": str(outcome.session.pk) if outcome.session else "",
        "identity_provider": idp,
        "amr": amr_for(request, sign_in_amr),
        "auth_time": last_login.isoformat() if last_login else "",
    })
