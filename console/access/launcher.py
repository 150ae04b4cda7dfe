"""The App Launcher: the applications a person may open right now."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from accounts.models import User
from console.access import decisions, engine, facts, policies
from console.access.models import Application
from console.core.request_context import client_ip
from mfa.binding import session_hash

SESSION_KEY = "access_identity"


def identity_of(request: HttpRequest) -> tuple[str, list[str]]:
    """How the person signed in to the console: identity provider and AMR."""
    identity = request.session.get(SESSION_KEY) or {}
    return identity.get("identity_provider", "password"), list(identity.get("amr", ["pwd"]))


@dataclass
class Tile:
    application: Application
    outcome: engine.Outcome

    @property
    def needs_step_up(self) -> bool:
        return self.outcome == engine.Outcome.CHALLENGE


def console_session_hash(request: HttpRequest) -> str:
    """This browser's console session, as Access sessions and verifications are bound to it."""

    return session_hash(request.session)


def tiles_for(request: HttpRequest, user: User, query: str = "") -> list[Tile]:
    idp, amr = identity_of(request)
    context = facts.user_context(user, identity_provider=idp, auth_methods=amr,
                                 session=facts.SessionScope(console_session_hash(request)))
    req = decisions.request_context(ip=client_ip(request))
    apps = Application.objects.filter(launcher_visible=True).defer("logo").order_by("name")
    if query:
        apps = apps.filter(name__icontains=query)
    tiles = []
    for app in apps:
        outcome = engine.decide(policies.policy_set_for(app).policies, context, req).outcome
        if outcome != engine.Outcome.DENY:
            tiles.append(Tile(app, outcome))
    return tiles
