"""Impact preview: who would gain or lose access if a policy were saved as edited.

For every application the policy applies to (or one chosen for a new policy), each active
person is decided twice, with the policies as stored and as they would be, and the differences
are listed. Pure reads; nothing is recorded. The request comes from the address, country and
device the admin chose (``whatif.Scenario``; by default none of them).

Having access means getting in, directly or after a step-up: a change from either to a denial
is a loss (challenge -> deny included), from a denial to either a gain, and a change between
direct access and step-up is listed on its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from accounts.models import User
from console.access import engine, facts, policies
from console.access.models import Application, ApplicationPolicy, Policy
from console.access.whatif import Scenario

LIST_LIMIT = 100


@dataclass
class Change:
    users: list[User] = field(default_factory=list)
    count: int = 0

    def add(self, user: User) -> None:
        self.count += 1
        if len(self.users) < LIST_LIMIT:
            self.users.append(user)


@dataclass
class AppImpact:
    application: Application
    evaluated: int = 0
    gained: Change = field(default_factory=Change)
    lost: Change = field(default_factory=Change)
    step_up: Change = field(default_factory=Change)

    @property
    def unchanged(self) -> bool:
        return not (self.gained.count or self.lost.count or self.step_up.count)


def _access(outcome: engine.Outcome) -> str:
    """"direct", "step-up" or "none": how a person gets in with this outcome."""
    if outcome in (engine.Outcome.ALLOW, engine.Outcome.BYPASS):
        return "direct"
    return "step-up" if outcome == engine.Outcome.CHALLENGE else "none"


def preview(
    *, proposed: Policy, stored: Policy | None, application: Application | None = None,
    scenario: Scenario | None = None,
) -> list[AppImpact]:
    """``proposed`` is an unsaved Policy holding the edited values; ``stored`` the policy being
    edited (None for a new policy, previewed as if attached last to ``application``);
    ``scenario`` where the request comes from (default: no address, country or device)."""
    if stored is not None:
        apps = list(Application.objects.filter(attachments__policy=stored).defer("logo").order_by("name"))
    else:
        apps = [application] if application is not None else []
    if not apps:
        return []
    users = list(User.objects.filter(is_active=True).only("pk", "email", "full_name").order_by("email"))
    groups = facts.groups_by_user(u.pk for u in users)
    contexts = [
        (user, facts.user_context(user, identity_provider="password", auth_methods=["pwd"],
                                  groups=groups.get(user.pk, frozenset()), session=facts.ANY_SESSION))
        for user in users
    ]
    request_for = (scenario or Scenario()).requests_for(u.pk for u in users)
    results = []
    for app in apps:
        attachments = list(
            ApplicationPolicy.objects.filter(application=app).select_related("policy").order_by("position")
        )
        changed = [
            ApplicationPolicy(application=app, policy=proposed if stored and a.policy_id == stored.pk else a.policy,
                              position=a.position)
            for a in attachments
        ]
        if stored is None:
            changed.append(ApplicationPolicy(application=app, policy=proposed, position=len(attachments) + 1))
        before = policies.compile_application(app, attachments).policies
        after = policies.compile_application(app, changed).policies
        impact = AppImpact(app, evaluated=len(contexts))
        for user, context in contexts:
            request = request_for(user.pk)
            old = _access(engine.decide(before, context, request).outcome)
            new = _access(engine.decide(after, context, request).outcome)
            if old == new:
                continue
            if old == "none":
                impact.gained.add(user)
            elif new == "none":
                impact.lost.add(user)
            else:
                impact.step_up.add(user)
        results.append(impact)
    return results
