"""Who the user is, as the engine sees it. Other features add what they know (MFA used,
identity verified, risk score) by registering a provider:

    from console.access import facts
    facts.register(lambda user: {"risk_level": risk_level_of(user)})

A provider returns a dict of ``UserContext`` fields; later providers win on conflicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from accounts.models import GroupMembership, User
from console.access.engine import UserContext

FactsProvider = Callable[[User], Mapping[str, Any]]
_providers: list[FactsProvider] = []


def register(provider: FactsProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def user_context(
    user: User,
    *,
    identity_provider: str = "",
    auth_methods: Iterable[str] = (),
    claims: Mapping[str, Any] | None = None,
    groups: frozenset[int] | None = None,
) -> UserContext:
    if groups is None:
        groups = frozenset(GroupMembership.objects.filter(user_id=user.pk).values_list("group_id", flat=True))
    fields: dict[str, Any] = {
        "email": user.email,
        "groups": groups,
        "identity_provider": identity_provider,
        "auth_methods": frozenset(auth_methods),
        "claims": dict(claims or {}),
    }
    for provider in _providers:
        fields.update(provider(user))
    return UserContext(**fields)


def groups_by_user(user_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """Group ids for many users in one query (the policy tester and re-evaluation)."""
    result: dict[int, set[int]] = {}
    for user_id, group_id in GroupMembership.objects.filter(user_id__in=list(user_ids)).values_list(
        "user_id", "group_id"
    ):
        result.setdefault(user_id, set()).add(group_id)
    return {k: frozenset(v) for k, v in result.items()}
