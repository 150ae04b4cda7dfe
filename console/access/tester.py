"""The policy tester: what one application's policies would decide for one person, or how they
would split everyone, for a request from a given address, country and device (``whatif``).
Pure reads; nothing is recorded. A verification in any of a person's console sessions counts
(the tester decides for no particular browser)."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from accounts.selectors import active_people
from console.access import engine, facts, policies
from console.access.models import Application
from console.access.whatif import Scenario


def _percent(part: list, total: int) -> float:
    return round(100 * len(part) / (total or 1), 1)


def what_if(
    application: Application, *, ip: str | None = None, country: str = "", identity_provider: str,
    user: User | None = None, scenario: Scenario | None = None,
) -> dict[str, Any]:
    """For ``user``: the explained decision, signing in through ``identity_provider`` ("password"
    when empty). Without one: every active person, split into allowed (or bypassed), challenged
    and denied, with their shares of the total. The request is ``scenario`` (or comes from
    ``ip`` and ``country`` with no device)."""
    scenario = scenario or Scenario(ip=ip, country=country)
    policy_set = policies.policy_set_for(application)
    idp = (identity_provider or "password").strip()
    amr = ["pwd"] if idp == "password" else []
    if user is not None:
        request = scenario.requests_for([user.pk])(user.pk)
        context = facts.user_context(user, identity_provider=idp, auth_methods=amr, session=facts.ANY_SESSION)
        return {"single": True, "user": user, "decision": engine.explain(policy_set.policies, context, request),
                "scenario": scenario.describe()}
    users = active_people()
    groups = facts.groups_by_user(u.pk for u in users)
    request_for = scenario.requests_for(u.pk for u in users)
    allowed, denied, challenged = [], [], []
    buckets = {engine.Outcome.ALLOW: allowed, engine.Outcome.BYPASS: allowed, engine.Outcome.CHALLENGE: challenged}
    for person in users:
        context = facts.user_context(person, identity_provider=idp, auth_methods=amr,
                                     groups=groups.get(person.pk, frozenset()), session=facts.ANY_SESSION)
        buckets.get(engine.decide(policy_set.policies, context, request_for(person.pk)).outcome, denied).append(person)
    return {
        "single": False, "total": len(users), "allowed": allowed, "denied": denied, "challenged": challenged,
        "allowed_pct": _percent(allowed, len(users)), "denied_pct": _percent(denied, len(users)),
        "challenged_pct": _percent(challenged, len(users)), "scenario": scenario.describe(),
    }
