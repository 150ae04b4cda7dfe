"""Impact preview: who would gain or lose access if a policy were saved as edited.

For every application the policy applies to (or one chosen for a new policy), each active
person is decided twice, with the policies as stored and as they would be, and the differences
are listed. Pure reads; nothing is recorded. Requests are taken as coming with no address,
country or device (the tester covers those)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from accounts.models import User
from console.access import engine, facts, policies
from console.access.models import Application, ApplicationPolicy, Policy

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


def _allowed(outcome: engine.Outcome) -> bool:
    return outcome in (engine.Outcome.ALLOW, engine.Outcome.BYPASS)


def preview(*, proposed: Policy, stored: Policy | None, application: Application | None = None) -> list[AppImpact]:
    """``proposed`` is an unsaved Policy holding the edited values; ``stored`` the policy being
    edited (None for a new policy, previewed as if attached last to ``application``)."""
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
    request = engine.RequestContext(now=timezone.now())
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
            old = engine.decide(before, context, request).outcome
            new = engine.decide(after, context, request).outcome
            if old == new:
                continue
            if not _allowed(old) and _allowed(new):
                impact.gained.add(user)
            elif _allowed(old) and not _allowed(new):
                impact.lost.add(user)
            else:
                impact.step_up.add(user)
        results.append(impact)
    return results
